"""The backend question of the layers: is this tensor a concrete value or a traced symbol?

Model and layer code use `keras.ops` only; the one question that `keras.ops` cannot
answer for them is answered here. The other backend-specific code lives in its own
named modules: `keras_pn.distribution.{jax,tensorflow,torch}_backend` and
`keras_pn.data.kmeans.backend_tools`.
"""

import keras


def concrete_value(x):
    """`x` as NumPy if it holds concrete values now, else `None`.

    Concrete: eager TensorFlow, eager PyTorch, or a JAX array outside
    `jax.jit`. Symbolic: a `KerasTensor`, a JAX tracer, a tensor inside a
    `tf.function` graph.
    """
    if isinstance(x, keras.KerasTensor):
        return None
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        if isinstance(x, jax.core.Tracer):
            return None
    elif backend == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly() or not hasattr(x, "numpy"):
            return None
    elif backend == "torch":
        import torch

        if torch.compiler.is_compiling():
            return None
    return keras.ops.convert_to_numpy(x)
