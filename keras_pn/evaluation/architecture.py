"""Architecture sizes of a (projected) GPT and its parameter counts, by formula.

`ModelDims.of(...)` reads the sizes from a model, a backbone, a config dict or a
preset (read through `keras_pn.presets`, with its safety checks);
`parameter_counts` and `lora_parameter_count` count weights from them, equal to
what Keras counts on the built model.

Example:
>>> parameter_counts("slm_tiny")["total"] == parameter_counts(
...     ModelDims.of("slm_tiny"))["total"]
True
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "DEFAULT_LORA_LAYERS",
    "ModelDims",
    "lora_parameter_count",
    "parameter_counts",
]

# The layers keras-hub's `enable_lora(rank)` adapts in a GPTBackbone when no
# `target_layer_names` are given (`default_lora_layer_names`).
DEFAULT_LORA_LAYERS = ("query_dense", "value_dense")

_ATTENTION_MATRICES = ("query_dense", "key_dense", "value_dense", "output_dense")


@dataclasses.dataclass(frozen=True)
class ModelDims:
    """The sizes that determine parameters and FLOPs of a (projected) GPT.

    Build it with `ModelDims.of(...)` from a model, a backbone, a config dict
    or a preset name.

    Example:
    >>> dims = ModelDims.of("pn_paper")
    >>> dims.num_experts, dims.projected_layers
    (32, (1, 2, 3, 4, 5))
    """

    vocabulary_size: int
    num_layers: int
    num_heads: int
    hidden_dim: int
    intermediate_dim: int
    max_sequence_length: int
    num_experts: int | None = None
    num_bases: int | None = None
    expert_dim: int | None = None
    projected_layers: tuple[int, ...] = ()
    projected_attention: bool = False
    hard_mixture: bool = False

    @property
    def is_projected(self) -> bool:
        return self.num_experts is not None

    @property
    def expert(self) -> ModelDims:
        """The plain GPT an expert exports to (same sizes, nothing projected)."""
        return ModelDims(
            vocabulary_size=self.vocabulary_size,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            hidden_dim=self.hidden_dim,
            intermediate_dim=self.intermediate_dim,
            max_sequence_length=self.max_sequence_length,
        )

    def projected_matrices(self) -> list[tuple[int, int]]:
        """`(d_in, d_out)` of every projected weight matrix."""
        if not self.is_projected:
            return []
        d, f = self.hidden_dim, self.intermediate_dim
        per_layer = [(d, f), (f, d)]
        if self.projected_attention:
            per_layer += [(d, d)] * 4
        return per_layer * len(self.projected_layers)

    @classmethod
    def of(cls, model: Any) -> ModelDims:
        """Dims of a CausalLM, a backbone, a config dict or a preset.

        Args:
            model: a `GPTCausalLM` / `ProjectedGPT` (its `backbone` is read),
                a `GPTBackbone` / `ProjectedGPTBackbone`, a dict (a backbone's
                `get_config()`, or a keras-hub `config.json` with a `"config"`
                key), a built-in preset name (`"slm_tiny"`, ...) or a preset
                directory holding `config.json`.
        """
        if isinstance(model, ModelDims):
            return model
        if isinstance(model, (str, os.PathLike)):
            model = _preset_config(model)
        if isinstance(model, Mapping):
            config = dict(model.get("config", model))
        else:
            backbone = getattr(model, "backbone", model)
            if not hasattr(backbone, "get_config"):
                raise ValueError(
                    "Expected a keras_pn model, backbone, config dict or preset "
                    f"name. Received a {type(model).__name__}."
                )
            config = backbone.get_config()
        required = (
            "vocabulary_size",
            "num_layers",
            "num_heads",
            "hidden_dim",
            "intermediate_dim",
        )
        missing = [key for key in required if key not in config]
        if missing:
            raise ValueError(f"The model config lacks {missing}: not a GPT config.")
        num_layers = int(config["num_layers"])
        num_experts = config.get("num_experts")
        projected = {}
        if num_experts is not None:
            num_experts = int(num_experts)
            layers = config.get("projected_layers")
            projected = dict(
                num_experts=num_experts,
                num_bases=int(config.get("num_bases") or num_experts),
                expert_dim=int(config.get("expert_dim") or num_experts),
                projected_layers=tuple(
                    range(num_layers) if layers is None else sorted(map(int, layers))
                ),
                projected_attention=bool(config.get("projected_attention", False)),
                hard_mixture=bool(config.get("hard_mixture", False)),
            )
        return cls(
            vocabulary_size=int(config["vocabulary_size"]),
            num_layers=num_layers,
            num_heads=int(config["num_heads"]),
            hidden_dim=int(config["hidden_dim"]),
            intermediate_dim=int(config["intermediate_dim"]),
            max_sequence_length=int(config.get("max_sequence_length", 1024)),
            **projected,
        )


def _preset_config(preset) -> dict:
    """A preset's `config.json`, resolved and checked by `keras_pn.presets`."""
    import keras_pn.models  # noqa: F401 -- registers the classes configs name
    from keras_pn import presets

    try:
        return presets.load_config(presets.resolve_preset(preset))
    except presets.PresetError as error:
        raise presets.PresetError(f"No preset {str(preset)!r}: {error}") from None


def parameter_counts(model: Any) -> dict[str, int]:
    """Parameter counts by formula (they match `backbone.count_params()`).

    Args:
        model: anything `ModelDims.of` accepts.

    Returns:
        A dict with `total` (every weight, trainable or not),
        `token_embedding`, `position_embedding`, `flops` (`N` of the FLOPs
        formulas: `total - position_embedding`) and, for a projected network,
        `expert` and `expert_flops`: the same two counts of one exported
        expert (a plain GPT).

    Example:
    >>> parameter_counts("slm_paper")["total"]
    121992192
    """
    dims = ModelDims.of(model)
    v, d, f = dims.vocabulary_size, dims.hidden_dim, dims.intermediate_dim
    token_embedding = v * d
    position_embedding = dims.max_sequence_length * d

    def dense(d_in, d_out, projected):
        if not projected:
            return d_in * d_out + d_out
        h, m = dims.num_bases, dims.expert_dim
        return d_in * d_out * h + m * h + d_out * h  # bases T, mixing M, bias B

    total = token_embedding + position_embedding + 2 * d  # + final norm
    for layer in range(dims.num_layers):
        projected = layer in dims.projected_layers
        total += 4 * d  # attention and MLP layer norms
        total += 4 * dense(d, d, projected and dims.projected_attention)
        total += dense(d, f, projected) + dense(f, d, projected)
    if dims.is_projected:
        total += dims.num_experts * dims.expert_dim  # expert embeddings E
    counts = {
        "total": total,
        "token_embedding": token_embedding,
        "position_embedding": position_embedding,
        "flops": total - position_embedding,
    }
    if dims.is_projected:
        expert = parameter_counts(dims.expert)
        counts["expert"] = expert["total"]
        counts["expert_flops"] = expert["flops"]
    return counts


def lora_parameter_count(model: Any, rank: int, layers: Iterable[str]) -> int:
    """Trainable weights of Keras LoRA of rank `rank` on `layers` of every block.

    Each adapted `d_in x d_out` matrix gets `rank * (d_in + d_out)` adapter
    weights; Keras also leaves the adapted layers' biases (`d_out`)
    trainable (`backbone.enable_lora` freezes everything else), and they are
    counted too: this equals `backbone.trainable_weights` after
    `enable_lora(rank, target_layer_names=layers)`.

    Args:
        model: anything `ModelDims.of` accepts.
        rank: the adapters' rank.
        layers: the layers LoRA adapts in every block, as trained (a LoRA
            method's `keras_pn.methods.Method.lora_targets`; keras-hub's
            `enable_lora(rank)` default is `DEFAULT_LORA_LAYERS`).

    Example:
    >>> lora_parameter_count("llm_paper", rank=64, layers=DEFAULT_LORA_LAYERS)
    5085696
    """
    dims = ModelDims.of(model)
    if rank < 1:
        raise ValueError(f"The LoRA rank must be >= 1. Received: {rank}.")
    if isinstance(layers, str):
        layers = (layers,)
    layers = tuple(layers)
    d, f = dims.hidden_dim, dims.intermediate_dim
    shapes = {name: (d, d) for name in _ATTENTION_MATRICES}
    shapes.update({"mlp_intermediate_dense": (d, f), "mlp_output_dense": (f, d)})
    unknown = sorted(set(layers) - set(shapes))
    if unknown:
        raise ValueError(f"Unknown LoRA layer(s) {unknown}. Known: {sorted(shapes)}.")
    if not layers:
        raise ValueError("LoRA adapts no layer: pass the `layers` it trains.")
    per_block = sum(rank * sum(shapes[name]) + shapes[name][1] for name in layers)
    return dims.num_layers * per_block
