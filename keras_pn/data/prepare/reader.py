"""`PreparedData`, the reader of a prepared workdir, and `load_prepared`.

>>> data = load_prepared("runs/data")  # doctest: +SKIP
>>> ds = data.resampled_stream("religion", 25_000, 1024, 16)  # doctest: +SKIP
>>> expert = data.most_frequent_cluster("religion", 25_000, k=32)  # doctest: +SKIP
>>> windows, labels = data.generic_valid(k=32)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from keras_pn.data.prepare.config import FULL, size_label
from keras_pn.data.prepare.errors import PreparationError
from keras_pn.data.prepare.layout import SPLITS, WorkdirLayout, as_layout
from keras_pn.data.prepare.resampling_stats import check_resampling_target
from keras_pn.data.prepare.units import STAGES, read_json
from keras_pn.data.prepare.windowsets import load_windowset, select_windows
from keras_pn.file_io import atomic_save_npy

logger = logging.getLogger(__name__)

FORMAT = "keras_pn.prepared_data"
FORMAT_VERSION = 1


@dataclasses.dataclass
class PreparedData:
    """Everything `prepare_data` wrote for a workdir, with the streams training uses.

    Attributes:
        workdir: the workdir.
        domains: domain names, in the order given.
        vocabulary_size: pieces of the trained tokenizer (may be below the requested
            size when the generic text is tiny).
        context_length: tokens per window (the model's sequence length).
        cluster_counts: the k of each clustering, ascending.
        specialization_tokens: the specialization-set caps, ascending.
        embedder: ``"hashed"``, ``"minilm"`` or ``"minilm_bf16"``.
        seed: the preparation seed.
        token_counts: ``{"generic": n, "generic_valid": n, "domains": {name: {split:
            n}}, "subsets": {name: {cap: n}}}``, counted as predicted tokens (window
            ids minus bos); ``generic`` is what the training streams read, the
            held-out generic validation windows (``generic_valid``) aside.
        info: the parsed ``prepared.json`` (window and document counts, parameters,
            corpus directories, unit fingerprints).
        stage_seconds: wall time of each stage during the call that returned this
            object (0 for cached stages; all zeros from `load_prepared`).
        built_seconds: wall time each stage took when it was built.
        built_cpu_seconds: CPU time (all threads) each stage took when it was built;
            on a shared machine a better measure of its cost than the wall time.
        units_run: names of the units the call ran (empty for a no-op).

    Example:

    >>> data = load_prepared("runs/data")  # doctest: +SKIP
    >>> x, y, w = next(iter(data.generic_stream(32, batch_size=8)))  # doctest: +SKIP
    >>> x["token_ids"].shape  # doctest: +SKIP
    TensorShape([8, 256])
    """

    workdir: Path
    domains: tuple[str, ...]
    vocabulary_size: int
    context_length: int
    cluster_counts: tuple[int, ...]
    specialization_tokens: tuple[int, ...]
    embedder: str
    seed: int
    token_counts: dict[str, Any]
    info: dict[str, Any] = dataclasses.field(repr=False)
    stage_seconds: dict[str, float] = dataclasses.field(
        default_factory=dict, repr=False
    )
    built_seconds: dict[str, float] = dataclasses.field(
        default_factory=dict, repr=False
    )
    built_cpu_seconds: dict[str, float] = dataclasses.field(
        default_factory=dict, repr=False
    )
    units_run: tuple[str, ...] = ()

    # ---------------------------------------------------------------- paths & checks
    @property
    def layout(self) -> WorkdirLayout:
        """The paths of the workdir."""
        return WorkdirLayout(self.workdir)

    def path(self, *parts: str) -> Path:
        """A path inside the workdir."""
        return self.workdir.joinpath(*parts)

    @property
    def tokenizer_path(self) -> Path:
        """The SentencePiece model, ``<workdir>/tokenizer/vocabulary.spm``."""
        return self.layout.tokenizer

    @property
    def tokenizer_sha256(self) -> str:
        return self.info["tokenizer_sha256"]

    def shard_dir(self, k: int) -> Path:
        """The generic windows sharded by cluster under ``k``."""
        return self.layout.shards_dir(self._k(k))

    def _k(self, k: int) -> int:
        if int(k) not in self.cluster_counts:
            raise PreparationError(
                f"k={k} was not prepared (cluster_counts={list(self.cluster_counts)}). "
                f"Fix: rerun prepare_data with cluster_counts including {k}."
            )
        return int(k)

    def _domain(self, domain: str) -> str:
        if domain not in self.domains:
            raise PreparationError(
                f"Unknown domain {domain!r}; prepared domains: {list(self.domains)}. "
                "Fix: rerun prepare_data with that domain's directory in domain_dirs."
            )
        return domain

    def _size(self, size: int | None) -> str:
        label = size_label(size)
        if label != FULL and int(size) not in self.specialization_tokens:
            raise PreparationError(
                f"size={size} was not prepared; prepared sizes: None (the full train "
                f"split) and {list(self.specialization_tokens)}. Fix: rerun "
                f"prepare_data with specialization_tokens including {size}."
            )
        return label

    def _split(self, split: str) -> str:
        if split not in SPLITS:
            raise PreparationError(f"split must be one of {SPLITS}, got {split!r}.")
        return split

    # ---------------------------------------------------------------- tokenizer
    def tokenizer(self):
        """The run's tokenizer as a ``keras_pn.models.GPTTokenizer``."""
        from keras_pn.models import GPTTokenizer

        return GPTTokenizer(proto=str(self.tokenizer_path))

    # ---------------------------------------------------------------- windows
    def subset_indices(self, domain: str, size: int | None) -> np.ndarray:
        """Train window indices of a specialization subset (sorted); all for None."""
        label = self._size(size)
        d = self._domain(domain)
        if label == FULL:
            n = self.info["windows"]["domains"][d]["train"]["windows"]
            return np.arange(n, dtype=np.int64)
        return np.load(self.layout.subset(d, label))

    def windows(self, domain: str, split: str = "train", size: int | None = None):
        """A domain split's windows as a ``WindowSet`` (train: optionally a subset)."""
        d = self._domain(domain)
        self._split(split)
        if size is not None and split != "train":
            raise PreparationError(
                f"size={size} selects a specialization subset of the train split; the "
                f"{split} split is always used whole. Fix: pass size=None."
            )
        ws = load_windowset(self.layout.split_windows(d, split))
        if size is None:
            return ws
        return select_windows(ws, self.subset_indices(d, size))

    def cluster_ids(self, domain: str, split: str, k: int) -> np.ndarray:
        """(num_windows,) nearest generic centroid under ``k`` of a split's windows.

        Train ids are computed by `prepare_data`; valid and test ids are computed on
        first use (embedding with the run's embedder) and cached in the workdir.
        """
        d, k = self._domain(domain), self._k(k)
        self._split(split)
        layout = self.layout
        path = layout.assignments(k, d, split)
        if path.exists():
            return np.load(path)
        from keras_pn.data.embedding import embed_texts
        from keras_pn.data.kmeans import KMeans

        ws = load_windowset(layout.split_windows(d, split), with_text=True)
        logger.info(
            "Embedding and assigning the %d %s windows of %r.", len(ws), split, d
        )
        emb = embed_texts(
            ws.texts,
            embedder=self.embedder,
            cache_path=layout.domain_embeddings(d, split),
            verbose=False,
        )
        labels = np.asarray(KMeans.load(layout.clusters_dir(k)).assign(emb), np.int32)
        atomic_save_npy(path, labels)
        return labels

    # ---------------------------------------------------------------- held out
    @property
    def generic_valid_windows(self) -> int:
        """Held-out generic validation windows (0: none, or a workdir prepared before
        the split existed)."""
        return int(self.info["windows"].get("generic_valid", {}).get("windows", 0))

    def generic_valid(
        self, k: int | None = None, max_windows: int | None = None
    ) -> tuple[Any, np.ndarray | None]:
        """The held-out generic validation windows and their clusters under ``k``.

        No training stream and no k-means fit reads these windows (whole generic
        documents, see `keras_pn.data.prepare.heldout`); each has the nearest
        centroid of every prepared k.

        Args:
            k: the clustering of the returned labels (None: no labels).
            max_windows: keep at most this many windows, a fixed seeded sample (in
                the split's order) that depends on nothing else: every model is
                scored on the same windows. None keeps the whole split.

        Returns:
            ``(WindowSet, labels)``: the windows' tokens, and (windows,) int32
            cluster ids under ``k`` (None when ``k`` is None).

        Raises:
            PreparationError: the workdir holds no held-out window (prepared before
                the split existed, with ``generic_valid_windows=0``, or too little
                generic text).

        Example:

        >>> windows, labels = data.generic_valid(k=32, max_windows=64)  # doctest: +SKIP
        >>> len(windows) == len(labels) <= 64  # doctest: +SKIP
        True
        """
        if k is not None:
            k = self._k(k)
        if "generic_valid" not in self.info["windows"]:
            raise PreparationError(
                f"{self.workdir} was prepared before the held-out generic validation "
                "split existed. Fix: rerun prepare_data on it (or rerun plan_early): "
                "the split, the k-means fits and the shards are redone, the tokenizer, "
                "the windows and the embeddings are reused."
            )
        if not self.generic_valid_windows:
            cap = self.info["params"].get("generic_valid_windows")
            n = self.info["windows"]["generic"]["windows"]
            raise PreparationError(
                f"{self.workdir} holds no held-out generic validation window "
                f"(generic_valid_windows={cap}, {n} generic windows, of which at most "
                "a tenth is held out, whole documents only). Fix: rerun prepare_data "
                "with generic_valid_windows > 0 or more generic text."
            )
        layout = self.layout
        rows = np.load(layout.generic_valid_rows())
        sample = fixed_sample(len(rows), max_windows)
        if sample is not None:
            rows = rows[sample]
        windows = select_windows(load_windowset(layout.generic_windows), rows)
        labels = None
        if k is not None:
            labels = np.asarray(np.load(layout.generic_labels(k), mmap_mode="r")[rows])
            labels = labels.astype(np.int32)
        return windows, labels

    def generic_valid_stream(
        self,
        batch_size: int,
        k: int | None = None,
        max_windows: int | None = None,
    ):
        """Batches of the held-out generic validation windows (`generic_valid`), in
        order, with ``x["cluster_ids"]`` under ``k`` when given."""
        from keras_pn.data.streams import domain_dataset

        windows, labels = self.generic_valid(k, max_windows)
        return domain_dataset(
            windows, "valid", batch_size=batch_size, shuffle=False, cluster_ids=labels
        )

    # ---------------------------------------------------------------- histograms
    def histogram_counts(self, domain: str, size: int | None, k: int) -> np.ndarray:
        """(k,) int64 windows of the domain's train subset (None: all) per cluster."""
        label, d, k = self._size(size), self._domain(domain), self._k(k)
        h = json.loads(self.layout.histogram(k, d).read_text())
        return np.asarray(h["sizes"][label]["counts"], np.int64)

    def histogram(self, domain: str, size: int | None, k: int) -> np.ndarray:
        """(k,) float64 cluster histogram (sums to 1) of a train subset (None: all).

        Example:

        >>> data.histogram("religion", 25_000, k=32).sum()  # doctest: +SKIP
        1.0
        """
        counts = self.histogram_counts(domain, size, k).astype(np.float64)
        return counts / counts.sum()

    def most_frequent_cluster(self, domain: str, size: int | None, k: int) -> int:
        """The cluster holding most of the subset's windows (the PN/mixture expert)."""
        return int(np.argmax(self.histogram_counts(domain, size, k)))

    def stats(self) -> dict[str, Any]:
        """``stats/summary.json``: per domain, size and k, the cluster statistics."""
        return json.loads(self.layout.stats_summary().read_text())

    def cluster_table(self) -> str:
        """The combined Markdown table (``stats/table.md``)."""
        return self.layout.stats_table().read_text()

    # ---------------------------------------------------------------- streams
    def generic_stream(
        self,
        k: int,
        batch_size: int,
        seed: int = 0,
        batch_composition: str = "mixed",
        **kwargs: Any,
    ):
        """The generic stream with cluster ids under ``k`` (SLM, PN, mixture).

        Args:
            k: the clustering whose ids come with each example.
            batch_size: examples per batch.
            seed: the stream's seed.
            batch_composition: ``"mixed"`` or ``"single_cluster"`` (one cluster per
                batch, so PN runs one expert per step).
            **kwargs: further ``keras_pn.data.streams.generic_dataset`` arguments
                (``replacement``, ``include_cluster_ids``).

        Returns:
            An infinite ``tf.data.Dataset`` of ``(x, y, sample_weight)`` with
            ``x["token_ids"]`` of shape ``(batch_size, context_length)``.
        """
        from keras_pn.data.streams import generic_dataset

        return generic_dataset(
            self.shard_dir(k),
            batch_size,
            self.context_length,
            seed,
            batch_composition=batch_composition,
            expected_tokenizer_sha256=self.tokenizer_sha256,
            **kwargs,
        )

    def resampled_stream(
        self,
        domain: str,
        size: int | None,
        k: int,
        batch_size: int,
        seed: int = 0,
        **kwargs: Any,
    ):
        """The importance-resampled generic stream of a domain subset (SLM-is).

        Clusters are drawn from the histogram of the subset of ``size`` tokens (None:
        the whole train split) under ``k``, then a generic window uniformly inside.
        Mass on clusters with no generic window is dropped with a warning.

        Raises:
            PreparationError: when all of the subset's mass is on such clusters.
        """
        from keras_pn.data.shards import read_index
        from keras_pn.data.streams import resampled_dataset

        counts = self.histogram_counts(domain, size, k)
        generic = read_index(self.shard_dir(k))["windows_per_cluster"]
        on_missing = check_resampling_target(
            counts, generic, f"Domain {domain!r} ({size_label(size)}, k={k})"
        )
        return resampled_dataset(
            self.shard_dir(k),
            counts,
            batch_size,
            self.context_length,
            seed,
            on_missing=kwargs.pop("on_missing", on_missing),
            expected_tokenizer_sha256=self.tokenizer_sha256,
            **kwargs,
        )

    def cluster_stream(self, k: int, cluster: int, batch_size: int, seed: int = 0):
        """The generic windows of one cluster under ``k``, drawn uniformly with
        replacement, without cluster ids (one expert of the hard mixture trains on it).

        Raises:
            PreparationError: when the cluster holds no generic window.
        """
        from keras_pn.data.shards import read_index
        from keras_pn.data.streams import resampled_dataset

        sizes = np.asarray(read_index(self.shard_dir(k))["windows_per_cluster"])
        if not 0 <= cluster < len(sizes):
            raise PreparationError(
                f"Cluster {cluster} does not exist under k={k} (clusters 0..{len(sizes) - 1})."
            )
        if sizes[cluster] == 0:
            raise PreparationError(
                f"Cluster {cluster} of k={k} holds no generic window. Fix: use a smaller "
                "k or more generic text (--max_generic_tokens)."
            )
        target = np.zeros(len(sizes))
        target[cluster] = 1.0
        return resampled_dataset(
            self.shard_dir(k),
            target,
            batch_size,
            self.context_length,
            seed,
            include_cluster_ids=False,
            expected_tokenizer_sha256=self.tokenizer_sha256,
        )

    def domain_stream(
        self,
        domain: str,
        split: str = "train",
        batch_size: int = 8,
        *,
        size: int | None = None,
        with_cluster_ids_k: int | None = None,
        shuffle: bool | None = None,
        repeat: bool = False,
        seed: int = 0,
        drop_remainder: bool = False,
        max_windows: int | None = None,
    ):
        """Batches of a domain's windows: fine-tuning (train subset) or evaluation.

        Args:
            domain: a prepared domain.
            split: ``"train"``, ``"valid"`` or ``"test"``.
            batch_size: examples per batch.
            size: train only: the specialization subset of this many tokens (None:
                the whole train split).
            with_cluster_ids_k: add ``x["cluster_ids"]``, each window's nearest
                generic centroid under this k.
            shuffle: default True for train, False otherwise.
            repeat: repeat forever (then pass ``steps_per_epoch`` to ``fit``).
            seed: shuffle seed.
            drop_remainder: drop the last partial batch.
            max_windows: keep at most this many windows, a fixed seeded sample
                (in the split's order) that does not depend on ``seed``: every
                method is evaluated on the same windows. For CPU-scale validation
                and test sets; None keeps the whole split.

        Returns:
            A ``tf.data.Dataset`` of ``(x, y, sample_weight)`` batches with
            ``x["token_ids"]`` of shape ``(batch, context_length)``.
        """
        from keras_pn.data.streams import domain_dataset

        ws = self.windows(domain, split, size)
        cluster_ids = None
        if with_cluster_ids_k is not None:
            cluster_ids = self.cluster_ids(domain, split, with_cluster_ids_k)
            if size is not None:
                cluster_ids = cluster_ids[self.subset_indices(domain, size)]
        rows = fixed_sample(len(ws), max_windows)
        if rows is not None:
            ws = select_windows(ws, rows)
            if cluster_ids is not None:
                cluster_ids = cluster_ids[rows]
        return domain_dataset(
            ws,
            split,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            repeat=repeat,
            cluster_ids=cluster_ids,
            drop_remainder=drop_remainder,
        )


def fixed_sample(n: int, max_windows: int | None) -> np.ndarray | None:
    """Sorted rows of a fixed seeded sample of ``max_windows`` of ``n`` windows (None:
    keep all), the same whatever the caller's seed: evaluation sets of every method.

    >>> fixed_sample(5, None), fixed_sample(5, 8)
    (None, None)
    >>> rows = fixed_sample(100, 10)
    >>> len(rows), bool((rows == fixed_sample(100, 10)).all())
    (10, True)
    """
    if max_windows is None or n <= max_windows:
        return None
    if max_windows < 1:
        raise PreparationError(f"max_windows must be >= 1, got {max_windows}.")
    order = np.random.default_rng(1234).permutation(n)
    return np.sort(order[:max_windows])


def from_info(
    workdir: Path,
    info: dict[str, Any],
    stage_seconds: dict[str, float] | None = None,
    units_run: Sequence[str] = (),
) -> PreparedData:
    """The `PreparedData` of a parsed ``prepared.json``."""
    layout = WorkdirLayout(workdir)
    params = info["params"]
    w = info["windows"]
    heldout = w.get("generic_valid", {})  # absent from workdirs prepared before it
    token_counts = {
        "generic": w["generic"]["tokens"] - int(heldout.get("tokens", 0)),
        "generic_valid": int(heldout.get("tokens", 0)),
        "domains": {
            d: {s: v[s]["tokens"] for s in SPLITS} for d, v in w["domains"].items()
        },
        "subsets": {
            d: {int(c): v["tokens"] for c, v in s.items()}
            for d, s in w["subsets"].items()
        },
    }
    built = {stage: 0.0 for stage in STAGES}
    built_cpu = {stage: 0.0 for stage in STAGES}
    for unit in info["units"]:
        manifest = read_json(layout.manifest(unit)) or {}
        if manifest.get("stage") in built:
            built[manifest["stage"]] += float(manifest.get("wall_s", 0.0))
            built_cpu[manifest["stage"]] += float(manifest.get("cpu_s", 0.0))
    return PreparedData(
        workdir=workdir,
        domains=tuple(info["domains"]),
        vocabulary_size=int(info["vocabulary_size"]),
        context_length=int(params["context_length"]),
        cluster_counts=tuple(params["cluster_counts"]),
        specialization_tokens=tuple(params["specialization_tokens"]),
        embedder=params["embedder"],
        seed=int(params["seed"]),
        token_counts=token_counts,
        info=info,
        stage_seconds=dict(stage_seconds or {s: 0.0 for s in STAGES}),
        built_seconds=built,
        built_cpu_seconds=built_cpu,
        units_run=tuple(units_run),
    )


def load_prepared(workdir: str | os.PathLike) -> PreparedData:
    """Opens the data a previous `prepare_data` call left in ``workdir``.

    Raises:
        FileNotFoundError: no complete preparation in ``workdir``.
        PreparationError: a later ``prepare_data`` call with other parameters did not
            finish, so the workdir's units no longer match ``prepared.json``.

    Example:

    >>> data = load_prepared("runs/data")  # doctest: +SKIP
    >>> data.most_frequent_cluster("religion", None, k=32)  # doctest: +SKIP
    7
    """
    layout = as_layout(workdir)
    workdir, prepared = layout.root, layout.prepared_file
    info = read_json(prepared)
    if not info:
        raise FileNotFoundError(
            f"{workdir} holds no prepared data ({prepared.name} is missing). Run "
            "prepare_data(...) or `python -m recipes.prepare_data "
            f"--workdir={workdir}`."
        )
    if info.get("format") != FORMAT or info.get("version") != FORMAT_VERSION:
        raise PreparationError(
            f"{prepared} is not a {FORMAT} v{FORMAT_VERSION} file. "
            "Fix: rerun prepare_data on that workdir."
        )
    for unit, fingerprint in info["units"].items():
        manifest = read_json(layout.manifest(unit)) or {}
        if (
            manifest.get("fingerprint") != fingerprint
            or manifest.get("status") != "complete"
        ):
            raise PreparationError(
                f"{workdir}: unit {unit!r} no longer matches {prepared.name} (a later "
                "prepare_data call with other parameters did not finish). Fix: rerun "
                "prepare_data with the parameters you want; finished units are reused."
            )
    return from_info(workdir, info)
