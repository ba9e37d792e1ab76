"""The projected GPT backbone: one small expert per cluster (SLM-pn)."""

import keras
from keras import ops
from keras_hub.models import Backbone

from keras_pn.api_export import keras_pn_export
from keras_pn.layers import ExpertEmbedding
from keras_pn.models.gpt.decoder_stack import DECODER_CONFIG_KEYS
from keras_pn.models.gpt.decoder_stack import DecoderStackMixin
from keras_pn.presets import PresetMixin


@keras_pn_export("keras_pn.models.ProjectedGPTBackbone")
class ProjectedGPTBackbone(PresetMixin, DecoderStackMixin, Backbone):
    """A GPT whose MLP weights are projections of shared bases, per expert.

    Grangier et al. (2024), SLM-pn: for expert `i` and projected layer `l`,
    each MLP weight is `W(l,i) = sum_q E[i,q] sum_r M(l)[q,r] T(l)[:,:,r]`.
    Attention, embeddings and norms are shared by all experts (unless
    `projected_attention=True`). Every forward pass runs one SLM-sized
    network: the expert of each example's cluster.

    Inputs are a dict: `token_ids (batch, seq)`, `padding_mask (batch, seq)`
    and `cluster_ids (batch,)`, the expert of each example.

    Args:
        vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim,
            max_sequence_length, dropout, layer_norm_epsilon: as
            `GPTBackbone`; the exported experts have exactly these sizes.
        num_experts: int. `k`, one expert per cluster.
        num_bases: int. `h`, kernel bases per projected matrix (default `k`).
        expert_dim: int. `m`, size of an expert code (default `k`).
        projected_layers: list of block indices with a projected MLP
            (default: all blocks).
        projected_attention: bool. Also project the attention weights.
        hard_mixture: bool. `E = I`, `M = I` frozen and `h = m = k`: a hard
            mixture of `k` independent experts (SLM-mix).
        expert_strategy: how `ProjectedDense` computes a batch: `"auto"`
            (one kernel when the batch shares an expert), `"shared"` or
            `"per_example"`.
        dtype: a dtype or `keras.DTypePolicy`.

    Example:
    ```python
    backbone = keras_pn.models.ProjectedGPTBackbone(
        vocabulary_size=256, num_layers=2, num_heads=2, hidden_dim=32,
        intermediate_dim=64, num_experts=4, max_sequence_length=64)
    hidden = backbone({"token_ids": np.ones((2, 8), "int32"),
                       "padding_mask": np.ones((2, 8), "int32"),
                       "cluster_ids": np.array([0, 3], "int32")})
    ```
    """

    config_keys = DECODER_CONFIG_KEYS + (
        "num_experts",
        "num_bases",
        "expert_dim",
        "projected_layers",
        "projected_attention",
        "hard_mixture",
        "expert_strategy",
    )

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        num_experts,
        num_bases=None,
        expert_dim=None,
        projected_layers=None,
        projected_attention=False,
        hard_mixture=False,
        expert_strategy="auto",
        max_sequence_length=1024,
        dropout=0.0,
        layer_norm_epsilon=1e-5,
        dtype=None,
        **kwargs,
    ):
        num_bases = num_experts if num_bases is None else num_bases
        expert_dim = num_experts if expert_dim is None else expert_dim
        if hard_mixture and not (num_bases == expert_dim == num_experts):
            raise ValueError(
                "A hard mixture needs num_bases == expert_dim == num_experts. "
                f"Received: num_bases={num_bases}, expert_dim={expert_dim}, "
                f"num_experts={num_experts}. Fix: leave num_bases and "
                "expert_dim unset."
            )
        if projected_layers is None:
            projected_layers = list(range(num_layers))
        projected_layers = sorted(int(i) for i in projected_layers)
        if any(i < 0 or i >= num_layers for i in projected_layers):
            raise ValueError(
                f"`projected_layers`={projected_layers} must index blocks in "
                f"[0, {num_layers})."
            )
        projection = {
            "num_bases": num_bases,
            "expert_dim": expert_dim,
            "hard_mixture": hard_mixture,
            "strategy": expert_strategy,
        }
        block_projections = []
        for i in range(num_layers):
            projected = i in projected_layers
            block_projections.append(
                (
                    projection if projected else None,
                    projection if projected and projected_attention else None,
                )
            )

        # === Layers ===
        self.expert_embedding = ExpertEmbedding(
            num_experts=num_experts,
            expert_dim=expert_dim,
            hard_mixture=hard_mixture,
            dtype=dtype,
            name="expert_embedding",
        )
        self._create_decoder_layers(
            vocabulary_size=vocabulary_size,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            max_sequence_length=max_sequence_length,
            dropout=dropout,
            layer_norm_epsilon=layer_norm_epsilon,
            dtype=dtype,
            block_projections=block_projections,
        )

        # === Functional Model ===
        inputs = self._decoder_inputs()
        inputs["cluster_ids"] = keras.Input(shape=(), dtype="int32", name="cluster_ids")
        expert_code = self.expert_embedding(inputs["cluster_ids"])  # (B, m)
        super().__init__(
            inputs=inputs,
            outputs=self._decoder_outputs(inputs, expert_code),
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.num_experts = num_experts
        self.num_bases = num_bases
        self.expert_dim = expert_dim
        self.projected_layers = projected_layers
        self.projected_attention = projected_attention
        self.hard_mixture = hard_mixture
        self.expert_strategy = expert_strategy

    def expert_code(self, expert=None, histogram=None):
        """The code `E[expert]`, or `p @ E` for a cluster histogram `p`.

        Args:
            expert: int in `[0, num_experts)`.
            histogram: array `(num_experts,)`, non-negative, summing to 1.

        Returns:
            A `(expert_dim,)` tensor.
        """
        if (expert is None) == (histogram is None):
            raise ValueError("Pass exactly one of `expert=` or `histogram=`.")
        if histogram is not None:
            histogram = validate_histogram(histogram, self.num_experts)
            return self.expert_embedding.from_histogram(histogram)
        expert = validate_expert(expert, self.num_experts)
        return self.expert_embedding(ops.convert_to_tensor([expert], "int32"))[0]


def validate_expert(expert, num_experts):
    """Check an expert index; return it as an int."""
    import numpy as np

    if isinstance(expert, (bool, np.bool_)) or not isinstance(
        expert, (int, np.integer)
    ):
        raise ValueError(f"`expert` must be an int. Received: {expert!r}.")
    if not 0 <= int(expert) < num_experts:
        raise ValueError(
            f"Expert {expert} does not exist: this model has {num_experts} "
            f"experts (cluster ids 0..{num_experts - 1})."
        )
    return int(expert)


def validate_histogram(histogram, num_experts, atol=1e-3):
    """Check a cluster histogram; return it as float32 numpy `(k,)`."""
    import numpy as np

    histogram = np.asarray(histogram, dtype="float64")
    if histogram.shape != (num_experts,):
        raise ValueError(
            f"The histogram must have shape ({num_experts},), one mass per "
            f"cluster. Received shape {histogram.shape}."
        )
    if not np.all(np.isfinite(histogram)):
        raise ValueError("The histogram holds NaN or inf values.")
    if np.any(histogram < 0):
        raise ValueError(
            "The histogram has negative entries "
            f"(min {histogram.min():.4g}); cluster masses must be >= 0."
        )
    total = histogram.sum()
    if abs(total - 1.0) > atol:
        raise ValueError(
            f"The histogram sums to {total:.6g}, not 1. Fix: normalize it "
            "(`p / p.sum()`)."
        )
    return (histogram / total).astype("float32")
