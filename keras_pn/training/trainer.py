"""Token-budgeted training with checkpoints, resume, TensorBoard and a progress bar."""

import dataclasses
import logging
import math
import os
import time

import keras
import numpy as np

from keras_pn import file_io
from keras_pn.training.checkpointing import Checkpointer
from keras_pn.training.optimizer import paper_optimizer

logger = logging.getLogger(__name__)


def compile_for_training(model, learning_rate, total_steps, warmup_steps=None, clipnorm=5.0, jit_compile="auto"):
    """Compile a CausalLM with the paper's optimizer and a masked LM loss.

    ``jit_compile="auto"`` turns XLA on for tensorflow too, where Keras' own
    "auto" leaves it off on CPU (measured faster with it:
    ``bench/pn_overhead.py --backend=tensorflow [--no_xla]``).
    """
    if jit_compile == "auto" and keras.config.backend() == "tensorflow":
        from keras_pn.distribution import xla_compatible

        jit_compile = xla_compatible()  # off under tf.distribute (keras#19005)
    model.compile(
        optimizer=paper_optimizer(
            learning_rate, total_steps, warmup_steps=warmup_steps, clipnorm=clipnorm
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[],
        jit_compile=jit_compile,
    )
    return model


@dataclasses.dataclass
class TrainResult:
    """What a training run did: steps, tokens, wall time and losses."""

    steps: int
    tokens: int
    seconds: float
    final_loss: float
    losses: list
    resumed_from: int = 0

    def to_json(self):
        return dataclasses.asdict(self)


class _CheckpointCallback(keras.callbacks.Callback):
    """Write a checkpoint at the end of every 'epoch' (= checkpoint interval)."""

    def __init__(self, checkpointer, steps_per_epoch, tokens_per_step, state):
        super().__init__()
        self.checkpointer = checkpointer
        self.steps_per_epoch = steps_per_epoch
        self.tokens_per_step = tokens_per_step
        self.state = state
        self._epoch_start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        step = (epoch + 1) * self.steps_per_epoch
        loss = float((logs or {}).get("loss", float("nan")))
        if not np.isfinite(loss):
            # Never checkpoint diverged weights: they would replace (and prune)
            # the last good checkpoints.
            self.model.stop_training = True
            kept = (
                f"the last checkpoint (step {self.state['step']}) is kept"
                if self.state["step"]
                else "no checkpoint was written yet"
            )
            raise FloatingPointError(
                f"The training loss is {loss} at step {step}; it was not "
                f"checkpointed and {kept}. Fix: lower the learning rate, or check "
                "the data (empty batches, cluster ids >= the model's num_experts, "
                "token ids >= its vocabulary_size), then rerun to resume."
            )
        seconds = time.perf_counter() - self._epoch_start
        self.state["seconds"] += seconds
        logger.info(
            "%s: step %d/%d, loss %.4f, %.0f tokens/s",
            self.model.name,
            step,
            self.state.get("total_steps", step),
            loss,
            self.steps_per_epoch * self.tokens_per_step / max(seconds, 1e-9),
        )
        self.state["step"] = step
        self.state["tokens"] = step * self.tokens_per_step
        self.state["losses"].append(loss)
        self.checkpointer.save(self.model, dict(self.state))


def train(
    model,
    dataset,
    *,
    total_steps,
    workdir,
    tokens_per_step,
    checkpoints=10,
    tensorboard=True,
    verbose=1,
    callbacks=(),
):
    """Train a compiled model for `total_steps` batches; resumable.

    The run is cut into `checkpoints` intervals; a checkpoint (weights,
    optimizer state, step, tokens, wall time, losses) is written atomically
    after each. Calling `train` again with the same arguments resumes from
    the last checkpoint: the data stream is advanced past the batches
    already consumed, so an interrupted run sees the same batches as an
    uninterrupted one.

    Args:
        model: a compiled Keras model (see `compile_for_training`).
        dataset: a `tf.data.Dataset` of `(x, y, sample_weight)` batches that
            yields at least `total_steps` batches (repeat it).
        total_steps: int. Rounded up to a multiple of the checkpoint interval.
        workdir: directory for `checkpoints/`, `tensorboard/` and `train.json`.
        tokens_per_step: int. Tokens per batch (batch x context), for the ledger.
        checkpoints: int. Number of checkpoint intervals.
        tensorboard: bool. Write TensorBoard logs.
        verbose: Keras progress-bar verbosity.
        callbacks: extra Keras callbacks.

    Returns:
        `TrainResult`, also written to `workdir/train.json`.
    """
    os.makedirs(workdir, exist_ok=True)
    checkpoints = max(1, min(int(checkpoints), int(total_steps)))
    steps_per_epoch = math.ceil(total_steps / checkpoints)
    total_steps = steps_per_epoch * checkpoints
    checkpointer = Checkpointer(os.path.join(workdir, "checkpoints"))
    state = checkpointer.restore(model)
    resumed_from = 0
    if state is None:
        state = {"step": 0, "tokens": 0, "seconds": 0.0, "losses": []}
    else:
        resumed_from = int(state["step"])
        if state.get("total_steps") not in (None, total_steps):
            raise ValueError(
                f"The checkpoints in {workdir} belong to a run of "
                f"{state['total_steps']} steps, not {total_steps}. Fix: use a "
                "new workdir (or the original budget)."
            )
    state["total_steps"] = total_steps
    initial_epoch = int(state["step"]) // steps_per_epoch
    if initial_epoch < checkpoints:
        from keras_pn.distribution import distributable_dataset

        data = dataset.skip(int(state["step"])) if state["step"] else dataset
        data = distributable_dataset(data)
        all_callbacks = [
            _CheckpointCallback(checkpointer, steps_per_epoch, tokens_per_step, state),
            *callbacks,
        ]
        if tensorboard:
            all_callbacks.append(
                keras.callbacks.TensorBoard(
                    os.path.join(workdir, "tensorboard"), write_graph=False
                )
            )
        logger.info(
            "Training %s for %d steps (%d tokens) from step %d",
            model.name,
            total_steps,
            total_steps * tokens_per_step,
            state["step"],
        )
        model.fit(
            data,
            steps_per_epoch=steps_per_epoch,
            epochs=checkpoints,
            initial_epoch=initial_epoch,
            callbacks=all_callbacks,
            verbose=verbose,
        )
    losses = [float(x) for x in state["losses"]]
    result = TrainResult(
        steps=int(state["step"]),
        tokens=int(state["tokens"]),
        seconds=float(state["seconds"]),
        final_loss=losses[-1] if losses else float("nan"),
        losses=losses,
        resumed_from=resumed_from,
    )
    file_io.atomic_write_json(os.path.join(workdir, "train.json"), result.to_json(), indent=2)
    return result


def finite(value):
    """`value` if it is a finite float, else raise naming the problem."""
    value = float(value)
    if not np.isfinite(value):
        raise FloatingPointError(
            "The training loss is not finite. Fix: lower the learning rate or "
            "check the data for empty batches."
        )
    return value
