"""Where each weight of a GPT / ProjectedGPT lives on a `("data", "model")` mesh.

`layout_map` shards over the mesh axis `"model"` (Megatron style: the
intermediate width of the MLP, the heads of the attention):

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
"""

import dataclasses
import math
import warnings

import keras

from keras_pn.distribution.errors import DistributionError

# Variable name patterns (full match on `variable.path`), and how each
# dimension is sharded: a tuple with one entry per dimension, "M" for the
# model axis, None for replicated. `dim` names the configuration dimension
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


def checked_layout(layout, shape, path, strict):
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
