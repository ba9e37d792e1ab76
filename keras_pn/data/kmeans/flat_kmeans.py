"""Flat k-means: k-means++ initialisation, then Lloyd or mini-batch iterations."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import keras
import numpy as np
from keras import ops

from keras_pn.data.kmeans.backend_tools import _tools
from keras_pn.data.kmeans.kernels import (
    _assign_kernel,
    _bucket,
    _kmeanspp_kernel,
    _lloyd_kernel,
    _minibatch_kernel,
    _tensor,
    _update_kernel,
)
from keras_pn.data.kmeans.persistence import (
    _CENTROIDS_FILE,
    _FORMAT_VERSION,
    _save,
    load_kmeans,
)
from keras_pn.data.kmeans.source import _Source
from keras_pn.data.kmeans.validation import check_vectors

logger = logging.getLogger(__name__)


def _progress(total, desc, verbose):
    from tqdm.auto import tqdm

    return tqdm(
        total=total, desc=desc, disable=not verbose, leave=False, dynamic_ncols=True
    )



class KMeans:
    """Seeded flat k-means on `keras.ops` (k-means++, Lloyd or mini-batch).

    Args:
        n_clusters: number of clusters k (>= 1, <= number of vectors).
        n_iter: Lloyd iterations (assign + update), or epochs for
            ``algorithm="minibatch"``. A final assignment pass computes ``labels_``
            and ``inertia_`` with the final centroids (as scikit-learn does).
        tol: stop early when the total squared centroid shift of an iteration is
            below ``tol * mean per-dimension variance`` of the data (scikit-learn's
            rule); 0 runs exactly ``n_iter`` iterations.
        seed: seed of every random choice (subsamples, k-means++ draws, mini-batch
            order). Same seed, data and backend give identical assignments.
        algorithm: ``"lloyd"`` (full passes) or ``"minibatch"`` (Sculley's online
            updates over shuffled batches; for very large N).
        init: ``"k-means++"`` (greedy, on a subsample of ``init_sample_size``
            points), ``"random"`` (k distinct random points) or an array ``(k, d)``.
        init_sample_size: points used by k-means++; default
            ``min(n, max(10_000, 16 * k))``. k-means++ is sequential (k steps, each
            reading the whole sample), so its cost grows as ``k * sample``. A larger
            sample gives a slightly better start (about 1.5% lower inertia after 10
            iterations with the full data than with 8k points at k = 256 in
            `bench/kmeans.py`).
        n_local_trials: candidates per greedy k-means++ step; default
            ``2 + int(log(k))`` (scikit-learn's default).
        spherical: keep centroids at unit norm and assign by cosine (for
            L2-normalised embeddings, as NeMo Curator and faiss ``spherical``).
        max_points_per_centroid: if set, fit on a seeded subsample of at most
            ``k * max_points_per_centroid`` vectors (faiss uses 256); ``labels_``
            and ``inertia_`` still cover all vectors.
        batch_size: mini-batch size for ``algorithm="minibatch"``.
        chunk_size: rows per chunk of a pass; the ``(chunk, k)`` distance block
            bounds memory. None picks it: 2,048-8,192 rows on CPU (cache-sized
            blocks, depending on k), 32,768 on an accelerator.
        resident_bytes: move the data to the device once when it is at most this
            large, else stream chunks from the host array (e.g. a memmap).
        verbose: show a tqdm progress bar.

    Attributes:
        centroids_: ``(k, d)`` float32 numpy array.
        labels_: ``(n,)`` int32 cluster of each fitted vector.
        inertia_: sum of squared distances of the fitted vectors to their centroid.
        n_iter_: iterations (or epochs) run.
        n_repaired_: number of empty clusters re-seeded during the fit.
        history_: one dict per iteration (inertia before the update, shift, ...).

    Example:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(300, 4)).astype("float32")
    >>> km = KMeans(3, n_iter=5, seed=1, verbose=False).fit(x)
    >>> km.assign(x[:5]).shape
    (5,)
    """

    def __init__(
        self,
        n_clusters: int,
        *,
        n_iter: int = 25,
        tol: float = 1e-4,
        seed: int = 0,
        algorithm: str = "lloyd",
        init="k-means++",
        init_sample_size: int | None = None,
        n_local_trials: int | None = None,
        spherical: bool = False,
        max_points_per_centroid: int | None = None,
        batch_size: int = 4096,
        chunk_size: int | None = None,
        resident_bytes: int = 2**31,
        verbose: bool = True,
    ):
        if int(n_clusters) < 1:
            raise ValueError(f"n_clusters must be >= 1; got {n_clusters}.")
        if algorithm not in ("lloyd", "minibatch"):
            raise ValueError(
                f"algorithm must be 'lloyd' or 'minibatch'; got {algorithm!r}."
            )
        if isinstance(init, str) and init not in ("k-means++", "random"):
            raise ValueError(
                f"init must be 'k-means++', 'random' or an array; got {init!r}."
            )
        if int(n_iter) < 0:
            raise ValueError(f"n_iter must be >= 0; got {n_iter}.")
        self.n_clusters = int(n_clusters)
        self.n_iter = int(n_iter)
        self.tol = float(tol)
        self.seed = int(seed)
        self.algorithm = algorithm
        self.init = init
        self.init_sample_size = init_sample_size
        self.n_local_trials = n_local_trials
        self.spherical = bool(spherical)
        self.max_points_per_centroid = max_points_per_centroid
        self.batch_size = int(batch_size)
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        self.resident_bytes = int(resident_bytes)
        self.verbose = bool(verbose)
        self.centroids_ = None
        self.labels_ = None
        self.inertia_ = None
        self.n_iter_ = 0
        self.n_repaired_ = 0
        self.history_ = []
        self.fit_seconds_ = None

    # ----------------------------------------------------------------- public API
    def fit(self, x) -> "KMeans":
        """Fit centroids on ``x`` ``(n, d)`` (numpy array or memmap); returns self."""
        t0 = time.perf_counter()
        x = check_vectors(x)
        n, d = x.shape
        k = self.n_clusters
        if k > n:
            raise ValueError(
                f"n_clusters={k} is larger than the number of vectors ({n}). "
                "Use at most "
                f"{n} clusters or cluster more vectors."
            )
        backend = keras.config.backend()
        rng = np.random.default_rng(self.seed)
        fit_x = x
        if self.max_points_per_centroid and n > k * self.max_points_per_centroid:
            m = k * int(self.max_points_per_centroid)
            fit_x = x[np.sort(rng.choice(n, size=m, replace=False))]
            logger.info("k-means: fitting on a subsample of %d of %d vectors", m, n)
        source = _Source(fit_x, self._chunk(), self.resident_bytes)
        logger.info(
            "k-means: n=%d d=%d k=%d backend=%s algorithm=%s spherical=%s resident=%s",
            source.n,
            d,
            k,
            backend,
            self.algorithm,
            self.spherical,
            not source.streamed,
        )
        centroids = self._initial_centroids(source, rng)
        self.history_ = []
        self.n_repaired_ = 0
        if self.algorithm == "lloyd":
            centroids = self._fit_lloyd(source, centroids)
        else:
            centroids = self._fit_minibatch(source, centroids, rng)
        self.centroids_ = np.asarray(ops.convert_to_numpy(centroids), dtype="float32")
        # Final E-step over all vectors with the final centroids.
        if fit_x is not x:
            source = _Source(x, self._chunk(), self.resident_bytes)
        labels, d2 = self._assign_source(source, self.centroids_, self.verbose)
        self.labels_ = labels
        self.inertia_ = float(np.sum(d2, dtype="float64"))
        if self.n_repaired_:
            logger.info("k-means: re-seeded %d empty clusters", self.n_repaired_)
        n_empty = k - int(np.count_nonzero(np.bincount(labels, minlength=k)))
        if n_empty:
            logger.warning(
                "k-means: %d of k=%d clusters are empty after the final assignment; "
                "more iterations (n_iter) usually fill them, else the data hold fewer "
                "than k "
                "distinct vectors.",
                n_empty,
                k,
            )
        self.fit_seconds_ = time.perf_counter() - t0
        logger.info(
            "k-means: done in %.1fs, %d iterations, inertia %.6g",
            self.fit_seconds_,
            self.n_iter_,
            self.inertia_,
        )
        return self

    def fit_predict(self, x) -> np.ndarray:
        """Fit on ``x`` and return ``labels_`` ``(n,)`` int32."""
        return self.fit(x).labels_

    def assign(
        self, x, *, return_distances: bool = False, chunk_size: int | None = None
    ):
        """Nearest centroid of each vector, computed in chunks.

        Args:
            x: ``(n, d)`` array or memmap.
            return_distances: also return the squared distance to that centroid.
            chunk_size: rows per chunk (default: the model's ``chunk_size``).

        Returns:
            ``labels`` ``(n,)`` int32, or ``(labels, sq_distances)`` with
            ``sq_distances`` ``(n,)`` float32.

        Example:

        >>> import numpy as np
        >>> km = KMeans(2, verbose=False)
        >>> km.centroids_ = np.array([[0.0, 0.0], [10.0, 10.0]], "float32")
        >>> km.assign(np.array([[1.0, 0.0], [9.0, 9.0]])).tolist()
        [0, 1]
        """
        c = self._require_fitted()
        x = check_vectors(x, dim=c.shape[1])
        if x.shape[0] == 0:
            empty = np.empty((0,), "int32"), np.empty((0,), "float32")
            return empty if return_distances else empty[0]
        # Streamed (not resident): each chunk is transferred once anyway.
        source = _Source(x, chunk_size or self._chunk(), resident_bytes=0)
        labels, d2 = self._assign_source(source, c, self.verbose)
        return (labels, d2) if return_distances else labels

    @staticmethod
    def _assign_source(source: "_Source", c: np.ndarray, verbose: bool):
        labels = np.empty((source.n,), dtype="int32")
        d2 = np.empty((source.n,), dtype="float32")
        ct = _tensor(c)
        kernel = _assign_kernel(keras.config.backend())
        pending = []
        with _progress(len(source), "assign", verbose and len(source) > 8) as bar:
            for start, stop, xc, _ in source.chunks():
                pending.append((start, stop, kernel(xc, ct)))
                if len(pending) >= 4:  # bounded queue of in-flight results
                    KMeans._drain(pending[:2], labels, d2)
                    del pending[:2]
                bar.update(1)
            KMeans._drain(pending, labels, d2)
        return labels, d2

    def compute_inertia(self, x) -> float:
        """Sum of squared distances of ``x`` to their nearest centroid."""
        _, d2 = self.assign(x, return_distances=True)
        return float(np.sum(d2, dtype="float64"))

    def save(self, path) -> Path:
        """Save to directory ``path``: ``centroids.npy`` and ``kmeans.json``.

        Files are written atomically (temporary file, then rename); the JSON holds
        the parameters, fit statistics and a sha256 of the centroids, checked by
        `load`.
        """
        c = self._require_fitted()
        return _save(path, self._metadata(), {_CENTROIDS_FILE: c})

    @classmethod
    def load(cls, path) -> "KMeans":
        """Load a `KMeans` written by `save` (see also `load_kmeans`)."""
        model = load_kmeans(path)
        if not isinstance(model, cls):
            raise ValueError(
                f"{path} holds a {type(model).__name__}, not a {cls.__name__}."
            )
        return model

    # ----------------------------------------------------------------- internals
    def _chunk(self) -> int:
        """Rows per chunk: ``chunk_size`` or a size measured to suit the device."""
        if self.chunk_size:
            return self.chunk_size
        if _tools().accelerator:  # large blocks keep the GEMMs busy
            return 32768
        # CPU: keep the (chunk, k) distance block near the caches: smaller chunks for
        # larger k (measured faster than 8192-row chunks with bench/kmeans.py).
        k = self.n_clusters
        return 8192 if k <= 64 else 4096 if k <= 512 else 2048

    @property
    def n_features_(self):
        return None if self.centroids_ is None else int(self.centroids_.shape[1])

    def _require_fitted(self) -> np.ndarray:
        if self.centroids_ is None:
            raise ValueError(
                "This KMeans is not fitted; call fit(x) or KMeans.load(path) first."
            )
        return self.centroids_

    @staticmethod
    def _drain(pending, labels, d2):
        for start, stop, (lab, dist) in pending:
            m = stop - start
            labels[start:stop] = ops.convert_to_numpy(lab)[:m]
            d2[start:stop] = ops.convert_to_numpy(dist)[:m]

    def _metadata(self) -> dict:
        return {
            "format_version": _FORMAT_VERSION,
            "class": type(self).__name__,
            "n_clusters": self.n_clusters,
            "dim": self.n_features_,
            "spherical": self.spherical,
            "params": {
                "n_iter": self.n_iter,
                "tol": self.tol,
                "seed": self.seed,
                "algorithm": self.algorithm,
                "init": self.init if isinstance(self.init, str) else "array",
                "init_sample_size": self.init_sample_size,
                "n_local_trials": self.n_local_trials,
                "max_points_per_centroid": self.max_points_per_centroid,
                "batch_size": self.batch_size,
                "chunk_size": self.chunk_size,
            },
            "inertia": self.inertia_,
            "n_iter_run": self.n_iter_,
            "n_repaired": self.n_repaired_,
            "fit_seconds": self.fit_seconds_,
            "backend": keras.config.backend(),
        }

    def _initial_centroids(self, source: _Source, rng: np.random.Generator):
        k, n = self.n_clusters, source.n
        if not isinstance(self.init, str):
            init = check_vectors(self.init, name="init centroids", dim=source.d)
            if init.shape[0] != k:
                raise ValueError(
                    f"init has {init.shape[0]} centroids but n_clusters={k}; "
                    f"pass a ({k}, "
                    f"{source.d}) array."
                )
            c = np.asarray(init, dtype="float32")
        elif self.init == "random" or k == 1:
            c = source.rows_numpy(np.sort(rng.choice(n, size=k, replace=False)))
        else:
            m = self.init_sample_size or min(n, max(10_000, 16 * k))
            m = int(min(n, max(m, k)))
            idx = (
                np.arange(n)
                if m == n
                else np.sort(rng.choice(n, size=m, replace=False))
            )
            trials = self.n_local_trials or 2 + int(np.log(k))
            first = np.array([rng.integers(m)], dtype="int32")
            u = rng.random((k - 1, trials), dtype=np.float64).astype("float32")
            t0 = time.perf_counter()
            kernel = _kmeanspp_kernel(
                keras.config.backend(), k, int(trials), self.spherical
            )
            padded = _bucket(m)
            c = kernel(
                source.rows(idx, pad_to=padded),  # (padded, d)
                _tensor(np.arange(padded) < m),  # (padded,) 1 = real row
                _tensor(first, "int32"),
                _tensor(u),
            )
            logger.info(
                "k-means++: %d centres from %d points in %.1fs",
                k,
                m,
                time.perf_counter() - t0,
            )
            return c
        if self.spherical:
            c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
        return _tensor(c)

    def _tol_threshold(self, source: _Source) -> float:
        return self.tol * source.data_variance() if self.tol > 0 else -1.0

    def _fit_lloyd(self, source: _Source, c):
        k, d = self.n_clusters, source.d
        backend = keras.config.backend()
        kernel = _lloyd_kernel(backend, k)
        update = _update_kernel(backend, self.spherical)
        threshold = self._tol_threshold(source)
        zeros_kd, zeros_k, zero = np.zeros((k, d)), np.zeros((k,)), np.zeros(())
        self.n_iter_ = 0
        with _progress(self.n_iter, f"k-means k={k} ({backend})", self.verbose) as bar:
            for it in range(self.n_iter):
                t0 = time.perf_counter()
                sums, counts, inertia = (
                    _tensor(zeros_kd),
                    _tensor(zeros_k),
                    _tensor(zero),
                )
                outs = []
                for start, stop, xc, w in source.chunks():
                    lab, d2, sums, counts, inertia = kernel(
                        xc, w, c, sums, counts, inertia
                    )
                    outs.append((start, stop, lab, d2))
                    if source.streamed and len(outs) > 2:
                        # Back-pressure: wait for chunk i-2 (moving its outputs to the
                        # host) so at most 3 streamed chunks are in flight.
                        a, b, lab2, d22 = outs[-3]
                        outs[-3] = (
                            a,
                            b,
                            ops.convert_to_numpy(lab2),
                            ops.convert_to_numpy(d22),
                        )
                new_c, stats = update(sums, counts, c)
                shift, n_empty = (float(v) for v in ops.convert_to_numpy(stats))
                n_empty = int(n_empty)
                if n_empty:
                    new_c, shift = self._repair_empty(
                        source, new_c, c, sums, counts, outs
                    )
                c = new_c
                self.n_iter_ = it + 1
                inertia = float(ops.convert_to_numpy(inertia))
                self.history_.append(
                    {
                        "iteration": it + 1,
                        "inertia": inertia,
                        "shift": shift,
                        "empty_repaired": n_empty,
                        "seconds": time.perf_counter() - t0,
                    }
                )
                bar.set_postfix(inertia=f"{inertia:.5g}", shift=f"{shift:.3g}")
                bar.update(1)
                logger.debug(
                    "k-means iter %d inertia %.6g shift %.3g", it + 1, inertia, shift
                )
                if shift <= threshold:
                    logger.info("k-means: converged after %d iterations", it + 1)
                    break
        return c

    def _repair_empty(self, source: _Source, new_c, old_c, sums, counts, outs):
        """Re-seed each empty cluster with the point farthest from its centroid.

        The chosen point leaves its old cluster, whose centroid is recomputed without
        it (scikit-learn's relocation rule). Rare bookkeeping on ``(k, d)`` arrays,
        done on the host. Returns the repaired centroids and the squared shift.
        """
        counts = np.array(ops.convert_to_numpy(counts), dtype="float64")
        empty = np.flatnonzero(counts <= 0)
        labels = np.concatenate(
            [ops.convert_to_numpy(lab)[: b - a] for a, b, lab, _ in outs]
        )
        d2 = np.concatenate([ops.convert_to_numpy(v)[: b - a] for a, b, _, v in outs])
        far = np.argsort(-d2, kind="stable")[: len(empty)]
        c_np = np.array(ops.convert_to_numpy(new_c), dtype="float32")
        sums_np = np.array(ops.convert_to_numpy(sums), dtype="float64")
        for e, p, row in zip(empty, far, source.rows_numpy(far)):
            old = labels[p]
            if counts[old] > 1:
                sums_np[old] -= row
                counts[old] -= 1
                c_np[old] = sums_np[old] / counts[old]
            c_np[e] = row
        if self.spherical:
            c_np /= np.maximum(np.linalg.norm(c_np, axis=1, keepdims=True), 1e-12)
        self.n_repaired_ += len(empty)
        shift = float(np.sum((c_np - ops.convert_to_numpy(old_c)) ** 2))
        return _tensor(c_np), shift

    def _fit_minibatch(self, source: _Source, c, rng: np.random.Generator):
        k, n = self.n_clusters, source.n
        bs = max(1, min(self.batch_size, _bucket(n)))
        backend = keras.config.backend()
        kernel = _minibatch_kernel(backend, k, self.spherical)
        threshold = self._tol_threshold(source)
        v = _tensor(np.zeros((k,)))  # cumulative counts per centre
        steps = math.ceil(n / bs)
        w_full = _tensor(np.ones((bs,)))
        self.n_iter_ = 0
        desc = f"mini-batch k-means k={k} ({backend})"
        with _progress(self.n_iter * steps, desc, self.verbose) as bar:
            for epoch in range(self.n_iter):
                t0 = time.perf_counter()
                c_epoch = ops.convert_to_numpy(c)
                perm = rng.permutation(n)
                inertia = 0.0
                for s in range(steps):
                    idx = np.sort(perm[s * bs : (s + 1) * bs])
                    m = len(idx)
                    xb = source.rows(idx, pad_to=bs)  # (bs, d)
                    w = w_full if m == bs else _tensor(np.arange(bs) < m)
                    c, v, d2, stats = kernel(xb, w, c, v)
                    ine, n_unused = (float(t) for t in ops.convert_to_numpy(stats))
                    if n_unused:
                        c = self._reseed_from_batch(c, v, xb, d2, m)
                    inertia += ine
                    bar.update(1)
                shift = float(np.sum((ops.convert_to_numpy(c) - c_epoch) ** 2))
                self.n_iter_ = epoch + 1
                self.history_.append(
                    {
                        "iteration": epoch + 1,
                        "inertia": inertia,
                        "shift": shift,
                        "seconds": time.perf_counter() - t0,
                    }
                )
                bar.set_postfix(inertia=f"{inertia:.5g}", shift=f"{shift:.3g}")
                if shift <= threshold:
                    break
        return c

    def _reseed_from_batch(self, c, v, xb, d2, m):
        """Move never-used centres onto the batch points farthest from their centre."""
        empty = np.flatnonzero(ops.convert_to_numpy(v) <= 0)
        far = np.argsort(-ops.convert_to_numpy(d2)[:m], kind="stable")[: len(empty)]
        c_np = np.array(ops.convert_to_numpy(c), dtype="float32")
        c_np[empty[: len(far)]] = ops.convert_to_numpy(xb)[far]
        if self.spherical:
            c_np /= np.maximum(np.linalg.norm(c_np, axis=1, keepdims=True), 1e-12)
        self.n_repaired_ += len(far)
        return _tensor(c_np)
