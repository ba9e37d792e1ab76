"""`configure_distribution`, the recipes' entry point, and the context it returns."""

import contextlib
import dataclasses
import logging

import keras

from keras_pn.distribution import backends
from keras_pn.distribution.errors import DistributionError

logger = logging.getLogger(__name__)

KINDS = ("none", "data_parallel", "model_parallel")


@dataclasses.dataclass
class DistributionContext:
    """What `configure_distribution` set up; use it as a context manager.

    Attributes:
        kind: `"none"`, `"data_parallel"` or `"model_parallel"`.
        backend: the Keras backend.
        distribution: the `keras.distribution.Distribution` (JAX) or
            `tf.distribute.Strategy` (TensorFlow), `None` otherwise.
        num_replicas: data-parallel replicas (the batch must be a multiple).
        process_id, num_processes: this host and the number of hosts.

    >>> context = DistributionContext("none", "jax")
    >>> with context:
    ...     context.describe()
    'none (jax)'
    """

    kind: str
    backend: str
    distribution: object = None
    num_replicas: int = 1
    process_id: int = 0
    num_processes: int = 1

    def __post_init__(self):
        self._stack = None

    def scope(self):
        """The context in which models are built (and on TF compiled and fitted)."""
        if self.distribution is None:
            return contextlib.nullcontext(self)
        return self.distribution.scope()

    def __enter__(self):
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(self.scope())
        return self

    def __exit__(self, *exc):
        stack, self._stack = self._stack, None
        return stack.__exit__(*exc)

    def check_batch_size(self, batch_size, flag="--batch_size"):
        """Raise unless `batch_size` (global) splits evenly over the replicas."""
        if batch_size % self.num_replicas:
            raise DistributionError(
                f"The global batch size {batch_size} does not split over "
                f"{self.num_replicas} data-parallel replicas. Fix: use a multiple of "
                f"{self.num_replicas} ({flag}), or a mesh with fewer data "
                "replicas."
            )
        return batch_size

    def describe(self):
        if self.distribution is None:
            return f"{self.kind} ({self.backend})"
        mesh = getattr(self.distribution, "device_mesh", None)
        where = (
            f"mesh {dict(zip(mesh.axis_names, mesh.shape))}"
            if mesh is not None
            else f"{self.num_replicas} replicas"
        )
        return (
            f"{self.kind} on {self.backend}: {type(self.distribution).__name__}, "
            f"{where}, process {self.process_id} of {self.num_processes}"
        )


def configure_distribution(
    kind="none",
    mesh_shape=None,
    *,
    backbone=None,
    devices=None,
    coordinator_address=None,
    num_processes=None,
    process_id=None,
    tpu=None,
    strict=False,
    batch_size=None,
):
    """Set up data or model parallelism for the running backend.

    Returns a context manager: build the model inside it (on TensorFlow also
    compile and fit inside it, as `tf.distribute` requires). Multi-host
    initialization (`jax.distributed.initialize`) happens here, at call time,
    so call this before anything else touches the accelerator.

    Args:
        kind: `"none"`, `"data_parallel"` or `"model_parallel"`.
        mesh_shape: `(data, model)` for `model_parallel` (or `"2,4"`); for
            `data_parallel` an optional `(n,)` / `(n, 1)` limiting the replicas
            to the first `n` devices.
        backbone: optional, for `layout_map`'s check before building.
        devices: explicit devices (default: all, of all hosts).
        coordinator_address, num_processes, process_id: multi-host JAX (see
            `initialize_multi_host`); unset for one host.
        tpu: TensorFlow `TPUStrategy` target (`"local"` on a TPU VM); untested.
        strict: see `layout_map`.
        batch_size: optional global batch size, checked against the replicas.

    Returns:
        A `DistributionContext`.

    Raises:
        DistributionError: unknown kind, a bad mesh, a backend without that
            kind, or a batch that does not split.

    Example:
    ```python
    with configure_distribution("data_parallel") as context:
        print(context.describe())
        model = GPTCausalLM.from_preset("slm_tiny", load_weights=False)
        compile_for_training(model, 3e-3, total_steps=100)
        model.fit(dataset, steps_per_epoch=100)
    ```
    """
    if kind not in KINDS:
        raise DistributionError(f"Unknown distribution {kind!r}. Use one of {KINDS}.")
    backend = keras.config.backend()
    multi_host = coordinator_address is not None or (num_processes or 1) > 1
    process, processes = 0, 1
    if multi_host:
        process, processes = backends.initialize_multi_host(
            coordinator_address, num_processes, process_id
        )
    if kind == "none":
        return DistributionContext(kind, backend, None, 1, process, processes)
    distribution, replicas = backends.configure(
        kind, mesh_shape, devices=devices, backbone=backbone, strict=strict, tpu=tpu
    )
    context = DistributionContext(kind, backend, distribution, replicas, process, processes)
    if batch_size is not None:
        context.check_batch_size(batch_size)
    logger.info("Distribution: %s", context.describe())
    return context
