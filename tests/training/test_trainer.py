"""Resumable training: checkpoints, resume after a crash, schedule."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_pn.models import GPTBackbone
from keras_pn.models import GPTCausalLM
from keras_pn.training import Checkpointer
from keras_pn.training import WarmupCosineSchedule
from keras_pn.training import compile_for_training
from keras_pn.training import train
from keras_pn.testing import TINY_GPT
from keras_pn.testing import to_numpy

SEQ = 8


def dataset(seed=0):
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, 60, (64, 1))
    tokens = (4 + (starts + np.arange(SEQ + 1)) % 60).astype("int32")  # learnable

    def to_batch(t):
        x = {"token_ids": t[:, :-1], "padding_mask": tf.ones_like(t[:, :-1])}
        return x, t[:, 1:], tf.ones_like(t[:, 1:], dtype="float32")

    return tf.data.Dataset.from_tensor_slices(tokens).batch(4).repeat().map(to_batch)


def make_model():
    keras.utils.set_random_seed(7)
    model = GPTCausalLM(GPTBackbone(**dict(TINY_GPT, vocabulary_size=64)))
    return compile_for_training(model, learning_rate=1e-2, total_steps=12, warmup_steps=2)


class Crash(keras.callbacks.Callback):
    def __init__(self, at_batch):
        super().__init__()
        self.at_batch = at_batch
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.at_batch:
            raise KeyboardInterrupt("simulated crash")


def test_train_checkpoints_and_resumes_identically(tmp_path):
    reference = make_model()
    result = train(reference, dataset(), total_steps=12, workdir=str(tmp_path / "ref"),
                   tokens_per_step=4 * SEQ, checkpoints=3, verbose=0, tensorboard=False)
    assert result.steps == 12 and result.tokens == 12 * 4 * SEQ and len(result.losses) == 3
    assert result.losses[-1] < result.losses[0]

    crashed = make_model()
    with pytest.raises(KeyboardInterrupt):
        train(crashed, dataset(), total_steps=12, workdir=str(tmp_path / "run"),
              tokens_per_step=4 * SEQ, checkpoints=3, verbose=0, tensorboard=False,
              callbacks=[Crash(at_batch=6)])
    resumed = make_model()
    again = train(resumed, dataset(), total_steps=12, workdir=str(tmp_path / "run"),
                  tokens_per_step=4 * SEQ, checkpoints=3, verbose=0, tensorboard=False)
    assert again.resumed_from == 4 and again.steps == 12
    for a, b in zip(reference.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(again.losses, result.losses, rtol=1e-4)
    saved = json.load(open(tmp_path / "run" / "train.json"))
    assert saved["steps"] == 12

    # A finished run is not trained again.
    done = train(make_model(), dataset(), total_steps=12, workdir=str(tmp_path / "run"),
                 tokens_per_step=4 * SEQ, checkpoints=3, verbose=0, tensorboard=False)
    assert done.resumed_from == 12


def test_incomplete_checkpoint_is_ignored(tmp_path):
    model = make_model()
    model.fit(dataset(), steps_per_epoch=1, epochs=1, verbose=0)
    checkpointer = Checkpointer(tmp_path / "ckpt")
    checkpointer.save(model, {"step": 1, "losses": []})
    # A staging directory left by a killed writer is invisible and cleaned up.
    os.makedirs(tmp_path / "ckpt" / ".step-000000002-abc")
    path, state = checkpointer.latest()
    assert state["step"] == 1 and path.endswith("step-000000001")
    fresh = make_model()
    assert checkpointer.restore(fresh)["step"] == 1
    for a, b in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_warmup_cosine_schedule():
    schedule = WarmupCosineSchedule(1.0, warmup_steps=10, total_steps=110, final_fraction=0.1)
    values = [float(to_numpy(schedule(s))) for s in (0, 5, 10, 60, 110, 200)]
    np.testing.assert_allclose(values, [0.0, 0.5, 1.0, 0.55, 0.1, 0.1], atol=1e-6)
