"""GPTBackbone / GPTCausalLM: config, shapes, training, presets, generation, LoRA."""

import json
import os

import keras
import keras_hub
import numpy as np
import pytest

from keras_pn.models import GPTBackbone
from keras_pn.models import GPTByteTokenizer
from keras_pn.models import GPTCausalLM
from keras_pn.models import GPTCausalLMPreprocessor
from keras_pn.testing import TINY_GPT
from keras_pn.testing import TestCase
from keras_pn.testing import random_batch
from keras_pn.testing import to_numpy


@pytest.fixture
def causal_lm():
    preprocessor = GPTCausalLMPreprocessor(GPTByteTokenizer(), sequence_length=12)
    return GPTCausalLM(GPTBackbone(**TINY_GPT), preprocessor=preprocessor)


def test_backbone_config_round_trip():
    backbone = GPTBackbone(**TINY_GPT)
    config = json.loads(json.dumps(backbone.get_config()))
    clone = GPTBackbone.from_config(config)
    assert clone.get_config() == backbone.get_config()
    assert clone.count_params() == backbone.count_params()
    serialized = keras.saving.serialize_keras_object(backbone)
    assert serialized["registered_name"] == "keras_pn>GPTBackbone"


def test_shapes_and_dtypes(causal_lm):
    batch = random_batch(batch_size=2, seq_len=7)
    hidden = to_numpy(causal_lm.backbone(batch))
    assert hidden.shape == (2, 7, TINY_GPT["hidden_dim"]) and hidden.dtype == np.float32
    logits = to_numpy(causal_lm(batch))
    assert logits.shape == (2, 7, TINY_GPT["vocabulary_size"])
    # Padded positions output zeros; real positions do not depend on padding.
    padded = dict(batch, padding_mask=np.array([[1] * 5 + [0] * 2] * 2, "int32"))
    hidden_padded = to_numpy(causal_lm.backbone(padded))
    np.testing.assert_array_equal(hidden_padded[:, 5:], 0.0)
    np.testing.assert_allclose(hidden_padded[:, :5], hidden[:, :5], atol=1e-6)


def test_fit_lowers_loss_on_repeated_batch(causal_lm):
    causal_lm.compile(optimizer=keras.optimizers.Adam(1e-2))
    texts = ["the cat sat on the mat", "a dog ran in the fog"] * 2
    history = causal_lm.fit(texts, batch_size=4, epochs=8, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0], losses


def test_save_and_load_preset(causal_lm, tmp_path):
    preset = str(tmp_path / "my_slm")
    causal_lm.save_to_preset(preset)
    for name in ("config.json", "metadata.json", "model.weights.h5", "tokenizer.json"):
        assert os.path.exists(os.path.join(preset, name)), name
    metadata = json.load(open(os.path.join(preset, "metadata.json")))
    assert metadata["parameter_count"] == causal_lm.backbone.count_params()
    assert "CausalLM" in metadata["tasks"]
    batch = random_batch(seq_len=6)
    expected = to_numpy(causal_lm(batch))
    for cls in (GPTCausalLM, keras_hub.models.CausalLM):
        restored = cls.from_preset(preset)
        assert isinstance(restored, GPTCausalLM)
        assert isinstance(restored.preprocessor.tokenizer, GPTByteTokenizer)
        np.testing.assert_allclose(to_numpy(restored(batch)), expected, atol=1e-6)
    backbone = GPTBackbone.from_preset(preset)
    np.testing.assert_allclose(
        to_numpy(backbone(batch)), to_numpy(causal_lm.backbone(batch)), atol=1e-6
    )


def test_keras_file_round_trip(causal_lm, tmp_path):
    path = str(tmp_path / "model.keras")
    causal_lm.save(path)
    restored = keras.saving.load_model(path)
    batch = random_batch(seq_len=5)
    np.testing.assert_allclose(
        to_numpy(restored(batch)), to_numpy(causal_lm(batch)), atol=1e-6
    )


def greedy_without_cache(model, token_ids, prompt_length, steps):
    """Reference decoding: a full forward pass per new token, no cache."""
    token_ids = token_ids.copy()
    for t in range(prompt_length, prompt_length + steps):
        logits = to_numpy(
            model({"token_ids": token_ids, "padding_mask": np.ones_like(token_ids)})
        )
        token_ids[:, t] = logits[:, t - 1].argmax(-1)
    return token_ids


def test_generate_with_cache_equals_without(causal_lm):
    causal_lm = GPTCausalLM(causal_lm.backbone, preprocessor=None)
    causal_lm.compile(sampler="greedy")
    batch = random_batch(batch_size=2, seq_len=10)
    token_ids = batch["token_ids"].copy()
    token_ids[:, 4:] = 0
    mask = np.zeros_like(token_ids, dtype=bool)
    mask[:, :4] = True
    generated = causal_lm.generate(
        {"token_ids": token_ids, "padding_mask": mask}, stop_token_ids=None
    )
    expected = greedy_without_cache(causal_lm, token_ids, 4, 6)
    np.testing.assert_array_equal(to_numpy(generated["token_ids"]), expected)


def test_generate_strings(causal_lm):
    causal_lm.compile(sampler="greedy")
    out = causal_lm.generate("hello", max_length=10)
    assert isinstance(out, str) and out.startswith("hello")


def test_lora(causal_lm):
    batch = random_batch(seq_len=6)
    before = to_numpy(causal_lm(batch))
    causal_lm.backbone.enable_lora(rank=4)
    trainable = {w.path.split("/")[-1] for w in causal_lm.trainable_weights}
    # Keras LoRA freezes the kernels; the adapted layers keep a trainable bias.
    assert {"lora_kernel_a", "lora_kernel_b"} <= trainable <= {
        "lora_kernel_a",
        "lora_kernel_b",
        "bias",
    }
    np.testing.assert_allclose(to_numpy(causal_lm(batch)), before, atol=1e-6)
    causal_lm.compile(optimizer=keras.optimizers.Adam(1e-2))
    causal_lm.fit(["some text to adapt to"] * 4, batch_size=4, epochs=2, verbose=0)
    assert np.abs(to_numpy(causal_lm(batch)) - before).max() > 1e-4


@pytest.mark.slow
class GPTHarnessTest(TestCase):
    """keras-hub's backbone and task checks."""

    def test_backbone(self):
        self.run_backbone_test(
            cls=GPTBackbone,
            init_kwargs=dict(TINY_GPT),
            input_data=random_batch(batch_size=2, seq_len=5),
            expected_output_shape=(2, 5, TINY_GPT["hidden_dim"]),
        )

    def test_causal_lm(self):
        preprocessor = GPTCausalLMPreprocessor(GPTByteTokenizer(), sequence_length=8)
        self.run_task_test(
            cls=GPTCausalLM,
            init_kwargs={
                "backbone": GPTBackbone(**TINY_GPT),
                "preprocessor": preprocessor,
            },
            train_data=(["the quick brown fox.", "the earth is round."],),
            expected_output_shape=(2, 8, TINY_GPT["vocabulary_size"]),
        )
