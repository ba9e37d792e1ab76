"""Tiny GPT presets with the zoo's SentencePiece tokenizer, for the export tests."""

import os

import numpy as np
import pytest

ZOO_SPM = os.path.join(
    os.path.dirname(__file__), "..", "..", "zoo", "python", "pn_tiny_python",
    "assets", "tokenizer", "vocabulary.spm",
)
TINY_EXPORT_GPT = dict(
    vocabulary_size=4096, num_layers=2, num_heads=2, hidden_dim=16,
    intermediate_dim=32, max_sequence_length=32,
)


def tiny_causal_lm():
    from keras_pn.models import GPTBackbone
    from keras_pn.models import GPTCausalLM
    from keras_pn.models import GPTCausalLMPreprocessor
    from keras_pn.models import GPTTokenizer

    with open(ZOO_SPM, "rb") as f:
        tokenizer = GPTTokenizer(proto=f.read())
    preprocessor = GPTCausalLMPreprocessor(tokenizer, sequence_length=16)
    return GPTCausalLM(GPTBackbone(**TINY_EXPORT_GPT), preprocessor=preprocessor)


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    """A saved tiny GPTCausalLM preset (random weights, the zoo tokenizer)."""
    import keras

    keras.utils.set_random_seed(7)
    path = str(tmp_path_factory.mktemp("tiny") / "preset")
    tiny_causal_lm().save_to_preset(path)
    return path


def python_texts(n=12):
    """Python source text (this interpreter's standard library): a test domain."""
    import glob

    files = sorted(glob.glob(os.path.join(os.path.dirname(os.__file__), "*.py")))[40:40 + n]
    return [open(p, encoding="utf-8", errors="ignore").read() for p in files]


@pytest.fixture(scope="module")
def python_domain(tmp_path_factory):
    import json

    path = tmp_path_factory.mktemp("python_domain")
    with open(path / "test.jsonl", "w", encoding="utf-8") as f:
        for text in python_texts():
            f.write(json.dumps({"text": text}) + "\n")
    return str(path)


def probe(vocabulary_size=4096, seed=0):
    return np.random.default_rng(seed).integers(4, vocabulary_size, (2, 12)).astype("int32")
