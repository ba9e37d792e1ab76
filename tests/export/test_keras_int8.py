"""Keras int8: `CausalLM.quantize`, the quantized preset's round trip and its record."""

import json
import os

import numpy as np
import pytest

from keras_pn.export import export
from keras_pn.export.parity import keras_logits
from keras_pn.models import GPTCausalLM
from keras_pn.models.quantization import quantization_mode
from keras_pn.presets import PresetError
from tests.export.conftest import probe
from tests.export.conftest import tiny_causal_lm


def test_quantize_task_with_preprocessor_and_reload(tmp_path):
    model = tiny_causal_lm()
    ids = probe()
    float_logits = keras_logits(model, ids)
    model.quantize("int8")  # keras' own Model.quantize fails on the tokenizer
    assert quantization_mode(model.backbone) == "int8"
    int8_logits = keras_logits(model, ids)
    assert 0 < np.max(np.abs(int8_logits - float_logits)) < 0.05
    preset = str(tmp_path / "int8")
    model.save_to_preset(preset)
    record = json.load(open(os.path.join(preset, "metadata.json")))["keras_pn"]
    assert record == {"quantization": "int8", "min_keras_pn_version": "0.1.0"}
    restored = GPTCausalLM.from_preset(preset)
    assert quantization_mode(restored.backbone) == "int8"
    np.testing.assert_array_equal(keras_logits(restored, ids), int8_logits)
    x, _, _ = restored.preprocessor(["def f("])  # the tokenizer travels with it
    assert int(np.asarray(x["token_ids"])[0, 0]) == 2


@pytest.mark.slow
def test_export_keras_int8_leaves_the_source_float(tiny_preset, tmp_path):
    out = str(tmp_path / "keras_int8")
    manifest = export(tiny_preset, "keras", out, quantize="int8")
    assert manifest["quantization"] == "int8"
    source = GPTCausalLM.from_preset(tiny_preset)
    assert quantization_mode(source.backbone) is None
    int8 = GPTCausalLM.from_preset(out)
    assert quantization_mode(int8.backbone) == "int8"
    size = os.path.getsize(os.path.join(out, "model.weights.h5"))
    float_size = os.path.getsize(os.path.join(tiny_preset, "model.weights.h5"))
    assert size < 0.5 * float_size, (size, float_size)  # the embedding dominates
    # An int8 preset is exported to other formats from its float32 source only.
    with pytest.raises(ValueError, match="export the float32 preset"):
        export(out, "onnx", str(tmp_path / "onnx"))


def test_newer_preset_is_refused(tiny_preset, tmp_path):
    import shutil

    preset = tmp_path / "future"
    shutil.copytree(tiny_preset, preset)
    metadata = json.load(open(preset / "metadata.json"))
    metadata["keras_pn"] = {"quantization": "int8", "min_keras_pn_version": "9.0"}
    (preset / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(PresetError, match=r"upgrade keras_pn to >= 9\.0"):
        GPTCausalLM.from_preset(str(preset))
