"""ONNX (onnxruntime) and LiteRT (ai-edge-litert): the cached decode step, int8 perplexity, size.

Under jax and torch the exporter runs the same trace in a TensorFlow child process,
so these run under the tensorflow backend only (the same files, the same checks).
The decode-step tests export a tiny random GPT once per format (a few seconds); the
trained-model test uses the zoo's pn_tiny_python on Python text.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_pn.export import export
from keras_pn.export.checked_export import export_and_check
from keras_pn.export.parity import keras_logits
from keras_pn.export.runtimes import load_runtime
from keras_pn.models import GPTCausalLM
from tests.export.conftest import probe
from tests.export.conftest import tiny_causal_lm

pytestmark = pytest.mark.tensorflow_only

ZOO_PYTHON = os.path.join(os.path.dirname(__file__), "..", "..", "zoo", "python", "pn_tiny_python")


@pytest.fixture(scope="module")
def mixing_preset(tmp_path_factory):
    """A tiny random GPT, kernels and positions scaled up 20x: its greedy tokens vary.

    (At the initializer's scale, a random GPT's greedy tokens repeat one id.)
    """
    import keras

    keras.utils.set_random_seed(7)
    model = tiny_causal_lm()
    for variable in model.backbone.weights:
        if "kernel" in variable.path or "position" in variable.path:
            variable.assign(variable * 20.0)
    path = str(tmp_path_factory.mktemp("mixing") / "preset")
    model.save_to_preset(path)
    return path


@pytest.fixture(scope="module", params=["onnx", "litert"])
def graph_export(request, mixing_preset, tmp_path_factory):
    out = str(tmp_path_factory.mktemp(request.param) / "export")
    export(mixing_preset, request.param, out)
    return out


PROMPT = [int(t) for t in probe(seed=2)[0, :5]]
NEW_TOKENS = 8


@pytest.fixture(scope="module")
def reference(mixing_preset):
    """The keras_pn model, and its own greedy `generate` (key/value cache) of `PROMPT`."""
    model = GPTCausalLM.from_preset(mixing_preset)
    model.compile(sampler="greedy")
    length = len(PROMPT) + NEW_TOKENS
    ids = np.zeros((1, length), "int32")
    ids[0, : len(PROMPT)] = PROMPT
    mask = np.arange(length)[None] < len(PROMPT)
    preprocessor, model.preprocessor = model.preprocessor, None  # token ids in and out
    out = model.generate({"token_ids": ids, "padding_mask": mask}, stop_token_ids=None)
    model.preprocessor = preprocessor
    greedy = [int(t) for t in np.asarray(out["token_ids"])[0, len(PROMPT):]]
    assert len(set(greedy)) > 3, greedy  # a sequence worth comparing
    return model, greedy


def test_cached_step_logits_and_greedy_tokens_match_keras_pn(reference, graph_export):
    model, greedy = reference
    runtime = load_runtime(graph_export)
    longer = np.random.default_rng(1).integers(4, 4096, (3, 20)).astype("int32")
    for ids in (probe(seed=0), longer):  # (2, 12), (3, 20)
        assert np.max(np.abs(runtime(ids) - keras_logits(model, ids))) < 1e-4
    assert runtime.generate(PROMPT, NEW_TOKENS) == greedy
    # The caches are reused, not cleared: a second generation gives the same tokens.
    streamed = []
    assert runtime.generate(PROMPT, NEW_TOKENS, on_token=streamed.append) == greedy == streamed
    stop = greedy[3]
    stopped = runtime.generate(PROMPT, NEW_TOKENS, stop_token_ids=[stop])
    assert stopped == greedy[: greedy.index(stop) + 1]


def test_graph_is_one_static_decode_step(graph_export):
    with open(os.path.join(graph_export, "export.json")) as f:
        manifest = json.load(f)
    graph = manifest["decode_step"]
    assert manifest["inputs"] == graph["inputs"] == [
        "token_id", "position", "key_cache_0", "value_cache_0", "key_cache_1", "value_cache_1"]
    assert graph["cache_shape"] == [2, 32, 8] and graph["new_key_values_shape"] == [2, 2, 2, 8]
    runtime = load_runtime(graph_export)
    with pytest.raises(ValueError, match="do not fit the model's 32 positions"):
        runtime.generate([5] * 30, 3)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["keras", "onnx", "litert"])
def test_int8_perplexity_and_size_on_a_trained_model(tmp_path, python_domain, fmt):
    result = export_and_check(ZOO_PYTHON, fmt, str(tmp_path / fmt), quantize="int8",
                              check_domain=python_domain, max_windows=8)
    assert abs(result["perplexity_change"]) < 0.02, result
    assert result["weights_bytes"] <= 0.5 * result["float32_bytes"], result


@pytest.mark.slow
def test_recipe_prints_parity_and_refuses_gguf(tiny_preset, tmp_path):
    env = dict(os.environ)
    run = lambda *flags: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "recipes.export", f"--preset={tiny_preset}", *flags],
        capture_output=True, text=True, env=env, cwd=os.path.join(os.path.dirname(__file__), "..", ".."))
    done = run("--format=hf", f"--output={tmp_path / 'hf'}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "max |dlogit| vs keras_pn float32" in done.stdout
    again = run("--format=hf", f"--output={tmp_path / 'hf'}")
    assert again.returncode == 2 and "--overwrite" in again.stderr
    gguf = run("--format=gguf", f"--output={tmp_path / 'gguf'}")
    assert gguf.returncode == 2 and "export: error:" in gguf.stderr and "llama-cpp" in gguf.stderr
