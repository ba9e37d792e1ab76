"""Fine-tuning with early stopping, distillation and expert selection."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_pn.models import GPTBackbone
from keras_pn.models import GPTCausalLM
from keras_pn.models import ProjectedGPT
from keras_pn.models import ProjectedGPTBackbone
from keras_pn.testing import TINY_GPT
from keras_pn.testing import TINY_PN
from keras_pn.testing import to_numpy
from keras_pn.training.distillation import Distiller
from keras_pn.training.expert_selection import expert_losses
from keras_pn.training.expert_selection import select_expert
from keras_pn.training.fine_tuning import fine_tune

SEQ, VOCAB = 8, 64


def batches(seed, n=32, step=1, clusters=None, repeat=False):
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, 60, (n, 1))
    tokens = (4 + (starts + step * np.arange(SEQ + 1)) % 60).astype("int32")
    ids = np.zeros(n, "int32") if clusters is None else np.asarray(clusters, "int32")

    def to_batch(t, c):
        x = {"token_ids": t[:, :-1], "padding_mask": tf.ones_like(t[:, :-1]), "cluster_ids": c}
        return x, t[:, 1:], tf.ones_like(t[:, 1:], dtype="float32")

    ds = tf.data.Dataset.from_tensor_slices((tokens, ids)).batch(8)
    return (ds.repeat() if repeat else ds).map(to_batch)


def plain(ds):
    return ds.map(lambda x, y, w: ({"token_ids": x["token_ids"], "padding_mask": x["padding_mask"]}, y, w))


def small_gpt(seed=0):
    keras.utils.set_random_seed(seed)
    return GPTCausalLM(GPTBackbone(**dict(TINY_GPT, vocabulary_size=VOCAB)))


def test_fine_tune_improves_and_keeps_best_weights():
    model = small_gpt()
    result = fine_tune(
        model, plain(batches(0, repeat=True)), plain(batches(1)), max_steps=40,
        eval_every=10, learning_rate=1e-2, tokens_per_step=8 * SEQ, verbose=0,
    )
    assert result.best_valid_loss < 0.8 * result.initial_valid_loss
    assert result.steps <= 40 and result.tokens == result.steps * 8 * SEQ
    # The best step is where the recorded validation curve is lowest.
    curve = [result.initial_valid_loss] + result.valid_losses
    assert len(result.valid_losses) == result.steps // 10
    assert result.best_step == 10 * int(np.argmin(curve)) > 0
    assert result.best_valid_loss == pytest.approx(min(curve))
    # The restored weights are the best ones.
    now = float(model.evaluate(plain(batches(1)), verbose=0))
    assert now == pytest.approx(result.best_valid_loss, rel=1e-4)


def test_fine_tune_restores_initial_weights_when_training_hurts():
    model = small_gpt()
    before = [w.copy() for w in model.get_weights()]
    # Train on "+3" sequences, validate on "+1" ones: validation gets worse.
    result = fine_tune(
        model, plain(batches(0, step=3, repeat=True)), plain(batches(1)), max_steps=30,
        eval_every=10, learning_rate=3e-2, tokens_per_step=8 * SEQ, patience=1, verbose=0,
    )
    # The premise: the first check is clearly worse than the initial weights...
    assert result.valid_losses[0] > result.initial_valid_loss + 0.1
    # ...so, with patience 1, training stops there and the initial weights come back.
    assert result.steps == 10 and result.best_step == 0
    assert result.best_valid_loss == result.initial_valid_loss
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_stops_at_the_runs_defaults():
    """At the default budget, fine-tuning a model that overfits stops long before it."""
    from keras_pn.methods import RunConfig

    config = RunConfig()
    rng = np.random.default_rng(0)
    # Train on two random sequences, validate on others: once memorised, the
    # validation loss only rises.
    train_tokens = rng.integers(4, VOCAB, (2, SEQ + 1)).astype("int32")
    valid_tokens = rng.integers(4, VOCAB, (16, SEQ + 1)).astype("int32")

    def stream(tokens, repeat):
        ds = tf.data.Dataset.from_tensor_slices(tokens).batch(len(tokens))
        ds = ds.repeat() if repeat else ds
        return ds.map(lambda t: ({"token_ids": t[:, :-1], "padding_mask": tf.ones_like(t[:, :-1])},
                                 t[:, 1:], tf.ones_like(t[:, 1:], dtype="float32")))

    result = fine_tune(
        small_gpt(), stream(train_tokens, True), stream(valid_tokens, False),
        max_steps=config.finetune_max_steps, eval_every=config.finetune_eval_every,
        learning_rate=config.finetune_learning_rate, tokens_per_step=2 * SEQ,
        patience=config.patience, verbose=0,
    )
    assert result.steps < config.finetune_max_steps / 2
    # It stopped `patience` checks after the best one.
    assert result.steps == result.best_step + config.patience * config.finetune_eval_every
    assert min(result.valid_losses[-config.patience:]) > result.best_valid_loss


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_distillation_loss_matches_reference():
    teacher, student = small_gpt(1), small_gpt(2)
    x, y, w = next(iter(plain(batches(0))))
    w = w.numpy().copy()
    w[:, -2:] = 0.0  # padded targets are ignored
    for alpha, t in ((0.0, 1.0), (0.3, 2.0), (1.0, 1.0)):
        distiller = Distiller(student, teacher, alpha=alpha, temperature=t)
        got = float(to_numpy(distiller.compute_loss(x, y, student(x), w)))
        plain_ce = float(to_numpy(distiller.compute_loss(x, y, student(x), w, training=False)))
        s, q = to_numpy(student(x)).astype("float64"), to_numpy(teacher(x)).astype("float64")
        hard = -np.take_along_axis(_log_softmax(s), y.numpy()[..., None], -1)[..., 0]
        lq, ls = _log_softmax(q / t), _log_softmax(s / t)
        soft = (np.exp(lq) * (lq - ls)).sum(-1) * t * t
        expected = (((1 - alpha) * hard + alpha * soft) * w).sum() / w.sum()
        assert got == pytest.approx(expected, rel=1e-4)
        # Evaluation reports the student's plain cross-entropy.
        assert plain_ce == pytest.approx((hard * w).sum() / w.sum(), rel=1e-4)
    # A student identical to its teacher has zero distillation loss.
    twin = small_gpt(1)
    zero = Distiller(twin, teacher, alpha=1.0).compute_loss(x, y, twin(x), w)
    assert abs(float(to_numpy(zero))) < 1e-5


def test_distillation_trains_only_the_student():
    teacher, student = small_gpt(1), small_gpt(2)
    distiller = Distiller(student, teacher, alpha=0.5)
    distiller.compile(optimizer=keras.optimizers.Adam(1e-2))
    teacher_weights = [w.copy() for w in teacher.get_weights()]
    student_weights = [w.copy() for w in student.get_weights()]
    history = distiller.fit(plain(batches(3, repeat=True)), steps_per_epoch=10, epochs=2, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    for a, b in zip(teacher_weights, teacher.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(np.abs(a - b).max() > 0 for a, b in zip(student_weights, student.get_weights()))
    with pytest.raises(ValueError, match="alpha"):
        Distiller(student, teacher, alpha=2.0)
    with pytest.raises(ValueError, match="vocabularies differ"):
        other = GPTCausalLM(GPTBackbone(**dict(TINY_GPT, vocabulary_size=VOCAB + 1)))
        Distiller(student, other)


def test_expert_selection_strategies():
    keras.utils.set_random_seed(0)
    pn = ProjectedGPT(ProjectedGPTBackbone(**dict(TINY_PN, vocabulary_size=VOCAB)))
    histogram = np.array([0.1, 0.6, 0.3, 0.0])
    model, info = select_expert(pn, "most_frequent", histogram)
    assert info["expert"] == 1 and isinstance(model, GPTCausalLM)
    model, info = select_expert(pn, "histogram", histogram)
    assert isinstance(model, GPTCausalLM)
    data = batches(0)
    losses = expert_losses(pn, data)
    model, info = select_expert(pn, "best_pretrained", histogram, dataset=data)
    assert info["expert"] == min(losses, key=losses.get)
    candidates, info = select_expert(pn, "finetune_all", histogram)
    assert [e for e, _ in candidates] == [1, 2, 0, 3]
    with pytest.raises(ValueError, match="Unknown expert selection"):
        select_expert(pn, "random", histogram)
