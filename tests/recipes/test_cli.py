"""What a recipe's terminal shows: keras_pn's errors as one message, no backend noise."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from recipes import cli

ROOT = Path(__file__).resolve().parents[2]
NOISE = ("cuInit", "InitializeLog", "cudart_stub", "libtpu", "cpu_feature_guard")


def _child_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "JAX_PLATFORMS", "KERAS_PN_TRACEBACK",
                        "KERAS_PN_BACKEND_LOGS")}
    env.update(extra)
    return env


def _run(code, *args, **env):
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=_child_env(**env),
        capture_output=True, text=True, timeout=600,
    )


# A recipe whose main fails on bad input the way keras_pn explains it (an unknown method).
_RECIPE = """
import sys
from recipes import cli
def main(argv):
    from keras_pn import methods
    methods.get("no_such_method")
cli.run(main)
"""


def test_a_keras_pn_error_is_its_message():
    from keras_pn import methods

    with pytest.raises(ValueError) as info:
        methods.get("no_such_method")
    message = cli.user_error_message(info.value)
    assert message.startswith("Unknown method 'no_such_method'. Known: [")


def test_bugs_and_foreign_errors_keep_their_traceback():
    from keras_pn import methods

    with pytest.raises(TypeError) as bug:
        methods.get()  # a programming error, not bad input
    assert cli.user_error_message(bug.value) is None
    with pytest.raises(ValueError) as foreign:
        raise ValueError("raised by the caller, not keras_pn")
    assert cli.user_error_message(foreign.value) is None


@pytest.mark.tensorflow_only  # one subprocess per run is enough; no Keras state involved
def test_recipe_prints_the_error_and_exits_2_without_traceback():
    done = _run(_RECIPE)
    assert done.returncode == 2, done.stderr
    assert "error: Unknown method 'no_such_method'" in done.stderr
    assert "Traceback" not in done.stderr
    assert "--traceback" in done.stderr
    for noise in NOISE:
        assert noise not in done.stderr, f"backend noise {noise!r} in:\n{done.stderr}"
    loud = _run(_RECIPE, "--traceback")
    assert loud.returncode == 1
    assert "Traceback (most recent call last)" in loud.stderr
    assert "ValueError: Unknown method 'no_such_method'" in loud.stderr
    assert "Traceback" in _run(_RECIPE, KERAS_PN_TRACEBACK="1").stderr


@pytest.mark.tensorflow_only
def test_backend_start_up_is_quiet_without_an_accelerator():
    if cli.accelerator_present():
        pytest.skip("an accelerator is present: its backend logs are kept")
    code = (
        "import os, recipes\n"
        "import tensorflow as tf, jax\n"
        "tf.config.list_physical_devices(); jax.devices()\n"
        "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'), os.environ.get('JAX_PLATFORMS'))\n"
    )
    quiet = _run(code)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.split() == ["3", "cpu"]
    for noise in NOISE:
        assert noise not in quiet.stderr, f"backend noise {noise!r} in:\n{quiet.stderr}"
    loud = _run(code, KERAS_PN_BACKEND_LOGS="1")
    assert loud.returncode == 0, loud.stderr
    assert loud.stdout.split()[1] == "None"  # the opt-out leaves the backends alone
