"""Hugging Face GPT-2 export: logits in transformers, tokenizer, generate."""

import json
import os

import numpy as np
import pytest

from keras_pn.export import export
from keras_pn.export.parity import check_export
from keras_pn.export.parity import keras_logits
from keras_pn.models import GPTCausalLM
from tests.export.conftest import probe

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def hf_export(tiny_preset, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("hf") / "hf")
    export(tiny_preset, "hf", out)
    return out


def test_files_and_logits(tiny_preset, hf_export):
    names = set(os.listdir(hf_export))
    assert {"model.safetensors", "config.json", "generation_config.json",
            "tokenizer_config.json", "vocabulary.spm", "export.json"} <= names
    config = json.load(open(os.path.join(hf_export, "config.json")))
    assert (config["bos_token_id"], config["eos_token_id"], config["pad_token_id"]) == (2, 3, 0)
    reference = GPTCausalLM.from_preset(tiny_preset)
    result = check_export(reference, hf_export, probe=probe())
    assert result["max_abs_logit_diff"] < 1e-4, result


def test_tokenizer_and_generate(tiny_preset, hf_export):
    import sentencepiece

    tokenizer = transformers.AutoTokenizer.from_pretrained(hf_export)
    model = transformers.AutoModelForCausalLM.from_pretrained(hf_export).eval()
    text = "def main(args):\n    return 0"
    sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(hf_export, "vocabulary.spm"))
    encoded = tokenizer(text, return_tensors="pt")
    assert encoded["input_ids"][0].tolist() == [2] + sp.encode(text)
    out = model.generate(**encoded, max_new_tokens=6, do_sample=False, pad_token_id=0,
                         eos_token_id=None)
    hf_tokens = out[0].tolist()
    assert len(hf_tokens) == encoded["input_ids"].shape[1] + 6
    # Greedy: each generated token is keras_pn's argmax after the tokens before it.
    reference = GPTCausalLM.from_preset(tiny_preset)
    logits = keras_logits(reference, np.array([hf_tokens]))[0]
    prompt_length = encoded["input_ids"].shape[1]
    keras_next = np.argmax(logits[prompt_length - 1 : -1], axis=-1).tolist()
    assert hf_tokens[prompt_length:] == keras_next
    assert tokenizer.decode(out[0], skip_special_tokens=True).startswith(text)
