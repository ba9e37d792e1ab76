"""ONNX and LiteRT files of the decode step, traced on the TensorFlow backend from any backend.

The graph is `keras_pn.export.decode_step` (one token over a fixed-size key/value
cache), traced as a `tf.function`: tf2onnx writes the ONNX file and the TFLite
converter the LiteRT one (TFLite builtins only, so the stock interpreter runs it; the
signature key is `decode_step`). Under another backend the model is saved to a
temporary preset and traced by a child process with `KERAS_BACKEND=tensorflow`: one
route, the same file from every backend.
"""

import os
import subprocess
import sys
import tempfile

import keras

from keras_pn.export.decode_step import GRAPH
from keras_pn.export.decode_step import decode_step_function
from keras_pn.export.errors import ExportError

GRAPH_FORMATS = ("onnx", "litert")
ONNX_OPSET = 17


def _write_onnx(step, signature, path):
    import warnings

    import numpy as np
    import tf2onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        if not hasattr(np, "object"):  # tf2onnx 1.17 still names np.object (not in numpy 2)
            np.object = object
    tf2onnx.convert.from_function(step, signature, opset=ONNX_OPSET, output_path=os.fspath(path))


def _write_litert(module, path, quantize):
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="keras_pn_litert_") as saved:
        # Through a SavedModel signature: the interpreter then names inputs and outputs.
        tf.saved_model.save(module, saved, signatures={GRAPH: module.step.get_concrete_function()})
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=[GRAPH])
        # TFLite builtins only: the stock interpreter runs them everywhere.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize == "int8":
            # Dynamic-range int8: int8 weights, float activations.
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        flatbuffer = converter.convert()
    with open(path, "wb") as f:
        f.write(flatbuffer)


def _trace(model, graph_format, path, quantize):
    module, signature = decode_step_function(
        model.backbone, embeddings_by_feature=graph_format == "onnx")
    if graph_format == "onnx":
        _write_onnx(module.step, signature, path)
    else:
        _write_litert(module, path, quantize)


def trace_graph(model, graph_format, path, quantize=None):
    """Writes `path` (`.onnx` or `.tflite`): the decode step of `model`.

    `quantize="int8"` applies to LiteRT here (dynamic range); ONNX int8 is done
    by onnxruntime on the float file (`keras_pn.export.onnx`).
    """
    if graph_format not in GRAPH_FORMATS:
        raise ValueError(f"graph_format must be one of {GRAPH_FORMATS}.")
    if keras.config.backend() == "tensorflow":
        _trace(model, graph_format, path, quantize)
        return path
    with tempfile.TemporaryDirectory(prefix="keras_pn_export_") as tmp:
        preset = os.path.join(tmp, "preset")
        preprocessor, model.preprocessor = model.preprocessor, None
        try:
            model.save_to_preset(preset)
        finally:
            model.preprocessor = preprocessor
        command = [sys.executable, "-m", __name__, graph_format, preset, os.fspath(path)]
        command += [quantize] if quantize else []
        env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
        result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0 or not os.path.isfile(path):
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise ExportError(
            f"Tracing the {graph_format} graph on the TensorFlow backend failed "
            f"(exit {result.returncode}):\n{tail}\nFix: run the export with "
            "KERAS_BACKEND=tensorflow to see the full error."
        )
    return path


def _main(argv):
    graph_format, preset, path = argv[:3]
    quantize = argv[3] if len(argv) > 3 else None
    from keras_pn.models import GPTCausalLM

    _trace(GPTCausalLM.from_preset(preset), graph_format, path, quantize)


if __name__ == "__main__":
    _main(sys.argv[1:])
