"""The Beam transforms of the pipeline: its DoFns and the shared windowing stage.

The one module of the package that imports Apache Beam at the top; the others
import it when a pipeline runs, so importing `keras_pn.data.beam_pipeline` needs no
Beam.
"""

from __future__ import annotations

import io
import json
import os
import uuid

import apache_beam as beam
import numpy as np

from keras_pn.data.beam_pipeline.files import (
    MANIFEST_SUFFIX,
    PART_SUFFIX,
    read_records,
)


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
        path = os.path.join(self.directory, name + PART_SUFFIX)
        tokens = 0
        with tf.io.TFRecordWriter(path) as writer:
            for _, _, ids in windows:
                writer.write(_serialize(np.asarray(ids, np.int64), cluster))
                tokens += len(ids) - 1
        manifest = {
            "cluster": int(cluster),
            "part": [int(part[0]), int(part[1])],
            "file": name + PART_SUFFIX,
            "windows": len(windows),
            "tokens": int(tokens),
        }
        with tf.io.gfile.GFile(
            os.path.join(self.directory, name + MANIFEST_SUFFIX), "w"
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


def windows(p, files, proto, context_length, docs_per_batch):
    """The windows of ``files``: read, spread, batched and cut by `WindowDoFn`."""
    return (
        p
        | "Files" >> beam.Create(list(enumerate(files)))
        | "Read" >> beam.FlatMap(read_records)
        | "SpreadDocuments" >> beam.Reshuffle()
        | "BatchDocuments" >> beam.BatchElements(
            min_batch_size=1, max_batch_size=docs_per_batch
        )
        | "Window" >> beam.ParDo(WindowDoFn(proto, context_length))
    )
