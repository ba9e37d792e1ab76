"""Window, embed, assign and shard a corpus with Beam, in the format of `shards`."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_pn.data.beam_pipeline.files import (
    MANIFEST_SUFFIX,
    PART_SUFFIX,
    expand_inputs,
    is_local,
    sentencepiece_bytes,
    tf_gfile,
)
from keras_pn.data.beam_pipeline.options import pipeline_options
from keras_pn.data.beam_pipeline.sample_fit import fit_centroids_on_sample
from keras_pn.file_io import staging_directory

logger = logging.getLogger(__name__)


def build_shards(
    inputs: str | Sequence[str],
    output_dir: str,
    *,
    tokenizer: Any,
    context_length: int,
    num_clusters: int,
    centroids_dir: str,
    embedder: str = "hashed",
    embedder_options: dict | None = None,
    runner: str = "DirectRunner",
    direct_num_workers: int = 2,
    direct_running_mode: str = "multi_processing",
    pipeline_args: Sequence[str] = (),
    sample_fraction: float = 0.1,
    max_points_per_centroid: int = 256,
    kmeans_iterations: int = 20,
    seed: int = 0,
    docs_per_part: int = 100_000,
    docs_per_batch: int = 64,
    embed_batch_size: int = 256,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Window, embed, assign and shard a corpus with Beam; returns the shard index.

    Args:
        inputs: JSONL files (records with a ``text`` field), globs or
            directories of ``*.jsonl``; their order defines document order.
        output_dir: the shard directory (format of ``keras_pn.data.shards``).
        tokenizer: the run's SentencePiece (proto bytes or ``.spm`` path).
        context_length: tokens per window.
        num_clusters: k.
        centroids_dir: a saved ``KMeans`` with ``k`` centroids; when missing, one
            is fitted on a sample first (``fit_centroids_on_sample``) and saved
            there.
        embedder, embedder_options: as ``keras_pn.data.embedding.get_embedder``;
            must be the embedder the centroids were fitted with.
        runner, direct_num_workers, direct_running_mode, pipeline_args: see
            ``pipeline_options``.
        sample_fraction, max_points_per_centroid, kmeans_iterations, seed: the
            sample fit (only when ``centroids_dir`` is missing).
        docs_per_part: documents of one input file per shard part (bounds the
            memory of one Beam group).
        docs_per_batch: documents per tokenization call.
        embed_batch_size: windows per embedding and assignment call.
        overwrite: replace an existing ``output_dir``.

    Returns:
        The index written to ``output_dir/index.json``.

    Raises:
        FileExistsError: ``output_dir`` exists and ``overwrite`` is False.
        ValueError: the centroids do not have ``num_clusters`` rows.
    """
    import apache_beam as beam

    from keras_pn.data.beam_pipeline import transforms
    from keras_pn.data.kmeans import KMeans
    from keras_pn.data.tokenizer_training import tokenizer_sha256

    gfile = tf_gfile()
    output_dir = os.fspath(output_dir).rstrip("/")
    if gfile.exists(output_dir) and not overwrite:
        raise FileExistsError(
            f"Shard directory {output_dir!r} already exists. Pass overwrite=True "
            "(--overwrite) to replace it, or choose another directory."
        )
    files = expand_inputs(inputs)
    proto = sentencepiece_bytes(tokenizer)
    options = pipeline_options(
        runner, direct_num_workers, direct_running_mode, pipeline_args
    )
    if not gfile.exists(os.path.join(os.fspath(centroids_dir), "kmeans.json")):
        fit_centroids_on_sample(
            files,
            centroids_dir,
            tokenizer=proto,
            context_length=context_length,
            num_clusters=num_clusters,
            embedder=embedder,
            embedder_options=embedder_options,
            sample_fraction=sample_fraction,
            max_points_per_centroid=max_points_per_centroid,
            kmeans_iterations=kmeans_iterations,
            seed=seed,
            options=options,
            embed_batch_size=embed_batch_size,
        )
    centroids = KMeans.load(centroids_dir).centroids_
    if centroids.shape[0] != num_clusters:
        raise ValueError(
            f"{centroids_dir} holds {centroids.shape[0]} centroids, not "
            f"num_clusters={num_clusters}. Fix: pass the matching --num_clusters or "
            "another --centroids_dir."
        )
    if is_local(output_dir):
        staging = staging_directory(os.path.abspath(output_dir))
    else:  # index.json, written last, marks a remote directory complete
        if gfile.exists(output_dir):
            gfile.rmtree(output_dir)
        gfile.makedirs(output_dir)
        staging = contextlib.nullcontext(output_dir)
    with staging as work:
        work = os.fspath(work)
        with beam.Pipeline(options=options) as p:
            (
                transforms.windows(p, files, proto, context_length, docs_per_batch)
                | "BatchForEmbedding" >> beam.BatchElements(
                    min_batch_size=1, max_batch_size=embed_batch_size
                )
                | "Embed" >> beam.ParDo(
                    transforms.EmbedDoFn(embedder, embedder_options)
                )
                | "BatchForAssignment" >> beam.BatchElements(
                    min_batch_size=1, max_batch_size=embed_batch_size
                )
                | "Assign" >> beam.ParDo(
                    transforms.AssignDoFn(os.fspath(centroids_dir), docs_per_part)
                )
                | "GroupByClusterPart" >> beam.GroupByKey()
                | "WriteParts" >> beam.ParDo(transforms.WritePartDoFn(work))
            )
        index = _finalize(work, num_clusters, context_length, tokenizer_sha256(proto))
    logger.info(
        "Beam wrote %d windows (%d tokens) in %d clusters to %s.",
        index["num_windows"],
        index["num_tokens"],
        num_clusters,
        output_dir,
    )
    return index


def _finalize(work, num_clusters, context_length, tokenizer_sha) -> dict[str, Any]:
    """Rename the parts to the shards' names, in document order; write index.json."""
    from keras_pn.data.shards import FORMAT, FORMAT_VERSION, INDEX_FILE, shard_file_name

    gfile = tf_gfile()
    manifests = []
    for path in gfile.glob(os.path.join(work, "*" + MANIFEST_SUFFIX)):
        with gfile.GFile(path) as f:
            manifests.append(json.load(f))
        gfile.remove(path)
    manifests.sort(key=lambda m: (m["cluster"], m["part"], m["file"]))
    unique, seen = [], set()
    for m in manifests:
        key = (m["cluster"], tuple(m["part"]))
        if key in seen:
            # A retried bundle wrote the same (complete, identical) part twice.
            gfile.remove(os.path.join(work, m["file"]))
            continue
        seen.add(key)
        unique.append(m)
    manifests = unique
    windows = np.zeros(num_clusters, np.int64)
    tokens = np.zeros(num_clusters, np.int64)
    files: list[list[str]] = [[] for _ in range(num_clusters)]
    for m in manifests:
        c = m["cluster"]
        name = shard_file_name(c, len(files[c]))
        gfile.rename(os.path.join(work, m["file"]), os.path.join(work, name))
        files[c].append(name)
        windows[c] += m["windows"]
        tokens[c] += m["tokens"]
    leftovers = gfile.glob(os.path.join(work, "*" + PART_SUFFIX))
    if leftovers:
        # Parts without a manifest: retried bundles of a failed worker.
        for path in leftovers:
            gfile.remove(path)
    index = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "num_clusters": int(num_clusters),
        "context_length": int(context_length),
        "tokenizer_sha256": tokenizer_sha,
        "num_windows": int(windows.sum()),
        "num_tokens": int(tokens.sum()),
        "tokens_definition": "predicted tokens: ids per window minus one (the bos)",
        "windows_per_cluster": windows.tolist(),
        "tokens_per_cluster": tokens.tolist(),
        "files_per_cluster": files,
        "features": {
            "token_ids": "int64 list [bos] + chunk (+ [eos])",
            "cluster_id": "int64",
        },
    }
    with gfile.GFile(os.path.join(work, INDEX_FILE), "w") as f:
        f.write(json.dumps(index))
    return index
