"""Tests of keras_pn.data.streams: resampled, generic and domain streams."""

import hashlib
import json
import logging
import random

import keras
import numpy as np
import pytest

from keras_pn.data import streams as st
from keras_pn.data.streams.rows import _take
from keras_pn.data.shards import write_shards
from keras_pn.data.tokenizer_training import train_sentencepiece
from keras_pn.data.windows import collect_windows

T = 8
K = 16
VOCAB = 300
WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his "
    "from at which but have an they you were her she there been one all we their"
).split()


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Synthetic windows in K clusters of very different sizes; cluster 3 is empty."""
    rng = np.random.default_rng(0)
    sizes = rng.integers(20, 250, K)
    sizes[3] = 0
    sizes[5] = 2
    windows, cids = [], []
    for c in range(K):
        for _ in range(sizes[c]):
            body = rng.integers(4, VOCAB, rng.integers(1, T + 1))
            eos = [3] if len(body) < T else []
            windows.append(np.concatenate([[2], body, eos]))
            cids.append(c)
    order = rng.permutation(len(windows))
    directory = tmp_path_factory.mktemp("streams") / "shards"
    write_shards(
        directory,
        [windows[i] for i in order],
        np.asarray(cids)[order],
        K,
        T,
        tokenizer_sha256="",
    )
    return directory, sizes


def target_histogram(sizes):
    p = np.zeros(K)
    p[[0, 1, 5, 7, 10]] = [
        0.4,
        0.25,
        0.15,
        0.15,
        0.05,
    ]  # cluster 5 holds 2 windows only
    return p


def first_batches(ds, n):
    return [tuple(keras.tree.map_structure(np.asarray, b)) for b in ds.take(n)]


def stream_hash(ds, n):
    h = hashlib.sha256()
    for x, y, w in ds.take(n).as_numpy_iterator():
        for a in (x["token_ids"], x["padding_mask"], x["cluster_ids"], y, w):
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def test_histogram_matches_target_over_100k_draws(shards):
    directory, sizes = shards
    p = target_histogram(sizes)
    ds = st.resampled_dataset(directory, p, batch_size=1000, context_length=T, seed=7)
    clusters = np.concatenate(
        [x["cluster_ids"] for x, _, _ in ds.take(100).as_numpy_iterator()]
    )
    assert len(clusters) == 100_000
    histogram = np.bincount(clusters, minlength=K) / len(clusters)
    assert 0.5 * np.abs(histogram - p).sum() <= 0.01
    assert np.all(histogram[p == 0] == 0)  # zero-mass clusters are never sampled


def test_same_seed_same_stream_and_batch_size_independent(shards):
    directory, sizes = shards
    p = target_histogram(sizes)
    ds = st.resampled_dataset(directory, p, 32, T, seed=1)
    a = stream_hash(ds, 10)
    assert stream_hash(ds, 10) == a  # a new iterator restarts the stream
    assert stream_hash(st.resampled_dataset(directory, p, 32, T, seed=1), 10) == a
    assert stream_hash(st.resampled_dataset(directory, p, 32, T, seed=2), 10) != a
    small = st.resampled_dataset(directory, p, 8, T, seed=1)
    ids_small = np.concatenate(
        [x["token_ids"] for x, _, _ in small.take(8).as_numpy_iterator()]
    )
    ids_big = next(
        iter(st.resampled_dataset(directory, p, 64, T, seed=1).as_numpy_iterator())
    )
    assert np.array_equal(ids_small, ids_big[0]["token_ids"])


def test_uniform_with_replacement_inside_a_cluster():
    sizes = np.array([5, 0, 3])
    p = np.array([0.5, 0.0, 0.5])
    rows = np.concatenate(list(_take(st.resampled_rows(p, sizes, seed=0), 60_000)))
    counts = np.bincount(rows, minlength=8)
    # Each window of cluster 0 has probability 0.5 / 5, of cluster 2 0.5 / 3.
    np.testing.assert_allclose(counts[:5] / 60_000, 0.1, atol=0.005)
    np.testing.assert_allclose(counts[5:] / 60_000, 1 / 6, atol=0.005)


def test_batches_are_the_stored_windows_with_correct_masks(shards):
    from keras_pn.data.shards import read_shards

    directory, sizes = shards
    store = read_shards(directory)
    stored = {tuple(store.token_ids(i)) for i in range(len(store))}
    x, y, w = next(
        st.resampled_dataset(
            directory, np.ones(K) * (sizes > 0), 64, T, seed=0
        ).as_numpy_iterator()
    )
    assert x["token_ids"].shape == (64, T) and x["token_ids"].dtype == np.int32
    assert x["padding_mask"].dtype == bool and x["cluster_ids"].shape == (64,)
    assert y.shape == (64, T) and y.dtype == np.int32 and w.dtype == np.float32
    for i in range(64):
        padded = np.concatenate([x["token_ids"][i][:1], y[i]])  # (T + 1,)
        window = padded[: int(np.sum(padded != 0))]
        assert tuple(window) in stored
        assert x["token_ids"][i][0] == 2
        np.testing.assert_array_equal(x["padding_mask"][i], x["token_ids"][i] != 0)
        np.testing.assert_array_equal(w[i], (y[i] != 0).astype(np.float32))
        np.testing.assert_array_equal(x["token_ids"][i][1:], y[i][:-1])
        owners = {
            store.cluster_ids[j]
            for j in range(len(store))
            if tuple(store.token_ids(j)) == tuple(window)
        }
        assert x["cluster_ids"][i] in owners


def test_missing_target_mass_raises_or_renormalizes(shards, caplog):
    directory, sizes = shards
    p = target_histogram(sizes)
    p[3] = 0.2  # cluster 3 has no generic window
    with pytest.raises(ValueError, match="no generic window"):
        st.resampled_dataset(directory, p, 16, T, seed=0)
    with caplog.at_level(logging.WARNING, logger="keras_pn.data.streams"):
        ds = st.resampled_dataset(
            directory, p, 500, T, seed=0, on_missing="renormalize"
        )
    assert "Renormalizing" in caplog.text
    clusters = np.concatenate(
        [x["cluster_ids"] for x, _, _ in ds.take(4).as_numpy_iterator()]
    )
    assert not np.any(clusters == 3)
    with pytest.raises(ValueError, match="entries"):
        st.resampled_dataset(directory, np.ones(K + 1), 16, T, seed=0)
    with pytest.raises(ValueError, match="all zeros"):
        st.resampled_dataset(directory, np.zeros(K), 16, T, seed=0)
    with pytest.raises(ValueError, match="context_length"):
        st.resampled_dataset(directory, np.ones(K) * (sizes > 0), 16, T + 1, seed=0)


def test_effective_sample_size_and_repetition(shards):
    directory, sizes = shards
    p = target_histogram(sizes)
    # Kish ESS computed by brute force over every generic window.
    weights = np.repeat(
        np.where(sizes > 0, p / np.maximum(sizes, 1) * sizes.sum(), 0), sizes
    )
    kish = weights.sum() ** 2 / (weights**2).sum()
    assert st.effective_sample_size(p, sizes) == pytest.approx(kish)
    generic = sizes / sizes.sum()
    assert st.effective_sample_size(generic, sizes) == pytest.approx(sizes.sum())
    report = st.resampling_report(p, directory, num_draws=20_000, seed=0)
    assert report.generic_windows == sizes.sum() and report.clusters_used == 5
    assert report.repetition_rate == pytest.approx(
        report.expected_repetition_rate, abs=0.01
    )
    assert 0 < report.ess_fraction < 1


def test_generic_stream_compositions(shards):
    directory, sizes = shards
    n = int(sizes.sum())
    batch = 20
    # Epochs without replacement: the first epoch draws every window at most once.
    ds = st.generic_dataset(directory, batch, T, seed=0)
    epoch = n // batch
    clusters = np.concatenate(
        [x["cluster_ids"] for x, _, _ in ds.take(epoch).as_numpy_iterator()]
    )
    counts = np.bincount(clusters, minlength=K)
    assert len(clusters) == epoch * batch and np.all(counts <= sizes)
    assert np.sum(sizes - counts) == n - epoch * batch  # only the remainder is missing
    single = st.generic_dataset(
        directory, batch, T, seed=0, batch_composition="single_cluster"
    )
    counts = np.zeros(K)
    for x, _, _ in single.take(60).as_numpy_iterator():
        assert len(set(x["cluster_ids"].tolist())) == 1
        counts[x["cluster_ids"][0]] += 1
    assert counts[3] == 0
    iid = st.generic_dataset(
        directory,
        batch,
        T,
        seed=0,
        batch_composition="single_cluster",
        replacement=True,
    )
    assert all(
        len(set(x["cluster_ids"].tolist())) == 1
        for x, _, _ in iid.take(5).as_numpy_iterator()
    )
    assert stream_hash(single, 5) == stream_hash(
        st.generic_dataset(
            directory, batch, T, seed=0, batch_composition="single_cluster"
        ),
        5,
    )
    with pytest.raises(ValueError, match="batch_composition"):
        st.generic_dataset(directory, batch, T, batch_composition="per_expert")


def test_domain_dataset_from_text_and_windows(tmp_path):
    rng = random.Random(0)
    docs = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 30)))
        for _ in range(40)
    ]
    proto = train_sentencepiece(docs * 3, VOCAB)
    domain = tmp_path / "domain"
    domain.mkdir()
    for split, part in (("train", docs[:30]), ("valid", docs[30:] + ["   "])):
        with open(domain / f"{split}.jsonl", "w") as f:
            for d in part:
                f.write(json.dumps({"text": d}) + "\n")
    ws = collect_windows(domain / "valid.jsonl", proto, T, progress=False)
    valid = st.domain_dataset(
        domain,
        "valid",
        batch_size=4,
        tokenizer=proto,
        context_length=T,
        cluster_ids=np.arange(len(ws)),
    )
    batches = list(valid.as_numpy_iterator())
    ids = np.concatenate([x["token_ids"] for x, _, _ in batches])
    assert len(ids) == len(ws)  # deterministic order, last partial batch kept
    for i in range(len(ws)):
        n = len(ws.token_ids(i))
        np.testing.assert_array_equal(ids[i][: n - 1], ws.token_ids(i)[:-1])
    assert np.concatenate([x["cluster_ids"] for x, _, _ in batches]).tolist() == list(
        range(len(ws))
    )
    from_windows = st.domain_dataset(ws, batch_size=4, shuffle=False)
    np.testing.assert_array_equal(
        np.concatenate(
            [x["token_ids"] for x, _, _ in from_windows.as_numpy_iterator()]
        ),
        ids,
    )
    train = st.domain_dataset(
        domain,
        "train",
        batch_size=4,
        tokenizer=proto,
        context_length=T,
        cluster_ids=7,
        repeat=True,
        seed=3,
    )
    x, y, w = next(train.as_numpy_iterator())
    assert x["cluster_ids"].tolist() == [7] * 4 and x["token_ids"].shape == (4, T)
    train_ids = [x["token_ids"] for x, _, _ in train.take(3).as_numpy_iterator()]
    collected = collect_windows(domain / "train.jsonl", proto, T, progress=False)
    in_file_order = np.asarray([collected.token_ids(i)[1] for i in range(4)])
    assert not np.array_equal(train_ids[0][:, 1], in_file_order)  # shuffled
    with pytest.raises(FileNotFoundError, match="test.jsonl"):
        st.domain_dataset(
            domain, "test", batch_size=4, tokenizer=proto, context_length=T
        )


def test_batches_fit_a_keras_model_on_this_backend(shards):
    directory, sizes = shards
    token_ids = keras.Input((T,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((T,), dtype="bool", name="padding_mask")
    cluster_ids = keras.Input((), dtype="int32", name="cluster_ids")
    h = keras.layers.Embedding(VOCAB, 16)(token_ids)  # (batch, seq, 16)
    e = keras.layers.Embedding(K, 16)(cluster_ids)  # (batch, 16)
    h = h + keras.ops.expand_dims(e, 1)
    h = h * keras.ops.expand_dims(keras.ops.cast(padding_mask, h.dtype), -1)
    logits = keras.layers.Dense(VOCAB)(h)
    model = keras.Model(
        {
            "token_ids": token_ids,
            "padding_mask": padding_mask,
            "cluster_ids": cluster_ids,
        },
        logits,
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ds = st.resampled_dataset(directory, target_histogram(sizes), 8, T, seed=0)
    history = model.fit(ds, steps_per_epoch=1, epochs=1, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    generic = st.generic_dataset(directory, 8, T, batch_composition="single_cluster")
    # The same batch structure for SLM and PN pretraining.
    assert generic.element_spec == ds.element_spec
