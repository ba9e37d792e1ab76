"""A `GPTCausalLM` as a LiteRT flatbuffer (`.tflite`) for the `ai-edge-litert` interpreter.

TFLite builtin ops only (no Flex delegate needed); `quantize="int8"` gives
dynamic-range int8 weights.
"""

import os

from keras_pn.export.tensorflow_graph import trace_graph

MODEL_FILE = "model.tflite"


def write_litert(model, directory, quantize=None):
    """Writes `model.tflite` into `directory`; returns the files written."""
    trace_graph(model, "litert", os.path.join(directory, MODEL_FILE), quantize)
    return [MODEL_FILE]
