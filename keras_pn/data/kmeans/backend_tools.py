"""The backend-specific part of the k-means: how kernels compile and sum per cluster.

Everything else of `keras_pn.data.kmeans` is `keras.ops`; this module alone knows
the backends (``jax.jit``, ``tf.function(jit_compile=True)``, eager torch under
``no_grad``).
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import keras
from keras import ops


def _keras_segment_sum(data, ids, k):
    return ops.segment_sum(data, ids, num_segments=k)


class _BackendTools(NamedTuple):
    compile: Callable  # fn -> compiled fn
    accelerator: bool  # default device is a GPU / TPU
    onehot_sums: bool  # accumulate cluster sums with a one-hot GEMM (else segment_sum)
    # (data (m, ...), ids (m,), k) -> (k, ...)
    segment_sum: Callable = _keras_segment_sum


@functools.lru_cache(maxsize=None)
def _backend_tools(backend: str) -> _BackendTools:
    """The compile function and cluster-sum strategy of ``backend``.

    ``compile(fn)`` turns a pure function of tensors into a compiled one:
    ``jax.jit`` on jax, ``tf.function(jit_compile=True)`` (XLA) on tensorflow, eager
    execution under ``torch.no_grad()`` on torch (GEMM-bound, and it avoids
    ``torch.compile`` start-up), the function itself elsewhere.
    ``onehot_sums`` picks how the Lloyd step accumulates cluster sums: a one-hot
    GEMM on accelerators (fast, deterministic), a scatter-add ``segment_sum`` on
    CPUs. On torch the scatter-add is ``Tensor.index_add_``: Keras' torch
    ``segment_sum`` materialises an ``(m, d)`` int64 index, and the one-hot GEMM
    builds an ``(m, k)`` matrix in several eager passes: both measured far slower
    than ``index_add_``, which costs little next to the distance GEMM.
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


def _tools() -> _BackendTools:
    """The tools of the active Keras backend."""
    return _backend_tools(keras.config.backend())

