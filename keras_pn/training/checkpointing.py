"""Crash-safe checkpoints: weights, optimizer state and run state, written atomically.

A checkpoint is a directory `step-000120/` holding `model.weights.h5`,
`optimizer.npz` (plain arrays, loaded with `allow_pickle=False`) and
`state.json`. It becomes visible only when the pointer file `latest.json` is
atomically replaced to name it, so a run killed at any instant (even
`kill -9` in the middle of a write) resumes from the last complete
checkpoint.
"""

import json
import logging
import os
import re
import shutil

import keras
import numpy as np

from keras_pn import file_io

logger = logging.getLogger(__name__)

POINTER = "latest.json"


class Checkpointer:
    """Save and restore a compiled Keras model's training state.

    Args:
        directory: where checkpoints live (created if missing).
        keep: how many complete checkpoints to keep.

    Example:
    ```python
    checkpointer = Checkpointer("runs/slm/checkpoints")
    state = checkpointer.restore(model)      # None on a fresh run
    ...
    checkpointer.save(model, {"step": 120, "tokens": 491520})
    ```
    """

    def __init__(self, directory, keep=2):
        self.directory = str(directory)
        self.keep = keep
        os.makedirs(self.directory, exist_ok=True)

    def latest(self):
        """`(path, state)` of the newest complete checkpoint, or `(None, None)`."""
        pointer = os.path.join(self.directory, POINTER)
        if not os.path.exists(pointer):
            return None, None
        with open(pointer) as f:
            name = json.load(f).get("checkpoint")
        if not isinstance(name, str) or not re.fullmatch(r"step-\d{9}", name):
            raise ValueError(
                f"{pointer} names checkpoint {name!r}, not a `step-NNNNNNNNN` "
                "directory of this run; refusing to load files outside "
                f"{self.directory}. Fix: delete {pointer} to start over, or point it "
                'at an existing checkpoint ({"checkpoint": "step-000000120"}).'
            )
        path = os.path.join(self.directory, name)
        with open(os.path.join(path, "state.json")) as f:
            return path, json.load(f)

    def save(self, model, state):
        """Write a checkpoint for `state["step"]`, then publish it atomically."""
        name = f"step-{int(state['step']):09d}"
        final = os.path.join(self.directory, name)
        # The staging directory is `.step-...`: `_prune` removes those a killed run left.
        with file_io.staging_directory(final) as staging:
            model.save_weights(os.path.join(staging, "model.weights.h5"))
            arrays = {}
            if model.optimizer is not None and model.optimizer.built:
                arrays = {
                    f"v{i:05d}": np.asarray(keras.ops.convert_to_numpy(v))
                    for i, v in enumerate(model.optimizer.variables)
                }
            np.savez(os.path.join(staging, "optimizer.npz"), **arrays)
            with open(os.path.join(staging, "state.json"), "w") as f:
                json.dump(state, f, indent=2)
            for filename in os.listdir(staging):
                with open(os.path.join(staging, filename), "rb") as f:
                    os.fsync(f.fileno())
        file_io.atomic_write_text(
            os.path.join(self.directory, POINTER), json.dumps({"checkpoint": name}), fsync=True
        )
        self._prune(keep_name=name)
        logger.info("Checkpoint %s written", final)
        return final

    def restore(self, model):
        """Load the newest checkpoint into `model` (and its optimizer).

        The model must be compiled. Returns the saved state dict, or `None`.
        """
        path, state = self.latest()
        if path is None:
            return None
        model.load_weights(os.path.join(path, "model.weights.h5"))
        optimizer_file = os.path.join(path, "optimizer.npz")
        try:
            with np.load(optimizer_file, allow_pickle=False) as data:
                arrays = [data[key] for key in sorted(data.files)]
        except ValueError as error:
            if "allow_pickle" not in str(error):
                raise
            raise ValueError(
                f"{optimizer_file} holds pickled Python objects, which keras_pn never "
                "loads (unpickling runs arbitrary code); checkpoints only hold plain "
                f"arrays. Fix: delete {self.directory} to start the run over."
            ) from None
        if arrays:
            optimizer = model.optimizer
            if not optimizer.built:
                optimizer.build(model.trainable_variables)
            if len(arrays) != len(optimizer.variables):
                raise ValueError(
                    f"Checkpoint {path} holds {len(arrays)} optimizer variables but "
                    f"the optimizer has {len(optimizer.variables)}: the model or "
                    "optimizer changed since it was written. Fix: use a new "
                    "workdir, or delete the checkpoints to start over."
                )
            for variable, value in zip(optimizer.variables, arrays):
                variable.assign(value)
        logger.info("Resumed from %s (step %s)", path, state.get("step"))
        return state

    def _prune(self, keep_name):
        names = sorted(
            n for n in os.listdir(self.directory) if n.startswith("step-")
        )
        for name in names[: max(0, len(names) - self.keep)]:
            if name != keep_name:
                shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)
        for name in os.listdir(self.directory):
            if name.startswith(".step-"):  # staging dirs of killed runs
                shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)
