"""The cross-backend runs shared by test_cross_backend and test_determinism.

A Keras backend is fixed per process, so the two other backends run in child
processes (`backend_worker`), once per session:

1. this process saves the tiny architecture presets, computes the zoo
   presets' logits and the determinism hashes (twice: two runs);
2. the first other backend (child A) saves its presets, checks ours;
3. the second (child B) saves its presets, checks ours and A's;
4. A, still waiting, checks B's; this process checks A's and B's.

So every backend loads the presets saved under each other backend.
"""

import json
import os
import subprocess
import time
import types

import keras
import numpy as np
import pytest

from keras_pn.file_io import atomic_write_json
from tests.reliability import backend_worker
from tests.reliability import helpers

WORKER = "tests.reliability.backend_worker"


def _finish(child, what):
    stdout, stderr = child.communicate(timeout=900)
    payload = helpers.last_json_line(stdout, "WORKER")
    if child.returncode != 0 or payload is None:
        pytest.fail(f"{what} failed (exit {child.returncode}):\n{stderr[-4000:]}")
    return payload


def _start(job, backend, root):
    path = os.path.join(root, f"job_{backend}.json")
    with open(path, "w") as f:
        json.dump(job, f)
    return subprocess.Popen(
        helpers.module_command(WORKER, path),
        cwd=helpers.REPO_ROOT,
        env=helpers.subprocess_env(backend),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="session")
def backend_runs(tmp_path_factory):
    here = keras.config.backend()
    first, second = [b for b in helpers.BACKENDS if b != here]
    root = str(tmp_path_factory.mktemp("backends"))
    embeddings = os.path.join(root, "embeddings.npy")
    np.save(embeddings, helpers.blobs())

    start = time.perf_counter()
    saved = {here: backend_worker.save_models(os.path.join(root, here))}
    zoo = backend_worker.zoo_cases(root)
    hashes = {
        here: helpers.determinism_hashes(embeddings, os.path.join(root, "shards", here)),
        f"{here} (second run)": helpers.determinism_hashes(
            embeddings, os.path.join(root, "shards", f"{here}-2")
        ),
    }

    def job(backend, check, then_file=None):
        return {
            "save_dir": os.path.join(root, backend),
            "check": check,
            "determinism": {
                "embeddings": embeddings,
                "shard_dir": os.path.join(root, "shards", backend),
            },
            "zoo": zoo,
            "then_file": then_file,
        }

    then_file = os.path.join(root, f"then_{first}.json")
    child_a = _start(job(first, saved[here], then_file), first, root)
    try:
        saved_a = os.path.join(root, first, "saved.json")
        while not os.path.exists(saved_a):
            if child_a.poll() is not None:
                _finish(child_a, f"The {first} worker")
            time.sleep(0.2)
        with open(saved_a) as f:
            saved[first] = json.load(f)
        child_b = _start(job(second, saved[here] + saved[first]), second, root)
        result_b = _finish(child_b, f"The {second} worker")
        saved[second] = result_b["saved"]
        atomic_write_json(then_file, saved[second])
        result_a = _finish(child_a, f"The {first} worker")
    finally:
        if child_a.poll() is None:
            child_a.kill()
            child_a.communicate()

    diffs = result_a["diffs"] + result_b["diffs"]
    for case in saved[first] + saved[second]:
        diffs.append({**case, "loaded_by": here, "diff": backend_worker.check(case)})
    hashes[first], hashes[second] = result_a["hashes"], result_b["hashes"]
    return types.SimpleNamespace(
        here=here,
        diffs=diffs,
        zoo=zoo,
        zoo_diffs=result_a["zoo_diffs"] + result_b["zoo_diffs"],
        hashes=hashes,
        seconds=time.perf_counter() - start,
    )
