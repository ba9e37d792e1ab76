"""An exported model loaded in the runtime its users run it in, as a logits function.

`load_runtime(directory)` reads `export.json` and returns `logits(token_ids)`:
`(batch, seq)` int ids to `(batch, seq, vocabulary)` float32 NumPy logits, from
`transformers` (hf), `onnxruntime` (onnx), the `ai-edge-litert` interpreter
(litert) or keras_pn itself (keras).
"""

import json
import os

import numpy as np

from keras_pn.export.errors import ExportError

MANIFEST_FILE = "export.json"


def read_manifest(directory):
    path = os.path.join(directory, MANIFEST_FILE)
    if not os.path.isfile(path):
        raise ExportError(
            f"'{directory}' has no {MANIFEST_FILE}: it is not a complete keras_pn "
            "export. Fix: export it again with `python -m recipes.export`."
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _huggingface(directory):
    import torch
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(directory).eval()

    def logits(token_ids):
        with torch.no_grad():
            ids = torch.from_numpy(np.asarray(token_ids, "int64"))
            return model(ids).logits.numpy()

    return logits


def _onnx(directory):
    import onnxruntime

    session = onnxruntime.InferenceSession(
        os.path.join(directory, "model.onnx"), providers=["CPUExecutionProvider"]
    )
    names = [i.name for i in session.get_inputs()]

    def logits(token_ids):
        ids = np.asarray(token_ids, "int32")
        feeds = {n: np.ones_like(ids) if "padding" in n else ids for n in names}
        return session.run(None, feeds)[0]

    return logits


def _litert(directory):
    from ai_edge_litert.interpreter import Interpreter

    path = os.path.join(directory, "model.tflite")

    def logits(token_ids):
        # A fresh interpreter per call: the signature runner resizes its inputs
        # to each shape, which a reused one does not always do.
        interpreter = Interpreter(model_path=path)
        signatures = interpreter.get_signature_list()
        key = next(iter(signatures))
        runner = interpreter.get_signature_runner(key)
        ids = np.asarray(token_ids, "int32")
        feeds = {
            n: np.ones_like(ids) if "padding" in n else ids
            for n in signatures[key]["inputs"]
        }
        return np.asarray(next(iter(runner(**feeds).values())))

    return logits


def _keras(directory):
    import keras

    from keras_pn.models import GPTCausalLM

    model = GPTCausalLM.from_preset(directory)

    def logits(token_ids):
        ids = np.asarray(token_ids, "int32")
        batch = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
        return np.asarray(keras.ops.convert_to_numpy(model(batch, training=False)))

    return logits


RUNTIMES = {"hf": _huggingface, "onnx": _onnx, "litert": _litert, "keras": _keras}
RUNTIME_NAMES = {
    "hf": "transformers GPT2LMHeadModel",
    "onnx": "onnxruntime",
    "litert": "ai-edge-litert Interpreter",
    "keras": "keras_pn from_preset",
}


def load_runtime(directory):
    """`logits(token_ids)` of the export in `directory`, run by its own runtime."""
    export_format = read_manifest(directory)["format"]
    return RUNTIMES[export_format](directory)
