"""The GPT backbone: the paper's SLM and LLM."""

from keras_hub.models import Backbone

from keras_pn.api_export import keras_pn_export
from keras_pn.models.gpt.decoder_stack import DecoderStackMixin
from keras_pn.presets import PresetMixin


@keras_pn_export("keras_pn.models.GPTBackbone")
class GPTBackbone(PresetMixin, DecoderStackMixin, Backbone):
    """A GPT decoder: learned positions, pre-norm blocks, tied embeddings.

    The small (SLM) and large (LLM) models of Grangier et al. (2024) are
    both `GPTBackbone`s (presets `slm_paper`, `llm_paper` and their CPU-sized
    `slm_tiny`, `llm_tiny`). Attention is causal; padding must be on the
    right, and padded positions output zeros.

    Args:
        vocabulary_size: int. Size of the token vocabulary.
        num_layers: int. Number of decoder blocks.
        num_heads: int. Attention heads per block.
        hidden_dim: int. Width of the residual stream.
        intermediate_dim: int. MLP width.
        max_sequence_length: int. Context length (learned positions).
        dropout: float. Residual and embedding dropout.
        layer_norm_epsilon: float.
        dtype: a dtype or `keras.DTypePolicy` for weights and compute.

    Example:
    ```python
    backbone = keras_pn.models.GPTBackbone(
        vocabulary_size=256, num_layers=2, num_heads=2, hidden_dim=32,
        intermediate_dim=64, max_sequence_length=64)
    hidden = backbone({"token_ids": np.ones((1, 8), "int32"),
                       "padding_mask": np.ones((1, 8), "int32")})
    # Or an architecture preset with random weights:
    backbone = keras_pn.models.GPTBackbone.from_preset(
        "slm_tiny", load_weights=False)
    ```
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        max_sequence_length=1024,
        dropout=0.0,
        layer_norm_epsilon=1e-5,
        dtype=None,
        **kwargs,
    ):
        # === Layers and Config ===
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
        )

        # === Functional Model ===
        inputs = self._decoder_inputs()
        super().__init__(
            inputs=inputs,
            outputs=self._decoder_outputs(inputs),
            dtype=dtype,
            **kwargs,
        )

    def default_lora_layer_names(self):
        return ["query_dense", "value_dense"]
