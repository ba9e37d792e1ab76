"""k-means fitted on a hashed sample of the windows (a first Beam pipeline)."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_pn.data.beam_pipeline.files import (
    expand_inputs,
    sentencepiece_bytes,
    tf_gfile,
)
from keras_pn.data.beam_pipeline.options import pipeline_options

logger = logging.getLogger(__name__)


def window_hash(doc_key, window_index: int, seed: int) -> float:
    """A uniform number in [0, 1) fixed by the window's position and the seed."""
    digest = hashlib.blake2b(
        f"{seed}:{doc_key[0]}:{doc_key[1]}:{window_index}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") / 2**64


def fit_centroids_on_sample(
    inputs: str | Sequence[str],
    centroids_dir: str,
    *,
    tokenizer: Any,
    context_length: int,
    num_clusters: int,
    embedder: str = "hashed",
    embedder_options: dict | None = None,
    sample_fraction: float = 0.1,
    max_points_per_centroid: int = 256,
    kmeans_iterations: int = 20,
    seed: int = 0,
    options=None,
    embed_batch_size: int = 256,
):
    """Fit k-means on a hashed sample of the windows (Beam) and save it.

    Args:
        inputs: JSONL files, globs or directories.
        centroids_dir: where ``KMeans.save`` writes the model.
        tokenizer: the run's SentencePiece (proto bytes or ``.spm`` path).
        context_length: tokens per window.
        num_clusters: k.
        embedder, embedder_options: as ``keras_pn.data.embedding.get_embedder``.
        sample_fraction: probability of keeping a window (by hash; deterministic).
        max_points_per_centroid: cap of the sample, ``k`` times this (smallest
            hashes kept), as faiss caps its training set.
        kmeans_iterations: Lloyd iterations.
        seed: seed of the sample hash and of k-means.
        options: Beam ``PipelineOptions`` (default: ``pipeline_options()``).
        embed_batch_size: windows per embedding call.

    Returns:
        The fitted ``keras_pn.data.kmeans.KMeans``.
    """
    import apache_beam as beam

    from keras_pn.data.beam_pipeline import transforms
    from keras_pn.data.embedding import SPHERICAL_CLUSTERING
    from keras_pn.data.kmeans import KMeans

    if not 0 < sample_fraction <= 1:
        raise ValueError(f"sample_fraction must be in (0, 1], got {sample_fraction}.")
    files = expand_inputs(inputs)
    proto = sentencepiece_bytes(tokenizer)
    gfile = tf_gfile()
    work = f"{os.fspath(centroids_dir).rstrip('/')}.sample-{uuid.uuid4().hex[:8]}"
    gfile.makedirs(work)
    try:
        with beam.Pipeline(options=options or pipeline_options()) as p:
            (
                transforms.windows(p, files, proto, context_length, 64)
                | "Sample" >> beam.Filter(
                    lambda w: window_hash(w[0], w[1], seed) < sample_fraction
                )
                | "BatchForEmbedding" >> beam.BatchElements(
                    min_batch_size=1, max_batch_size=embed_batch_size
                )
                | "Embed" >> beam.ParDo(
                    transforms.EmbedDoFn(embedder, embedder_options)
                )
                | "Key" >> beam.Map(
                    lambda wv: (
                        (
                            int(window_hash(wv[0][0], wv[0][1], seed) * 2**62),
                            wv[0][0][0],
                            wv[0][0][1],
                            wv[0][1],
                        ),
                        wv[1],
                    )
                )
                | "BatchSample" >> beam.BatchElements(
                    min_batch_size=1, max_batch_size=4096
                )
                | "WriteSample" >> beam.ParDo(transforms.SampleDoFn(work))
            )
        keys, vectors = [], []
        for path in sorted(gfile.glob(os.path.join(work, "sample-*.npz"))):
            with gfile.GFile(path, "rb") as f:
                data = np.load(io.BytesIO(f.read()))
                keys.append(data["keys"])
                vectors.append(data["vectors"])
    finally:
        gfile.rmtree(work)
    if not keys:
        raise ValueError(
            f"The sample of {files} is empty (sample_fraction={sample_fraction}). "
            "Fix: raise --sample_fraction or check the inputs hold text."
        )
    keys = np.concatenate(keys)
    vectors = np.concatenate(vectors)
    order = np.lexsort(keys.T[::-1])  # by hash, then position: runner-independent
    order = order[: num_clusters * max_points_per_centroid]
    if len(order) < num_clusters:
        raise ValueError(
            f"The sample holds {len(order)} windows, fewer than k={num_clusters}. "
            "Fix: raise --sample_fraction."
        )
    km = KMeans(
        num_clusters,
        n_iter=kmeans_iterations,
        seed=seed,
        max_points_per_centroid=max_points_per_centroid,
        spherical=SPHERICAL_CLUSTERING,  # unit-norm embeddings: cosine
        verbose=False,
    ).fit(vectors[order])
    km.save(centroids_dir)
    logger.info(
        "k-means (k=%d) fitted on a sample of %d windows; saved to %s.",
        num_clusters,
        len(order),
        centroids_dir,
    )
    return km
