"""Multi-device and multi-host training on the engines Keras supports.

This module is the only place where keras_pn holds backend-specific
distribution code. What each backend gets (Keras 3.15.1):

| backend | `data_parallel` | `model_parallel` | multi-host |
|---|---|---|---|
| JAX | `keras.distribution.DataParallel` | `keras.distribution.ModelParallel` with `layout_map` | `jax.distributed.initialize` |
| TensorFlow | `tf.distribute.MirroredStrategy` (`TPUStrategy` with `tpu=`) | not supported (error) | `MultiWorkerMirroredStrategy` from `TF_CONFIG` (untested here) |
| torch | `keras.distribution` is not implemented for torch in Keras 3.15.1; `torch_data_parallel` averages gradients over a `torch.distributed` process group (torchrun) | not supported (error) | torchrun |

The model must be *built* (and on TensorFlow compiled and fitted) inside the
context returned by `configure_distribution`: variables take their layout, or
become mirrored, when they are created.

**Layouts.** `layout_map` shards, over the mesh axis `"model"` (Megatron
style: the intermediate width of the MLP, the heads of the attention):

| variable | shape | layout |
|---|---|---|
| `token_embedding/embeddings` | `(V, D)` | `("model", None)`; `(None, "model")` if `V` is not divisible |
| `position_embedding/embeddings` | `(S, D)` | `(None, "model")` |
| `query/key/value_dense/kernel` | `(D, D)` | `(None, "model")` (heads) |
| `query/key/value_dense/bias` | `(D,)` | `("model",)` |
| `output_dense/kernel` | `(D, D)` | `("model", None)` |
| `mlp_intermediate_dense/kernel` | `(D, F)` | `(None, "model")` |
| `mlp_intermediate_dense/bias` | `(F,)` | `("model",)` |
| `mlp_output_dense/kernel` | `(F, D)` | `("model", None)` |
| projected `kernel_bases` `T` | `(d_in, d_out, h)` | as the kernel above, `h` replicated |
| projected `bias_bases` | `(d_out, h)` | as the bias above, `h` replicated |
| `mixing` `M`, `expert_embedding` `E`, norms, other biases | | replicated |

A dimension that the `"model"` axis does not divide is never sharded: the
variable is replicated with a warning (or `strict=True` raises). The batch is
sharded over `"data"`.

Example (JAX, 8 devices):

```python
import keras_pn
from keras_pn import distribution as kd

with kd.configure_distribution("model_parallel", mesh_shape=(2, 4)):
    model = keras_pn.models.ProjectedGPT.from_preset("pn_tiny", load_weights=False)
    model.compile(...)
    model.fit(dataset)                # batches of a multiple of 2 examples
print(kd.sharding_report(model)["transformer_layer_0/mlp_intermediate_dense/kernel_bases"])
# P(None, 'model', None)   (a jax.sharding.PartitionSpec)
```

**TensorFlow and XLA.** Keras turns XLA off under `tf.distribute` (its
`jit_compile="auto"`; keras-team/keras#19005): an XLA-compiled step cannot reach
the replica variables on the other devices ("Trying to access resource
.../replica_1 located in device CPU:1 from device CPU:0"). `xla_compatible()`
says whether `jit_compile=True` may be used in the current scope. On CPU
without XLA, TensorFlow 2.21's oneDNN kernels returned wrong ProjectedGPT
losses in keras_pn's tests once other models had run in the process (cf.
tensorflow/tensorflow#123109): set `TF_ENABLE_ONEDNN_OPTS=0` before TensorFlow
is imported when training on CPUs.

**Data on several hosts.** Every host runs the same command. With JAX,
`keras.distribution` shards a `tf.data` batch of the global size over the
processes itself (`auto_shard_dataset=True`): each host may read the same
global stream. To read only this host's share instead, pass
`num_hosts=jax.process_count(), host_index=jax.process_index()` to
`keras_pn.data.streams.generic_dataset` / `resampled_dataset` and build the
distribution with `auto_shard_dataset=False`.

**Pretraining on a cluster** (the recipes' flags):

```bash
# One host, 8 GPUs (or a TPU VM), JAX: replicate the model, split the batch.
KERAS_BACKEND=jax python -m recipes.pretrain --method=pn --data_dir=D --workdir=W \
    --pn_preset=pn_paper --batch_size=64 --distribution=data_parallel
# Shard the weights too: 2 data replicas x 4-way model parallelism.
    ... --distribution=model_parallel --mesh_shape=2,4
# 4 GPU hosts, JAX: the same command on every host, with its own --process_id
# (or --coordinator_address=auto on Cloud TPU pods, SLURM and Open MPI).
    ... --distribution=data_parallel --coordinator_address=10.0.0.1:1234 \
        --num_processes=4 --process_id=$RANK
# TensorFlow: MirroredStrategy over the local GPUs; several workers through
# TF_CONFIG (MultiWorkerMirroredStrategy); a TPU with --tpu=local (or its name).
KERAS_BACKEND=tensorflow python -m recipes.pretrain ... --distribution=data_parallel
```

`--batch_size` is the global batch: it must be a multiple of the data-parallel
replicas (checked, with the fix in the error).
"""

import contextlib
import dataclasses
import logging
import math
import os
import warnings

import keras

logger = logging.getLogger(__name__)

KINDS = ("none", "data_parallel", "model_parallel")

# Variable name patterns (full match on `variable.path`), and how each
# dimension is sharded: a tuple with one entry per dimension, "M" for the
# model axis, None for replicated. `dims` names the configuration dimension
# that the sharded axis splits (for the check before building).
_PREFIX = r"(?:.*/)?"
_QKV = r"(?:query|key|value)_dense"


@dataclasses.dataclass(frozen=True)
class _Rule:
    name: str
    pattern: str
    axes: tuple
    dim: str  # config dimension that the sharded axis splits
    fallback: tuple = None  # tried when `dim` is not divisible
    fallback_dim: str = None


_RULES = (
    _Rule("token embeddings", _PREFIX + r"token_embedding/embeddings", ("M", None),
          "vocabulary_size", (None, "M"), "hidden_dim"),
    _Rule("position embeddings", _PREFIX + r"position_embedding/embeddings",
          (None, "M"), "hidden_dim"),
    # Attention: heads are contiguous blocks of the projection width.
    _Rule("q/k/v kernels", _PREFIX + _QKV + r"/kernel", (None, "M"), "num_heads"),
    _Rule("q/k/v biases", _PREFIX + _QKV + r"/bias", ("M",), "num_heads"),
    _Rule("q/k/v kernel bases", _PREFIX + _QKV + r"/kernel_bases",
          (None, "M", None), "num_heads"),
    _Rule("q/k/v bias bases", _PREFIX + _QKV + r"/bias_bases", ("M", None),
          "num_heads"),
    _Rule("attention output kernel", _PREFIX + r"output_dense/kernel", ("M", None),
          "num_heads"),
    _Rule("attention output kernel bases", _PREFIX + r"output_dense/kernel_bases",
          ("M", None, None), "num_heads"),
    # MLP: column-parallel then row-parallel over the intermediate width.
    _Rule("MLP intermediate kernel", _PREFIX + r"mlp_intermediate_dense/kernel",
          (None, "M"), "intermediate_dim"),
    _Rule("MLP intermediate bias", _PREFIX + r"mlp_intermediate_dense/bias",
          ("M",), "intermediate_dim"),
    _Rule("MLP intermediate kernel bases",
          _PREFIX + r"mlp_intermediate_dense/kernel_bases", (None, "M", None),
          "intermediate_dim"),
    _Rule("MLP intermediate bias bases",
          _PREFIX + r"mlp_intermediate_dense/bias_bases", ("M", None),
          "intermediate_dim"),
    _Rule("MLP output kernel", _PREFIX + r"mlp_output_dense/kernel", ("M", None),
          "intermediate_dim"),
    _Rule("MLP output kernel bases", _PREFIX + r"mlp_output_dense/kernel_bases",
          ("M", None, None), "intermediate_dim"),
)
_DIMS = ("vocabulary_size", "hidden_dim", "num_heads", "intermediate_dim")


class DistributionError(ValueError):
    """A distribution that cannot work as asked (names the problem and the fix)."""


# --------------------------------------------------------------------------------------
# Layouts (JAX)
# --------------------------------------------------------------------------------------


def _backbone_dims(backbone):
    """`{dim: int}` of a backbone, task, config dict or preset name; None if unknown."""
    if backbone is None or isinstance(backbone, type):
        return None
    if isinstance(backbone, str):
        import keras_pn.models  # noqa: F401  (registers the backbone classes)
        from keras_pn.presets import load_config
        from keras_pn.presets import resolve_preset

        backbone = load_config(resolve_preset(backbone))
    if isinstance(backbone, dict):
        config = backbone.get("config", backbone)
    else:
        backbone = getattr(backbone, "backbone", backbone)
        if not hasattr(backbone, "get_config"):
            raise TypeError(
                "`backbone` must be a GPTBackbone / ProjectedGPTBackbone (or its "
                "task), a config dict, a preset name or None. Received: "
                f"{type(backbone).__name__}."
            )
        config = backbone.get_config()
    missing = [d for d in _DIMS if d not in config]
    if missing:
        raise DistributionError(
            f"The backbone config lacks {missing}: layout_map knows GPT and "
            "ProjectedGPT backbones. Fix: pass backbone=None to shard by variable "
            "name only (dimensions are then checked when variables are created)."
        )
    return {d: int(config[d]) for d in _DIMS}


def _axes(spec, model_axis):
    return tuple(model_axis if a == "M" else a for a in spec)


def _not_divisible(what, dim, size, axis, axis_size, strict):
    message = (
        f"Cannot shard the {what} over mesh axis {axis!r} of size {axis_size}: "
        f"{dim}={size} is not divisible by {axis_size}."
    )
    if strict:
        raise DistributionError(
            message + f" Fix: use a model-axis size dividing {size} (e.g. "
            f"--mesh_shape=N,{math.gcd(size, axis_size)}), or strict=False to "
            "replicate it."
        )
    warnings.warn(message + " It is replicated instead.", stacklevel=3)


def layout_map(
    backbone,
    device_mesh,
    model_axis="model",
    data_axis="data",
    strict=False,
):
    """A `keras.distribution.LayoutMap` for a GPT or ProjectedGPT (JAX backend).

    Shards the projected bases `T` (`kernel_bases (d_in, d_out, h)`), the MLP
    kernels, the attention kernels (by heads) and the embeddings (by vocabulary,
    else by width) over `model_axis`; everything else is replicated. See the
    module docstring for the table. Use it with `keras.distribution.ModelParallel`
    (or `model_parallel`), set *before* the model is built.

    Args:
        backbone: the backbone (or its task), its config dict, a preset name, or
            `None`. With sizes known, every sharded dimension is checked against
            the mesh; `None` shards by name only and the check happens when the
            variables are created (`model_parallel` does it).
        device_mesh: a `keras.distribution.DeviceMesh` with `model_axis` (and
            usually `data_axis`) among its axis names.
        model_axis: mesh axis that splits the weights.
        data_axis: mesh axis of the batch (only checked to exist).
        strict: raise `DistributionError` when the mesh axis does not divide a
            dimension, instead of replicating that variable with a warning.

    Returns:
        A `keras.distribution.LayoutMap`.

    Raises:
        DistributionError: unknown axis names, or (strict) a dimension the
            model axis does not divide.

    Example:
    ```python
    mesh = keras.distribution.DeviceMesh((2, 4), ("data", "model"))
    layouts = layout_map("pn_tiny", mesh)
    distribution = keras.distribution.ModelParallel(
        layout_map=layouts, batch_dim_name="data")
    with distribution.scope():
        model = ProjectedGPT.from_preset("pn_tiny", load_weights=False)
    ```
    """
    names = list(device_mesh.axis_names)
    for axis in (model_axis, data_axis):
        if axis not in names:
            raise DistributionError(
                f"The device mesh has axes {names}, not {axis!r}. Fix: build it "
                f"with axis_names=({data_axis!r}, {model_axis!r}) or pass "
                "model_axis= / data_axis= naming its axes."
            )
    axis_size = int(device_mesh.shape[names.index(model_axis)])
    dims = _backbone_dims(backbone)
    layouts = keras.distribution.LayoutMap(device_mesh)
    for rule in _RULES:
        axes = rule.axes
        if dims is not None and dims[rule.dim] % axis_size:
            if rule.fallback is not None and dims[rule.fallback_dim] % axis_size == 0:
                axes = rule.fallback
            else:
                _not_divisible(
                    rule.name, rule.dim, dims[rule.dim], model_axis, axis_size, strict
                )
                axes = (None,) * len(rule.axes)
        layouts[rule.pattern] = _axes(axes, model_axis)
    return layouts


def _checked_layout(layout, shape, path, strict):
    """`layout`, or a replicated one if a sharded dim is not divisible."""
    mesh = layout.device_mesh
    sizes = dict(zip(mesh.axis_names, mesh.shape))
    if len(layout.axes) != len(shape):
        raise DistributionError(
            f"The layout {layout.axes} of variable {path!r} has {len(layout.axes)} "
            f"axes but the variable has shape {tuple(shape)}. Fix: correct the "
            "LayoutMap entry matching this path."
        )
    for i, axis in enumerate(layout.axes):
        if axis is not None and shape[i] % sizes[axis]:
            _not_divisible(
                f"variable {path!r} (shape {tuple(shape)})",
                f"dim {i}",
                shape[i],
                axis,
                sizes[axis],
                strict,
            )
            return keras.distribution.TensorLayout((None,) * len(shape), mesh)
    return layout


def _checked_model_parallel_class():
    class CheckedModelParallel(keras.distribution.ModelParallel):
        """`ModelParallel` that never shards a dimension the mesh does not divide."""

        def __init__(self, *, strict=False, **kwargs):
            super().__init__(**kwargs)
            self.strict = strict

        def get_variable_layout(self, variable):
            layout = super().get_variable_layout(variable)
            if getattr(variable, "_layout", None) is not None:
                return layout
            return _checked_layout(layout, variable.shape, variable.path, self.strict)

    return CheckedModelParallel


# --------------------------------------------------------------------------------------
# Distributions
# --------------------------------------------------------------------------------------


def _backend():
    return keras.config.backend()


def _unsupported(what):
    backend = _backend()
    if backend == "torch":
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


def _tf_devices(devices):
    import tensorflow as tf

    if devices:
        return list(devices)
    for kind in ("GPU", "CPU"):
        found = [d.name for d in tf.config.list_logical_devices(kind)]
        if found:
            return found
    return None


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
    backend = _backend()
    if backend == "jax":
        if devices is None:
            devices = keras.distribution.list_devices()
        mesh = keras.distribution.DeviceMesh((len(devices),), [data_axis], devices)
        return keras.distribution.DataParallel(device_mesh=mesh)
    if backend == "tensorflow":
        import tensorflow as tf

        if tpu is not None:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
                tpu="" if tpu == "local" else tpu
            )
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            return tf.distribute.TPUStrategy(resolver)
        devices = _tf_devices(devices)
        key = ("multi_worker",) if _tf_multi_worker() else tuple(devices or ())
        # One strategy per device set and process: a second MirroredStrategy over the
        # same devices reuses collective instance keys of the first, and its
        # all-reduces then fail with "Shape mismatch in the collective instance".
        if key not in _TF_STRATEGIES:
            _TF_STRATEGIES[key] = (
                tf.distribute.MultiWorkerMirroredStrategy()
                if key == ("multi_worker",)
                else tf.distribute.MirroredStrategy(devices=devices)
            )
        return _TF_STRATEGIES[key]
    _unsupported("data_parallel")


_TF_STRATEGIES = {}


def _tf_multi_worker():
    import json

    config = os.environ.get("TF_CONFIG")
    if not config:
        return False
    cluster = json.loads(config).get("cluster", {})
    return sum(len(v) for v in cluster.values()) > 1


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
    if _backend() != "tensorflow":
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
    if _backend() != "tensorflow":
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


def parse_mesh_shape(mesh_shape):
    """`"2,4"`, `[2, 4]` or `(2, 4)` -> `(2, 4)` (data, model)."""
    if isinstance(mesh_shape, str):
        mesh_shape = [s for s in mesh_shape.replace("x", ",").split(",") if s.strip()]
    try:
        shape = tuple(int(s) for s in mesh_shape)
    except (TypeError, ValueError):
        raise DistributionError(
            f"mesh_shape={mesh_shape!r} is not a list of integers. Fix: pass "
            "--mesh_shape=DATA,MODEL, e.g. --mesh_shape=2,4."
        ) from None
    if len(shape) != 2 or min(shape) < 1:
        raise DistributionError(
            f"mesh_shape={shape} must be two positive sizes (data, model), e.g. "
            "--mesh_shape=2,4 for 8 devices."
        )
    return shape


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
    if _backend() != "jax":
        _unsupported("model_parallel")
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
    return _checked_model_parallel_class()(
        layout_map=layouts, batch_dim_name=data_axis, strict=strict
    )


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
    backend = _backend()
    if backend == "jax":
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
    if backend == "torch":
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group(_torch_backend())
        return dist.get_rank(), dist.get_world_size()
    if backend == "tensorflow":
        logger.info(
            "TensorFlow multi-worker: the cluster is read from TF_CONFIG by "
            "MultiWorkerMirroredStrategy (or from the TPU resolver)."
        )
        return int(process_id or 0), int(num_processes or 1)
    raise DistributionError(f"No multi-host support for backend {backend!r}.")


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
    backend = _backend()
    if backend == "jax":
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
    if backend == "tensorflow":
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
    raise DistributionError(
        "split_host_cpu: torch has no logical CPU devices. Fix: launch N processes "
        "with `torchrun --nproc_per_node=N` (see torch_data_parallel)."
    )


# --------------------------------------------------------------------------------------
# torch: gradient averaging over a torch.distributed process group
# --------------------------------------------------------------------------------------


def _torch_backend():
    import torch

    return "nccl" if torch.cuda.is_available() else "gloo"


def torch_data_parallel(model, broadcast=True):
    """Synchronous data parallelism for a Keras model on the torch backend.

    Keras 3.15.1 has no torch `keras.distribution` (see the module docstring),
    and `model.fit` calls the Keras model itself, so wrapping it in
    `torch.nn.parallel.DistributedDataParallel` does not reach `fit`. This
    registers a post-accumulate-grad hook on every trainable parameter that
    all-reduces (averages) its gradient over the default process group, which
    is what DDP computes: with each process fed its own equal share of every
    global batch (e.g. `generic_dataset(..., num_hosts=world, host_index=rank)`),
    `fit` takes the steps a single process would take on the global batch.
    Launch with `torchrun --nproc_per_node=N` (gloo on CPU, nccl on GPU).

    Args:
        model: a built Keras model (torch backend).
        broadcast: copy process 0's weights to every process first.

    Returns:
        `model`, with hooks attached (call once per model).

    Example:
    ```python
    # torchrun --nproc_per_node=2 train.py
    initialize_multi_host()
    model = torch_data_parallel(build_model())
    model.compile(...)
    model.fit(dataset.shard(world, rank))
    ```
    """
    if _backend() != "torch":
        raise DistributionError(
            "torch_data_parallel is for KERAS_BACKEND=torch; use "
            "configure_distribution('data_parallel') on JAX or TensorFlow."
        )
    import torch.distributed as dist

    if not dist.is_initialized():
        raise DistributionError(
            "No torch.distributed process group. Fix: launch with torchrun and call "
            "keras_pn.distribution.initialize_multi_host() first."
        )
    if getattr(model, "_keras_pn_ddp", False):
        return model
    world = dist.get_world_size()
    if broadcast:
        for variable in model.variables:
            dist.broadcast(variable.value.data, src=0)

    def average(parameter):
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)
            parameter.grad.div_(world)

    for variable in model.trainable_variables:
        variable.value.register_post_accumulate_grad_hook(average)
    model._keras_pn_ddp = True
    return model


# --------------------------------------------------------------------------------------
# The entry point of the recipes
# --------------------------------------------------------------------------------------


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
    backend = _backend()
    multi_host = coordinator_address is not None or (num_processes or 1) > 1
    process, processes = 0, 1
    if multi_host:
        process, processes = initialize_multi_host(
            coordinator_address, num_processes, process_id
        )
    if kind == "none":
        return DistributionContext(kind, backend, None, 1, process, processes)
    if backend == "jax":
        if devices is None:
            devices = keras.distribution.list_devices()
        if kind == "data_parallel":
            devices = _first_devices(mesh_shape, devices)
            distribution = data_parallel(devices)
            replicas = len(devices)
        else:
            if mesh_shape is None:
                raise DistributionError(
                    "model_parallel needs a mesh shape. Fix: --mesh_shape=DATA,MODEL "
                    f"with DATA x MODEL = {len(devices)} devices, e.g. "
                    f"--mesh_shape={len(devices) // 2 or 1},{min(2, len(devices))}."
                )
            distribution = model_parallel(
                mesh_shape, devices=devices, backbone=backbone, strict=strict
            )
            replicas = distribution.num_model_replicas
    elif backend == "tensorflow":
        if kind == "model_parallel":
            _unsupported("model_parallel")
        if mesh_shape is not None and tpu is None and not _tf_multi_worker():
            devices = _first_devices(mesh_shape, _tf_devices(devices) or [])
        distribution = data_parallel(devices, tpu=tpu)
        replicas = distribution.num_replicas_in_sync
    else:
        _unsupported(f"--distribution={kind}")
    context = DistributionContext(kind, backend, distribution, replicas, process, processes)
    if batch_size is not None:
        context.check_batch_size(batch_size)
    logger.info("Distribution: %s", context.describe())
    return context


def _first_devices(mesh_shape, devices):
    """The devices of a data-parallel `mesh_shape` (`N`, `(N,)` or `(N, 1)`)."""
    if mesh_shape is None:
        return devices
    shape = mesh_shape
    if isinstance(shape, (str, int)):
        shape = [s for s in str(shape).split(",") if s.strip()]
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise DistributionError(
            f"mesh_shape={mesh_shape!r} is not a list of integers. Fix: "
            "--mesh_shape=N for N data-parallel replicas."
        ) from None
    if not 1 <= len(shape) <= 2 or shape[1:] not in ((), (1,)) or shape[0] < 1:
        raise DistributionError(
            f"mesh_shape={shape} has a model axis, but data_parallel replicates "
            "the model. Fix: --mesh_shape=N (N data-parallel replicas), or "
            "--distribution=model_parallel to shard the weights."
        )
    if shape[0] > len(devices):
        raise DistributionError(
            f"mesh_shape={shape} asks for {shape[0]} devices; {len(devices)} are "
            f"available. Fix: --mesh_shape=N with N <= {len(devices)}."
        )
    return list(devices)[: shape[0]]


def sharding_report(model):
    """`{variable.path: PartitionSpec or layout}` of a model's variables.

    JAX: each variable's `value.sharding.spec`, a `jax.sharding.PartitionSpec`
    (all `None` when replicated); other backends: the device placement string.

    Example:
    ```python
    report = sharding_report(model)
    report["token_embedding/embeddings"]      # P('model', None)
    ```
    """
    report = {}
    for variable in model.variables:
        value = variable.value
        sharding = getattr(value, "sharding", None)
        spec = getattr(sharding, "spec", None)
        report[variable.path] = spec if spec is not None else str(
            getattr(value, "device", sharding)
        )
    return report
