"""The k-means kernels: pure functions of tensors, compiled by `backend_tools`.

Distances are expanded as ``||x||² - 2 x·c + ||c||²`` (one GEMM per chunk); each
kernel is compiled once per (backend, shape) and cached.
"""

from __future__ import annotations

import functools

import numpy as np
from keras import ops

from keras_pn.data.kmeans.backend_tools import _backend_tools


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
            # (n, d) @ (d, t): the tall-skinny orientation measured faster on XLA:CPU.
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
