"""`GPTCausalLM`: the SLM / LLM task with generation."""

from keras_pn.api_export import keras_pn_export
from keras_pn.models.causal_lm import CausalLM
from keras_pn.models.gpt.gpt_backbone import GPTBackbone
from keras_pn.models.gpt.gpt_causal_lm_preprocessor import GPTCausalLMPreprocessor


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
