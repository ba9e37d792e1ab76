"""Two-level k-means exposing flat cluster ids."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from keras_pn.data.kmeans.flat_kmeans import KMeans
from keras_pn.data.kmeans.persistence import (
    _CENTROIDS_FILE,
    _FORMAT_VERSION,
    _TOP_CENTROIDS_FILE,
    _jsonable,
    _save,
    load_kmeans,
)
from keras_pn.data.kmeans.validation import check_vectors


class HierarchicalKMeans:
    """Two-level k-means: ``n_top`` clusters, then ``n_sub`` inside each.

    Flat ids are ``top * n_sub + sub`` (``n_clusters = n_top * n_sub``). A top
    cluster with fewer than ``n_sub`` members gets one sub-cluster per member; its
    unused flat ids stay empty (``valid_`` marks the used ones). Assignment is
    two-level: nearest top centroid, then nearest sub-centroid inside it (as in the
    follow-up CRISP work) -- not always the globally nearest flat centroid.

    Args:
        n_top: number of top-level clusters.
        n_sub: clusters inside each top cluster.
        seed: seed; the sub-level of top cluster ``j`` uses ``seed + 1 + j``.
        **kmeans_kwargs: passed to every `KMeans` (``n_iter``, ``spherical``...).

    Attributes:
        top_: the top-level `KMeans`.
        centroids_: ``(n_top * n_sub, d)`` flat centroids (rows of invalid ids are 0).
        valid_: ``(n_top * n_sub,)`` bool, which flat ids have a centroid.
        labels_, inertia_: flat labels and inertia of the fitted vectors.

    Example:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(400, 4)).astype("float32")
    >>> hk = HierarchicalKMeans(2, 3, n_iter=5, verbose=False).fit(x)
    >>> int(hk.assign(x).max()) < 6
    True
    """

    def __init__(
        self,
        n_top: int,
        n_sub: int,
        *,
        seed: int = 0,
        verbose: bool = True,
        **kmeans_kwargs,
    ):
        if int(n_top) < 1 or int(n_sub) < 1:
            raise ValueError(f"n_top and n_sub must be >= 1; got {n_top}, {n_sub}.")
        self.n_top = int(n_top)
        self.n_sub = int(n_sub)
        self.seed = int(seed)
        self.verbose = bool(verbose)
        self.kmeans_kwargs = dict(kmeans_kwargs)
        self.top_ = None
        self.centroids_ = None
        self.valid_ = None
        self.labels_ = None
        self.inertia_ = None

    @property
    def n_clusters(self) -> int:
        return self.n_top * self.n_sub

    def fit(self, x) -> "HierarchicalKMeans":
        """Fit both levels on ``x`` ``(n, d)``; returns self."""
        x = check_vectors(x)
        n, d = x.shape
        if self.n_top > n:
            raise ValueError(
                f"n_top={self.n_top} is larger than the number of vectors ({n}); "
                f"use at most {n}."
            )
        self.top_ = KMeans(
            self.n_top, seed=self.seed, verbose=self.verbose, **self.kmeans_kwargs
        ).fit(x)
        top = self.top_.labels_
        self.centroids_ = np.zeros((self.n_clusters, d), dtype="float32")
        self.valid_ = np.zeros((self.n_clusters,), dtype=bool)
        labels = np.empty((n,), dtype="int32")
        inertia = 0.0
        order = np.argsort(top, kind="stable")
        bounds = np.searchsorted(top[order], np.arange(self.n_top + 1))
        for j in range(self.n_top):
            members = np.sort(order[bounds[j] : bounds[j + 1]])
            if len(members) == 0:
                continue
            k2 = min(self.n_sub, len(members))
            sub = KMeans(
                k2, seed=self.seed + 1 + j, verbose=False, **self.kmeans_kwargs
            ).fit(x[members])
            base = j * self.n_sub
            self.centroids_[base : base + k2] = sub.centroids_
            self.valid_[base : base + k2] = True
            labels[members] = base + sub.labels_
            inertia += sub.inertia_
        self.labels_ = labels
        self.inertia_ = float(inertia)
        return self

    def fit_predict(self, x) -> np.ndarray:
        """Fit and return flat ``labels_``."""
        return self.fit(x).labels_

    def assign(self, x, *, return_distances: bool = False):
        """Two-level nearest-centroid flat ids ``(n,)`` int32 (and squared dists)."""
        if self.top_ is None:
            raise ValueError(
                "This HierarchicalKMeans is not fitted; call fit(x) or "
                "load_kmeans(path) first."
            )
        x = check_vectors(x, dim=self.centroids_.shape[1])
        top = self.top_.assign(x)
        labels = np.empty((x.shape[0],), dtype="int32")
        d2 = np.empty((x.shape[0],), dtype="float32")
        for j in np.unique(top):
            rows = np.flatnonzero(top == j)
            base = j * self.n_sub
            k2 = int(self.valid_[base : base + self.n_sub].sum())
            sub = KMeans(k2, verbose=False, chunk_size=self.top_.chunk_size)
            sub.centroids_ = self.centroids_[base : base + k2]
            lab, dist = sub.assign(x[rows], return_distances=True)
            labels[rows] = base + lab
            d2[rows] = dist
        return (labels, d2) if return_distances else labels

    def compute_inertia(self, x) -> float:
        """Sum of squared distances to the two-level assigned centroids."""
        return float(np.sum(self.assign(x, return_distances=True)[1], dtype="float64"))

    def save(self, path) -> Path:
        """Save to directory ``path`` (flat and top centroids, metadata JSON)."""
        if self.top_ is None:
            raise ValueError(
                "This HierarchicalKMeans is not fitted; call fit(x) first."
            )
        meta = {
            "format_version": _FORMAT_VERSION,
            "class": type(self).__name__,
            "n_clusters": self.n_clusters,
            "n_top": self.n_top,
            "n_sub": self.n_sub,
            "dim": int(self.centroids_.shape[1]),
            "seed": self.seed,
            "valid": self.valid_.astype(int).tolist(),
            "inertia": self.inertia_,
            "top": self.top_._metadata(),
            "kmeans_kwargs": {
                k: v for k, v in self.kmeans_kwargs.items() if _jsonable(v)
            },
            "backend": keras.config.backend(),
        }
        return _save(
            path,
            meta,
            {
                _CENTROIDS_FILE: self.centroids_,
                _TOP_CENTROIDS_FILE: self.top_.centroids_,
            },
        )

    @classmethod
    def load(cls, path) -> "HierarchicalKMeans":
        model = load_kmeans(path)
        if not isinstance(model, cls):
            raise ValueError(
                f"{path} holds a {type(model).__name__}, not a {cls.__name__}."
            )
        return model
