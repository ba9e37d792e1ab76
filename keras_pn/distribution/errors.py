"""The error of a distribution that cannot work as asked, and the backend refusals."""

import keras


class DistributionError(ValueError):
    """A distribution that cannot work as asked (names the problem and the fix)."""


def unsupported(what):
    """Raise the `DistributionError` saying that `what` is missing on this backend."""
    if keras.config.backend() == "torch":
        raise DistributionError(
            f"{what} is not available on the torch backend: Keras 3.15.1 has no "
            "torch implementation of keras.distribution (keras.distribution."
            "list_devices() fails with AttributeError: 'NoneType' object has no "
            "attribute 'list_devices', even inside a torchrun/gloo process group). "
            "Fix: KERAS_BACKEND=jax (DataParallel and ModelParallel), or "
            "KERAS_BACKEND=tensorflow for data parallelism (MirroredStrategy); on "
            "torch, torch_data_parallel(model) averages gradients over torchrun "
            "processes."
        )
    raise DistributionError(
        f"{what} needs the JAX backend: Keras 3.15.1 implements "
        "keras.distribution.ModelParallel for JAX only (its TensorFlow "
        "distribution_lib is marked 'DO NOT USE' and is ignored by fit()). Fix: "
        "KERAS_BACKEND=jax, or --distribution=data_parallel (MirroredStrategy) on "
        "TensorFlow."
    )
