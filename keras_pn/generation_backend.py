"""How a generation loop hands each new token to Python, per backend.

JAX: `jax.debug.callback` (ordered) inside the task's jitted generate function, so
streaming costs no speed. TensorFlow and torch: the caller runs the sampling steps
in a Python loop (`keras_pn.generation`); on TensorFlow each step is a
`tf.function` without XLA (eager TensorFlow ops cost far more than a small model's
math; XLA recompiled at every step).
"""

import keras


def streams_compiled():
    """True where a compiled generate function can call back per token (JAX)."""
    return keras.config.backend() == "jax"


def send_to_host(callback, value):
    """From traced code: `callback(value as NumPy)` on the host, in program order."""
    import jax

    jax.debug.callback(callback, value, ordered=True)


def wait_for_callbacks():
    """Return once every host callback of the computations started so far has run."""
    if streams_compiled():
        import jax

        jax.effects_barrier()


def compile_step(body):
    """`body` (one sampling step) as the backend runs it fastest from a Python loop."""
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(body, jit_compile=False)  # XLA recompiles at every step
    return body
