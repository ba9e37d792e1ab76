"""The tokenizer that travels with every export: the SentencePiece model file, described.

Every export directory holds `vocabulary.spm` (the preset's SentencePiece model,
byte for byte: any SentencePiece runtime reads it) and a `tokenizer` entry in
`export.json` with its special ids. keras_pn's windows start with the start
token and do not end a prompt with the end token, so a runtime prepends
`start_token_id` to an encoded prompt. A Hugging Face export also gets the
`transformers` tokenizer files (`AutoTokenizer.from_pretrained(dir)`).
"""

import json
import os

from keras_pn.file_io import atomic_write_json

SPM_FILE = "vocabulary.spm"


def model_tokenizer(model):
    """The model's tokenizer, or `None` (a model built without a preprocessor)."""
    return getattr(getattr(model, "preprocessor", None), "tokenizer", None)


def special_ids(model):
    """`{"start_token_id", "end_token_id", "pad_token_id"}` of the model's tokenizer.

    keras_pn's fixed convention (`<pad>` 0, `<s>` 2, `</s>` 3) without a tokenizer.
    """
    tokenizer = model_tokenizer(model)
    names = ("start_token_id", "end_token_id", "pad_token_id")
    defaults = (2, 3, 0)
    return {
        name: int(getattr(tokenizer, name, default))
        for name, default in zip(names, defaults)
    }


def write_tokenizer_assets(model, directory):
    """Writes the tokenizer's files into `directory`; returns its `export.json` entry."""
    from keras_pn.models import GPTByteTokenizer
    from keras_pn.models import GPTTokenizer

    tokenizer = model_tokenizer(model)
    entry = {"add_start_token": True, **special_ids(model)}
    if isinstance(tokenizer, GPTTokenizer):
        with open(os.path.join(directory, SPM_FILE), "wb") as f:
            f.write(bytes(tokenizer.proto))
        return {"type": "sentencepiece", "file": SPM_FILE, **entry}
    if isinstance(tokenizer, GPTByteTokenizer):
        return {"type": "utf8_bytes", "file": None, **entry}
    return None


def write_huggingface_tokenizer(model, directory):
    """Writes `transformers` tokenizer files next to `vocabulary.spm`; `None` if none.

    `SentencePieceBackend` runs the SentencePiece model itself, so its ids equal
    keras_pn's exactly (a converted fast tokenizer differs on Viterbi ties).
    """
    from transformers.tokenization_utils_sentencepiece import SentencePieceBackend

    spm_path = os.path.join(directory, SPM_FILE)
    if not os.path.isfile(spm_path):
        return None
    tokenizer = SentencePieceBackend(
        vocab_file=spm_path,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        special_tokens_pattern="bos",  # prepend <s>, as keras_pn's windows start
    )
    tokenizer.save_pretrained(directory)
    # transformers 5.24 does not save the pattern: record it for `AutoTokenizer`.
    config_path = os.path.join(directory, "tokenizer_config.json")
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    config["special_tokens_pattern"] = "bos"
    atomic_write_json(config_path, config, indent=2)
    return tokenizer
