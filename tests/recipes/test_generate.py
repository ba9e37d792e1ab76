"""recipes.generate, run as a user types it: streamed text, seeds, experts, clear errors."""

import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from keras_pn import generation

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "def add(a, b):"


def _generate(*flags):
    env = dict(os.environ, KERAS_BACKEND=keras.config.backend())
    return subprocess.run(
        [sys.executable, "-m", "recipes.generate", *flags], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=600,
    )


def _expected(preset, flags, expert=None):
    model = generation.load_for_generation(preset, expert=expert)
    sampler = generation.make_sampler(flags["sampler"], seed=flags.get("seed"))
    return generation.generate_text(
        model, PROMPT, max_new_tokens=flags["max_new_tokens"], sampler=sampler
    )


def test_a_seeded_run_prints_the_prompt_and_what_the_library_generates():
    done = _generate("--preset=pn_tiny_python", f"--prompt={PROMPT}",
                     "--max_new_tokens=12", "--sampler=top_k", "--seed=3")
    assert done.returncode == 0, done.stderr
    expected = _expected("pn_tiny_python", {"sampler": "top_k", "seed": 3, "max_new_tokens": 12})
    assert done.stdout == PROMPT + expected.completion + "\n"
    assert f"[{len(expected.new_token_ids)} new tokens" in done.stderr


@pytest.mark.slow
@pytest.mark.jax_only  # the library's streaming is tested on every backend in-process
def test_a_projected_preset_generates_with_its_expert():
    done = _generate("--preset=pn_tiny_generic", "--expert=3", f"--prompt={PROMPT}",
                     "--max_new_tokens=8", "--sampler=greedy")
    assert done.returncode == 0, done.stderr
    expected = _expected("pn_tiny_generic", {"sampler": "greedy", "max_new_tokens": 8}, expert=3)
    assert done.stdout == PROMPT + expected.completion + "\n"


@pytest.mark.slow
@pytest.mark.jax_only  # the library's streaming is tested on every backend in-process
@pytest.mark.parametrize("flags,message", [
    (["--preset=no_such_preset", "--prompt=x"], "Unknown preset 'no_such_preset'"),
    (["--preset=pn_tiny_python", "--prompt=  "], "The prompt is empty"),
    (["--preset=pn_tiny_python", f"--prompt={PROMPT}", "--max_new_tokens=500"],
     "do not fit the model's context of 128 tokens"),
    (["--preset=pn_tiny_generic", "--prompt=x"], "needs one. Fix: pass --expert=i"),
])
def test_bad_requests_exit_2_with_the_fix(flags, message):
    done = _generate(*flags)
    assert done.returncode == 2, done.stderr
    assert "generate: error: " in done.stderr and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""  # nothing printed before the request was checked
