"""The distribution module of the running Keras backend, and the entry points it serves.

Each backend module (`jax_backend`, `tensorflow_backend`, `torch_backend`)
implements `data_parallel`, `configure`, `initialize_multi_host` and
`split_host_cpu`, and imports its framework only when called; the functions
here pick the module of `keras.config.backend()`.
"""

import keras

from keras_pn.distribution import jax_backend
from keras_pn.distribution import tensorflow_backend
from keras_pn.distribution import torch_backend
from keras_pn.distribution.errors import DistributionError
from keras_pn.distribution.errors import unsupported

_MODULES = {"jax": jax_backend, "tensorflow": tensorflow_backend, "torch": torch_backend}


def current():
    """The module of the running backend, or `None` for a backend without one.

    >>> current().__name__.startswith("keras_pn.distribution.")
    True
    """
    return _MODULES.get(keras.config.backend())


def data_parallel(devices=None, data_axis="data", tpu=None):
    """A data-parallel distribution for the running backend.

    JAX: `keras.distribution.DataParallel` over a 1-D mesh named `data_axis`
    (variables replicated, the batch split). TensorFlow:
    `tf.distribute.MirroredStrategy` over `devices` (default: every GPU, else
    every logical CPU), `TPUStrategy` when `tpu` is given, and
    `MultiWorkerMirroredStrategy` when `TF_CONFIG` describes several workers.

    Args:
        devices: device names (JAX: `keras.distribution.list_devices()` style
            `"cpu:0"`; TensorFlow: `"/device:CPU:0"`); default: all.
        data_axis: mesh axis name of the batch (JAX).
        tpu: TensorFlow only: TPU name or address for `TPUClusterResolver`
            (`"local"` on a TPU VM). Not tested in keras_pn's CI.

    Returns:
        A `keras.distribution.DataParallel` (JAX) or a `tf.distribute.Strategy`
        (TensorFlow): build, compile and fit inside `strategy.scope()`.

    Example:
    ```python
    distribution = data_parallel()          # JAX: all devices
    with distribution.scope():
        model = GPTCausalLM.from_preset("slm_tiny", load_weights=False)
    ```
    """
    module = current()
    if module is None:
        unsupported("data_parallel")
    return module.data_parallel(devices, data_axis=data_axis, tpu=tpu)


def configure(kind, mesh_shape, **options):
    """`(distribution, data-parallel replicas)` of `kind` on the running backend."""
    module = current()
    if module is None:
        unsupported(f"--distribution={kind}")
    return module.configure(kind, mesh_shape, **options)


def initialize_multi_host(coordinator_address=None, num_processes=None, process_id=None):
    """Join a multi-host cluster; call before any other JAX/TF computation.

    JAX: `jax.distributed.initialize(coordinator_address, num_processes,
    process_id)`; `coordinator_address="auto"` lets JAX detect the cluster
    (Cloud TPU pods, SLURM, Open MPI). TensorFlow: the cluster comes from
    `TF_CONFIG` (MultiWorkerMirroredStrategy) or the TPU resolver; nothing to
    do here. torch: `torch.distributed.init_process_group` from torchrun's
    environment.

    Args:
        coordinator_address: `"host:port"` of process 0, or `"auto"`.
        num_processes: total number of processes (hosts).
        process_id: this process, in `[0, num_processes)`.

    Returns:
        `(process_id, num_processes)` after initialization.

    Example:
    ```python
    # on every host, with its own process_id:
    initialize_multi_host("10.0.0.1:1234", num_processes=4, process_id=i)
    ```
    """
    module = current()
    if module is None:
        raise DistributionError(
            f"No multi-host support for backend {keras.config.backend()!r}."
        )
    return module.initialize_multi_host(coordinator_address, num_processes, process_id)


def split_host_cpu(num_devices):
    """Split this host's CPU into `num_devices` logical devices.

    For trying multi-device code (a recipe's `--distribution`) on a machine
    without accelerators, as keras_pn's tests do. Call it before anything
    else touches a device. JAX: sets
    `XLA_FLAGS=--xla_force_host_platform_device_count=N`, read when JAX
    starts its CPU backend. TensorFlow: `tf.config.set_logical_device_configuration`
    on the first CPU. torch has no such thing (use `torchrun --nproc_per_node=N`).

    Args:
        num_devices: int >= 1.

    Returns:
        The number of devices now visible.

    Raises:
        DistributionError: the backend already started with another count,
            or the backend is torch.

    Example:
    ```python
    split_host_cpu(8)     # before building any model
    with configure_distribution("data_parallel"):
        ...
    ```
    """
    num_devices = int(num_devices)
    if num_devices < 1:
        raise DistributionError(f"num_devices={num_devices} must be >= 1.")
    # A backend without a module has no logical devices either: torch's refusal.
    return (current() or torch_backend).split_host_cpu(num_devices)
