"""Row samplers of the streams: which stored windows each batch takes (pure NumPy).

The draws depend only on the seed (not on the batch size, the backend or the
machine): they are made in chunks of ``_DRAW_CHUNK`` windows by a seeded NumPy
``Generator`` (PCG64).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

# Windows drawn per NumPy call. Part of the definition of a stream: the same seed gives
# the same sequence of windows for any batch size because draws are made in chunks of
# this fixed size.
_DRAW_CHUNK = 8192


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


def _take(chunks: Iterator[np.ndarray], n: int) -> Iterator[np.ndarray]:
    for chunk in chunks:
        if n <= 0:
            return
        yield chunk[:n]
        n -= len(chunk)
