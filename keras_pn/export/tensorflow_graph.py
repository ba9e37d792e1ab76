"""ONNX and LiteRT files, traced from the model's TensorFlow graph on any backend.

Keras exports LiteRT from the TensorFlow backend only (its torch route needs
`litert-torch`, which conflicts with the lock), and its jax ONNX route needs
`jax2onnx`; the TensorFlow route (tf2onnx, the TFLite converter) works for both
formats and gives both the same inputs: `token_ids` and `padding_mask`, int32
`(batch, seq)`, dynamic. Under another backend the model is saved to a temporary
preset and traced by a child process with `KERAS_BACKEND=tensorflow`: one route,
the same file from every backend.

The graph is traced inside `explicit_causal_mask()`, so attention's causal mask is
made of plain reshapes (TFLite builtins, no Flex op).
"""

import os
import subprocess
import sys
import tempfile

import keras
import numpy as np

from keras_pn.export.errors import ExportError

GRAPH_FORMATS = ("onnx", "litert")


def _trace(model, graph_format, path, quantize):
    from keras_pn.layers.causal_self_attention import explicit_causal_mask

    kwargs = {}
    if graph_format == "litert":
        import tensorflow as tf

        # TFLite builtins only: the stock interpreter runs them everywhere.
        kwargs["target_spec"] = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}
        if quantize == "int8":
            # Dynamic-range int8: int8 weights, float activations (+0.007%
            # perplexity here; full-integer int8 cost +8%).
            kwargs["optimizations"] = [tf.lite.Optimize.DEFAULT]
    ids = np.full((1, 2), 4, "int32")
    model({"token_ids": ids, "padding_mask": np.ones_like(ids)})  # Keras exports called models
    with explicit_causal_mask():
        model.export(path, format=graph_format, verbose=False, **kwargs)


def trace_graph(model, graph_format, path, quantize=None):
    """Writes `path` (`.onnx` or `.tflite`) from `model`'s TensorFlow graph.

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
