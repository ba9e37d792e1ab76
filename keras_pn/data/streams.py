"""tf.data training streams: importance-resampled, generic (with cluster ids), domain.

All streams yield Keras batches ``(x, y, sample_weight)``::

    x = {"token_ids":    (batch, seq) int32,   # [bos] + tokens, padded with pad (0)
         "padding_mask": (batch, seq) bool,    # True on real inputs (bos included)
         "cluster_ids":  (batch,) int32}       # if requested (generic: always)
    y = (batch, seq) int32                     # next tokens, padded with pad
    sample_weight = (batch, seq) float32       # 1.0 where y is a real token

with ``seq = context_length``: a stored window of at most ``context_length + 1`` ids is
padded to ``context_length + 1``, ``x`` takes all ids but the last and ``y`` all but the
first.

**Importance resampling (SLM-is), exactly.** ``resampled_dataset`` draws each example by
first drawing a cluster ``c ~ target_histogram`` and then a window uniformly inside
cluster ``c``, with replacement — the paper's resampling, so every generic window ``x``
is drawn with probability ``p_target(c(x)) / n_c``, i.e. generic data reweighted by
``w(x) = p_target(c) / p_generic(c)``. Per-cluster ``shuffle`` buffers (the usual
``sample_from_datasets`` recipe) are *not* uniform with replacement (a buffer only sees
nearby windows and a cluster repeats only after a full pass), and ``rejection_resample``
drops data; instead the windows of the clusters with target mass are held in memory as
one flat token array, and indices are drawn by a seeded NumPy ``Generator`` (PCG64):
``Generator.choice(p=...)`` for the cluster and ``Generator.integers(0, n_c)``
(unbiased, Lemire's method) for the window. The draws depend only on the seed (not on
the batch size, the backend or the machine); a batch is then gathered with one
vectorized NumPy indexing and turned into tensors by graph ops. Throughput is far above
what a model consumes (see ``bench/input_pipeline.py``).

Clusters with zero target mass are never read nor sampled. Target mass on a cluster that
has no generic window raises a ValueError by default; ``on_missing="renormalize"`` drops
that mass with a warning instead.

Example:

>>> import numpy as np, os, tempfile
>>> from keras_pn.data.shards import write_shards
>>> d = os.path.join(tempfile.mkdtemp(), "shards")
>>> windows = [np.array([2, 10 + i, 3]) for i in range(8)]
>>> _ = write_shards(d, windows, cluster_ids=[0, 1] * 4, num_clusters=2,
...                  context_length=4, tokenizer_sha256="")
>>> ds = resampled_dataset(d, [0.0, 1.0], batch_size=4, context_length=4, seed=0)
>>> x, y, w = next(iter(ds))
>>> x["cluster_ids"].numpy().tolist(), x["token_ids"].shape
([1, 1, 1, 1], TensorShape([4, 4]))
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

# Windows drawn per NumPy call. Part of the definition of a stream: the same seed gives
# the same sequence of windows for any batch size because draws are made in chunks of
# this fixed size.
_DRAW_CHUNK = 8192


# --------------------------------------------------------------------------------------
# Sampling (pure NumPy; defines the streams)
# --------------------------------------------------------------------------------------


def _normalize_target(
    target_histogram: Any, cluster_sizes: np.ndarray, on_missing: str
) -> np.ndarray:
    """Checks a target histogram against the cluster sizes; returns probabilities."""
    p = np.asarray(target_histogram, np.float64).reshape(-1)
    k = len(cluster_sizes)
    if len(p) != k:
        raise ValueError(
            f"The target histogram has {len(p)} entries but the generic shards have "
            f"{k} clusters. Compute the histogram with the same k-means model that "
            "sharded the generic windows."
        )
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        bad = np.flatnonzero(~np.isfinite(p) | (p < 0))
        raise ValueError(
            "The target histogram must be finite and non-negative; entries "
            f"{bad[:8].tolist()} are {p[bad[:8]].tolist()}. Fix: pass the domain's "
            "cluster counts (np.bincount of its labels) or their normalized "
            "frequencies."
        )
    if p.sum() <= 0:
        raise ValueError(
            "The target histogram is all zeros: nothing to sample. Fix: compute it "
            "from the domain's cluster labels (np.bincount(labels, minlength=k))."
        )
    if not np.all(p == np.round(p)) and abs(p.sum() - 1.0) > 1e-3:
        # Counts are normalized silently; fractions that do not sum to 1 are suspect.
        logger.warning(
            "The target histogram sums to %.6g, not 1 (nor is it integer counts); it "
            "is normalized to sum to 1.",
            p.sum(),
        )
    p = p / p.sum()
    missing = (p > 0) & (cluster_sizes == 0)
    if missing.any():
        mass = float(p[missing].sum())
        names = np.flatnonzero(missing)
        message = (
            f"The target puts {mass:.4f} of its mass on {missing.sum()} cluster(s) "
            f"with no generic window (e.g. {names[:8].tolist()}): they cannot be "
            "resampled."
        )
        if on_missing == "raise":
            raise ValueError(
                message
                + " Pass on_missing='renormalize' to drop that mass, or use fewer "
                "clusters."
            )
        if on_missing != "renormalize":
            raise ValueError(
                f"on_missing must be 'raise' or 'renormalize', got {on_missing!r}."
            )
        if mass >= 1.0 - 1e-12:
            raise ValueError(
                message + " No target mass is left on non-empty clusters. Fix: use "
                "fewer clusters (a smaller k) or more generic text, so that the "
                "domain's clusters hold generic windows."
            )
        logger.warning(message + " Renormalizing over the remaining clusters.")
        p = np.where(missing, 0.0, p)
        p = p / p.sum()
    return p


def _offsets(cluster_sizes: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(cluster_sizes) + 1, np.int64)
    np.cumsum(cluster_sizes, out=offsets[1:])
    return offsets


def resampled_rows(
    p: np.ndarray, cluster_sizes: np.ndarray, seed: int
) -> Iterator[np.ndarray]:
    """Infinite chunks of window indices: cluster ~ p, then a window uniformly in it.

    Window indices address windows grouped by cluster: ``cluster_offsets[c] + j``,
    ``j < n_c``.

    Args:
        p: (k,) target probabilities, zero on empty clusters.
        cluster_sizes: (k,) generic windows per cluster.
        seed: the stream's seed.
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    support = np.flatnonzero(p > 0)
    p_support = p[support] / p[support].sum()
    sizes = np.asarray(cluster_sizes, np.int64)[support]
    starts = _offsets(cluster_sizes)[support]
    while True:
        # (chunk,) slot in `support` of each draw's cluster
        which = rng.choice(len(support), size=_DRAW_CHUNK, p=p_support)
        within = rng.integers(0, sizes[which])  # (chunk,) uniform in [0, n_c)
        yield starts[which] + within


def generic_rows(
    cluster_sizes: np.ndarray,
    seed: int,
    batch_size: int,
    batch_composition: str,
    replacement: bool,
) -> Iterator[np.ndarray]:
    """Infinite batches of window indices of the generic stream (generic_dataset)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    cluster_sizes = np.asarray(cluster_sizes, np.int64)
    offsets = _offsets(cluster_sizes)
    n = int(offsets[-1])
    if batch_composition == "mixed":
        if replacement:
            while True:
                yield rng.integers(0, n, size=batch_size)
        pending = np.zeros(0, np.int64)
        # Epochs: a fresh permutation each pass; batches run across epoch ends.
        while True:
            pending = np.concatenate([pending, rng.permutation(n)])
            while len(pending) >= batch_size:
                yield pending[:batch_size]
                pending = pending[batch_size:]
    elif batch_composition == "single_cluster":
        nonempty = np.flatnonzero(cluster_sizes)
        if replacement:
            p = cluster_sizes[nonempty] / n
            while True:
                c = nonempty[rng.choice(len(nonempty), p=p)]
                yield offsets[c] + rng.integers(0, cluster_sizes[c], size=batch_size)
        # Epochs: each cluster permuted and cut into batches; batch order shuffled.
        while True:
            batches = []
            for c in nonempty:
                perm = offsets[c] + rng.permutation(cluster_sizes[c])
                # Round up to whole batches; np.resize tops up by wrapping around.
                m = -(-len(perm) // batch_size) * batch_size
                batches.append(np.resize(perm, m).reshape(-1, batch_size))
            batches = np.concatenate(batches)
            yield from batches[rng.permutation(len(batches))]
    else:
        raise ValueError(
            "batch_composition must be 'mixed' or 'single_cluster', got "
            f"{batch_composition!r}."
        )


def _rebatch(chunks: Iterator[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    pending = np.zeros(0, np.int64)
    for chunk in chunks:
        pending = np.concatenate([pending, chunk])
        while len(pending) >= batch_size:
            yield pending[:batch_size]
            pending = pending[batch_size:]


# --------------------------------------------------------------------------------------
# Statistics of a resampled stream
# --------------------------------------------------------------------------------------


def effective_sample_size(target_histogram: Any, cluster_sizes: Any) -> float:
    """Kish effective sample size of the generic windows under importance weights.

    With ``N`` generic windows, ``n_c`` in cluster c and target probabilities ``p_c``,
    each window of cluster c has weight ``w_c = p_c / (n_c / N)``; Kish's
    ``(Σ w)² / Σ w²`` over the windows simplifies to ``1 / Σ_c p_c² / n_c``. It
    equals N when the target is the generic histogram and shrinks as the target
    concentrates on small clusters.

    Example:

    >>> effective_sample_size([0.5, 0.5], [10, 10])
    20.0
    >>> effective_sample_size([1.0, 0.0], [10, 10])
    10.0
    """
    p = np.asarray(target_histogram, np.float64).reshape(-1)
    n = np.asarray(cluster_sizes, np.float64).reshape(-1)
    if p.shape != n.shape:
        raise ValueError(
            f"target_histogram has {p.size} clusters, cluster_sizes {n.size}."
        )
    p = p / p.sum()
    support = p > 0
    if np.any(n[support] == 0):
        return 0.0
    return float(1.0 / np.sum(p[support] ** 2 / n[support]))


@dataclasses.dataclass
class ResamplingReport:
    """Repetition statistics of a resampled stream.

    Attributes:
        num_draws: windows drawn.
        unique_windows: distinct windows among them.
        repetition_rate: ``1 - unique_windows / num_draws`` (empirical).
        expected_repetition_rate: ``1 - E[unique] / num_draws`` with
            ``E[unique] = Σ_c n_c (1 - (1 - p_c / n_c)^num_draws)``.
        effective_sample_size: Kish ESS of the importance weights (windows).
        generic_windows: ``N``, the generic windows available.
        ess_fraction: ``effective_sample_size / generic_windows``.
        clusters_used: clusters with target mass.
    """

    num_draws: int
    unique_windows: int
    repetition_rate: float
    expected_repetition_rate: float
    effective_sample_size: float
    generic_windows: int
    ess_fraction: float
    clusters_used: int


def resampling_report(
    target_histogram: Any,
    cluster_sizes: Any,
    num_draws: int,
    seed: int = 0,
    on_missing: str = "raise",
) -> ResamplingReport:
    """Effective size and repetition of a resampled stream over ``num_draws`` draws.

    Args:
        target_histogram: (k,) target cluster histogram (counts or probabilities).
        cluster_sizes: (k,) generic windows per cluster, or a shard directory.
        num_draws: number of windows drawn (e.g. training steps × batch size).
        seed: the stream's seed (the same draws as ``resampled_dataset`` with this
            seed).
        on_missing: as in ``resampled_dataset``.

    Example:

    >>> r = resampling_report([0.9, 0.1], [100, 1000], num_draws=1000)
    >>> round(r.effective_sample_size, 1), r.repetition_rate > 0.5
    (123.3, True)
    """
    if isinstance(cluster_sizes, (str, os.PathLike)):
        from keras_pn.data.shards import read_index

        cluster_sizes = read_index(cluster_sizes)["windows_per_cluster"]
    sizes = np.asarray(cluster_sizes, np.int64).reshape(-1)
    p = _normalize_target(target_histogram, sizes, on_missing)
    rows = np.concatenate(list(_take(resampled_rows(p, sizes, seed), num_draws)))
    unique = len(np.unique(rows))
    support = p > 0
    expected_unique = float(
        np.sum(
            sizes[support]
            * -np.expm1(num_draws * np.log1p(-p[support] / sizes[support]))
        )
    )
    ess = effective_sample_size(p, sizes)
    return ResamplingReport(
        num_draws=int(num_draws),
        unique_windows=int(unique),
        repetition_rate=1.0 - unique / num_draws,
        expected_repetition_rate=1.0 - expected_unique / num_draws,
        effective_sample_size=ess,
        generic_windows=int(sizes.sum()),
        ess_fraction=ess / max(int(sizes.sum()), 1),
        clusters_used=int(support.sum()),
    )


def _take(chunks: Iterator[np.ndarray], n: int) -> Iterator[np.ndarray]:
    for chunk in chunks:
        if n <= 0:
            return
        yield chunk[:n]
        n -= len(chunk)


# --------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------


def gather_windows(
    values: np.ndarray,
    row_splits: np.ndarray,
    rows: np.ndarray,
    width: int,
    pad_id: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Pads the windows ``rows`` of a flat (values, row_splits) array to ``width`` ids.

    Returns:
        ``(ids (batch, width) int32, lengths (batch,) int32)``.
    """
    starts = row_splits[rows]  # (batch,)
    lengths = np.minimum(row_splits[rows + 1] - starts, width)  # (batch,)
    positions = np.arange(width)  # (width,)
    index = starts[:, None] + positions[None, :]  # (batch, width)
    np.minimum(index, len(values) - 1, out=index)
    real = positions[None, :] < lengths[:, None]  # (batch, width)
    ids = np.where(real, values[index], pad_id)  # (batch, width)
    return ids.astype(np.int32, copy=False), lengths.astype(np.int32)


def windows_to_batch(ids, lengths, cluster_ids=None):
    """Graph function: padded windows to a Keras ``(x, y, sample_weight)`` batch.

    Args:
        ids: (batch, context_length + 1) int32 windows padded with pad.
        lengths: (batch,) int32 stored ids per window (bos and eos included).
        cluster_ids: optional (batch,) int32.
    """
    import tensorflow as tf

    ids = tf.cast(ids, tf.int32)
    seq = tf.shape(ids)[1] - 1
    positions = tf.range(seq)[None, :]  # (1, seq)
    lengths = tf.cast(lengths, tf.int32)[:, None]  # (batch, 1)
    x = {
        "token_ids": ids[:, :-1],  # (batch, seq)
        "padding_mask": positions < lengths,  # (batch, seq): the input token is real
    }
    if cluster_ids is not None:
        x["cluster_ids"] = tf.cast(cluster_ids, tf.int32)  # (batch,)
    y = ids[:, 1:]  # (batch, seq)
    # (batch, seq): 1 where y is a real token
    sample_weight = tf.cast(positions < lengths - 1, tf.float32)
    return x, y, sample_weight


def _stream_dataset(
    values: np.ndarray,
    row_splits: np.ndarray,
    window_clusters: np.ndarray,
    row_batches: Callable[[], Iterator[np.ndarray]],
    batch_size: int,
    context_length: int,
    include_cluster_ids: bool,
    pad_id: int,
    num_hosts: int = 1,
    host_index: int = 0,
):
    """tf.data stream over in-memory windows; row_batches gives each batch's rows.

    With ``num_hosts > 1`` every host draws the same global batches of
    ``batch_size`` rows and keeps its contiguous share of ``batch_size //
    num_hosts`` rows, so the hosts' batches together are the single-host batch.
    """
    import tensorflow as tf

    width = context_length + 1
    batch_size, share = _host_share(batch_size, num_hosts, host_index)

    def generator():
        for rows in row_batches():
            rows = rows[share]
            ids, lengths = gather_windows(values, row_splits, rows, width, pad_id)
            yield ids, lengths, window_clusters[rows]

    ds = tf.data.Dataset.from_generator(
        generator,
        output_signature=(
            tf.TensorSpec((batch_size, width), tf.int32),
            tf.TensorSpec((batch_size,), tf.int32),
            tf.TensorSpec((batch_size,), tf.int32),
        ),
    )
    if include_cluster_ids:
        ds = ds.map(
            windows_to_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
    else:
        ds = ds.map(
            lambda i, n, c: windows_to_batch(i, n),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return ds.prefetch(tf.data.AUTOTUNE)


def _host_share(batch_size: int, num_hosts: int, host_index: int):
    """``(per-host batch size, slice of the global batch)`` of host ``host_index``."""
    num_hosts, host_index = int(num_hosts), int(host_index)
    if num_hosts < 1 or not 0 <= host_index < num_hosts:
        raise ValueError(
            f"host_index={host_index} must be in [0, num_hosts={num_hosts})."
        )
    if batch_size % num_hosts:
        raise ValueError(
            f"The global batch size {batch_size} does not split over {num_hosts} "
            f"hosts. Fix: use a batch size that is a multiple of {num_hosts}."
        )
    per_host = batch_size // num_hosts
    return per_host, slice(host_index * per_host, (host_index + 1) * per_host)


def _check_context_length(index: dict[str, Any], context_length: int | None) -> int:
    stored = int(index["context_length"])
    if context_length is None:
        return stored
    if int(context_length) != stored:
        raise ValueError(
            f"context_length={context_length} but the shards hold windows of up to "
            f"{stored} tokens. Pass context_length={stored}, or re-cut the windows "
            f"with {context_length}."
        )
    return stored


def _pad_id(pad_id: int | None) -> int:
    from keras_pn.data.tokenizer_training import PAD_ID

    return PAD_ID if pad_id is None else int(pad_id)


def resampled_dataset(
    shard_dir: str | os.PathLike,
    target_histogram: Any,
    batch_size: int,
    context_length: int | None = None,
    seed: int = 0,
    *,
    on_missing: str = "raise",
    include_cluster_ids: bool = True,
    pad_id: int | None = None,
    expected_tokenizer_sha256: str | None = None,
    num_hosts: int = 1,
    host_index: int = 0,
):
    """Importance-resampled generic stream matching a domain's cluster histogram.

    Each example: a cluster drawn from ``target_histogram``, then a window drawn
    uniformly inside that cluster, with replacement (see the module docstring for why
    this is exact). Infinite: use ``steps_per_epoch`` in ``fit`` or ``.take(n)``.

    Args:
        shard_dir: generic windows sharded by cluster (``keras_pn.data.shards``).
        target_histogram: (k,) cluster histogram of the domain (counts or
            probabilities).
        batch_size: examples per batch.
        context_length: sequence length; must equal the shards' (None: take theirs).
        seed: the stream's seed; the same seed gives the same stream.
        on_missing: ``"raise"`` (default) if target mass falls on a cluster with no
            generic window, or ``"renormalize"`` to drop that mass with a warning.
        include_cluster_ids: add ``x["cluster_ids"]``.
        pad_id: padding id (default 0, ``<pad>``).
        expected_tokenizer_sha256: check the shards were tokenized by this tokenizer.
        num_hosts: training hosts reading the stream (multi-host data parallelism).
        host_index: this host, in ``[0, num_hosts)``. Every host draws the same
            global batches of ``batch_size`` windows and yields its contiguous share
            of ``batch_size // num_hosts``; together the hosts yield exactly the
            single-host stream.

    Returns:
        A ``tf.data.Dataset`` of ``(x, y, sample_weight)`` batches (see the module
        docstring), of ``batch_size // num_hosts`` examples.

    Example:

    >>> ds = resampled_dataset("shards/", histogram, 32, seed=0)  # doctest: +SKIP
    >>> model.fit(ds, steps_per_epoch=1000)  # doctest: +SKIP
    """
    from keras_pn.data.shards import read_index, read_shards

    index = read_index(shard_dir)
    context_length = _check_context_length(index, context_length)
    sizes = np.asarray(index["windows_per_cluster"], np.int64)
    p = _normalize_target(target_histogram, sizes, on_missing)
    used = np.flatnonzero(p > 0)
    store = read_shards(
        shard_dir, clusters=used, expected_tokenizer_sha256=expected_tokenizer_sha256
    )
    ess = effective_sample_size(p, sizes)
    logger.info(
        "Resampled stream over %d of %d clusters (%d windows held); effective sample "
        "size %.0f windows (%.1f%% of the %d generic windows).",
        len(used),
        len(sizes),
        len(store),
        ess,
        100 * ess / max(sizes.sum(), 1),
        sizes.sum(),
    )
    held = store.cluster_sizes  # Equal to `sizes` on the used clusters, zero elsewhere.
    return _stream_dataset(
        store.values,
        store.row_splits,
        store.cluster_ids,
        lambda: _rebatch(resampled_rows(p, held, seed), batch_size),
        batch_size,
        context_length,
        include_cluster_ids,
        _pad_id(pad_id),
        num_hosts,
        host_index,
    )


def generic_dataset(
    shard_dir: str | os.PathLike,
    batch_size: int,
    context_length: int | None = None,
    seed: int = 0,
    *,
    batch_composition: str = "mixed",
    replacement: bool = False,
    include_cluster_ids: bool = True,
    pad_id: int | None = None,
    expected_tokenizer_sha256: str | None = None,
    num_hosts: int = 1,
    host_index: int = 0,
):
    """The generic stream with cluster ids, for SLM and PN pretraining.

    Args:
        shard_dir: generic windows sharded by cluster.
        batch_size: examples per batch.
        context_length: sequence length; must equal the shards' (None: take theirs).
        seed: the stream's seed.
        batch_composition: ``"mixed"``: examples from any cluster. ``"single_cluster"``:
            every batch comes from one cluster, chosen with probability proportional to
            its windows — PN pretraining then runs a single expert per step.
        replacement: False (default): epochs without replacement — ``mixed`` walks a
            fresh permutation of all windows each epoch; ``single_cluster`` permutes
            each cluster, cuts it into batches (the last one topped up by wrapping
            around the cluster) and shuffles the batches, so a cluster's share of
            batches is ``ceil(n_c / batch_size)`` per epoch. True: i.i.d. draws —
            ``mixed`` uniform over windows; ``single_cluster`` a cluster with
            probability ``n_c / N``, then ``batch_size`` windows uniformly inside it.
        include_cluster_ids: add ``x["cluster_ids"]``.
        pad_id: padding id (default 0).
        expected_tokenizer_sha256: check the shards were tokenized by this tokenizer.
        num_hosts, host_index: host sharding, as in ``resampled_dataset``: host
            ``host_index`` yields rows ``[i * b, (i + 1) * b)`` of every global batch,
            ``b = batch_size // num_hosts`` (a single-cluster batch stays single-
            cluster on every host).

    Returns:
        An infinite ``tf.data.Dataset`` of ``(x, y, sample_weight)`` batches of
        ``batch_size // num_hosts`` examples.
    """
    from keras_pn.data.shards import read_index, read_shards

    if batch_composition not in ("mixed", "single_cluster"):
        raise ValueError(
            "batch_composition must be 'mixed' or 'single_cluster', got "
            f"{batch_composition!r}."
        )
    index = read_index(shard_dir)
    context_length = _check_context_length(index, context_length)
    store = read_shards(shard_dir, expected_tokenizer_sha256=expected_tokenizer_sha256)
    if len(store) == 0:
        raise ValueError(f"The shards in {os.fspath(shard_dir)!r} hold no window.")
    sizes = store.cluster_sizes
    return _stream_dataset(
        store.values,
        store.row_splits,
        store.cluster_ids,
        lambda: generic_rows(sizes, seed, batch_size, batch_composition, replacement),
        batch_size,
        context_length,
        include_cluster_ids,
        _pad_id(pad_id),
        num_hosts,
        host_index,
    )


def domain_dataset(
    source: Any,
    split: str = "train",
    *,
    batch_size: int,
    tokenizer: Any = None,
    context_length: int | None = None,
    shuffle: bool | None = None,
    seed: int = 0,
    repeat: bool = False,
    cluster_ids: Any = None,
    shuffle_buffer: int = 16384,
    drop_remainder: bool = False,
    pad_id: int | None = None,
):
    """Windows of a specialization domain: fine-tuning (shuffled), evaluation (ordered).

    Text is read from ``<domain_dir>/<split>.jsonl`` by a small Python reader and
    tokenized and cut into windows inside tf.data by graph ops
    (``keras_pn.data.windows.document_windows_fn``); the windows are cached in memory
    after the first pass. Window order before shuffling is that of
    ``keras_pn.data.windows.collect_windows`` on the same file, so per-window cluster
    ids computed from those windows line up.

    Args:
        source: a domain directory (``train.jsonl``, ``valid.jsonl``, ``test.jsonl``), a
            JSONL file, or a ``keras_pn.data.windows.WindowSet`` (already tokenized).
        split: ``"train"``, ``"valid"`` or ``"test"`` (for a directory).
        batch_size: examples per batch.
        tokenizer: SentencePiece proto, path or keras_hub tokenizer (text sources only).
        context_length: sequence length (text sources; a WindowSet carries its own).
        shuffle: shuffle windows (default: True for ``"train"``, False otherwise).
        seed: shuffle seed.
        repeat: repeat forever (then use ``steps_per_epoch``).
        cluster_ids: None; an int (every example gets it); or a (num_windows,) array
            aligned with the windows in file order. Adds ``x["cluster_ids"]``.
        shuffle_buffer: shuffle buffer in windows (a domain of 1M tokens at context
            1,024 has about 1k windows, so the default shuffles it fully).
        drop_remainder: drop the last partial batch.
        pad_id: padding id (default 0).

    Returns:
        A ``tf.data.Dataset`` of ``(x, y, sample_weight)`` batches.

    Example:

    >>> ds = domain_dataset("domains/europarl", "valid", batch_size=8,
    ...     tokenizer="tok.model", context_length=1024)  # doctest: +SKIP
    """
    import tensorflow as tf

    from keras_pn.data.tokenizer_training import sentencepiece_proto
    from keras_pn.data.windows import WindowSet, _traced_windows_fn, read_jsonl_texts

    pad_id = _pad_id(pad_id)
    if shuffle is None:
        shuffle = split == "train"
    if isinstance(source, WindowSet):
        if context_length is not None and context_length != source.context_length:
            raise ValueError(
                f"The WindowSet was cut with context_length={source.context_length}, "
                f"not {context_length}."
            )
        context_length = source.context_length
        ragged = tf.RaggedTensor.from_row_splits(
            np.asarray(source.values, np.int32), np.asarray(source.row_splits, np.int64)
        )
        windows = tf.data.Dataset.from_tensor_slices(ragged)  # (None,) per element
    else:
        if tokenizer is None or context_length is None:
            raise ValueError("A text source needs tokenizer= and context_length=.")
        path = os.fspath(source)
        if os.path.isdir(path):
            path = os.path.join(path, f"{split}.jsonl")
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{path!r} does not exist. A domain directory holds train.jsonl, "
                "valid.jsonl and test.jsonl (one JSON object with a 'text' field per "
                "line)."
            )
        window_fn = _traced_windows_fn(sentencepiece_proto(tokenizer), context_length)
        texts = tf.data.Dataset.from_generator(
            lambda: (t for t in read_jsonl_texts(path) if t.strip()),
            output_signature=tf.TensorSpec((), tf.string),
        )
        windows = texts.batch(256).map(lambda t: window_fn(t)["token_ids"]).unbatch()
        windows = windows.cache()

    width = context_length + 1
    windows = windows.map(lambda w: (w[:width], tf.minimum(tf.size(w), width)))
    if cluster_ids is not None:
        if np.ndim(cluster_ids) == 0:
            constant = int(cluster_ids)
            windows = windows.map(lambda w, n: (w, n, tf.constant(constant, tf.int32)))
        else:
            table = tf.constant(np.asarray(cluster_ids, np.int32).reshape(-1))

            def attach(i, element):
                tf.debugging.assert_less(
                    i,
                    tf.size(table, out_type=tf.int64),
                    message=(
                        "cluster_ids has fewer entries than the domain has windows; "
                        "compute them on collect_windows() of the same split, context "
                        "and tokenizer."
                    ),
                )
                return element[0], element[1], tf.gather(table, i)

            windows = windows.enumerate().map(attach)
    if shuffle:
        windows = windows.shuffle(
            shuffle_buffer, seed=seed, reshuffle_each_iteration=True
        )
    if repeat:
        windows = windows.repeat()
    padded_shapes = ([width], []) + (([],) if cluster_ids is not None else ())
    padding_values = (pad_id, 0) + ((0,) if cluster_ids is not None else ())
    batches = windows.padded_batch(
        batch_size,
        padded_shapes=padded_shapes,
        padding_values=padding_values,
        drop_remainder=drop_remainder,
    )
    batches = batches.map(
        windows_to_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return batches.prefetch(tf.data.AUTOTUNE)
