"""evaluate_nll vs. a NumPy reference (GPT, ProjectedGPT, padding); macro average."""

import math

import keras
import numpy as np
import pytest

from keras_pn.evaluation import evaluate_nll
from keras_pn.evaluation import macro_nll
from keras_pn.evaluation import macro_perplexity

from tests.evaluation.conftest import TINY

VOCAB, SEQ = TINY["vocabulary_size"], 12


@pytest.fixture
def gpt(tiny_gpt):
    return tiny_gpt


@pytest.fixture
def pn(tiny_pn):
    return tiny_pn


def make_batches(sizes, num_experts=None, seed=0):
    """Right-padded `(x, y, sample_weight)` batches like `domain_dataset`'s."""
    rng = np.random.default_rng(seed)
    batches = []
    for batch_size in sizes:
        ids = rng.integers(1, VOCAB, (batch_size, SEQ + 1)).astype("int32")
        lengths = rng.integers(3, SEQ + 2, (batch_size,))  # stored ids per window
        positions = np.arange(SEQ + 1)
        ids = np.where(positions[None] < lengths[:, None], ids, 0)  # pad id 0
        x = {
            "token_ids": ids[:, :-1],
            "padding_mask": positions[None, :-1] < lengths[:, None],
        }
        if num_experts is not None:
            x["cluster_ids"] = rng.integers(0, num_experts, (batch_size,)).astype(
                "int32"
            )
        weights = (positions[None, :-1] < lengths[:, None] - 1).astype("float32")
        batches.append((x, ids[:, 1:], weights))
    return batches


def model_logits(model, x, batch_size=4):
    """The model's logits `(B, T, V)` (rows padded to one compiled shape)."""
    n = len(x["token_ids"])
    padded = {
        k: np.concatenate([v, np.repeat(v[:1], batch_size - n, 0)])
        for k, v in x.items()
    }
    return np.asarray(keras.ops.convert_to_numpy(model.predict_on_batch(padded)))[:n]


def reference_nll(model, batches):
    """Weighted NLL from the model's logits, log-softmax in float64 NumPy."""
    total, weight = 0.0, 0.0
    for x, y, w in batches:
        logits = model_logits(model, x).astype("float64")
        logits = logits - logits.max(-1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        nll = -np.take_along_axis(log_probs, y[..., None].astype(int), -1)[..., 0]
        total += float((nll * w).sum())
        weight += float(w.sum())
    return total / weight, int(weight)


def test_gpt_matches_numpy_reference_with_padding_and_short_last_batch(gpt):
    batches = make_batches([4, 4, 3])  # the short last batch is padded inside
    expected, tokens = reference_nll(gpt, batches)
    result = evaluate_nll(gpt, batches, verbose=False)
    assert result["tokens"] == tokens
    np.testing.assert_allclose(result["nll"], expected, rtol=1e-5)
    np.testing.assert_allclose(result["perplexity"], math.exp(expected), rtol=1e-5)


def test_projected_gpt_matches_numpy_reference_mixed_experts(pn):
    batches = make_batches([4, 2], num_experts=4, seed=1)
    expected, tokens = reference_nll(pn, batches)
    result = evaluate_nll(pn, batches, verbose=True, description="pn")
    assert result["tokens"] == tokens
    np.testing.assert_allclose(result["nll"], expected, rtol=1e-5)


def test_padding_does_not_change_the_result(gpt):
    ((x, y, w),) = make_batches([4], seed=2)
    garbage = dict(x, token_ids=np.where(w > 0, x["token_ids"], 7))
    # Only weighted positions count: changing padded targets changes nothing.
    y_garbage = np.where(w > 0, y, 5)
    a = evaluate_nll(gpt, [(x, y, w)], verbose=False)
    b = evaluate_nll(gpt, [(garbage, y_garbage, w)], verbose=False)
    np.testing.assert_allclose(a["nll"], b["nll"], rtol=1e-6)


def test_tf_data_input_and_max_batches(gpt):
    import tensorflow as tf

    batches = make_batches([4, 4, 4], seed=3)
    x = {k: np.concatenate([b[0][k] for b in batches]) for k in batches[0][0]}
    y = np.concatenate([b[1] for b in batches])
    w = np.concatenate([b[2] for b in batches])
    ds = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(4)
    expected, tokens = reference_nll(gpt, batches[:2])
    result = evaluate_nll(gpt, ds, max_batches=2, verbose=True)
    assert result["tokens"] == tokens
    np.testing.assert_allclose(result["nll"], expected, rtol=1e-5)


@pytest.mark.parametrize("model_name", ["gpt", "pn"])
def test_domain_dataset_stream(model_name, gpt, pn):
    """The data pipeline's evaluation stream: right-padded windows, bool masks."""
    from keras_pn.data.streams import domain_dataset
    from keras_pn.data.windows import WindowSet

    rng = np.random.default_rng(6)
    windows = [rng.integers(1, VOCAB, n) for n in (13, 5, 9, 13, 2)]
    splits = np.concatenate([[0], np.cumsum([len(w) for w in windows])])
    window_set = WindowSet(
        values=np.concatenate(windows).astype("int32"),
        row_splits=splits.astype("int64"),
        doc_index=np.arange(len(windows), dtype="int64"),
        window_index=np.zeros(len(windows), "int32"),
        texts=None,
        context_length=SEQ,
    )
    model = {"gpt": gpt, "pn": pn}[model_name]
    cluster_ids = 2 if model_name == "pn" else None
    ds = domain_dataset(window_set, "test", batch_size=2, cluster_ids=cluster_ids)
    batches = list(ds.as_numpy_iterator())
    expected, tokens = reference_nll(model, batches)
    assert tokens == sum(len(w) - 1 for w in windows)
    result = evaluate_nll(model, ds, verbose=False)
    assert result["tokens"] == tokens
    np.testing.assert_allclose(result["nll"], expected, rtol=1e-5)


def test_two_element_batches_weight_every_target(gpt):
    ((x, y, _),) = make_batches([4], seed=4)
    full = np.ones(y.shape, "float32")
    a = evaluate_nll(gpt, [(x, y)], verbose=False)
    b = evaluate_nll(gpt, [(x, y, full)], verbose=False)
    assert a["tokens"] == y.size
    np.testing.assert_allclose(a["nll"], b["nll"], rtol=1e-6)


def test_errors(gpt, pn):
    ((x, y, w),) = make_batches([4], num_experts=None, seed=5)
    with pytest.raises(ValueError, match="cluster_ids"):
        evaluate_nll(pn, [(x, y, w)], verbose=False)
    with pytest.raises(ValueError, match="No target token"):
        evaluate_nll(gpt, [(x, y, np.zeros_like(w))], verbose=False)
    with pytest.raises(ValueError, match="No target token"):
        evaluate_nll(gpt, [], verbose=False)
    with pytest.raises(ValueError, match="tuple"):
        evaluate_nll(gpt, [x], verbose=False)


def test_macro_perplexity_is_exp_of_mean_nll():
    per_domain = {"a": math.log(10.0), "b": math.log(40.0), "c": {"nll": math.log(5.0)}}
    expected = math.exp((math.log(10) + math.log(40) + math.log(5)) / 3)
    assert macro_perplexity(per_domain) == pytest.approx(expected)
    assert macro_perplexity(per_domain) == pytest.approx((10 * 40 * 5) ** (1 / 3))
    assert macro_nll({"a": 1.0, "b": 2.0}) == pytest.approx(1.5)
    # Not the token-weighted average: each domain weighs the same.
    results = {"a": {"nll": 1.0, "tokens": 10}, "b": {"nll": 3.0, "tokens": 1000}}
    assert macro_nll(results) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        macro_perplexity({})
    with pytest.raises(ValueError, match="non-finite"):
        macro_perplexity({"a": float("nan")})
