"""Fine-tuning on a domain with early stopping on its validation set."""

import dataclasses
import logging
import time

import keras
import numpy as np

from keras_pn.training import model_pool
from keras_pn.training.trainer import compile_for_training

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class FineTuneResult:
    """What fine-tuning did: steps run, tokens, wall time, validation curve."""

    steps: int
    best_step: int
    tokens: int
    seconds: float
    initial_valid_loss: float
    best_valid_loss: float
    valid_losses: list

    def to_json(self):
        return dataclasses.asdict(self)


class _EarlyStopping(keras.callbacks.Callback):
    """Keep the weights with the best validation loss; stop after `patience` evals."""

    def __init__(self, valid_data, patience, initial_loss, initial_weights):
        super().__init__()
        self.valid_data = valid_data
        self.patience = patience
        self.best = initial_loss
        self.best_weights = initial_weights
        self.best_epoch = -1
        self.losses = []
        self.wait = 0

    def on_epoch_end(self, epoch, logs=None):
        loss = float(self.model.evaluate(self.valid_data, verbose=0))
        self.losses.append(loss)
        if loss < self.best - 1e-4:
            self.best, self.best_epoch, self.wait = loss, epoch, 0
            self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.model.set_weights(self.best_weights)


def fine_tune(
    model,
    train_data,
    valid_data,
    *,
    max_steps,
    eval_every,
    learning_rate,
    tokens_per_step,
    patience=2,
    warmup_steps=None,
    verbose=1,
    jit_compile="auto",
    reuse_compiled=True,
):
    """Fine-tune `model` with early stopping; keep the best validation weights.

    The validation loss is evaluated before training and every `eval_every`
    steps; training stops after `patience` evaluations without improvement
    and the best weights (possibly the initial ones) are restored — the
    paper's protocol (lr/3 of pretraining and early stopping for small
    specialization sets).

    Args:
        model: a Keras model, trained with the paper's optimizer (see
            `reuse_compiled`).
        train_data: repeated `tf.data.Dataset` of `(x, y, sample_weight)`.
        valid_data: finite dataset for the validation loss.
        max_steps: int. Upper bound on training steps.
        eval_every: int. Steps between validation evaluations.
        learning_rate: float. Peak learning rate.
        tokens_per_step: int. For the cost ledger.
        patience: int. Evaluations without improvement before stopping.
        warmup_steps: int. Defaults to a tenth of the first interval.
        verbose: Keras verbosity.
        jit_compile: passed to `compile_for_training`.
        reuse_compiled: train a pooled, already compiled twin of `model` and
            copy its weights back (`keras_pn.training.model_pool`); `model`
            is then compiled (untraced, fresh optimizer). False: train
            `model` itself.

    Returns:
        `FineTuneResult`.
    """
    eval_every = max(1, min(int(eval_every), int(max_steps)))
    epochs = max(1, int(max_steps) // eval_every)
    if warmup_steps is None:
        warmup_steps = max(1, eval_every // 10)
    schedule = dict(
        total_steps=epochs * eval_every, warmup_steps=warmup_steps, jit_compile=jit_compile
    )

    def compile_fn(m):
        compile_for_training(m, learning_rate, **schedule)

    if reuse_compiled:
        # A compiled twin of the model (one per architecture and schedule) does
        # the training: it is compiled once, not once per run (see `model_pool`).
        compile_key = ("fine_tune", float(learning_rate), sorted(schedule.items()))
        trainee = model_pool.POOL.borrow(model, compile_key, compile_fn)
    else:
        trainee = model
        compile_fn(model)
    start = time.perf_counter()
    initial = float(trainee.evaluate(valid_data, verbose=0))
    stopper = _EarlyStopping(valid_data, patience, initial, trainee.get_weights())
    history = trainee.fit(
        train_data,
        steps_per_epoch=eval_every,
        epochs=epochs,
        callbacks=[stopper],
        verbose=verbose,
    )
    if trainee is not model:
        model_pool.POOL.give_back(trainee, model)
        # Leave `model` compiled as if it had been trained itself (compiling
        # is cheap; only the first call traces).
        compile_fn(model)
    steps = len(history.history.get("loss", [])) * eval_every
    best_step = (stopper.best_epoch + 1) * eval_every
    result = FineTuneResult(
        steps=steps,
        best_step=best_step,
        tokens=steps * int(tokens_per_step),
        seconds=time.perf_counter() - start,
        initial_valid_loss=initial,
        best_valid_loss=float(stopper.best),
        valid_losses=[float(x) for x in stopper.losses],
    )
    logger.info(
        "Fine-tuned %d steps (best at %d): valid loss %.4f -> %.4f",
        steps, best_step, initial, result.best_valid_loss,
    )
    if not np.isfinite(result.best_valid_loss):
        raise FloatingPointError("Validation loss is not finite; lower the learning rate.")
    return result
