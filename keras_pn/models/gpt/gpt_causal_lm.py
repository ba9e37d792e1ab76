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
        check_vocabulary(backbone, preprocessor)
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        # === Functional Model ===
        inputs, logits = cached_generation.causal_lm_graph(backbone)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        model = load_from_preset(
            cls, super().from_preset, preset, load_weights=load_weights, **kwargs
        )
        # keras-hub loads the tokenizer's files after building the task.
        check_vocabulary(model.backbone, model.preprocessor)
        return model

    def call_with_cache(self, token_ids, cache, cache_update_index):
        """One cached step: returns `(logits, hidden_states, cache)`."""
        return cached_generation.call_with_cache(
            self.backbone, token_ids, cache, cache_update_index
        )

    def _build_cache(self, token_ids):
        return cached_generation.build_cache(self, token_ids)

    def generate_step(self, inputs, stop_token_ids=None):
        return cached_generation.generate_step(self, inputs, stop_token_ids)


def check_vocabulary(backbone, preprocessor):
    """Refuse a tokenizer with more token ids than the model has embeddings.

    Out-of-range ids do not fail everywhere: JAX's gather returns NaN for them,
    so the model would silently produce NaN logits and losses.
    """
    tokenizer = getattr(preprocessor, "tokenizer", None)
    if tokenizer is None:
        return
    try:
        size = int(tokenizer.vocabulary_size())
    except ValueError:  # A SentencePiece tokenizer whose proto is not loaded yet.
        return
    if size > backbone.vocabulary_size:
        raise ValueError(
            f"The tokenizer has {size} token ids but the model's vocabulary_size is "
            f"{backbone.vocabulary_size}: ids >= {backbone.vocabulary_size} have no "
            "embedding (JAX would return NaN logits for them). Fix: use the tokenizer "
            "the model was trained with, or build the model with "
            f"vocabulary_size={size} (e.g. `from_preset(..., vocabulary_size={size})`)."
        )
