"""`GPTCausalLM`: the SLM / LLM task with generation."""

from keras_hub.models import CausalLM

from keras_pn.api_export import keras_pn_export
from keras_pn.models.gpt import cached_generation
from keras_pn.models.gpt.gpt_backbone import GPTBackbone
from keras_pn.models.gpt.gpt_causal_lm_preprocessor import GPTCausalLMPreprocessor
from keras_pn.presets import load_from_preset


@keras_pn_export("keras_pn.models.GPTCausalLM")
class GPTCausalLM(CausalLM):
    """A GPT language model: `fit`, `generate`, presets, LoRA.

    Calling the model on `{"token_ids", "padding_mask"}` returns logits
    `(batch, seq, vocabulary)`. `generate()` uses a key/value cache.
    `backbone.enable_lora(rank)` adds LoRA to the query and value layers
    (pass `target_layer_names` for others, e.g. the MLP's
    `mlp_intermediate_dense`).

    Args:
        backbone: a `GPTBackbone`.
        preprocessor: a `GPTCausalLMPreprocessor`, or `None` to feed token ids.

    Example:
    ```python
    causal_lm = keras_pn.models.GPTCausalLM.from_preset(
        "slm_tiny", load_weights=False)
    causal_lm.generate(
        {"token_ids": np.array([[2, 5, 6, 0, 0, 0]]),
         "padding_mask": np.array([[1, 1, 1, 0, 0, 0]], bool)},
        stop_token_ids=None)
    ```
    """

    backbone_cls = GPTBackbone
    preprocessor_cls = GPTCausalLMPreprocessor

    def __init__(self, backbone, preprocessor=None, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        # === Functional Model ===
        inputs, logits = cached_generation.causal_lm_graph(backbone)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        return load_from_preset(
            cls, super().from_preset, preset, load_weights=load_weights, **kwargs
        )

    def call_with_cache(self, token_ids, cache, cache_update_index):
        """One cached step: returns `(logits, hidden_states, cache)`."""
        return cached_generation.call_with_cache(
            self.backbone, token_ids, cache, cache_update_index
        )

    def _build_cache(self, token_ids):
        return cached_generation.build_cache(self, token_ids)

    def generate_step(self, inputs, stop_token_ids=None):
        return cached_generation.generate_step(self, inputs, stop_token_ids)
