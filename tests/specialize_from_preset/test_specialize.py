"""Specialize a preset on a directory of text alone: PN (expert, histogram), SLM, bad input."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from keras_pn.clustering_assets import CLUSTERING_DIR
from keras_pn.clustering_assets import ClusteringAssetError
from keras_pn.clustering_assets import domain_histogram
from keras_pn.data.text_folder import DomainFolderError
from keras_pn.specialize_from_preset import SpecializeError
from keras_pn.specialize_from_preset import specialize_from_preset
from tests.specialize_from_preset.conftest import K
from tests.specialize_from_preset.conftest import read_json
from tests.specialize_from_preset.conftest import write_text_folder

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_generic_reads(monkeypatch, tmp_path):
    """Any read of a generic corpus (the cache, an index of generic JSONL, the generic
    streams) fails the test."""
    from keras_pn.data.prepare import context, reader

    def refuse(*args, **kwargs):
        raise AssertionError("the generic corpus was read")

    cache = tmp_path / "empty_cache"
    cache.mkdir()
    monkeypatch.setenv("KERAS_PN_CACHE", str(cache))
    monkeypatch.setattr(context, "JsonlIndex", refuse)
    for name in ("generic_stream", "resampled_stream", "shard_dir"):
        monkeypatch.setattr(reader.PreparedData, name, refuse)
    yield cache
    assert not any(cache.iterdir())


def _texts(jsonl):
    return [json.loads(line)["text"] for line in open(jsonl, encoding="utf-8") if line.strip()]


@pytest.mark.slow  # the first fine-tuning compiles (about a minute on 2 busy cores)
@pytest.mark.jax_only  # backend-independent flow; its models are tested on every backend
def test_pn_preset_on_a_folder_of_text_files(tiny_run, tmp_path, no_generic_reads):
    from keras_pn.models import GPTCausalLM

    folder = write_text_folder(tmp_path / "my_texts")
    workdir = tmp_path / "out"
    result = specialize_from_preset(tiny_run.pn, folder, workdir, tiny_run.config)
    assert result["method"] == "pn" and result["domain"] == "my_texts"
    assert np.isfinite(result["perplexity"]) and 1 < result["perplexity"] < 300 * 1.5
    assert result["tokens"] > 0 and 0 < result["finetune_steps"] <= 4
    # The expert is the train split's most frequent cluster, computed from raw text.
    train = _texts(workdir / "domain" / "train.jsonl")
    histogram = domain_histogram(tiny_run.pn, train)
    selection = read_json(workdir / "specialize.json")["selection"]
    assert selection["strategy"] == "most_frequent"
    assert selection["expert"] == int(np.argmax(histogram))
    assert selection["mass"] == pytest.approx(histogram.max())
    # The split is recorded; every file is in exactly one split.
    files = read_json(workdir / "domain" / "splits.json")["files"]
    assert sorted(sum(files.values(), [])) == sorted(
        p.relative_to(folder).as_posix() for p in Path(folder).rglob("*.txt"))
    # The specialized model is a plain preset with the PN's tokenizer; its test
    # perplexity is the one reported.
    fragment = read_json(workdir / "results" / "pn" / "my_texts.json")
    assert fragment["nll"] == pytest.approx(result["nll"])
    model = GPTCausalLM.from_preset(str(workdir / "preset"))
    assert model.backbone.num_layers == 2 and model.preprocessor.sequence_length == 32
    assert open(workdir / "preset" / "assets" / "tokenizer" / "vocabulary.spm", "rb").read() \
        == open(Path(tiny_run.pn) / "assets" / "tokenizer" / "vocabulary.spm", "rb").read()


@pytest.mark.slow
@pytest.mark.jax_only  # backend-independent flow; its models are tested on every backend
def test_histogram_selection_and_a_plain_slm(tiny_run, tmp_path, no_generic_reads):
    config = dataclasses.replace(tiny_run.config, expert_selection="histogram")
    domain = tiny_run.domain_dirs["sailing"]  # train/valid/test.jsonl, used as they are
    soft = specialize_from_preset(tiny_run.pn, domain, tmp_path / "soft", config)
    assert soft["method"] == "pn_histogram"
    assert read_json(tmp_path / "soft" / "specialize.json")["selection"]["top_mass"] == \
        pytest.approx(tiny_run.data.histogram("sailing", None, K).max())
    plain = specialize_from_preset(tiny_run.slm, domain, tmp_path / "slm", tiny_run.config,
                                   size=400)
    assert plain["method"] == "slm" and np.isfinite(plain["perplexity"])
    fragment = read_json(tmp_path / "slm" / "results" / "slm" / "sailing.json")
    assert fragment["before_finetuning"]["nll"] >= fragment["nll"] - 1e-6  # early stopping
    assert not (tmp_path / "slm" / "data" / "clusters").exists()  # a GPT needs no clusters


def test_bad_input_is_refused_and_nothing_is_lost(tiny_run, tmp_path, pn_preset):
    folder = write_text_folder(tmp_path / "texts")
    # A non-empty workdir is refused, untouched.
    workdir = tmp_path / "out"
    workdir.mkdir()
    (workdir / "notes.txt").write_text("mine")
    with pytest.raises(SpecializeError, match="exists and is not empty.*--overwrite"):
        specialize_from_preset(tiny_run.slm, folder, workdir, tiny_run.config)
    # --overwrite with an input that fails: the old workdir is restored as it was.
    (Path(folder) / "broken.txt").write_bytes(b"\xff\xfe binary \x00")
    with pytest.raises(DomainFolderError, match="broken.txt: contains NUL bytes"):
        specialize_from_preset(tiny_run.slm, folder, workdir, tiny_run.config, overwrite=True)
    assert sorted(os.listdir(workdir)) == ["notes.txt"]
    assert (workdir / "notes.txt").read_text() == "mine"
    # A new workdir is not left half-written.
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(DomainFolderError, match="holds no text"):
        specialize_from_preset(tiny_run.slm, empty, tmp_path / "new", tiny_run.config)
    assert not (tmp_path / "new").exists()
    # A PN preset without its clustering: the error says how to get one, before any write.
    shutil.rmtree(Path(pn_preset) / CLUSTERING_DIR)
    with pytest.raises(ClusteringAssetError, match="no k-means centroids.*export_zoo"):
        specialize_from_preset(pn_preset, tmp_path / "texts", tmp_path / "pn_out",
                               tiny_run.config)
    assert not (tmp_path / "pn_out").exists()
    # An architecture preset has no weights to specialize.
    with pytest.raises(ValueError, match="no trained weights"):
        specialize_from_preset("pn_tiny", tmp_path / "texts", tmp_path / "arch",
                               tiny_run.config)


def _recipe(*args, **env):
    environment = {k: v for k, v in os.environ.items() if k != "KERAS_PN_TRACEBACK"}
    environment.update(env)
    return subprocess.run([sys.executable, "-m", "recipes.specialize", *args], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
@pytest.mark.jax_only  # a child process per backend is costly; the library runs on all three
def test_recipe_as_typed_with_the_generic_corpus_gone(tiny_run, tmp_path):
    preset = shutil.copytree(tiny_run.pn, tmp_path / "pn_tiny_mine")
    folder = write_text_folder(tmp_path / "my_texts", topic="code")
    cache = tmp_path / "cache"
    cache.mkdir()
    generic = Path(tiny_run.generic_dir)
    hidden = [(generic, generic.with_name("hidden_generic")),
              (tiny_run.data.workdir, tiny_run.data.workdir.with_name("hidden_data"))]
    for path, away in hidden:  # nothing of the pretraining run is there to read
        os.replace(path, away)
    try:
        flags = [f"--preset={preset}", f"--domain_dir={folder}", f"--workdir={tmp_path / 'out'}",
                 "--select=best_pretrained", "--batch_size=4", "--finetune_batch_size=4",
                 "--finetune_max_steps=2", "--finetune_eval_every=1", "--learning_rate=0.01"]
        done = _recipe(*flags, KERAS_PN_CACHE=str(cache))
        assert done.returncode == 0, done.stderr[-3000:]
        assert "pn on my_texts: test perplexity" in done.stdout
        assert "preset in " + str(tmp_path / "out" / "preset") in done.stdout
        assert "embed (hashed)" in done.stderr  # the embedding progress bar
        assert not any(cache.iterdir())
        # The same command again: refused, the first run kept.
        again = _recipe(*flags, KERAS_PN_CACHE=str(cache))
        assert again.returncode == 2
        assert "specialize: error: --workdir" in again.stderr
        assert "exists and is not empty" in again.stderr and "Traceback" not in again.stderr
        assert (tmp_path / "out" / "preset" / "model.weights.h5").exists()
        # The old usage's flags still parse; missing ones are named.
        old = _recipe("--data_dir=x", f"--workdir={tmp_path / 'old'}")
        assert old.returncode == 2 and "Pass --data_dir and --domain" in old.stderr
    finally:
        for path, away in hidden:
            os.replace(away, path)
