"""`kill -9` a pretraining run half-way, run the same command again.

The second run resumes from the last (atomically written) checkpoint, finishes
the same number of steps, and ends within 2% of the loss of an uninterrupted
run with the same seed.
"""

import json
import os
import signal
import subprocess
import time

import keras
import pytest

from tests.reliability import helpers

STEPS = 40
CHECKPOINTS = 4  # one every 10 steps
DRIVER = "tests.reliability.crash_driver"


def _command(workdir, step_delay=0.0):
    return helpers.module_command(
        DRIVER, f"--workdir={workdir}", f"--steps={STEPS}",
        f"--checkpoints={CHECKPOINTS}", "--seed=7", f"--step_delay={step_delay}",
    )


def _run(command):
    result = subprocess.run(
        command, cwd=helpers.REPO_ROOT, env=helpers.subprocess_env(keras.config.backend()),
        capture_output=True, text=True, timeout=600,
    )
    payload = helpers.last_json_line(result.stdout, "RESULT")
    assert result.returncode == 0 and payload, result.stderr[-3000:]
    return payload


def _checkpointed_step(workdir):
    try:
        with open(os.path.join(workdir, "checkpoints", "latest.json")) as f:
            name = json.load(f)["checkpoint"]
    except (OSError, ValueError, KeyError):
        return 0
    return int(name.split("-")[1])


def _uninterrupted(workdir):
    """The reference run: in this process where that gives the children's numbers."""
    if keras.config.backend() != "tensorflow":
        from tests.reliability import crash_driver

        return crash_driver.run(str(workdir), STEPS, CHECKPOINTS, seed=7).to_json()
    # This process may run TensorFlow with oneDNN, which the children turn off.
    return _run(_command(workdir))


@pytest.mark.slow
def test_a_killed_run_resumes_and_matches_an_uninterrupted_one(tmp_path):
    reference = _uninterrupted(tmp_path / "reference")
    assert reference["steps"] == STEPS and reference["resumed_from"] == 0

    workdir = tmp_path / "crashed"
    # The same command, slowed down so that it can be killed half-way.
    command = _command(workdir, step_delay=0.05)
    child = subprocess.Popen(
        command, cwd=helpers.REPO_ROOT, env=helpers.subprocess_env(keras.config.backend()),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 600
        while _checkpointed_step(workdir) < STEPS // 2:
            assert child.poll() is None, child.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the run never got half-way"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)  # kill -9, wherever it is
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    killed_at = _checkpointed_step(workdir)
    assert STEPS // 2 <= killed_at < STEPS
    assert not (workdir / "train.json").exists()

    resumed = _run(command)
    assert resumed["resumed_from"] >= killed_at
    assert resumed["steps"] == STEPS
    assert len(resumed["losses"]) == CHECKPOINTS
    difference = abs(resumed["final_loss"] - reference["final_loss"])
    assert difference <= 0.02 * abs(reference["final_loss"]), (resumed, reference)
    # No staging directory of the killed write is left behind.
    names = sorted(os.listdir(workdir / "checkpoints"))
    assert all(not name.startswith(".") for name in names), names
    print(
        f"crash safety ({keras.config.backend()}): killed at step {killed_at}, "
        f"final loss {resumed['final_loss']:.6f} vs uninterrupted "
        f"{reference['final_loss']:.6f} ({100 * difference / reference['final_loss']:.4f}%)"
    )
