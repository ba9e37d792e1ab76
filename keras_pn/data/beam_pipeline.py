"""The data pipeline at corpus scale, on Apache Beam.

One Beam pipeline does what ``keras_pn.data.pipeline`` does in one process for
the generic corpus: windowing (the run's SentencePiece, the same graph function
as ``keras_pn.data.windows``), embedding (a DoFn around the same embedder,
loaded once per worker in ``setup()``), nearest-centroid assignment (the same
``keras_pn.data.kmeans.KMeans.assign``), and the per-cluster TFRecord shards in
exactly the format of ``keras_pn.data.shards`` (same features, file names and
``index.json``), so ``read_shards``, ``generic_dataset`` and
``resampled_dataset`` read them unchanged.

k-means is fitted beforehand on a sample of the windows, as faiss and NeMo
Curator do: ``fit_centroids_on_sample`` runs a first Beam pipeline that keeps
each window with a probability ``sample_fraction``, decided by a hash of its
position (so the sample does not depend on the runner or on the number of
workers), caps it at ``k * max_points_per_centroid`` windows (the smallest
hashes) and fits ``KMeans`` on it in the driver.

Windows are stored in document order inside each cluster (input files in the
order given, records in file order, windows in document order), as the
in-process pipeline stores them: the two produce the same shards window by
window. A cluster is written in parts of at most ``docs_per_part`` documents of
one input file (``cluster-00042.tfrecord``, ``cluster-00042-part-00001.tfrecord``,
...), one Beam group each, so no worker holds a whole cluster. Workers write
their parts under temporary names; the driver renames them and writes
``index.json`` last. On a local file system the directory is renamed into place
when complete; on remote file systems (``gs://``), ``index.json`` marks it
complete.

Runners: ``DirectRunner`` (``direct_num_workers``, ``direct_running_mode=
"multi_processing"`` for several local processes), or ``DataflowRunner``,
``FlinkRunner``, ``SparkRunner`` with their usual options
(``pipeline_args``). Remote workers need ``keras_pn`` installed (e.g. Dataflow
``--setup_file`` or a custom container) and paths they can read and write.

Example:

```python
from keras_pn.data import beam_pipeline

index = beam_pipeline.build_shards(
    ["generic/shard-00000.jsonl", "generic/shard-00001.jsonl"],
    "runs/beam/shards-k32",
    tokenizer="runs/data/tokenizer/vocabulary.spm",
    context_length=256,
    num_clusters=32,
    centroids_dir="runs/beam/kmeans-k32",   # fitted on a sample if missing
    embedder="minilm",
    runner="DirectRunner",
    direct_num_workers=4,
)
```
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

_MANIFEST_SUFFIX = ".manifest.json"
_PART_SUFFIX = ".tfrecord.tmp"


# --------------------------------------------------------------------------------------
# File helpers (tf.io.gfile: local paths and gs://, hdfs://, ...)
# --------------------------------------------------------------------------------------


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def _is_local(path: str) -> bool:
    return "://" not in os.fspath(path)


def _expand_inputs(inputs: str | Sequence[str]) -> list[str]:
    """Files of ``inputs`` (paths, globs or directories of ``*.jsonl``), in order."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    files: list[str] = []
    gfile = _gfile()
    for item in map(os.fspath, inputs):
        if gfile.isdir(item):
            files.extend(sorted(gfile.glob(os.path.join(item, "*.jsonl"))))
        elif any(ch in item for ch in "*?["):
            files.extend(sorted(gfile.glob(item)))
        else:
            files.append(item)
    missing = [f for f in files if not gfile.exists(f)]
    if missing or not files:
        raise FileNotFoundError(
            f"No JSONL input found for {list(inputs)!r} (missing: {missing[:3]}). "
            "Pass JSONL files, globs or directories holding *.jsonl files."
        )
    return files


def _proto(tokenizer: Any) -> bytes:
    """SentencePiece proto bytes of a tokenizer, reading remote paths with gfile."""
    from keras_pn.data.tokenizer_training import sentencepiece_proto

    if isinstance(tokenizer, (str, os.PathLike)) and not _is_local(tokenizer):
        with _gfile().GFile(os.fspath(tokenizer), "rb") as f:
            tokenizer = f.read()
    return sentencepiece_proto(tokenizer)


# --------------------------------------------------------------------------------------
# DoFns
# --------------------------------------------------------------------------------------


def _read_records(item):
    """``(file_index, path)`` -> ``((file_index, record_index), text)`` per record.

    Records are counted as ``keras_pn.data.windows.read_jsonl_texts`` counts them:
    blank lines are not records; a record without a string ``text`` is ``""``.
    """
    file_index, path = item
    record = 0
    with _gfile().GFile(path, "rb") as f:
        for line_number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(
                    f"{path}:{line_number} is not valid JSON ({e}). Each line must be "
                    "one JSON object with a 'text' field."
                ) from None
            text = obj.get("text") if isinstance(obj, dict) else None
            yield (file_index, record), text if isinstance(text, str) else ""
            record += 1


def _beam():
    import apache_beam as beam

    return beam


def _dofns():
    """The DoFn classes (defined lazily so importing this module needs no Beam)."""
    beam = _beam()

    class WindowDoFn(beam.DoFn):
        """Documents -> windows with the run's SentencePiece (tf graph, once per worker).

        Input: a batch of ``(doc_key, text)``; output per window: ``(doc_key,
        window_index, token_ids int32, text span)``.
        """

        def __init__(self, proto: bytes, context_length: int):
            self.proto = proto
            self.context_length = int(context_length)

        def setup(self):
            from keras_pn.data.windows import _traced_windows_fn

            self._fn = _traced_windows_fn(self.proto, self.context_length)

        def process(self, batch):
            import tensorflow as tf

            docs = [(key, text) for key, text in batch if text.strip()]
            if not docs:
                return
            out = self._fn(tf.constant([text for _, text in docs]))
            splits = out["token_ids"].row_splits.numpy()
            values = out["token_ids"].flat_values.numpy().astype(np.int32)
            doc = out["doc"].numpy()
            window_index = out["window_index"].numpy()
            spans = out["text"].numpy()
            for w in range(len(doc)):
                yield (
                    tuple(docs[doc[w]][0]),
                    int(window_index[w]),
                    values[splits[w] : splits[w + 1]].copy(),
                    spans[w].decode("utf-8", errors="replace"),
                )

    class EmbedDoFn(beam.DoFn):
        """A batch of windows -> ``(window, embedding)``; the embedder loads once."""

        def __init__(self, embedder: str, embedder_options: dict | None):
            self.embedder = embedder
            self.embedder_options = dict(embedder_options or {})

        def setup(self):
            from keras_pn.data.embedding import get_embedder

            self._embedder = get_embedder(self.embedder, **self.embedder_options)

        def process(self, batch):
            vectors = np.asarray(self._embedder.embed([w[3] for w in batch]), "float32")
            for window, vector in zip(batch, vectors):
                yield window, vector

    class AssignDoFn(beam.DoFn):
        """``(window, embedding)`` batches -> ``((cluster, part), window)``."""

        def __init__(self, centroids_dir: str, docs_per_part: int):
            self.centroids_dir = centroids_dir
            self.docs_per_part = int(docs_per_part)

        def setup(self):
            from keras_pn.data.kmeans import KMeans

            self._kmeans = KMeans.load(self.centroids_dir)
            self._kmeans.verbose = False

        def process(self, batch):
            vectors = np.stack([v for _, v in batch])
            labels = self._kmeans.assign(vectors)
            for (window, _), label in zip(batch, labels):
                (file_index, record), window_index, ids, _ = window
                part = (file_index, record // self.docs_per_part)
                yield (int(label), part), ((file_index, record), window_index, ids)

    class WritePartDoFn(beam.DoFn):
        """One ``(cluster, part)`` group -> a TFRecord part (document order) + manifest."""

        def __init__(self, directory: str):
            self.directory = directory

        def process(self, element):
            import tensorflow as tf

            from keras_pn.data.shards import _serialize

            (cluster, part), windows = element
            windows = sorted(windows, key=lambda w: (w[0], w[1]))
            name = f"c{cluster:05d}-f{part[0]:05d}-p{part[1]:07d}-{uuid.uuid4().hex[:8]}"
            path = os.path.join(self.directory, name + _PART_SUFFIX)
            tokens = 0
            with tf.io.TFRecordWriter(path) as writer:
                for _, _, ids in windows:
                    writer.write(_serialize(np.asarray(ids, np.int64), cluster))
                    tokens += len(ids) - 1
            manifest = {
                "cluster": int(cluster),
                "part": [int(part[0]), int(part[1])],
                "file": name + _PART_SUFFIX,
                "windows": len(windows),
                "tokens": int(tokens),
            }
            with tf.io.gfile.GFile(
                os.path.join(self.directory, name + _MANIFEST_SUFFIX), "w"
            ) as f:
                f.write(json.dumps(manifest))
            yield manifest

    class SampleDoFn(beam.DoFn):
        """Embedding batches -> one ``.npz`` of ``(hash, key, vector)`` per batch."""

        def __init__(self, directory: str):
            self.directory = directory

        def process(self, batch):
            import tensorflow as tf

            keys = np.asarray([k for k, _ in batch], np.int64)  # (b, 4)
            vectors = np.stack([v for _, v in batch]).astype("float32")
            path = os.path.join(self.directory, f"sample-{uuid.uuid4().hex}.npz")
            buffer = io.BytesIO()  # np.savez seeks; a GFile opened for writing can't
            np.savez(buffer, keys=keys, vectors=vectors)
            with tf.io.gfile.GFile(path, "wb") as f:
                f.write(buffer.getvalue())
            yield len(batch)

    return WindowDoFn, EmbedDoFn, AssignDoFn, WritePartDoFn, SampleDoFn


def _window_hash(doc_key, window_index: int, seed: int) -> float:
    """A uniform number in [0, 1) fixed by the window's position and the seed."""
    digest = hashlib.blake2b(
        f"{seed}:{doc_key[0]}:{doc_key[1]}:{window_index}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") / 2**64


# --------------------------------------------------------------------------------------
# Pipelines
# --------------------------------------------------------------------------------------


def pipeline_options(
    runner: str = "DirectRunner",
    direct_num_workers: int = 2,
    direct_running_mode: str = "multi_processing",
    pipeline_args: Sequence[str] = (),
):
    """``PipelineOptions`` for ``runner`` (``DirectRunner``, ``DataflowRunner``, ...).

    Args:
        runner: a Beam runner name.
        direct_num_workers: local workers of the DirectRunner.
        direct_running_mode: ``in_memory``, ``multi_threading`` or
            ``multi_processing`` (DirectRunner only).
        pipeline_args: more Beam options, e.g. ``["--project=p",
            "--region=us-central1", "--temp_location=gs://b/tmp",
            "--setup_file=./setup.py"]`` for Dataflow.

    Example:
    >>> pipeline_options("DirectRunner", 2).get_all_options()["direct_num_workers"]
    2
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    args = [f"--runner={runner}", *pipeline_args]
    if runner in ("DirectRunner", "direct"):
        args += [
            f"--direct_num_workers={int(direct_num_workers)}",
            f"--direct_running_mode={direct_running_mode}",
        ]
    return PipelineOptions(args)


def _windows(p, files, proto, context_length, docs_per_batch):
    beam = _beam()
    WindowDoFn = _dofns()[0]
    return (
        p
        | "Files" >> beam.Create(list(enumerate(files)))
        | "Read" >> beam.FlatMap(_read_records)
        | "SpreadDocuments" >> beam.Reshuffle()
        | "BatchDocuments" >> beam.BatchElements(
            min_batch_size=1, max_batch_size=docs_per_batch
        )
        | "Window" >> beam.ParDo(WindowDoFn(proto, context_length))
    )


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
    from keras_pn.data.embedding import SPHERICAL_CLUSTERING
    from keras_pn.data.kmeans import KMeans

    beam = _beam()
    _, EmbedDoFn, _, _, SampleDoFn = _dofns()
    if not 0 < sample_fraction <= 1:
        raise ValueError(f"sample_fraction must be in (0, 1], got {sample_fraction}.")
    files = _expand_inputs(inputs)
    proto = _proto(tokenizer)
    gfile = _gfile()
    work = f"{os.fspath(centroids_dir).rstrip('/')}.sample-{uuid.uuid4().hex[:8]}"
    gfile.makedirs(work)
    try:
        with beam.Pipeline(options=options or pipeline_options()) as p:
            (
                _windows(p, files, proto, context_length, 64)
                | "Sample" >> beam.Filter(
                    lambda w: _window_hash(w[0], w[1], seed) < sample_fraction
                )
                | "BatchForEmbedding" >> beam.BatchElements(
                    min_batch_size=1, max_batch_size=embed_batch_size
                )
                | "Embed" >> beam.ParDo(EmbedDoFn(embedder, embedder_options))
                | "Key" >> beam.Map(
                    lambda wv: (
                        (
                            int(_window_hash(wv[0][0], wv[0][1], seed) * 2**62),
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
                | "WriteSample" >> beam.ParDo(SampleDoFn(work))
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
    from keras_pn.data.kmeans import KMeans
    from keras_pn.data.tokenizer_training import tokenizer_sha256

    beam = _beam()
    _, EmbedDoFn, AssignDoFn, WritePartDoFn, _ = _dofns()
    gfile = _gfile()
    output_dir = os.fspath(output_dir).rstrip("/")
    if gfile.exists(output_dir) and not overwrite:
        raise FileExistsError(
            f"Shard directory {output_dir!r} already exists. Pass overwrite=True "
            "(--overwrite) to replace it, or choose another directory."
        )
    files = _expand_inputs(inputs)
    proto = _proto(tokenizer)
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
    local = _is_local(output_dir)
    if local:
        parent = os.path.dirname(os.path.abspath(output_dir))
        os.makedirs(parent, exist_ok=True)
        work = os.path.join(
            parent, f".{os.path.basename(output_dir)}.tmp-{uuid.uuid4().hex[:8]}"
        )
    else:
        if gfile.exists(output_dir):
            gfile.rmtree(output_dir)
        work = output_dir
    gfile.makedirs(work)
    try:
        with beam.Pipeline(options=options) as p:
            (
                _windows(p, files, proto, context_length, docs_per_batch)
                | "BatchForEmbedding" >> beam.BatchElements(
                    min_batch_size=1, max_batch_size=embed_batch_size
                )
                | "Embed" >> beam.ParDo(EmbedDoFn(embedder, embedder_options))
                | "BatchForAssignment" >> beam.BatchElements(
                    min_batch_size=1, max_batch_size=embed_batch_size
                )
                | "Assign" >> beam.ParDo(AssignDoFn(os.fspath(centroids_dir), docs_per_part))
                | "GroupByClusterPart" >> beam.GroupByKey()
                | "WriteParts" >> beam.ParDo(WritePartDoFn(work))
            )
        index = _finalize(work, num_clusters, context_length, tokenizer_sha256(proto))
        if local:
            trash = None
            if os.path.exists(output_dir):
                trash = f"{work}.old"
                os.rename(output_dir, trash)
            os.rename(work, output_dir)
            if trash:
                gfile.rmtree(trash)
    except BaseException:
        if local and gfile.exists(work):
            gfile.rmtree(work)
        raise
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

    gfile = _gfile()
    manifests = []
    for path in gfile.glob(os.path.join(work, "*" + _MANIFEST_SUFFIX)):
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
    leftovers = gfile.glob(os.path.join(work, "*" + _PART_SUFFIX))
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
