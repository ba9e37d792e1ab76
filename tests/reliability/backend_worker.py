"""One backend's side of the cross-backend checks (the backend is fixed per process).

    KERAS_BACKEND=torch python -m tests.reliability.backend_worker job.json

The job (JSON) says what to do under this process's backend:

- `save_dir`: build the tiny architecture presets (random weights, fixed seed),
  save each as a preset there with fixed inputs and its logits; their list is
  written to `save_dir/saved.json` as soon as they are saved;
- `check`: presets saved under other backends: load each, compare logits;
- `determinism`: `{"embeddings", "shard_dir"}`: k-means labels and the
  resampled stream's hash (`helpers.determinism_hashes`);
- `zoo`: zoo presets with inputs and reference logits to compare against;
- `then_file`: after the above, wait for this file (more presets to `check`,
  saved by a backend that ran later) and check those too.

The last line of stdout is `WORKER {json}` with `diffs` (max |logit difference|
per checked preset), `saved`, `hashes` and `zoo_diffs`.
"""

import json
import os
import sys
import time

import numpy as np

from keras_pn.file_io import atomic_write_json

TINY_ARCHITECTURES = ("slm_tiny", "llm_tiny", "pn_tiny")
SEQ_LEN = 12


def task_class(preset_dir):
    from keras_pn.models import GPTCausalLM
    from keras_pn.models import ProjectedGPT

    with open(os.path.join(preset_dir, "config.json")) as f:
        registered = json.load(f).get("registered_name", "")
    return ProjectedGPT if registered == "keras_pn>ProjectedGPTBackbone" else GPTCausalLM


def inputs_for(model, seed=0):
    from keras_pn.testing import random_batch

    backbone = model.backbone
    return random_batch(
        batch_size=2,
        seq_len=min(SEQ_LEN, backbone.max_sequence_length),
        vocabulary_size=backbone.vocabulary_size,
        num_experts=getattr(backbone, "num_experts", None),
        seed=seed,
    )


def logits(model, batch):
    from keras_pn.testing import to_numpy

    return to_numpy(model(batch)).astype("float32")


def save_models(save_dir):
    """Build and save the tiny architecture presets; return their cases."""
    import keras

    from keras_pn.models import GPTCausalLM
    from keras_pn.models import ProjectedGPT

    backend = keras.config.backend()
    cases = []
    for i, name in enumerate(TINY_ARCHITECTURES):
        keras.utils.set_random_seed(i)
        cls = ProjectedGPT if name.startswith("pn") else GPTCausalLM
        model = cls.from_preset(name, load_weights=False)
        preset = os.path.join(save_dir, name)
        model.save_to_preset(preset)
        batch = inputs_for(model, seed=i)
        np.savez(os.path.join(save_dir, f"{name}_inputs.npz"), **batch)
        np.save(os.path.join(save_dir, f"{name}_logits.npy"), logits(model, batch))
        cases.append(
            {
                "name": name,
                "saved_by": backend,
                "preset": preset,
                "inputs": os.path.join(save_dir, f"{name}_inputs.npz"),
                "logits": os.path.join(save_dir, f"{name}_logits.npy"),
            }
        )
    return cases


def check(case):
    """Max |logit difference| of a preset saved elsewhere, loaded here."""
    preset = case["preset"]
    model = task_class(preset).from_preset(preset)
    with np.load(case["inputs"]) as data:
        batch = {key: data[key] for key in data.files}
    return float(np.abs(logits(model, batch) - np.load(case["logits"])).max())


def zoo_presets():
    """`{name: directory}` of the trained presets under zoo/ (none in a fresh checkout)."""
    from keras_pn.presets import builtin_presets
    from keras_pn.presets import is_architecture_preset

    return {
        name: str(path)
        for name, path in sorted(builtin_presets().items())
        if not is_architecture_preset(path)
        and os.path.isfile(os.path.join(path, "model.weights.h5"))
    }


def zoo_cases(out_dir):
    """Logits of every zoo preset under this backend: the reference for the others."""
    import keras

    cases = []
    for name, preset in zoo_presets().items():
        model = task_class(preset).from_preset(preset)
        batch = inputs_for(model)
        inputs = os.path.join(out_dir, f"zoo_{name}_inputs.npz")
        np.savez(inputs, **batch)
        np.save(os.path.join(out_dir, f"zoo_{name}_logits.npy"), logits(model, batch))
        cases.append(
            {
                "name": name,
                "saved_by": keras.config.backend(),
                "preset": preset,
                "inputs": inputs,
                "logits": os.path.join(out_dir, f"zoo_{name}_logits.npy"),
            }
        )
    return cases


def _wait_for(path, timeout=900):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.2)
    with open(path) as f:
        return json.load(f)


def run(job):
    import keras

    from tests.reliability import helpers

    backend = keras.config.backend()
    out = {"backend": backend, "diffs": [], "saved": [], "hashes": None, "zoo_diffs": []}
    if job.get("save_dir"):
        os.makedirs(job["save_dir"], exist_ok=True)
        out["saved"] = save_models(job["save_dir"])
        atomic_write_json(os.path.join(job["save_dir"], "saved.json"), out["saved"])
    for case in job.get("check", []):
        out["diffs"].append({**case, "loaded_by": backend, "diff": check(case)})
    if job.get("determinism"):
        det = job["determinism"]
        out["hashes"] = helpers.determinism_hashes(det["embeddings"], det["shard_dir"])
    for case in job.get("zoo", []):
        out["zoo_diffs"].append({**case, "loaded_by": backend, "diff": check(case)})
    if job.get("then_file"):
        for case in _wait_for(job["then_file"]):
            out["diffs"].append({**case, "loaded_by": backend, "diff": check(case)})
    return out


def main():
    with open(sys.argv[1]) as f:
        job = json.load(f)
    print("WORKER " + json.dumps(run(job)), flush=True)


if __name__ == "__main__":
    main()
