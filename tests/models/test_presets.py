"""Preset resolution, built-in architectures, and clear errors for bad presets."""

import json
import os

import h5py
import keras
import numpy as np
import pytest

from keras_pn.models import GPTBackbone
from keras_pn.models import GPTByteTokenizer
from keras_pn.models import GPTCausalLM
from keras_pn.models import GPTCausalLMPreprocessor
from keras_pn.models import ProjectedGPT
from keras_pn.models import ProjectedGPTBackbone
from keras_pn.presets import PresetError
from keras_pn.presets import builtin_presets
from keras_pn.testing import TINY_GPT
from keras_pn.testing import TestCase
from keras_pn.testing import random_batch
from keras_pn.testing import to_numpy

ARCHITECTURES = ["slm_tiny", "llm_tiny", "pn_tiny", "slm_paper", "llm_paper", "pn_paper"]


@pytest.fixture
def saved_preset(tmp_path):
    preprocessor = GPTCausalLMPreprocessor(GPTByteTokenizer(), sequence_length=8)
    model = GPTCausalLM(GPTBackbone(**TINY_GPT), preprocessor=preprocessor)
    preset = tmp_path / "preset"
    model.save_to_preset(str(preset))
    return model, preset


def test_architecture_presets_are_registered():
    assert set(ARCHITECTURES) <= set(builtin_presets())
    assert {"slm_tiny", "llm_tiny", "slm_paper", "llm_paper"} <= set(GPTBackbone.presets)
    assert {"pn_tiny", "pn_paper"} <= set(ProjectedGPTBackbone.presets)


def test_tiny_architectures_load_with_random_weights():
    slm = GPTCausalLM.from_preset("slm_tiny", load_weights=False)
    assert slm.preprocessor is None
    batch = random_batch(seq_len=5, vocabulary_size=4096)
    assert to_numpy(slm(batch)).shape == (3, 5, 4096)
    pn = ProjectedGPT.from_preset("pn_tiny", load_weights=False)
    assert pn.backbone.num_experts == 32
    expert = pn.project(expert=31)
    assert expert.backbone.count_params() == slm.backbone.count_params()
    # Architecture kwargs can be overridden, as in keras-hub.
    small = GPTBackbone.from_preset("slm_tiny", load_weights=False, vocabulary_size=256)
    assert small.vocabulary_size == 256
    task = ProjectedGPT.from_preset(
        "pn_tiny", load_weights=False, vocabulary_size=256, num_experts=4, num_bases=2
    )
    assert (task.backbone.vocabulary_size, task.backbone.num_experts) == (256, 4)
    assert task.backbone.num_bases == 2 and task.backbone.expert_dim == 4


def test_architecture_preset_without_weights_says_how_to_fix():
    with pytest.raises(PresetError, match="load_weights=False"):
        GPTCausalLM.from_preset("slm_tiny")


def test_unknown_preset_lists_the_builtins():
    with pytest.raises(PresetError, match="Unknown preset 'clowntown'.*slm_tiny"):
        GPTCausalLM.from_preset("clowntown")
    with pytest.raises(PresetError, match="does not exist"):
        GPTBackbone.from_preset("./no/such/dir")


def test_local_directory_wins_over_builtin_name(saved_preset, tmp_path, monkeypatch):
    model, preset = saved_preset
    os.rename(preset, tmp_path / "slm_tiny")
    monkeypatch.chdir(tmp_path)
    restored = GPTCausalLM.from_preset("slm_tiny")
    assert restored.backbone.vocabulary_size == TINY_GPT["vocabulary_size"]


def test_keras_pn_zoo_adds_zoo_roots(saved_preset, tmp_path, monkeypatch):
    model, preset = saved_preset
    zoo = tmp_path / ".cache" / "my_zoo"  # a hidden folder above the zoo is fine
    (zoo / "legal").mkdir(parents=True)
    os.rename(preset, zoo / "legal" / "my_legal_slm")
    with pytest.raises(PresetError, match="set KERAS_PN_ZOO"):
        GPTCausalLM.from_preset("my_legal_slm")
    monkeypatch.setenv("KERAS_PN_ZOO", str(zoo))
    restored = GPTCausalLM.from_preset("my_legal_slm")
    os.makedirs(zoo / "legal" / ".ipynb_checkpoints" / "stale_copy")  # hidden inside: skipped
    (zoo / "legal" / ".ipynb_checkpoints" / "stale_copy" / "config.json").write_text("{}")
    assert "stale_copy" not in builtin_presets()
    batch = random_batch(vocabulary_size=TINY_GPT["vocabulary_size"])
    np.testing.assert_allclose(
        to_numpy(restored(batch)), to_numpy(model(batch)), atol=1e-6
    )


def test_wrong_class_is_refused(saved_preset):
    _, preset = saved_preset
    with pytest.raises(ValueError, match="not a subclass"):
        ProjectedGPTBackbone.from_preset(str(preset))


def test_missing_weights(saved_preset):
    _, preset = saved_preset
    os.remove(preset / "model.weights.h5")
    with pytest.raises(PresetError, match="has no model.weights.h5"):
        GPTCausalLM.from_preset(str(preset))
    assert GPTCausalLM.from_preset(str(preset), load_weights=False) is not None


def test_missing_and_corrupt_config(saved_preset):
    _, preset = saved_preset
    (preset / "config.json").write_text("{ not json")
    with pytest.raises(PresetError, match="config.json' is not valid JSON"):
        GPTCausalLM.from_preset(str(preset))
    os.remove(preset / "config.json")
    with pytest.raises(PresetError, match="has no config.json"):
        GPTBackbone.from_preset(str(preset))


def test_corrupt_weights_file(saved_preset):
    _, preset = saved_preset
    (preset / "model.weights.h5").write_bytes(b"\x89HDF garbage" * 10)
    with pytest.raises(PresetError, match="model.weights.h5"):
        GPTCausalLM.from_preset(str(preset))


def test_weights_of_another_shape(saved_preset, tmp_path):
    _, preset = saved_preset
    config = json.loads((preset / "config.json").read_text())
    config["config"]["hidden_dim"] = 32
    (preset / "config.json").write_text(json.dumps(config))
    with pytest.raises((PresetError, ValueError)):
        GPTBackbone.from_preset(str(preset))


def test_lambda_and_foreign_classes_are_refused(saved_preset):
    _, preset = saved_preset
    config = json.loads((preset / "config.json").read_text())
    evil = dict(config)
    evil["config"] = dict(config["config"], extra={"class_name": "Lambda", "module": "keras.layers", "config": {}})
    (preset / "config.json").write_text(json.dumps(evil))
    with pytest.raises(PresetError, match="Lambda"):
        GPTBackbone.from_preset(str(preset))
    foreign = dict(config, module="os", class_name="system", registered_name="os>system")
    (preset / "config.json").write_text(json.dumps(foreign))
    with pytest.raises(PresetError, match="not a keras, keras_hub or keras_pn module"):
        GPTBackbone.from_preset(str(preset))
    unregistered = dict(config, registered_name="evil_pkg>Backdoor", module="keras_pn.evil")
    (preset / "config.json").write_text(json.dumps(unregistered))
    with pytest.raises(PresetError, match="not registered"):
        GPTBackbone.from_preset(str(preset))


def test_asset_escaping_the_preset_is_refused(saved_preset, tmp_path):
    _, preset = saved_preset
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    os.makedirs(preset / "assets" / "tokenizer", exist_ok=True)
    os.symlink(outside, preset / "assets" / "tokenizer" / "vocabulary.spm")
    with pytest.raises(PresetError, match="outside"):
        GPTCausalLM.from_preset(str(preset))


@pytest.mark.slow
def test_paper_parameter_counts():
    """Table 1 sizes: SLM 126M, LLM 771M (within 5%), PN 1,422M (within 10%)."""
    counts = {}
    for name in ("slm_paper", "llm_paper", "pn_paper"):
        metadata = json.loads((builtin_presets()[name] / "metadata.json").read_text())
        counts[name] = metadata["parameter_count"]
    assert abs(counts["slm_paper"] / 126e6 - 1) <= 0.05, counts
    assert abs(counts["llm_paper"] / 771e6 - 1) <= 0.05, counts
    assert abs(counts["pn_paper"] / 1422e6 - 1) <= 0.10, counts
    # The metadata is the truth: rebuild and count (bfloat16 halves memory).
    slm = GPTBackbone.from_preset("slm_paper", load_weights=False, dtype="bfloat16")
    assert slm.count_params() == counts["slm_paper"]
    pn = ProjectedGPTBackbone.from_preset("pn_paper", load_weights=False, dtype="bfloat16")
    assert pn.count_params() == counts["pn_paper"]
    # project() builds a GPTBackbone of these keys and copies the weights into it
    # (its count on small models: test_projected_parameter_count_is_the_small_models);
    # the float64 closed form over 1.4B parameters is not worth a CI minute.
    from keras_pn.models.gpt.decoder_stack import DECODER_CONFIG_KEYS as GPT_CONFIG_KEYS

    config = pn.get_config()
    expert = GPTBackbone(**{key: config[key] for key in GPT_CONFIG_KEYS}, dtype="bfloat16")
    assert expert.count_params() == counts["slm_paper"]


class ZooPresetTest(TestCase):
    """keras-hub's preset checks on the zoo: outputs pinned at its trained weights."""

    def input_data(self, projected):
        data = {
            "token_ids": np.array(
                [[2, 51, 1024, 7, 300], [2, 9, 4000, 17, 3]], "int32"
            ),
            "padding_mask": np.ones((2, 5), "int32"),
        }
        if projected:
            data["cluster_ids"] = np.array([5, 0], "int32")
        return data

    def test_expert_preset(self):
        for cls, expected in [
            (GPTBackbone, [0.1044, -0.6342, 0.7517, 1.2303, 1.0737]),
            (GPTCausalLM, [-5.2812, -5.4406, -1.0904, 2.5685, 2.7509]),
        ]:
            with self.subTest(cls=cls.__name__):
                self.run_preset_test(
                    cls=cls,
                    preset="pn_tiny_medicine",
                    input_data=self.input_data(projected=False),
                    expected_partial_output=np.array(expected, "float32"),
                )

    def test_projected_preset(self):
        for cls, expected in [
            (ProjectedGPTBackbone, [1.0389, 0.5149, 1.3213, 0.1036, 0.5948]),
            (ProjectedGPT, [-4.7437, -4.9878, -1.1317, 2.3454, 4.6815]),
        ]:
            with self.subTest(cls=cls.__name__):
                self.run_preset_test(
                    cls=cls,
                    preset="pn_tiny_generic",
                    input_data=self.input_data(projected=True),
                    expected_partial_output=np.array(expected, "float32"),
                )
