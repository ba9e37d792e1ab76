"""Tests of keras_pn.data.prepare: stages, caching, streams, bad inputs, config, layout."""

import dataclasses
import inspect
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from keras_pn.data import prepare as prep
from keras_pn.data.prepare.resampling_stats import (
    check_resampling_target,
    resampling_stats,
)

T = 32
VOCAB = 300
KS = (4, 8)
CAPS = (600, 2000)
TOPICS = [
    "river water fish boat bank stream flood shore rain lake wave tide".split(),
    "engine gear motor piston wheel valve shaft fuel torque brake clutch axle".split(),
    "violin piano melody chord rhythm tempo opera choir sonata drum flute harp".split(),
    "protein enzyme cell gene membrane tissue neuron cortex plasma insulin dna".split(),
]


def _doc(rng, topic, n_words):
    words = rng.choice(TOPICS[topic], size=n_words)
    return " ".join(words) + "."


def _write_jsonl(path, texts):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for t in texts:
            f.write(json.dumps({"text": t}) + "\n")


def _domain(root, name, topic, rng, n_train=30):
    d = root / name
    _write_jsonl(
        d / "train.jsonl",
        [_doc(rng, topic, rng.integers(30, 80)) for _ in range(n_train)],
    )
    for split in ("valid", "test"):
        _write_jsonl(d / f"{split}.jsonl", [_doc(rng, topic, 40) for _ in range(4)])
    return d


def _snapshot(root):
    """{relative path: mtime_ns} of every file under root."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = os.stat(p).st_mtime_ns
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    docs = [_doc(rng, i % 4, rng.integers(10, 40)) for i in range(240)]
    _write_jsonl(root / "generic" / "shard-00000.jsonl", docs[:120])
    _write_jsonl(root / "generic" / "shard-00001.jsonl", docs[120:])
    domains = {
        "rivers": _domain(root, "rivers", 0, rng),
        "music": _domain(root, "music", 2, rng),
    }
    return root, domains


def _config(**overrides):
    return prep.PrepareConfig(
        **{
            "vocabulary_size": VOCAB,
            "context_length": T,
            "embedder": "hashed",
            "cluster_counts": KS,
            "specialization_tokens": CAPS,
            "progress": False,
            "kmeans_iterations": 8,
            **overrides,
        }
    )


def _prepare(workdir, corpus, **overrides):
    """`prepare_data` on the test corpus; overrides of the directories or the config."""
    root, domains = corpus
    dirs = {"generic_dir": root / "generic", "domain_dirs": domains}
    dirs.update({k: overrides.pop(k) for k in list(overrides) if k in dirs})
    return prep.prepare_data(workdir, _config(**overrides), **dirs)


@pytest.fixture(scope="module")
def prepared(corpus, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("prep") / "work"
    return _prepare(workdir, corpus)


def _copy(prepared, tmp_path):
    dst = tmp_path / "work"
    shutil.copytree(prepared.workdir, dst)
    return dst


def test_every_stage_runs_and_writes_its_outputs(prepared):
    assert set(prepared.units_run) >= {"tokenizer", "windows/generic", "stats"}
    assert all(prepared.stage_seconds[s] > 0 for s in prep.STAGES)
    w = prepared.workdir
    assert (w / "tokenizer" / "vocabulary.spm").is_file()
    for k in KS:
        assert (w / "shards" / f"k{k}" / "index.json").is_file()
        assert (w / "clusters" / f"k{k}" / "centroids.npy").is_file()
        # Unit-norm embeddings are clustered by cosine: unit-norm centroids.
        centroids = np.load(w / "clusters" / f"k{k}" / "centroids.npy")
        np.testing.assert_allclose(np.linalg.norm(centroids, axis=1), 1.0, atol=1e-4)
        assert (w / "stats" / f"k{k}" / "full" / "cluster_stats.png").is_file()
    assert "| rivers | full |" in prepared.cluster_table()
    assert prepared.vocabulary_size <= VOCAB
    counts = prepared.token_counts
    assert counts["generic"] > 0 and counts["domains"]["music"]["test"] > 0
    assert set(prepared.domains) == {"rivers", "music"}
    assert "stage" in prep.format_summary(prepared)


def test_second_call_is_a_noop(prepared, corpus):
    before = _snapshot(prepared.workdir)
    t0 = time.perf_counter()
    again = _prepare(prepared.workdir, corpus)
    assert time.perf_counter() - t0 < 10
    assert again.units_run == ()
    assert _snapshot(prepared.workdir) == before
    loaded = prep.load_prepared(prepared.workdir)
    assert loaded.token_counts == prepared.token_counts
    assert loaded.cluster_counts == KS and loaded.specialization_tokens == CAPS


def test_histograms_sum_to_one(prepared):
    for d in prepared.domains:
        for size in (None,) + CAPS:
            for k in KS:
                h = prepared.histogram(d, size, k)
                assert h.shape == (k,) and np.isclose(h.sum(), 1.0)
                assert prepared.most_frequent_cluster(d, size, k) == int(np.argmax(h))
    # Two domains of different topics do not share their main cluster at k=4.
    assert prepared.most_frequent_cluster(
        "rivers", None, 4
    ) != prepared.most_frequent_cluster("music", None, 4)


def test_subsets_respect_caps_and_are_nested(prepared):
    for d in prepared.domains:
        ws = prepared.windows(d, "train")
        tokens = np.diff(np.asarray(ws.row_splits)) - 1
        doc_index = np.asarray(ws.doc_index)
        previous = set()
        for cap in CAPS:
            rows = prepared.subset_indices(d, cap)
            assert 0 < tokens[rows].sum() <= cap
            assert prepared.token_counts["subsets"][d][cap] == tokens[rows].sum()
            assert previous <= set(rows.tolist())
            previous = set(rows.tolist())
            # Whole documents first: at most one document is cut.
            partial = [
                doc
                for doc in np.unique(doc_index[rows])
                if (doc_index == doc).sum() != (doc_index[rows] == doc).sum()
            ]
            assert len(partial) <= 1
        assert len(prepared.windows(d, "train", CAPS[0])) == len(
            prepared.subset_indices(d, CAPS[0])
        )


def test_streams_have_the_documented_shapes(prepared):
    x, y, w = next(iter(prepared.generic_stream(4, batch_size=8, seed=1)))
    assert x["token_ids"].shape == (8, T) and y.shape == (8, T) and w.shape == (8, T)
    x, _, _ = next(
        iter(prepared.generic_stream(8, 8, batch_composition="single_cluster"))
    )
    assert len(set(x["cluster_ids"].numpy().tolist())) == 1

    h = prepared.histogram("music", CAPS[0], 8)
    x, y, _ = next(iter(prepared.resampled_stream("music", CAPS[0], 8, batch_size=16)))
    assert x["token_ids"].shape == (16, T)
    assert all(h[c] > 0 for c in x["cluster_ids"].numpy())

    n = len(prepared.subset_indices("rivers", CAPS[1]))
    ds = prepared.domain_stream(
        "rivers", "train", 4, size=CAPS[1], with_cluster_ids_k=4
    )
    seen = 0
    for x, y, _ in ds:
        assert x["token_ids"].shape[1] == T and x["cluster_ids"].shape[0] == y.shape[0]
        seen += y.shape[0]
    assert seen == n
    x, _, _ = next(
        iter(prepared.domain_stream("music", "valid", 2, with_cluster_ids_k=8))
    )
    assert x["cluster_ids"].shape == (2,)
    assert prepared.cluster_ids("music", "valid", 8).shape == (
        len(prepared.windows("music", "valid")),
    )
    assert prepared.tokenizer().vocabulary_size() == prepared.vocabulary_size


def test_changing_a_parameter_reruns_only_the_affected_units(
    prepared, corpus, tmp_path
):
    work = _copy(prepared, tmp_path)
    before = _snapshot(work)
    new_caps = (600, 1500)
    out = _prepare(work, corpus, specialization_tokens=new_caps)
    assert set(out.units_run) == (
        {f"subsets/{d}" for d in out.domains}
        | {f"histograms/k{k}/{d}" for k in KS for d in out.domains}
        | {"stats"}
    )
    after = _snapshot(work)
    for path, mtime in before.items():
        if path.startswith(
            ("tokenizer", "windows", "embeddings", "clusters", "shards")
        ):
            assert after[path] == mtime, path
    assert out.specialization_tokens == new_caps
    assert prep.load_prepared(work).specialization_tokens == new_caps


def test_a_crashed_run_resumes_at_the_first_incomplete_unit(
    prepared, corpus, tmp_path, monkeypatch
):
    from keras_pn.data import cluster_stats

    work = _copy(prepared, tmp_path)

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(cluster_stats, "write_stats_table", crash)
    new_caps = (600, 1000)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _prepare(work, corpus, specialization_tokens=new_caps)
    assert (work / "stats" / "summary.json").is_file()  # The old stats are intact...
    with pytest.raises(prep.PreparationError, match="did not finish"):
        prep.load_prepared(work)  # ...but no longer match the subsets.
    monkeypatch.undo()
    out = _prepare(work, corpus, specialization_tokens=new_caps)
    assert out.units_run == ("stats",)
    assert prep.load_prepared(work).specialization_tokens == new_caps


def test_an_empty_domain_is_a_clear_error(corpus, tmp_path):
    _, domains = corpus
    empty = tmp_path / "empty"
    _write_jsonl(empty / "train.jsonl", ["   ", ""])
    for split in ("valid", "test"):
        _write_jsonl(empty / f"{split}.jsonl", ["some text here"])
    work = tmp_path / "work"
    with pytest.raises(
        prep.PreparationError, match="'empty' has an empty or unreadable train"
    ):
        _prepare(work, corpus, domain_dirs={**domains, "empty": empty})
    assert not work.exists()


def test_a_domain_smaller_than_one_window_is_a_clear_error(prepared, corpus, tmp_path):
    _, domains = corpus
    tiny = tmp_path / "tiny"
    for split in ("train", "valid", "test"):
        _write_jsonl(tiny / f"{split}.jsonl", ["a b"])
    work = _copy(prepared, tmp_path)
    with pytest.raises(prep.PreparationError, match="fewer than one window"):
        _prepare(work, corpus, domain_dirs={**domains, "tiny": tiny})
    assert not (work / "windows" / "domains" / "tiny").exists()
    assert prep.load_prepared(work).domains == prepared.domains


def test_k_larger_than_the_generic_windows_is_a_clear_error(prepared, corpus, tmp_path):
    work = _copy(prepared, tmp_path)
    before = _snapshot(work)
    with pytest.raises(prep.PreparationError, match="k=100000.*only \\d+ windows"):
        _prepare(work, corpus, cluster_counts=(4, 100_000))
    assert _snapshot(work) == before


def test_bad_arguments_are_clear_errors(corpus, tmp_path):
    with pytest.raises(prep.PreparationError, match="smaller than one window"):
        _prepare(tmp_path / "w", corpus, specialization_tokens=(10,))
    with pytest.raises(prep.PreparationError, match="embedder"):
        _prepare(tmp_path / "w", corpus, embedder="bert")
    with pytest.raises(prep.PreparationError, match="no .jsonl"):
        _prepare(tmp_path / "w", corpus, generic_dir=tmp_path)
    assert not (tmp_path / "w").exists()


def test_mass_on_clusters_without_generic_windows(prepared, caplog):
    sizes = np.array([10, 0, 5, 0])
    with caplog.at_level(logging.WARNING):
        r = resampling_stats(np.array([0, 3, 0, 2]), sizes, 100, 0, "d")
    assert not r["available"] and "unavailable" in caplog.text
    with pytest.raises(prep.PreparationError, match="nothing to resample"):
        check_resampling_target(np.array([0, 3, 0, 2]), sizes, "d")
    r = resampling_stats(np.array([1, 3, 0, 0]), sizes, 100, 0, "d")
    assert r["available"] and r["mass_on_empty_clusters"] == 0.75
    assert (
        check_resampling_target(np.array([1, 3, 0, 0]), sizes, "d") == "renormalize"
    )
    with pytest.raises(prep.PreparationError, match="size=123 was not prepared"):
        prepared.histogram("music", 123, 4)
    with pytest.raises(prep.PreparationError, match="k=5 was not prepared"):
        prepared.generic_stream(5, 4)


# ---- PrepareConfig: frozen, and the only defaults ---------------------------------


def test_prepare_config_is_frozen_and_documents_every_knob():
    from keras_pn.data.embedding import EMBEDDERS

    config = prep.PrepareConfig(cluster_counts=[1024, 8])
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.vocabulary_size = 1
    assert config.cluster_counts == (1024, 8)  # a tuple: hashable, as given
    hash(config)
    for field in dataclasses.fields(prep.PrepareConfig):
        assert field.metadata.get("help"), f"{field.name} has no flag help"
    embedder = {f.name: f for f in dataclasses.fields(prep.PrepareConfig)}["embedder"]
    assert tuple(embedder.metadata["choices"]) == EMBEDDERS
    # Every field but progress shapes the outputs, so it is recorded.
    assert set(config.params()) == {
        f.name for f in dataclasses.fields(prep.PrepareConfig)
    } - {"progress"}


def test_prepare_data_takes_no_default_of_its_own():
    signature = inspect.signature(prep.prepare_data)
    assert list(signature.parameters) == ["workdir", "config", "generic_dir", "domain_dirs"]
    assert signature.parameters["config"].default == prep.PrepareConfig()


def test_the_recipe_flag_defaults_are_prepare_config_defaults(tmp_path):
    code = (
        "from absl import flags\n"
        "from recipes import prepare_data\n"
        "from recipes.config_flags import from_flags\n"
        "from keras_pn.data.prepare import PrepareConfig\n"
        "flags.FLAGS(['prepare_data', '--workdir=w'])\n"
        "assert from_flags(PrepareConfig) == PrepareConfig(), from_flags(PrepareConfig)\n"
        "flags.FLAGS(['prepare_data', '--workdir=w', '--cluster_counts=4,32',\n"
        "             '--noprogress', '--max_generic_tokens=5000'])\n"
        "config = from_flags(PrepareConfig)\n"
        "assert config.cluster_counts == (4, 32) and config.progress is False\n"
        "assert config.max_generic_tokens == 5000\n"
        "print('ok')\n"
    )
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]


def test_the_recipe_reuses_a_workdir_prepared_with_the_same_knobs(prepared, corpus, tmp_path):
    root, domains = corpus
    work = _copy(prepared, tmp_path)
    repo = Path(__file__).resolve().parents[2]
    command = [
        sys.executable, "-m", "recipes.prepare_data", f"--workdir={work}",
        f"--generic_dir={root / 'generic'}",
        f"--domain_dirs={','.join(str(d) for d in domains.values())}",
        f"--vocabulary_size={VOCAB}", f"--context_length={T}", "--embedder=hashed",
        f"--cluster_counts={','.join(map(str, KS))}",
        f"--specialization_tokens={','.join(map(str, CAPS))}",
        "--kmeans_iterations=8", "--noprogress",
    ]  # fmt: skip
    before = _snapshot(work)
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Prepared data in {work}" in result.stdout
    assert all(f"| {stage} | 0.0 (cached) |" in result.stdout for stage in prep.STAGES)
    assert _snapshot(work) == before


# ---- WorkdirLayout: the stages and PreparedData agree on every path ------------------


def test_the_stages_and_prepared_data_write_and_read_the_layout_paths(prepared):
    layout = prep.WorkdirLayout(prepared.workdir)
    assert prepared.layout == layout
    assert prepared.tokenizer_path == layout.tokenizer
    domains, labels = prepared.domains, ["full"] + [str(c) for c in CAPS]
    expected_files = [layout.prepared_file, layout.tokenizer, layout.generic_embeddings]
    expected_files += [layout.generic_valid_rows()]
    expected_files += [layout.manifest(unit) for unit in prepared.info["units"]]
    expected_files += [layout.stats_summary(), layout.stats_table()]
    # Directories whose files their writer names (WindowSet, embed_texts, KMeans, shards).
    expected_dirs = [layout.generic_windows, layout.generic_embeddings_dir]
    for d in domains:
        expected_dirs += [layout.split_windows(d, s) for s in prep.SPLITS]
        expected_dirs += [layout.domain_embeddings_dir(d)]
        expected_files += [layout.subsets_summary(d), layout.domain_embeddings(d, "train")]
        expected_files += [layout.subset(d, cap) for cap in CAPS]
    for k in KS:
        assert prepared.shard_dir(k) == layout.shards_dir(k)
        expected_dirs += [layout.clusters_dir(k), layout.shards_dir(k)]
        expected_files += [layout.generic_labels(k), layout.clusters_dir(k) / "centroids.npy"]
        expected_files += [layout.cluster_stats(k, "full", "png")]
        for label in labels:
            expected_files += [layout.cluster_stats(k, label, s) for s in ("json", "md")]
        for d in domains:
            expected_files += [layout.assignments(k, d, "train"), layout.histogram(k, d)]
    missing = [p for p in expected_files if not p.is_file()]
    missing += [p for p in expected_dirs if not p.is_dir()]
    assert not missing, missing
    # PreparedData reads what the stages wrote, and caches where the layout says.
    np.testing.assert_array_equal(
        prepared.subset_indices("music", CAPS[0]), np.load(layout.subset("music", CAPS[0]))
    )
    ids = prepared.cluster_ids("rivers", "test", 4)
    np.testing.assert_array_equal(ids, np.load(layout.assignments(4, "rivers", "test")))
    assert layout.domain_embeddings("rivers", "test").is_file()
    # Nothing in the workdir lies outside the layout.
    known = set(expected_files) | {layout.assignments(4, "rivers", "test")}
    known |= {layout.domain_embeddings(d, s) for d in domains for s in prep.SPLITS}
    known |= {layout.assignments(k, d, s) for k in KS for d in domains for s in prep.SPLITS}
    for path in prepared.workdir.rglob("*"):
        if path.is_file() and path not in known:
            assert any(d in path.parents for d in expected_dirs), path
