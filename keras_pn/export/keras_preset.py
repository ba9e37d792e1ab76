"""A `GPTCausalLM` as a keras-hub preset, optionally with int8 weights.

`quantize="int8"` quantizes a copy (the caller's model is left as it was) with
Keras' own int8 (`CausalLM.quantize`); the preset records it in `metadata.json`
(`keras_pn.models.quantization`) and reloads on every backend with `from_preset`.
"""

from keras_pn.models.quantization import quantization_mode


def quantized_copy(model, mode):
    """A new `GPTCausalLM` with `model`'s weights, quantized to `mode`."""
    backbone = type(model.backbone).from_config(model.backbone.get_config())
    backbone.set_weights(model.backbone.get_weights())
    copy = type(model)(backbone, preprocessor=model.preprocessor)
    copy.quantize(mode)
    return copy


def write_keras_preset(model, directory, quantize=None):
    """Saves the preset into `directory`; returns the files written."""
    if quantize is not None and quantization_mode(model) is None:
        model = quantized_copy(model, quantize)
    model.save_to_preset(str(directory))
    return sorted(p.name for p in directory.iterdir() if p.is_file())
