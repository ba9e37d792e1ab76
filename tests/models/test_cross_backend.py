"""Weights saved under one backend give the same logits under the other two."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_pn.models import GPTBackbone
from keras_pn.models import GPTCausalLM
from keras_pn.models import ProjectedGPT
from keras_pn.models import ProjectedGPTBackbone
from keras_pn.testing import TINY_GPT
from keras_pn.testing import TINY_PN
from keras_pn.testing import random_batch
from keras_pn.testing import to_numpy

BACKENDS = ("jax", "tensorflow", "torch")

# Run in a fresh interpreter under another backend: load, predict, compare.
CHECK = r"""
import json, sys
import numpy as np
import keras_pn
from keras_pn.models import GPTCausalLM, ProjectedGPT
cases = json.load(open(sys.argv[1]))
diffs = {}
for name, case in cases.items():
    cls = ProjectedGPT if case["projected"] else GPTCausalLM
    model = cls.from_preset(case["preset"])
    batch = dict(np.load(case["inputs"]))
    logits = np.asarray(model.predict_on_batch(batch))
    diffs[name] = float(np.abs(logits - np.load(case["logits"])).max())
print("DIFFS " + json.dumps(diffs))
"""


@pytest.mark.slow
@pytest.mark.backend_agnostic  # with tests/reliability/test_cross_backend.py: every pair, once per CI run
def test_presets_give_the_same_logits_on_every_backend(tmp_path):
    here = keras.config.backend()
    models = {
        "gpt": GPTCausalLM(GPTBackbone(**TINY_GPT)),
        "pn": ProjectedGPT(ProjectedGPTBackbone(**TINY_PN, projected_attention=True)),
    }
    cases = {}
    for name, model in models.items():
        projected = name == "pn"
        batch = random_batch(seq_len=9, num_experts=TINY_PN["num_experts"] if projected else None)
        preset = str(tmp_path / name)
        model.save_to_preset(preset)
        np.savez(tmp_path / f"{name}_inputs.npz", **batch)
        np.save(tmp_path / f"{name}_logits.npy", to_numpy(model(batch)))
        cases[name] = {
            "projected": projected,
            "preset": preset,
            "inputs": str(tmp_path / f"{name}_inputs.npz"),
            "logits": str(tmp_path / f"{name}_logits.npy"),
        }
    cases_path = tmp_path / "cases.json"
    cases_path.write_text(json.dumps(cases))
    script = tmp_path / "check.py"
    script.write_text(CHECK)
    for other in BACKENDS:
        if other == here:
            continue
        env = dict(os.environ, KERAS_BACKEND=other, TF_CPP_MIN_LOG_LEVEL="3")
        result = subprocess.run(
            [sys.executable, str(script), str(cases_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        lines = [l for l in result.stdout.splitlines() if l.startswith("DIFFS ")]
        assert result.returncode == 0 and lines, result.stderr[-3000:]
        diffs = json.loads(lines[-1][len("DIFFS "):])
        for name, diff in diffs.items():
            assert diff <= 1e-4, f"{name}: saved under {here}, loaded under {other}: {diff}"
