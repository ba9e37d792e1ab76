"""TensorFlow: `MirroredStrategy`, `TPUStrategy` and `MultiWorkerMirroredStrategy`.

Build, compile and fit inside the strategy's scope: variables become mirrored
when they are created. Model parallelism is refused (Keras' TensorFlow
`distribution_lib` is not used by `fit`).

**XLA.** Keras turns XLA off under `tf.distribute` (its `jit_compile="auto"`;
keras-team/keras#19005): an XLA-compiled step cannot reach the replica
variables on the other devices ("Trying to access resource .../replica_1
located in device CPU:1 from device CPU:0"). `xla_compatible()` says whether
`jit_compile=True` may be used in the current scope. On CPU without XLA,
TensorFlow 2.21's oneDNN kernels returned wrong ProjectedGPT losses in
keras_pn's tests once other models had run in the process (cf.
tensorflow/tensorflow#123109): set `TF_ENABLE_ONEDNN_OPTS=0` before TensorFlow
is imported when training on CPUs.
"""

import json
import logging
import os

import keras

from keras_pn.distribution.errors import DistributionError
from keras_pn.distribution.errors import unsupported
from keras_pn.distribution.mesh import first_devices

logger = logging.getLogger(__name__)

# One strategy per device set and process: a second MirroredStrategy over the
# same devices reuses collective instance keys of the first, and its
# all-reduces then fail with "Shape mismatch in the collective instance".
_STRATEGIES = {}


def _local_devices(devices):
    """`devices`, else every logical GPU, else every logical CPU (names)."""
    import tensorflow as tf

    if devices:
        return list(devices)
    for kind in ("GPU", "CPU"):
        found = [d.name for d in tf.config.list_logical_devices(kind)]
        if found:
            return found
    return None


def _multi_worker():
    """Whether `TF_CONFIG` describes a cluster of several workers."""
    config = os.environ.get("TF_CONFIG")
    if not config:
        return False
    cluster = json.loads(config).get("cluster", {})
    return sum(len(v) for v in cluster.values()) > 1


def data_parallel(devices=None, data_axis="data", tpu=None):
    """A `tf.distribute.Strategy`: TPU with `tpu`, multi-worker from `TF_CONFIG`, else mirrored."""
    del data_axis  # JAX only
    import tensorflow as tf

    if tpu is not None:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
            tpu="" if tpu == "local" else tpu
        )
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    devices = _local_devices(devices)
    key = ("multi_worker",) if _multi_worker() else tuple(devices or ())
    if key not in _STRATEGIES:
        _STRATEGIES[key] = (
            tf.distribute.MultiWorkerMirroredStrategy()
            if key == ("multi_worker",)
            else tf.distribute.MirroredStrategy(devices=devices)
        )
    return _STRATEGIES[key]


def configure(kind, mesh_shape, *, devices, backbone, strict, tpu):
    """`(strategy, replicas in sync)` of `configure_distribution`."""
    del backbone, strict  # model parallelism only
    if kind == "model_parallel":
        unsupported("model_parallel")
    if mesh_shape is not None and tpu is None and not _multi_worker():
        devices = first_devices(mesh_shape, _local_devices(devices) or [])
    strategy = data_parallel(devices, tpu=tpu)
    return strategy, strategy.num_replicas_in_sync


def initialize_multi_host(coordinator_address=None, num_processes=None, process_id=None):
    """Nothing to do: the cluster comes from `TF_CONFIG` or the TPU resolver."""
    del coordinator_address
    logger.info(
        "TensorFlow multi-worker: the cluster is read from TF_CONFIG by "
        "MultiWorkerMirroredStrategy (or from the TPU resolver)."
    )
    return int(process_id or 0), int(num_processes or 1)


def split_host_cpu(num_devices):
    """`tf.config.set_logical_device_configuration` on the first CPU."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices
        )
    except RuntimeError as error:
        count = len(tf.config.list_logical_devices("CPU"))
        if count != num_devices:
            raise DistributionError(
                f"TensorFlow already initialized {count} CPU device(s), so it cannot "
                f"be split into {num_devices} now ({error}). Fix: split the CPU "
                "before any TensorFlow computation."
            ) from error
    return len(tf.config.list_logical_devices("CPU"))


def xla_compatible():
    """Whether `jit_compile=True` may be used for a model built in the current scope.

    False on TensorFlow inside a `tf.distribute` strategy with several replicas
    (Keras' own `jit_compile="auto"` turns XLA off there, keras-team/keras#19005:
    the compiled step cannot reach the other replicas' variables); True
    otherwise.

    Example:
    ```python
    jit_compile = True if xla_compatible() else False
    model.compile(optimizer, loss, jit_compile=jit_compile)
    ```
    """
    if keras.config.backend() != "tensorflow":
        return True
    import tensorflow as tf

    if not tf.distribute.has_strategy():
        return True
    strategy = tf.distribute.get_strategy()
    return isinstance(strategy, tf.distribute.TPUStrategy) or (
        strategy.num_replicas_in_sync <= 1
    )


def distributable_dataset(dataset):
    """`dataset` made safe for the current distribution scope.

    Under a TensorFlow strategy with several replicas, boolean features (the
    streams' `padding_mask`) become int32: TensorFlow 2.21's MirroredStrategy
    fails on them inside `fit` ("Value for attr 'T' of bool is not in the list
    of allowed values ... AddN"). Elsewhere the dataset is returned unchanged.

    Example:
    ```python
    with configure_distribution("data_parallel"):
        model.fit(distributable_dataset(stream), steps_per_epoch=100)
    ```
    """
    if keras.config.backend() != "tensorflow":
        return dataset
    import tensorflow as tf

    if not tf.distribute.has_strategy() or tf.distribute.get_strategy().num_replicas_in_sync < 2:
        return dataset

    def to_int(x):
        return tf.cast(x, tf.int32) if x.dtype == tf.bool else x

    return dataset.map(
        lambda *batch: tf.nest.map_structure(to_int, batch),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
