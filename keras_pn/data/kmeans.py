"""k-means clustering written with `keras.ops`, for every Keras backend.

The paper clusters Sentence-BERT embeddings of the generic set with flat k-means
(k = 1,024 for importance sampling, k = 32 / 16 for the projected network and the
mixture). This module is that k-means:

* k-means++ initialisation (greedy, like scikit-learn) run on a seeded
  subsample for large inputs (as faiss and NeMo Curator do),
* Lloyd iterations computed chunk by chunk so memory stays bounded, with the
  squared distance expanded as ``||x||² - 2 x·c + ||c||²`` (one GEMM per chunk),
* a mini-batch variant (Sculley's per-centre learning rate) for very large N,
* empty-cluster repair: an empty cluster is re-seeded with the point that is
  farthest from its centroid (that point leaves its old cluster),
* an optional spherical mode (unit-norm centroids, cosine assignment),
* nearest-centroid assignment of new vectors in chunks, inertia, save / load,
* a two-level (hierarchical) k-means exposing flat cluster ids.

All arithmetic on vectors runs through `keras.ops`, compiled once per shape by
`_backend_tools()` -- the only backend-specific code in this module (``jax.jit``,
``tf.function(jit_compile=True)`` or eager torch under ``no_grad``). Data stay in
numpy (or a ``np.memmap``) on the host and are moved to the device whole when they
fit ``resident_bytes``, else chunk by chunk. Runs are deterministic for a fixed
seed on a fixed backend and device (random draws come from numpy, the device
code has no randomness).

Example:

>>> import numpy as np
>>> from keras_pn.data.kmeans import KMeans
>>> x = np.random.default_rng(0).normal(size=(500, 8)).astype("float32")
>>> km = KMeans(4, n_iter=10, seed=0, verbose=False).fit(x)
>>> km.centroids_.shape, km.labels_.shape
((4, 8), (500,))
>>> bool((km.assign(x) == km.labels_).all())
True
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, NamedTuple

import keras
import numpy as np
from keras import ops

logger = logging.getLogger(__name__)

__all__ = [
    "KMeans",
    "HierarchicalKMeans",
    "load_kmeans",
    "check_vectors",
]

_FORMAT_VERSION = 1
_CENTROIDS_FILE = "centroids.npy"
_TOP_CENTROIDS_FILE = "top_centroids.npy"
_METADATA_FILE = "kmeans.json"


# --------------------------------------------------------------------------------------
# The one backend-specific helper.
# --------------------------------------------------------------------------------------
def _keras_segment_sum(data, ids, k):
    return ops.segment_sum(data, ids, num_segments=k)


class _BackendTools(NamedTuple):
    compile: Callable  # fn -> compiled fn
    accelerator: bool  # default device is a GPU / TPU
    onehot_sums: bool  # accumulate cluster sums with a one-hot GEMM (else segment_sum)
    segment_sum: Callable = _keras_segment_sum  # (data (m, ...), ids (m,), k) -> (k, ...)


@functools.lru_cache(maxsize=None)
def _backend_tools(backend: str) -> _BackendTools:
    """The only backend-specific code of the module.

    ``compile(fn)`` turns a pure function of tensors into a compiled one:
    ``jax.jit`` on jax, ``tf.function(jit_compile=True)`` (XLA) on tensorflow, eager
    execution under ``torch.no_grad()`` on torch (GEMM-bound, and it avoids
    ``torch.compile`` start-up), the function itself elsewhere.
    ``onehot_sums`` picks how the Lloyd step accumulates cluster sums: a one-hot
    GEMM on accelerators (fast, deterministic), a scatter-add ``segment_sum`` on
    CPUs. On torch the scatter-add is ``Tensor.index_add_``: Keras' torch
    ``segment_sum`` materialises an ``(m, d)`` int64 index, and the one-hot GEMM
    builds an ``(m, k)`` matrix in several eager passes (measured, one chunk of
    2,048 x 384 rows, k = 1,024, 2 Xeon cores: one-hot 14.3 ms, Keras
    ``segment_sum`` 2.8 ms, ``index_add_`` 0.23 ms, against 3.8 ms for the
    distance GEMM).
    """
    if backend == "jax":
        import jax

        accelerator = jax.default_backend() != "cpu"
        return _BackendTools(jax.jit, accelerator, accelerator)
    if backend == "tensorflow":
        import tensorflow as tf

        def compile_tf(fn):
            return tf.function(fn, jit_compile=True, reduce_retracing=False)

        accelerator = bool(tf.config.list_logical_devices("GPU"))
        return _BackendTools(compile_tf, accelerator, accelerator)
    if backend == "torch":
        import torch

        def compile_torch(fn):
            @functools.wraps(fn)
            def wrapped(*args):
                with torch.no_grad():
                    return fn(*args)

            return wrapped

        def index_add(data, ids, k):
            out = torch.zeros(
                (k, *data.shape[1:]), dtype=data.dtype, device=data.device
            )
            return out.index_add_(0, ids, data)

        cuda = torch.cuda.is_available()
        return _BackendTools(compile_torch, cuda, cuda, index_add)
    return _BackendTools(lambda fn: fn, False, False)


def _tools():
    return _backend_tools(keras.config.backend())


# --------------------------------------------------------------------------------------
# Validation.
# --------------------------------------------------------------------------------------
def check_vectors(
    x, *, name: str = "vectors", dim: int | None = None, chunk_rows: int = 65536
):
    """Validate a 2-D array of vectors; return it as a numpy array (memmaps kept).

    Checks that ``x`` is 2-D and numeric, that its width equals ``dim`` when given,
    and that every value is finite (scanned in chunks, so a large ``np.memmap`` is
    not loaded at once). The error names the offending rows.

    Args:
        x: array-like ``(n, d)``; a ``np.memmap`` is not copied.
        name: what to call the array in error messages.
        dim: expected width, or None.
        chunk_rows: rows scanned at a time for the finiteness check.

    Returns:
        ``x`` as a numpy array (or the memmap itself).

    Raises:
        ValueError: wrong rank, wrong width, non-numeric dtype or NaN/inf values.

    Example:

    >>> import numpy as np
    >>> check_vectors(np.zeros((3, 2), "float32")).shape
    (3, 2)
    """
    if not isinstance(x, np.ndarray):
        if hasattr(x, "numpy") and not isinstance(x, (list, tuple)):
            x = np.asarray(ops.convert_to_numpy(x))
        else:
            x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_vectors, dim); "
            f"got shape {x.shape}. "
            "Reshape it, e.g. `x.reshape(len(x), -1)`, or stack the vectors."
        )
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{name} must be numeric; got dtype {x.dtype}.")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(
            f"{name} have dimension {x.shape[1]} but the centroids have dimension "
            f"{dim}. "
            "Embed them with the same embedder used to fit the clustering."
        )
    if np.issubdtype(x.dtype, np.floating):
        bad = []
        for start in range(0, x.shape[0], chunk_rows):
            block = np.asarray(x[start : start + chunk_rows])
            ok = np.isfinite(block).all(axis=1)
            if not ok.all():
                bad.extend((np.flatnonzero(~ok) + start).tolist())
                if len(bad) >= 10:
                    break
        if bad:
            shown = ", ".join(str(i) for i in bad[:10])
            raise ValueError(
                f"{name} contain NaN or inf values in rows [{shown}"
                f"{', ...' if len(bad) >= 10 else ''}]. Drop or fix these rows before "
                "clustering, e.g. `x = x[np.isfinite(x).all(axis=1)]`."
            )
    return x


# --------------------------------------------------------------------------------------
# Kernels (pure functions of tensors, compiled by `_backend_tools`).
# --------------------------------------------------------------------------------------
def _nearest(x, c):
    """Nearest centroid of each row: x (m, d), c (k, d) -> labels (m,), d² (m,)."""
    c_sq = ops.sum(c * c, axis=1)  # (k,)
    score = ops.expand_dims(c_sq, 0) - 2.0 * ops.matmul(x, ops.transpose(c))  # (m, k)
    labels = ops.argmin(score, axis=1)  # (m,)
    best = ops.min(score, axis=1)  # (m,)
    d2 = ops.maximum(best + ops.sum(x * x, axis=1), 0.0)  # (m,) ||x||² - 2x·c + ||c||²
    return labels, d2


def _cluster_sums(x, w, labels, k, tools):
    """Weighted sums (k, d) and counts (k,) of rows per cluster.

    With ``tools.onehot_sums`` a GEMM with the one-hot matrix (accelerators: fast
    and deterministic); otherwise the backend's scatter-add ``tools.segment_sum``
    (CPU: no extra GEMM).
    """
    if tools.onehot_sums:
        hot = ops.one_hot(labels, k, dtype=x.dtype) * ops.expand_dims(w, 1)  # (m, k)
        return ops.matmul(ops.transpose(hot), x), ops.sum(hot, axis=0)
    sums = tools.segment_sum(x * ops.expand_dims(w, 1), labels, k)  # (k, d)
    return sums, tools.segment_sum(w, labels, k)


def _normalize_rows(c):
    return c / ops.maximum(ops.sqrt(ops.sum(c * c, axis=1, keepdims=True)), 1e-12)


@functools.lru_cache(maxsize=None)
def _assign_kernel(backend: str):
    compile_fn = _backend_tools(backend).compile
    return compile_fn(_nearest)


@functools.lru_cache(maxsize=None)
def _lloyd_kernel(backend: str, k: int):
    """Compiled E-step of one chunk; adds its statistics to the accumulators."""
    tools = _backend_tools(backend)
    compile_fn = tools.compile

    def kernel(x, w, c, sums, counts, inertia):
        # x (m, d), w (m,) row weights (0 = padding), c (k, d); sums (k, d), counts (k,)
        # and inertia () accumulate over the chunks of a pass.
        labels, d2 = _nearest(x, c)  # (m,), (m,)
        s, n = _cluster_sums(x, w, labels, k, tools)  # (k, d), (k,)
        return labels, d2, sums + s, counts + n, inertia + ops.sum(w * d2)

    return compile_fn(kernel)


@functools.lru_cache(maxsize=None)
def _update_kernel(backend: str, spherical: bool):
    """Compiled M-step: new centroids, then [squared shift, number of empties]."""
    compile_fn = _backend_tools(backend).compile

    def kernel(sums, counts, c):  # sums (k, d), counts (k,), c (k, d)
        filled = ops.expand_dims(counts > 0, 1)  # (k, 1)
        new_c = ops.where(
            filled, sums / ops.expand_dims(ops.maximum(counts, 1e-12), 1), c
        )
        if spherical:
            new_c = _normalize_rows(new_c)
        shift = ops.sum((new_c - c) ** 2)
        n_empty = ops.sum(ops.cast(counts <= 0, "float32"))
        return new_c, ops.stack([shift, n_empty])

    return compile_fn(kernel)


@functools.lru_cache(maxsize=None)
def _minibatch_kernel(backend: str, k: int, spherical: bool):
    """Compiled mini-batch step (Sculley): per-centre learning rate 1 / count."""
    tools = _backend_tools(backend)
    compile_fn = tools.compile

    def kernel(x, w, c, v):  # x (b, d), w (b,), c (k, d), v (k,) cumulative counts
        labels, d2 = _nearest(x, c)  # (b,), (b,)
        sums, counts = _cluster_sums(x, w, labels, k, tools)  # (k, d), (k,)
        v_new = v + counts  # (k,)
        upd = (c * ops.expand_dims(v, 1) + sums) / ops.expand_dims(
            ops.maximum(v_new, 1e-12), 1
        )
        new_c = ops.where(ops.expand_dims(counts > 0, 1), upd, c)  # (k, d)
        if spherical:
            new_c = _normalize_rows(new_c)
        stats = ops.stack([ops.sum(w * d2), ops.sum(ops.cast(v_new <= 0, "float32"))])
        return new_c, v_new, d2, stats

    return compile_fn(kernel)


@functools.lru_cache(maxsize=None)
def _kmeanspp_kernel(backend: str, k: int, n_trials: int, spherical: bool):
    """Compiled greedy k-means++ over a (sub)sample (scikit-learn's algorithm)."""
    compile_fn = _backend_tools(backend).compile

    def kernel(xs, mask, first, u):
        # xs (n, d) with padded rows where mask (n,) is 0; first (1,) int32;
        # u (k - 1, n_trials) uniform in [0, 1). Padded rows keep zero mass.
        last = ops.cast(ops.sum(mask), "int32") - 1  # index of the last real row
        x_sq = ops.sum(xs * xs, axis=1)  # (n,)
        c0 = ops.take(xs, first, axis=0)  # (1, d)
        closest = mask * ops.maximum(
            x_sq + ops.sum(c0 * c0) - 2.0 * ops.matmul(c0, ops.transpose(xs))[0], 0.0
        )  # (n,)
        chosen = ops.concatenate(
            [first, ops.zeros((k - 1,), dtype="int32")]
        )  # (k,) row ids

        def body(i, state):
            chosen, closest = state
            cum = ops.cumsum(closest)  # (n,)
            r = ops.take(u, i - 1, axis=0) * cum[-1]  # (t,)
            # searchsorted(cum, r, side="right") as a count: cheaper to compile.
            below = ops.cast(
                ops.expand_dims(cum, 0) <= ops.expand_dims(r, 1), "int32"
            )  # (t, n)
            cand = ops.minimum(ops.sum(below, axis=1), last)  # (t,) real rows only
            xc = ops.take(xs, cand, axis=0)  # (t, d)
            # (n, d) @ (d, t): the tall-skinny orientation is ~1.6x faster on XLA:CPU.
            d2 = ops.maximum(
                ops.expand_dims(x_sq, 1)
                + ops.expand_dims(ops.sum(xc * xc, axis=1), 0)
                - 2.0 * ops.matmul(xs, ops.transpose(xc)),
                0.0,
            )  # (n, t)
            d2 = ops.minimum(d2, ops.expand_dims(closest, 1))  # (n, t)
            best = ops.argmin(ops.sum(d2, axis=0))  # ()
            closest = ops.take(d2, best, axis=1)  # (n,)
            new = ops.cast(ops.reshape(ops.take(cand, best), (1,)), "int32")  # (1,)
            chosen = ops.slice_update(chosen, (i,), new)
            return chosen, closest

        chosen, _ = ops.fori_loop(1, k, body, (chosen, closest))
        centers = ops.take(xs, chosen, axis=0)  # (k, d)
        return _normalize_rows(centers) if spherical else centers

    return compile_fn(kernel)


def _bucket(n: int) -> int:
    """Padded size for ``n`` rows, so that fits of similar sizes share compiled shapes.

    The next power of two (>= 64) up to 4,096, then the next multiple of 4,096 (at
    most ~25% padding for the k-means++ sample, whose cost is linear in its size).
    """
    n = int(n)
    if n <= 4096:
        return max(64, 1 << max(0, n - 1).bit_length())
    return -(-n // 4096) * 4096


def _tensor(a, dtype="float32"):
    return ops.convert_to_tensor(np.asarray(a, dtype=dtype, order="C"))


# --------------------------------------------------------------------------------------
# Host data source: fixed-shape chunks, resident on the device when small enough.
# --------------------------------------------------------------------------------------
class _Source:
    """Serves ``(start, stop, x_chunk, w_chunk)`` tensors of one fixed shape.

    The last chunk is zero-padded on the host and its padding rows get weight 0, so
    every chunk has the same shape (one compilation). Chunk sizes are rounded to a
    power of two for small inputs so that many small fits (hierarchical k-means)
    share compiled kernels. Gathers and padding happen in numpy, so the driver loop
    issues no eager device ops besides the compiled kernels.
    """

    def __init__(self, x: np.ndarray, chunk_size: int, resident_bytes: int):
        self.x = x
        self.n, self.d = x.shape
        self.chunk = max(1, min(int(chunk_size), _bucket(self.n)))
        self.bounds = [
            (a, min(a + self.chunk, self.n)) for a in range(0, self.n, self.chunk)
        ]
        self._w_full = _tensor(np.ones(self.chunk))
        tail = self.bounds[-1][1] - self.bounds[-1][0] if self.bounds else self.chunk
        self._w_tail = _tensor(np.arange(self.chunk) < tail)
        self._resident = None
        if self.n * self.d * 4 <= resident_bytes:
            self._resident = [self._load(a, b) for a, b in self.bounds]
        self.streamed = self._resident is None

    def __len__(self):
        return len(self.bounds)

    def _load(self, start, stop):
        block = np.asarray(self.x[start:stop], dtype="float32")  # (m, d)
        if stop - start < self.chunk:
            block = np.pad(block, [(0, self.chunk - (stop - start)), (0, 0)])
        return _tensor(block)

    def chunks(self):
        for i, (start, stop) in enumerate(self.bounds):
            xc = (
                self._resident[i]
                if self._resident is not None
                else self._load(start, stop)
            )
            w = self._w_full if stop - start == self.chunk else self._w_tail
            yield start, stop, xc, w

    def rows_numpy(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` (any order) as float32 numpy ``(len(idx), d)``."""
        order = np.argsort(idx, kind="stable")
        out = np.empty((len(idx), self.d), dtype="float32")
        out[order] = np.asarray(self.x[np.asarray(idx)[order]], dtype="float32")
        return out

    def rows(self, idx: np.ndarray, pad_to: int | None = None):
        """Rows ``idx`` as a tensor ``(pad_to or len(idx), d)`` (zero rows appended)."""
        block = self.rows_numpy(idx)
        if pad_to is not None and pad_to > len(idx):
            block = np.pad(block, [(0, pad_to - len(idx)), (0, 0)])
        return _tensor(block)

    def data_variance(self) -> float:
        """Mean per-dimension variance (scikit-learn's scale for ``tol``)."""
        s = np.zeros(self.d)
        s2 = np.zeros(self.d)
        for start in range(0, self.n, 65536):
            block = np.asarray(self.x[start : start + 65536], dtype="float64")
            s += block.sum(0)
            s2 += (block * block).sum(0)
        mean = s / self.n
        return float(np.mean(np.maximum(s2 / self.n - mean * mean, 0.0)))


def _progress(total, desc, verbose):
    from tqdm.auto import tqdm

    return tqdm(
        total=total, desc=desc, disable=not verbose, leave=False, dynamic_ncols=True
    )


# --------------------------------------------------------------------------------------
# Flat k-means.
# --------------------------------------------------------------------------------------
class KMeans:
    """Seeded flat k-means on `keras.ops` (k-means++, Lloyd or mini-batch).

    Args:
        n_clusters: number of clusters k (>= 1, <= number of vectors).
        n_iter: Lloyd iterations (assign + update), or epochs for
            ``algorithm="minibatch"``. A final assignment pass computes ``labels_``
            and ``inertia_`` with the final centroids (as scikit-learn does).
        tol: stop early when the total squared centroid shift of an iteration is
            below ``tol * mean per-dimension variance`` of the data (scikit-learn's
            rule); 0 runs exactly ``n_iter`` iterations.
        seed: seed of every random choice (subsamples, k-means++ draws, mini-batch
            order). Same seed, data and backend give identical assignments.
        algorithm: ``"lloyd"`` (full passes) or ``"minibatch"`` (Sculley's online
            updates over shuffled batches; for very large N).
        init: ``"k-means++"`` (greedy, on a subsample of ``init_sample_size``
            points), ``"random"`` (k distinct random points) or an array ``(k, d)``.
        init_sample_size: points used by k-means++; default
            ``min(n, max(10_000, 16 * k))``. k-means++ is sequential (k steps, each
            reading the whole sample), so its cost grows as ``k * sample``; on 2 CPU
            cores k = 1,024 over 16k points takes about as long as a few Lloyd
            iterations over 200k vectors. A larger sample gives a slightly better
            start (about 1.5% lower inertia after 10 iterations with the full data
            than with 8k points at k = 256 in `bench/kmeans.py`).
        n_local_trials: candidates per greedy k-means++ step; default
            ``2 + int(log(k))`` (scikit-learn's default).
        spherical: keep centroids at unit norm and assign by cosine (for
            L2-normalised embeddings, as NeMo Curator and faiss ``spherical``).
        max_points_per_centroid: if set, fit on a seeded subsample of at most
            ``k * max_points_per_centroid`` vectors (faiss uses 256); ``labels_``
            and ``inertia_`` still cover all vectors.
        batch_size: mini-batch size for ``algorithm="minibatch"``.
        chunk_size: rows per chunk of a pass; the ``(chunk, k)`` distance block
            bounds memory. None picks it: 2,048-8,192 rows on CPU (cache-sized
            blocks, depending on k), 32,768 on an accelerator.
        resident_bytes: move the data to the device once when it is at most this
            large, else stream chunks from the host array (e.g. a memmap).
        verbose: show a tqdm progress bar.

    Attributes:
        centroids_: ``(k, d)`` float32 numpy array.
        labels_: ``(n,)`` int32 cluster of each fitted vector.
        inertia_: sum of squared distances of the fitted vectors to their centroid.
        n_iter_: iterations (or epochs) run.
        n_repaired_: number of empty clusters re-seeded during the fit.
        history_: one dict per iteration (inertia before the update, shift, ...).

    Example:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(300, 4)).astype("float32")
    >>> km = KMeans(3, n_iter=5, seed=1, verbose=False).fit(x)
    >>> km.assign(x[:5]).shape
    (5,)
    """

    def __init__(
        self,
        n_clusters: int,
        *,
        n_iter: int = 25,
        tol: float = 1e-4,
        seed: int = 0,
        algorithm: str = "lloyd",
        init="k-means++",
        init_sample_size: int | None = None,
        n_local_trials: int | None = None,
        spherical: bool = False,
        max_points_per_centroid: int | None = None,
        batch_size: int = 4096,
        chunk_size: int | None = None,
        resident_bytes: int = 2**31,
        verbose: bool = True,
    ):
        if int(n_clusters) < 1:
            raise ValueError(f"n_clusters must be >= 1; got {n_clusters}.")
        if algorithm not in ("lloyd", "minibatch"):
            raise ValueError(
                f"algorithm must be 'lloyd' or 'minibatch'; got {algorithm!r}."
            )
        if isinstance(init, str) and init not in ("k-means++", "random"):
            raise ValueError(
                f"init must be 'k-means++', 'random' or an array; got {init!r}."
            )
        if int(n_iter) < 0:
            raise ValueError(f"n_iter must be >= 0; got {n_iter}.")
        self.n_clusters = int(n_clusters)
        self.n_iter = int(n_iter)
        self.tol = float(tol)
        self.seed = int(seed)
        self.algorithm = algorithm
        self.init = init
        self.init_sample_size = init_sample_size
        self.n_local_trials = n_local_trials
        self.spherical = bool(spherical)
        self.max_points_per_centroid = max_points_per_centroid
        self.batch_size = int(batch_size)
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        self.resident_bytes = int(resident_bytes)
        self.verbose = bool(verbose)
        self.centroids_ = None
        self.labels_ = None
        self.inertia_ = None
        self.n_iter_ = 0
        self.n_repaired_ = 0
        self.history_ = []
        self.fit_seconds_ = None

    # ----------------------------------------------------------------- public API
    def fit(self, x) -> "KMeans":
        """Fit centroids on ``x`` ``(n, d)`` (numpy array or memmap); returns self."""
        t0 = time.perf_counter()
        x = check_vectors(x)
        n, d = x.shape
        k = self.n_clusters
        if k > n:
            raise ValueError(
                f"n_clusters={k} is larger than the number of vectors ({n}). "
                "Use at most "
                f"{n} clusters or cluster more vectors."
            )
        backend = keras.config.backend()
        rng = np.random.default_rng(self.seed)
        fit_x = x
        if self.max_points_per_centroid and n > k * self.max_points_per_centroid:
            m = k * int(self.max_points_per_centroid)
            fit_x = x[np.sort(rng.choice(n, size=m, replace=False))]
            logger.info("k-means: fitting on a subsample of %d of %d vectors", m, n)
        source = _Source(fit_x, self._chunk(), self.resident_bytes)
        logger.info(
            "k-means: n=%d d=%d k=%d backend=%s algorithm=%s spherical=%s resident=%s",
            source.n,
            d,
            k,
            backend,
            self.algorithm,
            self.spherical,
            not source.streamed,
        )
        centroids = self._initial_centroids(source, rng)
        self.history_ = []
        self.n_repaired_ = 0
        if self.algorithm == "lloyd":
            centroids = self._fit_lloyd(source, centroids)
        else:
            centroids = self._fit_minibatch(source, centroids, rng)
        self.centroids_ = np.asarray(ops.convert_to_numpy(centroids), dtype="float32")
        # Final E-step over all vectors with the final centroids.
        if fit_x is not x:
            source = _Source(x, self._chunk(), self.resident_bytes)
        labels, d2 = self._assign_source(source, self.centroids_, self.verbose)
        self.labels_ = labels
        self.inertia_ = float(np.sum(d2, dtype="float64"))
        if self.n_repaired_:
            logger.info("k-means: re-seeded %d empty clusters", self.n_repaired_)
        n_empty = k - int(np.count_nonzero(np.bincount(labels, minlength=k)))
        if n_empty:
            logger.warning(
                "k-means: %d of k=%d clusters are empty after the final assignment; "
                "more iterations (n_iter) usually fill them, else the data hold fewer "
                "than k "
                "distinct vectors.",
                n_empty,
                k,
            )
        self.fit_seconds_ = time.perf_counter() - t0
        logger.info(
            "k-means: done in %.1fs, %d iterations, inertia %.6g",
            self.fit_seconds_,
            self.n_iter_,
            self.inertia_,
        )
        return self

    def fit_predict(self, x) -> np.ndarray:
        """Fit on ``x`` and return ``labels_`` ``(n,)`` int32."""
        return self.fit(x).labels_

    def assign(
        self, x, *, return_distances: bool = False, chunk_size: int | None = None
    ):
        """Nearest centroid of each vector, computed in chunks.

        Args:
            x: ``(n, d)`` array or memmap.
            return_distances: also return the squared distance to that centroid.
            chunk_size: rows per chunk (default: the model's ``chunk_size``).

        Returns:
            ``labels`` ``(n,)`` int32, or ``(labels, sq_distances)`` with
            ``sq_distances`` ``(n,)`` float32.

        Example:

        >>> import numpy as np
        >>> km = KMeans(2, verbose=False)
        >>> km.centroids_ = np.array([[0.0, 0.0], [10.0, 10.0]], "float32")
        >>> km.assign(np.array([[1.0, 0.0], [9.0, 9.0]])).tolist()
        [0, 1]
        """
        c = self._require_fitted()
        x = check_vectors(x, dim=c.shape[1])
        if x.shape[0] == 0:
            empty = np.empty((0,), "int32"), np.empty((0,), "float32")
            return empty if return_distances else empty[0]
        # Streamed (not resident): each chunk is transferred once anyway.
        source = _Source(x, chunk_size or self._chunk(), resident_bytes=0)
        labels, d2 = self._assign_source(source, c, self.verbose)
        return (labels, d2) if return_distances else labels

    @staticmethod
    def _assign_source(source: "_Source", c: np.ndarray, verbose: bool):
        labels = np.empty((source.n,), dtype="int32")
        d2 = np.empty((source.n,), dtype="float32")
        ct = _tensor(c)
        kernel = _assign_kernel(keras.config.backend())
        pending = []
        with _progress(len(source), "assign", verbose and len(source) > 8) as bar:
            for start, stop, xc, _ in source.chunks():
                pending.append((start, stop, kernel(xc, ct)))
                if len(pending) >= 4:  # bounded queue of in-flight results
                    KMeans._drain(pending[:2], labels, d2)
                    del pending[:2]
                bar.update(1)
            KMeans._drain(pending, labels, d2)
        return labels, d2

    def compute_inertia(self, x) -> float:
        """Sum of squared distances of ``x`` to their nearest centroid."""
        _, d2 = self.assign(x, return_distances=True)
        return float(np.sum(d2, dtype="float64"))

    def save(self, path) -> Path:
        """Save to directory ``path``: ``centroids.npy`` and ``kmeans.json``.

        Files are written atomically (temporary file, then rename); the JSON holds
        the parameters, fit statistics and a sha256 of the centroids, checked by
        `load`.
        """
        c = self._require_fitted()
        return _save(path, self._metadata(), {_CENTROIDS_FILE: c})

    @classmethod
    def load(cls, path) -> "KMeans":
        """Load a `KMeans` written by `save` (see also `load_kmeans`)."""
        model = load_kmeans(path)
        if not isinstance(model, cls):
            raise ValueError(
                f"{path} holds a {type(model).__name__}, not a {cls.__name__}."
            )
        return model

    # ----------------------------------------------------------------- internals
    def _chunk(self) -> int:
        """Rows per chunk: ``chunk_size`` or a size measured to suit the device."""
        if self.chunk_size:
            return self.chunk_size
        if _tools().accelerator:  # large blocks keep the GEMMs busy
            return 32768
        # CPU: keep the (chunk, k) distance block near the caches. Measured on 2 EPYC
        # cores, d = 384: k = 256 -> 4096 rows, k = 1024 -> 2048 rows (8192 rows were
        # 1.3x / 1.9x slower).
        k = self.n_clusters
        return 8192 if k <= 64 else 4096 if k <= 512 else 2048

    @property
    def n_features_(self):
        return None if self.centroids_ is None else int(self.centroids_.shape[1])

    def _require_fitted(self) -> np.ndarray:
        if self.centroids_ is None:
            raise ValueError(
                "This KMeans is not fitted; call fit(x) or KMeans.load(path) first."
            )
        return self.centroids_

    @staticmethod
    def _drain(pending, labels, d2):
        for start, stop, (lab, dist) in pending:
            m = stop - start
            labels[start:stop] = ops.convert_to_numpy(lab)[:m]
            d2[start:stop] = ops.convert_to_numpy(dist)[:m]

    def _metadata(self) -> dict:
        return {
            "format_version": _FORMAT_VERSION,
            "class": type(self).__name__,
            "n_clusters": self.n_clusters,
            "dim": self.n_features_,
            "spherical": self.spherical,
            "params": {
                "n_iter": self.n_iter,
                "tol": self.tol,
                "seed": self.seed,
                "algorithm": self.algorithm,
                "init": self.init if isinstance(self.init, str) else "array",
                "init_sample_size": self.init_sample_size,
                "n_local_trials": self.n_local_trials,
                "max_points_per_centroid": self.max_points_per_centroid,
                "batch_size": self.batch_size,
                "chunk_size": self.chunk_size,
            },
            "inertia": self.inertia_,
            "n_iter_run": self.n_iter_,
            "n_repaired": self.n_repaired_,
            "fit_seconds": self.fit_seconds_,
            "backend": keras.config.backend(),
        }

    def _initial_centroids(self, source: _Source, rng: np.random.Generator):
        k, n = self.n_clusters, source.n
        if not isinstance(self.init, str):
            init = check_vectors(self.init, name="init centroids", dim=source.d)
            if init.shape[0] != k:
                raise ValueError(
                    f"init has {init.shape[0]} centroids but n_clusters={k}; "
                    f"pass a ({k}, "
                    f"{source.d}) array."
                )
            c = np.asarray(init, dtype="float32")
        elif self.init == "random" or k == 1:
            c = source.rows_numpy(np.sort(rng.choice(n, size=k, replace=False)))
        else:
            m = self.init_sample_size or min(n, max(10_000, 16 * k))
            m = int(min(n, max(m, k)))
            idx = (
                np.arange(n)
                if m == n
                else np.sort(rng.choice(n, size=m, replace=False))
            )
            trials = self.n_local_trials or 2 + int(np.log(k))
            first = np.array([rng.integers(m)], dtype="int32")
            u = rng.random((k - 1, trials), dtype=np.float64).astype("float32")
            t0 = time.perf_counter()
            kernel = _kmeanspp_kernel(
                keras.config.backend(), k, int(trials), self.spherical
            )
            padded = _bucket(m)
            c = kernel(
                source.rows(idx, pad_to=padded),  # (padded, d)
                _tensor(np.arange(padded) < m),  # (padded,) 1 = real row
                _tensor(first, "int32"),
                _tensor(u),
            )
            logger.info(
                "k-means++: %d centres from %d points in %.1fs",
                k,
                m,
                time.perf_counter() - t0,
            )
            return c
        if self.spherical:
            c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
        return _tensor(c)

    def _tol_threshold(self, source: _Source) -> float:
        return self.tol * source.data_variance() if self.tol > 0 else -1.0

    def _fit_lloyd(self, source: _Source, c):
        k, d = self.n_clusters, source.d
        backend = keras.config.backend()
        kernel = _lloyd_kernel(backend, k)
        update = _update_kernel(backend, self.spherical)
        threshold = self._tol_threshold(source)
        zeros_kd, zeros_k, zero = np.zeros((k, d)), np.zeros((k,)), np.zeros(())
        self.n_iter_ = 0
        with _progress(self.n_iter, f"k-means k={k} ({backend})", self.verbose) as bar:
            for it in range(self.n_iter):
                t0 = time.perf_counter()
                sums, counts, inertia = (
                    _tensor(zeros_kd),
                    _tensor(zeros_k),
                    _tensor(zero),
                )
                outs = []
                for start, stop, xc, w in source.chunks():
                    lab, d2, sums, counts, inertia = kernel(
                        xc, w, c, sums, counts, inertia
                    )
                    outs.append((start, stop, lab, d2))
                    if source.streamed and len(outs) > 2:
                        # Back-pressure: wait for chunk i-2 (moving its outputs to the
                        # host) so at most 3 streamed chunks are in flight.
                        a, b, lab2, d22 = outs[-3]
                        outs[-3] = (
                            a,
                            b,
                            ops.convert_to_numpy(lab2),
                            ops.convert_to_numpy(d22),
                        )
                new_c, stats = update(sums, counts, c)
                shift, n_empty = (float(v) for v in ops.convert_to_numpy(stats))
                n_empty = int(n_empty)
                if n_empty:
                    new_c, shift = self._repair_empty(
                        source, new_c, c, sums, counts, outs
                    )
                c = new_c
                self.n_iter_ = it + 1
                inertia = float(ops.convert_to_numpy(inertia))
                self.history_.append(
                    {
                        "iteration": it + 1,
                        "inertia": inertia,
                        "shift": shift,
                        "empty_repaired": n_empty,
                        "seconds": time.perf_counter() - t0,
                    }
                )
                bar.set_postfix(inertia=f"{inertia:.5g}", shift=f"{shift:.3g}")
                bar.update(1)
                logger.debug(
                    "k-means iter %d inertia %.6g shift %.3g", it + 1, inertia, shift
                )
                if shift <= threshold:
                    logger.info("k-means: converged after %d iterations", it + 1)
                    break
        return c

    def _repair_empty(self, source: _Source, new_c, old_c, sums, counts, outs):
        """Re-seed each empty cluster with the point farthest from its centroid.

        The chosen point leaves its old cluster, whose centroid is recomputed without
        it (scikit-learn's relocation rule). Rare bookkeeping on ``(k, d)`` arrays,
        done on the host. Returns the repaired centroids and the squared shift.
        """
        counts = np.array(ops.convert_to_numpy(counts), dtype="float64")
        empty = np.flatnonzero(counts <= 0)
        labels = np.concatenate(
            [ops.convert_to_numpy(lab)[: b - a] for a, b, lab, _ in outs]
        )
        d2 = np.concatenate([ops.convert_to_numpy(v)[: b - a] for a, b, _, v in outs])
        far = np.argsort(-d2, kind="stable")[: len(empty)]
        c_np = np.array(ops.convert_to_numpy(new_c), dtype="float32")
        sums_np = np.array(ops.convert_to_numpy(sums), dtype="float64")
        for e, p, row in zip(empty, far, source.rows_numpy(far)):
            old = labels[p]
            if counts[old] > 1:
                sums_np[old] -= row
                counts[old] -= 1
                c_np[old] = sums_np[old] / counts[old]
            c_np[e] = row
        if self.spherical:
            c_np /= np.maximum(np.linalg.norm(c_np, axis=1, keepdims=True), 1e-12)
        self.n_repaired_ += len(empty)
        shift = float(np.sum((c_np - ops.convert_to_numpy(old_c)) ** 2))
        return _tensor(c_np), shift

    def _fit_minibatch(self, source: _Source, c, rng: np.random.Generator):
        k, n = self.n_clusters, source.n
        bs = max(1, min(self.batch_size, _bucket(n)))
        backend = keras.config.backend()
        kernel = _minibatch_kernel(backend, k, self.spherical)
        threshold = self._tol_threshold(source)
        v = _tensor(np.zeros((k,)))  # cumulative counts per centre
        steps = math.ceil(n / bs)
        w_full = _tensor(np.ones((bs,)))
        self.n_iter_ = 0
        desc = f"mini-batch k-means k={k} ({backend})"
        with _progress(self.n_iter * steps, desc, self.verbose) as bar:
            for epoch in range(self.n_iter):
                t0 = time.perf_counter()
                c_epoch = ops.convert_to_numpy(c)
                perm = rng.permutation(n)
                inertia = 0.0
                for s in range(steps):
                    idx = np.sort(perm[s * bs : (s + 1) * bs])
                    m = len(idx)
                    xb = source.rows(idx, pad_to=bs)  # (bs, d)
                    w = w_full if m == bs else _tensor(np.arange(bs) < m)
                    c, v, d2, stats = kernel(xb, w, c, v)
                    ine, n_unused = (float(t) for t in ops.convert_to_numpy(stats))
                    if n_unused:
                        c = self._reseed_from_batch(c, v, xb, d2, m)
                    inertia += ine
                    bar.update(1)
                shift = float(np.sum((ops.convert_to_numpy(c) - c_epoch) ** 2))
                self.n_iter_ = epoch + 1
                self.history_.append(
                    {
                        "iteration": epoch + 1,
                        "inertia": inertia,
                        "shift": shift,
                        "seconds": time.perf_counter() - t0,
                    }
                )
                bar.set_postfix(inertia=f"{inertia:.5g}", shift=f"{shift:.3g}")
                if shift <= threshold:
                    break
        return c

    def _reseed_from_batch(self, c, v, xb, d2, m):
        """Move never-used centres onto the batch points farthest from their centre."""
        empty = np.flatnonzero(ops.convert_to_numpy(v) <= 0)
        far = np.argsort(-ops.convert_to_numpy(d2)[:m], kind="stable")[: len(empty)]
        c_np = np.array(ops.convert_to_numpy(c), dtype="float32")
        c_np[empty[: len(far)]] = ops.convert_to_numpy(xb)[far]
        if self.spherical:
            c_np /= np.maximum(np.linalg.norm(c_np, axis=1, keepdims=True), 1e-12)
        self.n_repaired_ += len(far)
        return _tensor(c_np)


# --------------------------------------------------------------------------------------
# Two-level k-means.
# --------------------------------------------------------------------------------------
class HierarchicalKMeans:
    """Two-level k-means: ``n_top`` clusters, then ``n_sub`` inside each.

    Flat ids are ``top * n_sub + sub`` (``n_clusters = n_top * n_sub``). A top
    cluster with fewer than ``n_sub`` members gets one sub-cluster per member; its
    unused flat ids stay empty (``valid_`` marks the used ones). Assignment is
    two-level: nearest top centroid, then nearest sub-centroid inside it (as in the
    follow-up CRISP work) -- not always the globally nearest flat centroid.

    Args:
        n_top: number of top-level clusters.
        n_sub: clusters inside each top cluster.
        seed: seed; the sub-level of top cluster ``j`` uses ``seed + 1 + j``.
        **kmeans_kwargs: passed to every `KMeans` (``n_iter``, ``spherical``...).

    Attributes:
        top_: the top-level `KMeans`.
        centroids_: ``(n_top * n_sub, d)`` flat centroids (rows of invalid ids are 0).
        valid_: ``(n_top * n_sub,)`` bool, which flat ids have a centroid.
        labels_, inertia_: flat labels and inertia of the fitted vectors.

    Example:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(400, 4)).astype("float32")
    >>> hk = HierarchicalKMeans(2, 3, n_iter=5, verbose=False).fit(x)
    >>> int(hk.assign(x).max()) < 6
    True
    """

    def __init__(
        self,
        n_top: int,
        n_sub: int,
        *,
        seed: int = 0,
        verbose: bool = True,
        **kmeans_kwargs,
    ):
        if int(n_top) < 1 or int(n_sub) < 1:
            raise ValueError(f"n_top and n_sub must be >= 1; got {n_top}, {n_sub}.")
        self.n_top = int(n_top)
        self.n_sub = int(n_sub)
        self.seed = int(seed)
        self.verbose = bool(verbose)
        self.kmeans_kwargs = dict(kmeans_kwargs)
        self.top_ = None
        self.centroids_ = None
        self.valid_ = None
        self.labels_ = None
        self.inertia_ = None

    @property
    def n_clusters(self) -> int:
        return self.n_top * self.n_sub

    def fit(self, x) -> "HierarchicalKMeans":
        """Fit both levels on ``x`` ``(n, d)``; returns self."""
        x = check_vectors(x)
        n, d = x.shape
        if self.n_top > n:
            raise ValueError(
                f"n_top={self.n_top} is larger than the number of vectors ({n}); "
                f"use at most {n}."
            )
        self.top_ = KMeans(
            self.n_top, seed=self.seed, verbose=self.verbose, **self.kmeans_kwargs
        ).fit(x)
        top = self.top_.labels_
        self.centroids_ = np.zeros((self.n_clusters, d), dtype="float32")
        self.valid_ = np.zeros((self.n_clusters,), dtype=bool)
        labels = np.empty((n,), dtype="int32")
        inertia = 0.0
        order = np.argsort(top, kind="stable")
        bounds = np.searchsorted(top[order], np.arange(self.n_top + 1))
        for j in range(self.n_top):
            members = np.sort(order[bounds[j] : bounds[j + 1]])
            if len(members) == 0:
                continue
            k2 = min(self.n_sub, len(members))
            sub = KMeans(
                k2, seed=self.seed + 1 + j, verbose=False, **self.kmeans_kwargs
            ).fit(x[members])
            base = j * self.n_sub
            self.centroids_[base : base + k2] = sub.centroids_
            self.valid_[base : base + k2] = True
            labels[members] = base + sub.labels_
            inertia += sub.inertia_
        self.labels_ = labels
        self.inertia_ = float(inertia)
        return self

    def fit_predict(self, x) -> np.ndarray:
        """Fit and return flat ``labels_``."""
        return self.fit(x).labels_

    def assign(self, x, *, return_distances: bool = False):
        """Two-level nearest-centroid flat ids ``(n,)`` int32 (and squared dists)."""
        if self.top_ is None:
            raise ValueError(
                "This HierarchicalKMeans is not fitted; call fit(x) or "
                "load_kmeans(path) first."
            )
        x = check_vectors(x, dim=self.centroids_.shape[1])
        top = self.top_.assign(x)
        labels = np.empty((x.shape[0],), dtype="int32")
        d2 = np.empty((x.shape[0],), dtype="float32")
        for j in np.unique(top):
            rows = np.flatnonzero(top == j)
            base = j * self.n_sub
            k2 = int(self.valid_[base : base + self.n_sub].sum())
            sub = KMeans(k2, verbose=False, chunk_size=self.top_.chunk_size)
            sub.centroids_ = self.centroids_[base : base + k2]
            lab, dist = sub.assign(x[rows], return_distances=True)
            labels[rows] = base + lab
            d2[rows] = dist
        return (labels, d2) if return_distances else labels

    def compute_inertia(self, x) -> float:
        """Sum of squared distances to the two-level assigned centroids."""
        return float(np.sum(self.assign(x, return_distances=True)[1], dtype="float64"))

    def save(self, path) -> Path:
        """Save to directory ``path`` (flat and top centroids, metadata JSON)."""
        if self.top_ is None:
            raise ValueError(
                "This HierarchicalKMeans is not fitted; call fit(x) first."
            )
        meta = {
            "format_version": _FORMAT_VERSION,
            "class": type(self).__name__,
            "n_clusters": self.n_clusters,
            "n_top": self.n_top,
            "n_sub": self.n_sub,
            "dim": int(self.centroids_.shape[1]),
            "seed": self.seed,
            "valid": self.valid_.astype(int).tolist(),
            "inertia": self.inertia_,
            "top": self.top_._metadata(),
            "kmeans_kwargs": {
                k: v for k, v in self.kmeans_kwargs.items() if _jsonable(v)
            },
            "backend": keras.config.backend(),
        }
        return _save(
            path,
            meta,
            {
                _CENTROIDS_FILE: self.centroids_,
                _TOP_CENTROIDS_FILE: self.top_.centroids_,
            },
        )

    @classmethod
    def load(cls, path) -> "HierarchicalKMeans":
        model = load_kmeans(path)
        if not isinstance(model, cls):
            raise ValueError(
                f"{path} holds a {type(model).__name__}, not a {cls.__name__}."
            )
        return model


# --------------------------------------------------------------------------------------
# Save / load.
# --------------------------------------------------------------------------------------
def _jsonable(v) -> bool:
    try:
        json.dumps(v)
        return True
    except TypeError:
        return False


def _sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _save(path, meta: dict, arrays: dict) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    meta = dict(meta)
    meta["sha256"] = {}
    for name, a in arrays.items():
        a = np.ascontiguousarray(a, dtype="float32")
        meta["sha256"][name] = _sha256(a)
        _atomic_write(path / name, lambda f, a=a: np.save(f, a))
    text = json.dumps(meta, indent=2).encode()
    _atomic_write(path / _METADATA_FILE, lambda f: f.write(text))
    return path


def _load_array(path: Path, name: str, meta: dict) -> np.ndarray:
    a = np.load(path / name)
    want = meta.get("sha256", {}).get(name)
    if want and _sha256(np.ascontiguousarray(a, dtype="float32")) != want:
        raise ValueError(
            f"{path / name} does not match the checksum in {path / _METADATA_FILE} (an "
            "interrupted or mixed save?). Save the clustering again."
        )
    return a.astype("float32")


def load_kmeans(path):
    """Load a `KMeans` or `HierarchicalKMeans` saved with ``.save(path)``.

    Example:

    >>> import numpy as np, tempfile
    >>> km = KMeans(2, n_iter=3, verbose=False).fit(np.eye(4, dtype="float32"))
    >>> d = tempfile.mkdtemp()
    >>> _ = km.save(d)
    >>> np.array_equal(load_kmeans(d).centroids_, km.centroids_)
    True
    """
    path = Path(path)
    meta_file = path / _METADATA_FILE
    if not meta_file.exists():
        raise FileNotFoundError(
            f"No k-means metadata at {meta_file}; pass the directory given to .save()."
        )
    meta = json.loads(meta_file.read_text())
    if meta.get("format_version") != _FORMAT_VERSION:
        raise ValueError(
            f"{meta_file} has format_version {meta.get('format_version')}; "
            "this keras_pn "
            f"reads version {_FORMAT_VERSION}."
        )
    if meta["class"] == "KMeans":
        km = _kmeans_from_meta(meta)
        km.centroids_ = _load_array(path, _CENTROIDS_FILE, meta)
        return km
    if meta["class"] == "HierarchicalKMeans":
        hk = HierarchicalKMeans(
            meta["n_top"],
            meta["n_sub"],
            seed=meta["seed"],
            verbose=False,
            **meta["kmeans_kwargs"],
        )
        hk.top_ = _kmeans_from_meta(meta["top"])
        hk.top_.centroids_ = _load_array(path, _TOP_CENTROIDS_FILE, meta)
        hk.centroids_ = _load_array(path, _CENTROIDS_FILE, meta)
        hk.valid_ = np.asarray(meta["valid"], dtype=bool)
        hk.inertia_ = meta["inertia"]
        return hk
    raise ValueError(f"{meta_file}: unknown class {meta['class']!r}.")


def _kmeans_from_meta(meta: dict) -> KMeans:
    p = dict(meta["params"])
    if p.get("init") == "array":
        p["init"] = "k-means++"
    km = KMeans(meta["n_clusters"], spherical=meta["spherical"], verbose=False, **p)
    km.inertia_ = meta.get("inertia")
    km.n_iter_ = meta.get("n_iter_run", 0)
    km.n_repaired_ = meta.get("n_repaired", 0)
    km.fit_seconds_ = meta.get("fit_seconds")
    return km
