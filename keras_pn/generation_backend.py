"""How a generation loop hands each new token to Python, per backend.

JAX and TensorFlow: the task's compiled generate function runs, and each token
reaches Python through a host callback inside it (JAX: `jax.debug.callback`,
ordered; TensorFlow: `tf.numpy_function` in a `tf.function` without XLA, which
cannot call Python, the token passed through it so the callbacks run in token
order). The function is traced once per model, sampler settings and length, then
reused, so streaming costs little speed. torch: the caller runs the sampling steps
in a Python loop (`keras_pn.generation`).
"""

import keras


def streams_compiled():
    """True where a compiled generate function can call back per token."""
    return keras.config.backend() in ("jax", "tensorflow")


def compiles_with_xla():
    """False where the compiled generate function must run without XLA (TensorFlow)."""
    return keras.config.backend() != "tensorflow"


def send_to_host(callback, value):
    """From traced code: `callback(value as NumPy)` on the host, in program order.

    Returns `value` (on TensorFlow, through the callback: what follows waits for it).
    """
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        def call(array):
            callback(array)
            return array

        passed = tf.numpy_function(call, [value], value.dtype, stateful=True)
        passed.set_shape(value.shape)
        return passed
    import jax

    jax.debug.callback(callback, value, ordered=True)
    return value


def wait_for_callbacks():
    """Return once every host callback of the computations started so far has run."""
    if keras.config.backend() == "jax":
        import jax

        jax.effects_barrier()

