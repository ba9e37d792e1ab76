"""Text to `(x, y, sample_weight)` for the GPT models."""

from keras_hub.models import CausalLMPreprocessor

from keras_pn.api_export import keras_pn_export
from keras_pn.models.gpt.gpt_backbone import GPTBackbone
from keras_pn.models.gpt.gpt_tokenizer import GPTTokenizer
from keras_pn.presets import PresetMixin


@keras_pn_export("keras_pn.models.GPTCausalLMPreprocessor")
class GPTCausalLMPreprocessor(PresetMixin, CausalLMPreprocessor):
    """keras-hub's causal LM preprocessing for `GPTCausalLM`.

    Tokenizes strings, packs them with start/end tokens to
    `sequence_length + 1`, and returns `x = {"token_ids", "padding_mask"}`,
    `y` (the next tokens) and `sample_weight` (the shifted padding mask).

    Args:
        tokenizer: a `GPTTokenizer` or `GPTByteTokenizer`.
        sequence_length: int. Packed length.
        add_start_token, add_end_token: bool.

    Example:
    ```python
    preprocessor = keras_pn.models.GPTCausalLMPreprocessor(
        keras_pn.models.GPTByteTokenizer(), sequence_length=16)
    x, y, sample_weight = preprocessor(["a short document"])
    ```
    """

    backbone_cls = GPTBackbone
    tokenizer_cls = GPTTokenizer
