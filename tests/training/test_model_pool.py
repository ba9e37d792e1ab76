"""One compiled twin per architecture: same numbers, fewer compilations."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_pn.evaluation.perplexity import evaluate_nll
from keras_pn.models import GPTBackbone
from keras_pn.models import GPTCausalLM
from keras_pn.testing import TINY_GPT
from keras_pn.training import model_pool
from keras_pn.training.distillation import Distiller
from keras_pn.training.fine_tuning import fine_tune

SEQ, VOCAB = 8, 64


def small_gpt(seed):
    keras.utils.set_random_seed(seed)
    return GPTCausalLM(GPTBackbone(**dict(TINY_GPT, vocabulary_size=VOCAB)))


def data(seed, repeat=False):
    rng = np.random.default_rng(seed)
    tokens = (4 + (rng.integers(0, 60, (32, 1)) + np.arange(SEQ + 1)) % 60).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices(tokens).batch(8)
    ds = ds.repeat() if repeat else ds
    return ds.map(
        lambda t: (
            {"token_ids": t[:, :-1], "padding_mask": tf.ones_like(t[:, :-1])},
            t[:, 1:],
            tf.ones_like(t[:, 1:], dtype="float32"),
        )
    )


def run(model, reuse):
    return fine_tune(
        model, data(0, repeat=True), data(1), max_steps=20, eval_every=5,
        learning_rate=1e-2, tokens_per_step=8 * SEQ, verbose=0, reuse_compiled=reuse,
    )


def test_borrow_shares_one_twin_and_copies_weights_both_ways():
    pool = model_pool.ModelPool()
    a, b = small_gpt(0), small_gpt(1)
    twin = pool.borrow(a, "k")
    assert twin is not a and pool.borrow(b, "k") is twin
    assert pool.borrow(a, "other key") is not twin
    for got, want in zip(twin.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(got, want)
    twin.set_weights([w + 1.0 for w in twin.get_weights()])
    pool.give_back(twin, a)
    for got, want in zip(a.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert (pool.hits, pool.misses) == (1, 2)
    pool.clear()  # frees the twins: the next borrow builds a new one
    fresh = pool.borrow(b, "k")
    assert fresh is not twin and (pool.hits, pool.misses) == (1, 3)


class _Wrapper(keras.Model):
    """A subclassed model whose constructor takes a layer: no config round trip."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def call(self, x):
        return self.inner(x)


def test_unpoolable_models_are_returned_as_they_are():
    wrapper = _Wrapper(keras.layers.Dense(3))
    wrapper(np.zeros((1, 2), "float32"))
    assert model_pool.ModelPool().borrow(wrapper, "k") is wrapper


def test_a_distiller_is_pooled_with_its_teacher_weights():
    student, teacher = small_gpt(0), small_gpt(1)
    distiller = Distiller(student, teacher, alpha=0.5)
    twin = model_pool.ModelPool().borrow(distiller, "k")
    assert twin is not distiller
    for got, want in zip(twin.teacher.get_weights(), teacher.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_pooled_fine_tuning_matches_plain_fine_tuning_run_after_run():
    plain = run(small_gpt(3), reuse=False)
    plain_weights = None
    hits = model_pool.POOL.hits
    pooled = []
    for _ in range(2):  # the second run reuses the compiled twin
        model = small_gpt(3)
        pooled.append(run(model, reuse=True))
        plain_weights = plain_weights or model.get_weights()
        # The caller's model holds the best weights and comes back compiled.
        assert float(model.evaluate(data(1), verbose=0)) == pytest.approx(
            pooled[-1].best_valid_loss, rel=1e-4
        )
    assert model_pool.POOL.hits >= hits + 1
    for result in pooled:  # optimizer state and schedule were reset between runs
        np.testing.assert_allclose(result.valid_losses, plain.valid_losses, rtol=2e-4)
        assert result.best_step == plain.best_step
    assert plain.best_valid_loss < plain.initial_valid_loss


def test_evaluate_nll_never_reuses_stale_weights():
    a, b = small_gpt(4), small_gpt(5)
    b.set_weights([w * 4.0 for w in a.get_weights()])  # same architecture, far logits
    nll_a = evaluate_nll(a, data(1), verbose=False)["nll"]
    nll_b = evaluate_nll(b, data(1), verbose=False)["nll"]
    assert abs(nll_a - nll_b) > 0.05
    assert evaluate_nll(a, data(1), verbose=False)["nll"] == pytest.approx(nll_a, rel=1e-6)


def test_a_lora_model_is_pooled_with_its_frozen_kernels():
    model = small_gpt(6)
    model.backbone.enable_lora(2, target_layer_names=["query_dense", "value_dense"])
    twin = model_pool.ModelPool().borrow(model, "k")
    assert twin is not model
    assert [w.shape for w in twin.trainable_weights] == [w.shape for w in model.trainable_weights]
    assert len(twin.trainable_weights) < len(twin.weights)
