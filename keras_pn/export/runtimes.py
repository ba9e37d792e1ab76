"""An exported model loaded once in the runtime its users run it in: logits and greedy generation.

`load_runtime(directory)` reads `export.json` and returns a `Runtime`, built once
(one onnxruntime session, one LiteRT interpreter, one transformers or keras_pn
model) and reused by every call:

- `runtime.logits(token_ids)` (or `runtime(token_ids)`): `(batch, seq)` int ids to
  `(batch, seq, vocabulary)` float32 NumPy logits;
- `runtime.generate(prompt_ids, max_new_tokens)`: greedy new token ids.

ONNX and LiteRT files hold the decode step (`keras_pn.export.decode_step`): the
runtime keeps the key/value caches in the graph's input buffers (onnxruntime: I/O
binding to preallocated NumPy arrays; LiteRT: the interpreter's own input tensors),
writes each step's new keys and values there in place, and feeds a prompt one step
per token. The caches start at zero and are not cleared between calls: the graph
masks every position from the current one on (a finite stale entry weighs exactly 0).
One intra-op thread by default: batch-1 decoding of a small model loses more to
thread hand-offs than it gains.
"""

import abc
import json
import os

import numpy as np

from keras_pn.export.errors import ExportError

MANIFEST_FILE = "export.json"
GRAPH_FILES = {"onnx": "model.onnx", "litert": "model.tflite"}


def read_manifest(directory):
    path = os.path.join(directory, MANIFEST_FILE)
    if not os.path.isfile(path):
        raise ExportError(
            f"'{directory}' has no {MANIFEST_FILE}: it is not a complete keras_pn "
            "export. Fix: export it again with `python -m recipes.export`."
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def greedy_tokens(logits, advance, max_new_tokens, stop_token_ids=(), on_token=None):
    """Greedy decoding from `logits` (the last position's): the new token ids.

    `advance(new)` returns the next position's logits given the new ids so far;
    `on_token(id)` is called with each token as it is chosen; a stop token, if
    reached, is the last id.
    """
    stop, new = set(stop_token_ids or ()), []
    while True:
        token = int(np.argmax(logits))
        new.append(token)
        if on_token is not None:
            on_token(token)
        if token in stop or len(new) == max_new_tokens:
            return new
        logits = advance(new)


class Runtime(abc.ABC):
    """An export in its runtime. Subclasses define `logits`; `generate` is greedy."""

    max_length = None  # positions the model has (None: unchecked here)

    @abc.abstractmethod
    def logits(self, token_ids):
        """`(batch, seq, vocabulary)` logits of `(batch, seq)` token ids."""

    def __call__(self, token_ids):
        return self.logits(token_ids)

    def check_length(self, prompt_ids, max_new_tokens):
        prompt_ids = [int(i) for i in np.asarray(prompt_ids).reshape(-1)]
        if not prompt_ids or max_new_tokens < 1:
            raise ExportError("generate needs a non-empty prompt and max_new_tokens >= 1.")
        if self.max_length is not None and len(prompt_ids) + max_new_tokens > self.max_length:
            raise ExportError(
                f"A {len(prompt_ids)}-token prompt and {max_new_tokens} new tokens do not fit "
                f"the model's {self.max_length} positions. Fix: pass max_new_tokens <= "
                f"{self.max_length - len(prompt_ids)}, or a shorter prompt."
            )
        return prompt_ids

    def generate(self, prompt_ids, max_new_tokens, stop_token_ids=(), on_token=None):
        """Greedy: the new token ids (a stop token, if reached, last).

        `on_token(id)` is called with each new token as it is chosen. This default
        re-runs the growing sequence (no cache); the graph runtimes step a cache.
        """
        ids = self.check_length(prompt_ids, max_new_tokens)

        def last_logits(new):
            return self.logits(np.asarray([ids + new], "int32"))[0, -1]

        return greedy_tokens(last_logits([]), last_logits, max_new_tokens, stop_token_ids, on_token)


class DecodeStepRuntime(Runtime):
    """A decode-step graph (ONNX or LiteRT) and its caches; subclasses run one step."""

    def __init__(self, manifest):
        graph = manifest.get("decode_step")
        if graph is None:
            raise ExportError(
                "This export holds a full-sequence graph with no key/value cache "
                "(written by an earlier keras_pn). Fix: export the preset again: "
                "`python -m recipes.export --preset=... --format=... --overwrite`."
            )
        self.heads, self.max_length, self.head_dim = graph["cache_shape"]
        self.num_layers = graph["new_key_values_shape"][0]
        self.vocabulary_size = int(manifest["vocabulary_size"])

    @abc.abstractmethod
    def step(self, token, position):
        """The `(1, vocabulary)` logits after `token` at `position` (valid until the next step)."""

    def logits(self, token_ids):
        ids = np.asarray(token_ids, "int32")
        if ids.ndim != 2 or ids.shape[1] > self.max_length:
            raise ExportError(
                f"token_ids must be (batch, seq) with seq <= {self.max_length}; got {ids.shape}."
            )
        out = np.empty(ids.shape + (self.vocabulary_size,), "float32")
        for b, row in enumerate(ids):
            for t, token in enumerate(row):
                out[b, t] = self.step(int(token), t)[0]
        return out

    def generate(self, prompt_ids, max_new_tokens, stop_token_ids=(), on_token=None):
        ids = self.check_length(prompt_ids, max_new_tokens)
        for position, token in enumerate(ids):  # prefill, one step per prompt token
            logits = self.step(token, position)

        def next_logits(new):  # the newest token at the position after the others
            return self.step(new[-1], len(ids) + len(new) - 1)

        return greedy_tokens(logits, next_logits, max_new_tokens, stop_token_ids, on_token)


class OnnxRuntime(DecodeStepRuntime):
    """One onnxruntime session; inputs and outputs bound once to NumPy buffers."""

    def __init__(self, directory, manifest, threads=1):
        import onnxruntime

        super().__init__(manifest)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = onnxruntime.InferenceSession(
            os.path.join(directory, GRAPH_FILES["onnx"]), options,
            providers=["CPUExecutionProvider"],
        )
        layers, heads, head_dim = self.num_layers, self.heads, self.head_dim
        length = self.max_length
        self._cache = np.zeros((layers, 2, heads, length, head_dim), "float32")
        self._token, self._position = np.zeros(1, "int32"), np.zeros(1, "int32")
        self._logits = np.zeros((1, self.vocabulary_size), "float32")
        self._new = np.zeros((layers, 2, heads, head_dim), "float32")
        # OrtValues over these arrays share their memory: a step reads and writes them.
        value = onnxruntime.OrtValue.ortvalue_from_numpy
        self._values = {"token_id": value(self._token), "position": value(self._position)}
        for i in range(layers):
            self._values[f"key_cache_{i}"] = value(self._cache[i, 0])
            self._values[f"value_cache_{i}"] = value(self._cache[i, 1])
        self._values["logits"] = value(self._logits)
        self._values["new_key_values"] = value(self._new)
        self._binding = self.session.io_binding()
        for name in manifest["decode_step"]["inputs"]:
            self._binding.bind_ortvalue_input(name, self._values[name])
        for name in manifest["decode_step"]["outputs"]:
            self._binding.bind_ortvalue_output(name, self._values[name])

    def step(self, token, position):
        self._token[0], self._position[0] = token, position
        self.session.run_with_iobinding(self._binding)
        self._cache[:, :, :, position] = self._new
        return self._logits


class LiteRTRuntime(DecodeStepRuntime):
    """One LiteRT interpreter; the caches live in its input tensors."""

    def __init__(self, directory, manifest, threads=1):
        from ai_edge_litert.interpreter import Interpreter

        from keras_pn.export.decode_step import GRAPH

        super().__init__(manifest)
        self.interpreter = Interpreter(
            model_path=os.path.join(directory, GRAPH_FILES["litert"]), num_threads=threads
        )
        self.interpreter.allocate_tensors()
        runner = self.interpreter.get_signature_runner(GRAPH)  # for the names' tensor indices
        inputs = {n: d["index"] for n, d in runner.get_input_details().items()}
        outputs = {n: d["index"] for n, d in runner.get_output_details().items()}
        del runner  # it holds the interpreter's buffers, and `invoke` refuses to run then
        # Views of the interpreter's buffers; taken per step, never held across
        # `invoke` (the interpreter refuses to run while one is alive).
        tensor = self.interpreter.tensor
        self._token, self._position = tensor(inputs["token_id"]), tensor(inputs["position"])
        self._caches = [
            (tensor(inputs[f"key_cache_{i}"]), tensor(inputs[f"value_cache_{i}"]))
            for i in range(self.num_layers)
        ]
        self._logits, self._new = outputs["logits"], outputs["new_key_values"]
        for keys, values in self._caches:  # allocated, not cleared: zeros, never NaN
            keys().fill(0.0)
            values().fill(0.0)

    def step(self, token, position):
        self._token()[0] = token
        self._position()[0] = position
        self.interpreter.invoke()
        new = self.interpreter.get_tensor(self._new)  # (L, 2, N, H)
        for (keys, values), layer in zip(self._caches, new):
            keys()[:, position] = layer[0]
            values()[:, position] = layer[1]
        return self.interpreter.get_tensor(self._logits)


class HuggingFaceRuntime(Runtime):
    """transformers' `GPT2LMHeadModel` (its own key/value cache in `generate`)."""

    def __init__(self, directory, manifest, threads=None):
        import transformers

        self.model = transformers.AutoModelForCausalLM.from_pretrained(directory).eval()
        self.max_length = int(manifest["max_sequence_length"])

    def logits(self, token_ids):
        import torch

        with torch.no_grad():
            ids = torch.from_numpy(np.asarray(token_ids, "int64"))
            return self.model(ids).logits.numpy()

    def generate(self, prompt_ids, max_new_tokens, stop_token_ids=(), on_token=None):
        import torch

        ids = torch.tensor([self.check_length(prompt_ids, max_new_tokens)], dtype=torch.int64)
        # No stop ids: every token is generated (the config's end token does not stop it).
        stop = {"eos_token_id": list(stop_token_ids)} if stop_token_ids else {
            "min_new_tokens": max_new_tokens}
        with torch.no_grad():
            out = self.model.generate(
                ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                do_sample=False, pad_token_id=self.model.config.pad_token_id, **stop,
            )
        new = out[0, ids.shape[1]:].tolist()
        for token in new if on_token is not None else ():
            on_token(token)
        return new


class KerasRuntime(Runtime):
    """keras_pn's own `from_preset` (the exported preset)."""

    def __init__(self, directory, manifest, threads=None):
        from keras_pn.models import GPTCausalLM

        self.model = GPTCausalLM.from_preset(directory)
        self.max_length = int(manifest["max_sequence_length"])

    def logits(self, token_ids):
        import keras

        ids = np.asarray(token_ids, "int32")
        batch = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
        return np.asarray(keras.ops.convert_to_numpy(self.model(batch, training=False)))


RUNTIMES = {"hf": HuggingFaceRuntime, "onnx": OnnxRuntime, "litert": LiteRTRuntime,
            "keras": KerasRuntime}
RUNTIME_NAMES = {
    "hf": "transformers GPT2LMHeadModel",
    "onnx": "onnxruntime",
    "litert": "ai-edge-litert Interpreter",
    "keras": "keras_pn from_preset",
}


def load_runtime(directory, threads=1):
    """The `Runtime` of the export in `directory`, loaded once.

    Args:
        directory: an export directory (holding `export.json`).
        threads: intra-op threads of onnxruntime and LiteRT (default 1, the
            fastest for batch-1 decoding of a small model here).
    """
    manifest = read_manifest(directory)
    return RUNTIMES[manifest["format"]](directory, manifest, threads=threads)
