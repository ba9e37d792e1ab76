"""The held-out generic validation split: whole documents, out of every training stream
and every k-means fit, clustered for every k, resumable and fingerprinted."""

import json
import shutil
from collections import Counter

import numpy as np
import pytest

from keras_pn.data import prepare as prep
from keras_pn.data.prepare.windowsets import load_windowset

T = 32
KS = (4, 8)
TOPICS = [
    "river water fish boat bank stream flood shore rain lake wave tide".split(),
    "engine gear motor piston wheel valve shaft fuel torque brake clutch axle".split(),
    "violin piano melody chord rhythm tempo opera choir sonata drum flute harp".split(),
]


def _write_jsonl(path, texts):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)

    def doc(topic, n):
        return " ".join(rng.choice(TOPICS[topic], size=n)) + "."

    _write_jsonl(
        root / "generic" / "a.jsonl",
        [doc(i % 3, int(rng.integers(10, 70))) for i in range(180)],
    )
    for split in ("train", "valid", "test"):
        _write_jsonl(root / "rivers" / f"{split}.jsonl", [doc(0, 40) for _ in range(6)])
    return root


def _prepare(workdir, corpus, **overrides):
    config = prep.PrepareConfig(
        **{
            "vocabulary_size": 300,
            "context_length": T,
            "embedder": "hashed",
            "cluster_counts": KS,
            "specialization_tokens": (300,),
            "kmeans_iterations": 5,
            "progress": False,
            **overrides,
        }
    )
    return prep.prepare_data(
        workdir, config, generic_dir=corpus / "generic",
        domain_dirs={"rivers": corpus / "rivers"},
    )


@pytest.fixture(scope="module")
def prepared(corpus, tmp_path_factory):
    return _prepare(tmp_path_factory.mktemp("prep") / "work", corpus, generic_valid_windows=40)


def _sequences(ws, rows=None):
    rows = range(len(ws)) if rows is None else rows
    return Counter(tuple(np.asarray(ws.token_ids(int(i))).tolist()) for i in rows)


def _batch_windows(x, y, w):
    """The stored ids of each example of a stream batch: [bos] + its targets."""
    x, y, w = x["token_ids"].numpy(), y.numpy(), w.numpy()
    return [tuple([int(x[i, 0])] + y[i, : int(w[i].sum())].tolist()) for i in range(len(y))]


def _split(prepared):
    ws = load_windowset(prepared.layout.generic_windows)
    heldout = np.load(prepared.layout.generic_valid_rows())
    train = np.setdiff1d(np.arange(len(ws)), heldout)
    return ws, heldout, train


def test_the_split_is_whole_documents_within_its_caps(prepared):
    ws, heldout, train = _split(prepared)
    summary = prepared.info["windows"]["generic_valid"]
    assert 0 < len(heldout) <= min(40, len(ws) // 10)
    assert summary["windows"] == prepared.generic_valid_windows == len(heldout)
    doc_index = np.asarray(ws.doc_index)
    held_docs = set(doc_index[heldout].tolist())
    # Whole documents: none of a held-out document's windows is trained on.
    assert not held_docs & set(doc_index[train].tolist())
    assert summary["documents"] == len(held_docs)
    tokens = np.diff(np.asarray(ws.row_splits)) - 1
    assert prepared.token_counts["generic_valid"] == tokens[heldout].sum() == summary["tokens"]
    assert prepared.token_counts["generic"] == tokens[train].sum()


def test_held_out_windows_are_in_no_shard_and_no_training_stream(prepared):
    ws, heldout, train = _split(prepared)
    training, held = _sequences(ws, train), _sequences(ws, heldout)
    only_held = set(held) - set(training)  # (a short last window may repeat)
    assert len(only_held) > len(held) // 2
    from keras_pn.data.shards import read_shards

    for k in KS:
        store = read_shards(prepared.shard_dir(k))
        sharded = Counter(
            tuple(np.asarray(w).tolist()) for c in range(k) for w in store.cluster(c)
        )
        assert sharded == training, k  # exactly the training windows, each once
    streams = [
        prepared.generic_stream(4, batch_size=32, seed=1),
        prepared.generic_stream(8, 32, batch_composition="single_cluster"),
        prepared.resampled_stream("rivers", None, 8, batch_size=32),
    ]
    streams += [prepared.cluster_stream(4, c, batch_size=32) for c in range(4)]
    seen = set()
    for stream in streams:
        for x, y, w in stream.take(6):
            seen.update(_batch_windows(x, y, w))
    assert seen <= set(training) and not seen & only_held
    assert len(seen) > len(training) // 3  # the streams were really read


def test_k_means_never_fits_held_out_windows_and_assigns_them(prepared):
    from keras_pn.data.embedding import SPHERICAL_CLUSTERING
    from keras_pn.data.kmeans import KMeans

    _, heldout, train = _split(prepared)
    emb = np.load(prepared.layout.generic_embeddings)
    for k in KS:
        saved = KMeans.load(prepared.layout.clusters_dir(k))
        refit = KMeans(
            k, n_iter=5, seed=0, spherical=SPHERICAL_CLUSTERING,
            max_points_per_centroid=256, verbose=False,
        ).fit(emb[train])
        np.testing.assert_allclose(saved.centroids_, refit.centroids_, atol=1e-6)
        labels = np.load(prepared.layout.generic_labels(k))
        np.testing.assert_array_equal(labels[train], refit.labels_)
        np.testing.assert_array_equal(labels[heldout], saved.assign(emb[heldout]))
        windows, ids = prepared.generic_valid(k)
        np.testing.assert_array_equal(ids, labels[heldout])
        assert ids.dtype == np.int32 and len(windows) == len(heldout)


def test_the_accessor_returns_the_split_and_a_fixed_sample(prepared):
    ws, heldout, _ = _split(prepared)
    windows, labels = prepared.generic_valid()
    assert labels is None and _sequences(windows) == _sequences(ws, heldout)
    a, a_ids = prepared.generic_valid(8, max_windows=7)
    b, b_ids = prepared.generic_valid(4, max_windows=7)
    assert len(a) == len(b) == 7 and _sequences(a) == _sequences(b)  # one sample for all
    np.testing.assert_array_equal(a.doc_index, b.doc_index)
    _, full_labels = prepared.generic_valid(8)
    sample = prep.reader.fixed_sample(len(heldout), 7)
    np.testing.assert_array_equal(a_ids, full_labels[sample])
    total = 0
    for x, _, _ in prepared.generic_valid_stream(5, k=8):
        assert x["cluster_ids"].shape == (x["token_ids"].shape[0],)
        total += x["token_ids"].shape[0]
    assert total == len(heldout)
    with pytest.raises(prep.PreparationError, match="k=5 was not prepared"):
        prepared.generic_valid(5)


def test_the_cap_reruns_the_split_and_what_reads_it_only(prepared, corpus, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(prepared.workdir, work)
    out = _prepare(work, corpus, generic_valid_windows=12)
    assert set(out.units_run) == (
        {"windows/generic_valid", "stats"}
        | {f"clusters/k{k}" for k in KS}
        | {f"shards/k{k}" for k in KS}
        | {f"assign/k{k}/rivers" for k in KS}
        | {f"histograms/k{k}/rivers" for k in KS}
    )
    assert 0 < out.generic_valid_windows <= 12
    assert _prepare(work, corpus, generic_valid_windows=12).units_run == ()
    none = _prepare(work, corpus, generic_valid_windows=0)
    assert none.generic_valid_windows == 0
    assert sum(
        json.loads((none.shard_dir(4) / "index.json").read_text())["windows_per_cluster"]
    ) == none.info["windows"]["generic"]["windows"]  # every window trains
    with pytest.raises(prep.PreparationError, match="no held-out generic validation"):
        none.generic_valid(4)
    with pytest.raises(prep.PreparationError, match="generic_valid_windows"):
        _prepare(tmp_path / "bad", corpus, generic_valid_windows=-1)


def test_a_workdir_prepared_before_the_split_loads_and_re_prepares(
    prepared, corpus, tmp_path
):
    work = tmp_path / "old"
    shutil.copytree(prepared.workdir, work)
    info = json.loads((work / "prepared.json").read_text())  # as the earlier code wrote it
    del info["windows"]["generic_valid"], info["params"]["generic_valid_windows"]
    del info["units"]["windows/generic_valid"]
    (work / "prepared.json").write_text(json.dumps(info))
    (work / "manifests" / "windows" / "generic_valid.json").unlink()
    shutil.rmtree(work / "windows" / "generic_valid")
    old = prep.load_prepared(work)
    assert old.generic_valid_windows == 0 and old.token_counts["generic_valid"] == 0
    assert "prepared before the held-out" in prep.format_summary(old)
    with pytest.raises(prep.PreparationError, match="rerun prepare_data"):
        old.generic_valid(4)
    again = _prepare(work, corpus, generic_valid_windows=40)
    assert "windows/generic_valid" in again.units_run
    assert not {"tokenizer", "windows/generic", "embeddings/generic"} & set(again.units_run)
    np.testing.assert_array_equal(
        np.load(again.layout.generic_valid_rows()),
        np.load(prepared.layout.generic_valid_rows()),
    )
