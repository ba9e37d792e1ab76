"""ONNX (onnxruntime) and LiteRT (ai-edge-litert): logits, int8 perplexity and size.

Slow: each export traces the TensorFlow graph. Under jax and torch the exporter
runs the same trace in a TensorFlow child process, so these run under the
tensorflow backend only (the same files, the same checks). The trained-model test
uses the zoo's pn_tiny_python on Python text.
"""

import os
import subprocess
import sys

import pytest

from keras_pn.export import export
from keras_pn.export.checked_export import export_and_check
from keras_pn.export.parity import check_export
from keras_pn.models import GPTCausalLM
from tests.export.conftest import probe

pytestmark = pytest.mark.tensorflow_only

ZOO_PYTHON = os.path.join(os.path.dirname(__file__), "..", "..", "zoo", "python", "pn_tiny_python")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "litert"])
def test_float_logits_in_runtime(tiny_preset, tmp_path, fmt):
    out = str(tmp_path / fmt)
    export(tiny_preset, fmt, out)
    reference = GPTCausalLM.from_preset(tiny_preset)
    for seed, shape in ((0, None), (1, (3, 20))):  # dynamic batch and length
        ids = probe(seed=seed) if shape is None else probe(seed=seed).repeat(2, 1)[:3, :]
        assert check_export(reference, out, probe=ids)["max_abs_logit_diff"] < 1e-4


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
