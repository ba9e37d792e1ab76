"""SentencePiece tokenizer of the GPT models (trained locally, shipped as an asset)."""

import os

from keras_hub.tokenizers import SentencePieceTokenizer

from keras_pn.api_export import keras_pn_export
from keras_pn.models.gpt.gpt_backbone import GPTBackbone
from keras_pn.presets import PresetMixin


@keras_pn_export("keras_pn.models.GPTTokenizer")
class GPTTokenizer(PresetMixin, SentencePieceTokenizer):
    """A SentencePiece tokenizer with `<pad>`, `<s>` and `</s>` specials.

    keras_pn trains the SentencePiece model on the generic corpus
    (`keras_pn.data.tokenizer_training`) with `pad_id=0`, `unk_id=1`,
    `bos_id=2`, `eos_id=3`; the proto is saved as `vocabulary.spm` in the
    preset's `assets/tokenizer/`. Tokenization runs as TensorFlow graph ops
    inside `tf.data` (tensorflow-text's SentencePiece op).

    Args:
        proto: path to a SentencePiece model file, or its serialized bytes.

    Example:
    ```python
    tokenizer = keras_pn.models.GPTTokenizer(proto="vocabulary.spm")
    tokenizer("The quick brown fox.")
    ```
    """

    backbone_cls = GPTBackbone

    def __init__(self, proto=None, **kwargs):
        self._add_special_token("<s>", "start_token")
        self._add_special_token("</s>", "end_token")
        self._add_special_token("<pad>", "pad_token")
        super().__init__(proto=proto, **kwargs)

    def load_assets(self, dir_path):
        # The preset's own file, read as bytes: keras_pn loads presets in Keras
        # safe mode, where keras-hub refuses a proto given as a file path.
        with open(os.path.join(dir_path, "vocabulary.spm"), "rb") as f:
            self.set_proto(f.read())
