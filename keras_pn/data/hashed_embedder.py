"""A fast, dependency-free embedder: hashed word n-grams and a random projection."""

from __future__ import annotations

import functools
import math
import re
import zlib
from collections import Counter
from typing import Sequence

import numpy as np

from keras_pn.data.minilm_embedder import EMBEDDING_DIM

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
