"""JAX: `keras.distribution.DataParallel` / `ModelParallel`, and `jax.distributed`.

The model must be built inside the distribution's scope: variables take their
layout when they are created. With several hosts, `keras.distribution` shards
a `tf.data` batch of the global size over the processes itself
(`auto_shard_dataset=True`), so each host may read the same global stream.
"""

import math
import os

import keras

from keras_pn.distribution.errors import DistributionError
from keras_pn.distribution.errors import unsupported
from keras_pn.distribution.layout import checked_layout
from keras_pn.distribution.layout import layout_map
from keras_pn.distribution.mesh import first_devices
from keras_pn.distribution.mesh import parse_mesh_shape


class CheckedModelParallel(keras.distribution.ModelParallel):
    """`ModelParallel` that never shards a dimension the mesh does not divide."""

    def __init__(self, *, strict=False, **kwargs):
        super().__init__(**kwargs)
        self.strict = strict

    def get_variable_layout(self, variable):
        layout = super().get_variable_layout(variable)
        if getattr(variable, "_layout", None) is not None:
            return layout
        return checked_layout(layout, variable.shape, variable.path, self.strict)


def data_parallel(devices=None, data_axis="data", tpu=None):
    """`keras.distribution.DataParallel` over a 1-D mesh named `data_axis` (`tpu` unused)."""
    del tpu  # TensorFlow only
    if devices is None:
        devices = keras.distribution.list_devices()
    mesh = keras.distribution.DeviceMesh((len(devices),), [data_axis], devices)
    return keras.distribution.DataParallel(device_mesh=mesh)


def model_parallel(
    mesh_shape,
    devices=None,
    backbone=None,
    model_axis="model",
    data_axis="data",
    strict=False,
):
    """Data x model parallelism with `layout_map` (JAX backend only).

    Args:
        mesh_shape: `(data, model)` sizes, e.g. `(2, 4)`, or `"2,4"`; their
            product is the number of devices.
        devices: device names (default: `keras.distribution.list_devices()`,
            all devices of all hosts).
        backbone: passed to `layout_map` for the dimension check before
            building (optional: dimensions are also checked per variable when
            the variables are created).
        model_axis, data_axis: mesh axis names.
        strict: raise instead of replicating a variable whose dimension the
            model axis does not divide.

    Returns:
        A `keras.distribution.ModelParallel`.

    Example:
    ```python
    with model_parallel((2, 4)).scope():
        model = ProjectedGPT.from_preset("pn_tiny", load_weights=False)
    ```
    """
    if keras.config.backend() != "jax":
        unsupported("model_parallel")
    shape = parse_mesh_shape(mesh_shape)
    if devices is None:
        devices = keras.distribution.list_devices()
    if math.prod(shape) != len(devices):
        raise DistributionError(
            f"mesh_shape={shape} needs {math.prod(shape)} devices, but "
            f"{len(devices)} are available ({devices[:4]}{'...' if len(devices) > 4 else ''}). "
            "Fix: choose DATA x MODEL equal to the device count (all hosts)."
        )
    mesh = keras.distribution.DeviceMesh(shape, [data_axis, model_axis], devices)
    layouts = layout_map(backbone, mesh, model_axis, data_axis, strict=strict)
    return CheckedModelParallel(layout_map=layouts, batch_dim_name=data_axis, strict=strict)


def configure(kind, mesh_shape, *, devices, backbone, strict, tpu):
    """`(distribution, data-parallel replicas)` of `configure_distribution`."""
    del tpu  # TensorFlow only
    if devices is None:
        devices = keras.distribution.list_devices()
    if kind == "data_parallel":
        devices = first_devices(mesh_shape, devices)
        return data_parallel(devices), len(devices)
    if mesh_shape is None:
        raise DistributionError(
            "model_parallel needs a mesh shape. Fix: --mesh_shape=DATA,MODEL "
            f"with DATA x MODEL = {len(devices)} devices, e.g. "
            f"--mesh_shape={len(devices) // 2 or 1},{min(2, len(devices))}."
        )
    distribution = model_parallel(
        mesh_shape, devices=devices, backbone=backbone, strict=strict
    )
    return distribution, distribution.num_model_replicas


def initialize_multi_host(coordinator_address=None, num_processes=None, process_id=None):
    """`jax.distributed.initialize`; `(process_index, process_count)`."""
    import jax

    if coordinator_address == "auto":
        jax.distributed.initialize()
    else:
        if coordinator_address is None or num_processes is None or process_id is None:
            raise DistributionError(
                "Multi-host JAX needs --coordinator_address, --num_processes and "
                "--process_id together (or --coordinator_address=auto on Cloud "
                "TPU, SLURM or Open MPI). Received: "
                f"coordinator_address={coordinator_address!r}, "
                f"num_processes={num_processes!r}, process_id={process_id!r}."
            )
        if not 0 <= int(process_id) < int(num_processes):
            raise DistributionError(
                f"process_id={process_id} must be in [0, {num_processes})."
            )
        jax.distributed.initialize(
            coordinator_address=coordinator_address,
            num_processes=int(num_processes),
            process_id=int(process_id),
        )
    return jax.process_index(), jax.process_count()


def split_host_cpu(num_devices):
    """Sets `XLA_FLAGS=--xla_force_host_platform_device_count=N` before JAX starts."""
    import jax

    flag = f"--xla_force_host_platform_device_count={num_devices}"
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " " + flag).strip()
    count = len(jax.devices("cpu"))
    if count != num_devices:
        raise DistributionError(
            f"JAX already runs on {count} CPU device(s), so it cannot be split into "
            f"{num_devices} now. Fix: set XLA_FLAGS={flag} before starting Python, or "
            "split the CPU before any JAX computation."
        )
    return count
