"""The Beam shard pipeline (several local workers) equals the in-process pipeline.

The Beam tests run under KERAS_BACKEND=tensorflow only: the pipeline is
TensorFlow-ecosystem code (tf.data, TFRecord, the graph tokenizer) whose one
Keras part, `KMeans.assign`, tests/data covers on every backend; running its
worker processes once keeps CI within budget.
"""

import json

import numpy as np
import pytest

pytest.importorskip("apache_beam")

T = 32
K = 4
TOPICS = [
    "river water fish boat bank stream flood shore rain lake wave tide".split(),
    "engine gear motor piston wheel valve shaft fuel torque brake clutch axle".split(),
    "violin piano melody chord rhythm tempo opera choir sonata drum flute harp".split(),
    "protein enzyme cell gene membrane tissue neuron cortex plasma insulin dna".split(),
]


def _corpus(root):
    rng = np.random.default_rng(0)
    docs = [
        " ".join(rng.choice(TOPICS[i % 4], size=rng.integers(5, 90))) + "."
        for i in range(160)
    ]
    files = []
    for n, part in enumerate((docs[:80], docs[80:])):
        path = root / f"shard-{n:05d}.jsonl"
        with open(path, "w") as f:
            for i, text in enumerate(part):
                f.write(json.dumps({"text": text}) + "\n")
                if i == 10:
                    f.write("\n")  # a blank line is not a record
                    f.write(json.dumps({"text": "   "}) + "\n")  # an empty document
                    f.write(json.dumps({"title": "no text"}) + "\n")
        files.append(str(path))
    return files, docs


@pytest.fixture(scope="module")
def beam_run(tmp_path_factory):
    from keras_pn.data import beam_pipeline
    from keras_pn.data.tokenizer_training import train_sentencepiece

    root = tmp_path_factory.mktemp("beam")
    files, docs = _corpus(root)
    proto = train_sentencepiece(docs, 300, hard_vocab_limit=False)
    # k-means on a hashed sample of the windows: a Beam pipeline in this process
    # (the sample does not depend on the runner or the number of workers).
    beam_pipeline.fit_centroids_on_sample(
        files,
        str(root / "kmeans"),
        tokenizer=proto,
        context_length=T,
        num_clusters=K,
        sample_fraction=0.5,
        max_points_per_centroid=64,
        kmeans_iterations=10,
        options=beam_pipeline.pipeline_options("DirectRunner", 1, "in_memory"),
    )
    # Windowing, embedding, assignment and shard writing on 2 worker processes.
    index = beam_pipeline.build_shards(
        files,
        str(root / "shards"),
        tokenizer=proto,
        context_length=T,
        num_clusters=K,
        centroids_dir=str(root / "kmeans"),
        embedder="hashed",
        runner="DirectRunner",
        direct_num_workers=2,
        direct_running_mode="multi_processing",
        docs_per_part=30,  # several parts per cluster and file
        docs_per_batch=16,
        embed_batch_size=32,
    )
    return root, files, proto, index


@pytest.mark.slow
@pytest.mark.tensorflow_only
def test_beam_shards_equal_in_process_pipeline(beam_run):
    from keras_pn.data.embedding import get_embedder
    from keras_pn.data.kmeans import KMeans
    from keras_pn.data.shards import read_shards
    from keras_pn.data.shards import write_shards
    from keras_pn.data.windows import collect_windows

    root, files, proto, index = beam_run
    ws = collect_windows(files, proto, T, progress=False)
    labels = KMeans.load(root / "kmeans").assign(get_embedder("hashed").embed(ws.texts))
    write_shards(root / "reference", ws, labels, K, T, tokenizer=proto)
    beam, reference = read_shards(root / "shards"), read_shards(root / "reference")

    # No window lost or duplicated.
    assert index["num_windows"] == len(ws) == len(beam)
    assert index["num_tokens"] == reference.index["num_tokens"]
    assert index["windows_per_cluster"] == reference.index["windows_per_cluster"]
    assert index["tokens_per_cluster"] == reference.index["tokens_per_cluster"]
    assert index["tokenizer_sha256"] == reference.index["tokenizer_sha256"]
    # Window by window, per cluster, in the same (document) order.
    for c in range(K):
        got = [w.tolist() for w in beam.cluster(c)]
        want = [w.tolist() for w in reference.cluster(c)]
        assert got == want, f"cluster {c} differs"
    assert sum(len(files) > 1 for files in index["files_per_cluster"]) > 0  # parts


@pytest.mark.slow
@pytest.mark.tensorflow_only
def test_beam_shards_feed_the_streams(beam_run):
    from keras_pn.data.streams import generic_dataset

    root, _, _, _ = beam_run
    whole = generic_dataset(root / "shards", batch_size=8, seed=3)
    x, _, _ = next(iter(whole))
    halves = [
        next(iter(generic_dataset(root / "shards", 8, seed=3, num_hosts=2, host_index=i)))
        for i in range(2)
    ]
    joined = np.concatenate([h[0]["token_ids"].numpy() for h in halves])
    np.testing.assert_array_equal(joined, x["token_ids"].numpy())
    assert halves[0][0]["token_ids"].shape[0] == 4


def test_host_sharding_rejects_uneven_batches(tmp_path):
    from keras_pn.data.shards import write_shards
    from keras_pn.data.streams import generic_dataset

    windows = [np.array([2, 10 + i, 3]) for i in range(8)]
    write_shards(tmp_path / "s", windows, [0, 1] * 4, 2, 4, tokenizer_sha256="")
    with pytest.raises(ValueError, match="multiple of 3"):
        generic_dataset(tmp_path / "s", 8, num_hosts=3, host_index=0)
    with pytest.raises(ValueError, match="host_index"):
        generic_dataset(tmp_path / "s", 8, num_hosts=2, host_index=2)
