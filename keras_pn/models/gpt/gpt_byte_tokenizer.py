"""A byte-level tokenizer: no training, no assets; for tests and demos."""

from keras_hub.tokenizers import ByteTokenizer

from keras_pn.api_export import keras_pn_export
from keras_pn.models.gpt.gpt_backbone import GPTBackbone
from keras_pn.presets import PresetMixin


@keras_pn_export("keras_pn.models.GPTByteTokenizer")
class GPTByteTokenizer(PresetMixin, ByteTokenizer):
    """UTF-8 bytes as tokens (vocabulary 256), with control bytes as specials.

    `"\\x00"` is padding, `"\\x02"` (STX) the start token and `"\\x03"` (ETX)
    the end token; text practically never contains them.

    Example:
    >>> tokenizer = GPTByteTokenizer()
    >>> [int(i) for i in tokenizer("Hi")]
    [72, 105]
    """

    backbone_cls = GPTBackbone

    def __init__(self, lowercase=False, **kwargs):
        self._add_special_token("\x02", "start_token")
        self._add_special_token("\x03", "end_token")
        self._add_special_token("\x00", "pad_token")
        super().__init__(lowercase=lowercase, **kwargs)

    def save_assets(self, dir_path):
        """Nothing to save: the byte vocabulary is fixed."""

    def load_assets(self, dir_path):
        """Nothing to load: the byte vocabulary is fixed."""

    def load_preset_assets(self, preset):
        """Nothing to load: the byte vocabulary is fixed."""

    def token_to_id(self, token):
        if len(token) != 1 or ord(token) >= 256:
            raise ValueError(f"{token!r} is not a single byte.")
        return ord(token)

    def id_to_token(self, id):
        if not 0 <= int(id) < 256:
            raise ValueError(f"Token id {id} is outside [0, 256).")
        return chr(int(id))
