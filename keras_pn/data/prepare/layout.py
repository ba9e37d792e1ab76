"""`WorkdirLayout`: every path of a prepared-data workdir, spelled once.

Layout of a workdir::

    prepared.json                         # parameters, sizes, unit fingerprints
    manifests/<unit>.json                 # one per unit: fingerprint, status, times
    tokenizer/vocabulary.spm
    windows/generic/                      # a keras_pn.data.windows.WindowSet (+ texts)
    windows/generic_valid/rows.npy        # its held-out rows (generic validation)
    windows/domains/<name>/{train,valid,test}/
    subsets/<name>/subsets.json, size-<tokens>.npy   # train window indices
    embeddings/generic/windows.npy
    embeddings/domains/<name>/train.npy   # (+ valid/test, computed on demand)
    clusters/k<k>/centroids.npy, kmeans.json, generic_labels.npy
    assign/k<k>/<name>/train.npy          # (+ valid/test, computed on demand)
    shards/k<k>/                          # keras_pn.data.shards directory
    histograms/k<k>/<name>.json           # counts for "full" and every cap
    stats/summary.json, stats/table.md   # all domains, sizes and k (Tables 9-10)
    stats/k<k>/<size>/cluster_stats.{json,md}  # + .png for size "full"

A file of a directory built in a staging directory is named with ``under=<staging
directory>`` (the directory that will be renamed onto the final one).

>>> layout = WorkdirLayout("/runs/data")
>>> layout.subset("religion", 25_000).as_posix()
'/runs/data/subsets/religion/size-25000.npy'
>>> layout.subset("religion", 25_000, under=Path("/tmp/stage")).as_posix()
'/tmp/stage/size-25000.npy'
>>> layout.cluster_stats(32, "full", "md").relative_to(layout.root).as_posix()
'stats/k32/full/cluster_stats.md'
>>> layout.generic_valid_rows().relative_to(layout.root).as_posix()
'windows/generic_valid/rows.npy'
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

SPLITS = ("train", "valid", "test")
CLUSTER_STATS = "cluster_stats"  # the stem of the files of `cluster_stats_dir`


@dataclasses.dataclass(frozen=True)
class WorkdirLayout:
    """The paths of a prepared-data workdir (`prepare_data` and `PreparedData`).

    Args:
        root: the workdir.
    """

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    # ---------------------------------------------------------------- bookkeeping
    @property
    def prepared_file(self) -> Path:
        """``prepared.json``: parameters, sizes and the units' fingerprints."""
        return self.root / "prepared.json"

    def manifest(self, unit: str) -> Path:
        """The manifest of a unit (its fingerprint, status and times)."""
        return self.root / "manifests" / f"{unit}.json"

    # ---------------------------------------------------------------- windows
    @property
    def tokenizer(self) -> Path:
        """The SentencePiece model."""
        return self.root / "tokenizer" / "vocabulary.spm"

    @property
    def generic_windows(self) -> Path:
        """The generic windows (a saved WindowSet with texts)."""
        return self.root / "windows" / "generic"

    @property
    def generic_valid_dir(self) -> Path:
        """The held-out generic validation split (rows of the generic windows)."""
        return self.root / "windows" / "generic_valid"

    def generic_valid_rows(self, *, under: Path | None = None) -> Path:
        """(held-out windows,) sorted rows of `generic_windows` that no pretraining
        stream and no k-means fit reads."""
        return (under or self.generic_valid_dir) / "rows.npy"

    def domain_windows(self, domain: str) -> Path:
        """The directory of a domain's split windows."""
        return self.root / "windows" / "domains" / domain

    def split_windows(
        self, domain: str, split: str, *, under: Path | None = None
    ) -> Path:
        """A domain split's windows (a saved WindowSet with texts)."""
        return (under or self.domain_windows(domain)) / split

    # ---------------------------------------------------------------- subsets
    def subsets_dir(self, domain: str) -> Path:
        """A domain's specialization subsets."""
        return self.root / "subsets" / domain

    def subsets_summary(self, domain: str, *, under: Path | None = None) -> Path:
        return (under or self.subsets_dir(domain)) / "subsets.json"

    def subset(self, domain: str, cap: int | str, *, under: Path | None = None) -> Path:
        """The sorted train window indices of the subset of ``cap`` tokens."""
        return (under or self.subsets_dir(domain)) / f"size-{cap}.npy"

    # ---------------------------------------------------------------- embeddings
    @property
    def generic_embeddings_dir(self) -> Path:
        return self.root / "embeddings" / "generic"

    @property
    def generic_embeddings(self) -> Path:
        """(generic windows, dim) embeddings, cached by ``embed_texts``."""
        return self.generic_embeddings_dir / "windows.npy"

    def domain_embeddings_dir(self, domain: str) -> Path:
        return self.root / "embeddings" / "domains" / domain

    def domain_embeddings(self, domain: str, split: str) -> Path:
        """A domain split's window embeddings (valid/test: computed on demand)."""
        return self.domain_embeddings_dir(domain) / f"{split}.npy"

    # ---------------------------------------------------------------- clusters
    def clusters_dir(self, k: int) -> Path:
        """The k-means model of ``k`` (centroids.npy, kmeans.json) and its labels."""
        return self.root / "clusters" / f"k{k}"

    def generic_labels(self, k: int, *, under: Path | None = None) -> Path:
        """(generic windows,) cluster of each generic window under ``k`` (a held-out
        window's: its nearest centroid of the fit that left it out)."""
        return (under or self.clusters_dir(k)) / "generic_labels.npy"

    def assign_dir(self, k: int, domain: str) -> Path:
        return self.root / "assign" / f"k{k}" / domain

    def assignments(
        self, k: int, domain: str, split: str, *, under: Path | None = None
    ) -> Path:
        """(windows,) nearest centroid of a domain split's windows under ``k``."""
        return (under or self.assign_dir(k, domain)) / f"{split}.npy"

    def shards_dir(self, k: int) -> Path:
        """The generic windows sharded by cluster (a keras_pn.data.shards directory)."""
        return self.root / "shards" / f"k{k}"

    # ---------------------------------------------------------------- statistics
    def histogram(self, k: int, domain: str) -> Path:
        """A domain's cluster counts under ``k``, for "full" and every cap (JSON)."""
        return self.root / "histograms" / f"k{k}" / f"{domain}.json"

    @property
    def stats_dir(self) -> Path:
        return self.root / "stats"

    def stats_summary(self, *, under: Path | None = None) -> Path:
        """Per domain, size and k, the cluster statistics (JSON)."""
        return (under or self.stats_dir) / "summary.json"

    def stats_table(self, *, under: Path | None = None) -> Path:
        """The combined Markdown table (the paper's Tables 9-10)."""
        return (under or self.stats_dir) / "table.md"

    def cluster_stats_dir(
        self, k: int, size: str, *, under: Path | None = None
    ) -> Path:
        """The cluster statistics of every domain at one size and k."""
        return (under or self.stats_dir) / f"k{k}" / size

    def cluster_stats(
        self, k: int, size: str, suffix: str, *, under: Path | None = None
    ) -> Path:
        """``cluster_stats.<suffix>`` (json, md; png for "full") of one size and k."""
        directory = self.cluster_stats_dir(k, size, under=under)
        return directory / f"{CLUSTER_STATS}.{suffix}"


def as_layout(workdir: str | os.PathLike) -> WorkdirLayout:
    """The layout of a workdir given as a path (``~`` expanded, made absolute)."""
    return WorkdirLayout(Path(workdir).expanduser().absolute())
