"""Tests of keras_pn.data.shards: per-cluster TFRecord shards and their index."""

import json
import os

import numpy as np
import pytest

from keras_pn.data import shards as sh
from keras_pn.data.windows import WindowSet

pytestmark = pytest.mark.backend_agnostic  # no Keras backend involved

T = 6
K = 5


def random_windows(n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        body = rng.integers(4, 500, rng.integers(1, T + 1))
        eos = [3] if len(body) < T else []
        out.append(np.concatenate([[2], body, eos]).astype(np.int32))
    return out, rng.integers(0, K - 1, n)  # cluster K-1 stays empty


def test_round_trip_is_exact_per_cluster(tmp_path):
    windows, cids = random_windows(300)
    index = sh.write_shards(
        tmp_path / "s", windows, cids, K, T, tokenizer_sha256="ab" * 32
    )
    back = sh.read_shards(tmp_path / "s")
    assert len(back) == len(windows)
    assert np.all(np.diff(back.cluster_ids) >= 0)
    for c in range(K):
        expected = [w for w, ci in zip(windows, cids) if ci == c]
        got = back.cluster(c)
        assert len(got) == len(expected)
        assert all(np.array_equal(a, b) for a, b in zip(got, expected))
    assert back.values.dtype == np.int32
    assert back.cluster_sizes.tolist() == np.bincount(cids, minlength=K).tolist()
    assert (
        index["windows_per_cluster"][K - 1] == 0
        and index["files_per_cluster"][K - 1] == []
    )
    assert index["tokens_per_cluster"] == [
        int(sum(len(w) - 1 for w, ci in zip(windows, cids) if ci == c))
        for c in range(K)
    ]
    assert index["num_windows"] == 300 and index["context_length"] == T
    assert index["num_clusters"] == K and index["tokenizer_sha256"] == "ab" * 32
    assert json.loads((tmp_path / "s" / "index.json").read_text()) == index
    assert sorted(os.listdir(tmp_path)) == ["s"]  # no temporary directory left
    assert "cluster-00000.tfrecord" in os.listdir(tmp_path / "s")


def test_several_parts_per_cluster_and_subset_read(tmp_path):
    windows, cids = random_windows(200, seed=1)
    index = sh.write_shards(
        tmp_path / "s", windows, cids, K, T, tokenizer_sha256="", buffer_bytes=2000
    )
    assert len(index["files_per_cluster"][0]) > 1
    assert "cluster-00000-part-00001.tfrecord" in index["files_per_cluster"][0]
    back = sh.read_shards(tmp_path / "s", clusters=[2, 0])
    assert back.cluster_sizes.tolist() == [
        np.sum(cids == 0),
        0,
        np.sum(cids == 2),
        0,
        0,
    ]
    expected = [w for w, ci in zip(windows, cids) if ci == 2]
    assert all(np.array_equal(a, b) for a, b in zip(back.cluster(2), expected))


def test_window_set_input_and_tokenizer_check(tmp_path):
    windows, cids = random_windows(20)
    splits = np.concatenate([[0], np.cumsum([len(w) for w in windows])])
    ws = WindowSet(
        values=np.concatenate(windows),
        row_splits=splits,
        doc_index=np.arange(20),
        window_index=np.zeros(20, np.int32),
        texts=None,
        context_length=T,
        tokenizer_sha256="cd" * 32,
    )
    sh.write_shards(tmp_path / "s", ws, cids, K, T)
    assert sh.read_index(tmp_path / "s")["tokenizer_sha256"] == "cd" * 32
    with pytest.raises(ValueError, match="tokenized with tokenizer"):
        sh.read_shards(tmp_path / "s", expected_tokenizer_sha256="ef" * 32)
    with pytest.raises(ValueError, match="context_length=6"):
        sh.write_shards(tmp_path / "t", ws, cids, K, T + 1)


def test_atomic_writes_and_overwrite(tmp_path):
    windows, cids = random_windows(30)
    sh.write_shards(tmp_path / "s", windows, cids, K, T, tokenizer_sha256="")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        sh.write_shards(tmp_path / "s", windows, cids, K, T, tokenizer_sha256="")
    with pytest.raises(RuntimeError, match="boom"):
        with sh.ShardWriter(tmp_path / "u", K, T, "") as writer:
            writer.add(windows[0], 1)
            raise RuntimeError("boom")
    assert not (tmp_path / "u").exists()
    sh.write_shards(
        tmp_path / "s", windows[:5], cids[:5], K, T, tokenizer_sha256="", overwrite=True
    )
    assert sh.read_index(tmp_path / "s")["num_windows"] == 5
    assert sorted(os.listdir(tmp_path)) == ["s"]


def test_errors(tmp_path):
    windows, cids = random_windows(10)
    with pytest.raises(ValueError, match="must align"):
        sh.write_shards(tmp_path / "a", windows, cids[:5], K, T, tokenizer_sha256="")
    with pytest.raises(ValueError, match="context_length \\+ 1"):
        sh.write_shards(
            tmp_path / "b", [np.arange(T + 3)], [0], K, T, tokenizer_sha256=""
        )
    with pytest.raises(ValueError, match="outside"):
        sh.write_shards(tmp_path / "c", windows[:1], [K], K, T, tokenizer_sha256="")
    with pytest.raises(FileNotFoundError, match="not a complete shard directory"):
        sh.read_index(tmp_path / "nothing")
    assert sorted(os.listdir(tmp_path)) == []
