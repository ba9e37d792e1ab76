"""Generic windows stored sharded by cluster: TFRecord files plus an index.

Layout of a shard directory::

    <dir>/index.json                      # counts, k, context, tokenizer sha256, files
    <dir>/cluster-00042.tfrecord           # tf.train.Example records of cluster 42
    <dir>/cluster-00042-part-00001.tfrecord  # further parts (several flushes)

Each record is a ``tf.train.Example`` with ``token_ids`` (int64 list
``[bos] + chunk (+ [eos])``, at most ``context_length + 1`` ids, see
``keras_pn.data.windows``) and ``cluster_id`` (int64). Within a cluster, records keep the order in which they were
added. A directory is written under a temporary name and renamed into place when
complete, so an interrupted write never leaves a directory that looks complete.
``read_shards`` returns exactly the windows written, grouped by cluster.

Example:

>>> import numpy as np, tempfile, os
>>> d = os.path.join(tempfile.mkdtemp(), "shards")
>>> windows = [np.array([2, 5, 3]), np.array([2, 7, 8])]
>>> index = write_shards(d, windows, cluster_ids=[1, 0], num_clusters=2,
...                      context_length=4, tokenizer_sha256="0" * 64)
>>> read_shards(d).token_ids(0).tolist()  # Cluster 0 comes first.
[2, 7, 8]
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from keras_pn.file_io import staging_directory

logger = logging.getLogger(__name__)

INDEX_FILE = "index.json"
FORMAT = "keras_pn.cluster_shards"
FORMAT_VERSION = 1


def shard_file_name(cluster_id: int, part: int = 0) -> str:
    """``cluster-00042.tfrecord``, then ``cluster-00042-part-00001.tfrecord``..."""
    if part == 0:
        return f"cluster-{cluster_id:05d}.tfrecord"
    return f"cluster-{cluster_id:05d}-part-{part:05d}.tfrecord"


def _serialize(token_ids: np.ndarray, cluster_id: int) -> bytes:
    import tensorflow as tf

    feature = {
        "token_ids": tf.train.Feature(
            int64_list=tf.train.Int64List(value=token_ids.tolist())
        ),
        "cluster_id": tf.train.Feature(
            int64_list=tf.train.Int64List(value=[int(cluster_id)])
        ),
    }
    return tf.train.Example(
        features=tf.train.Features(feature=feature)
    ).SerializeToString()


class ShardWriter:
    """Streams windows into per-cluster TFRecord shards with bounded memory.

    Records are buffered per cluster and flushed, one file open at a time, whenever the
    buffers exceed ``buffer_bytes`` (each flush adds one part file per non-empty cluster
    buffer). The directory appears under its final name only when ``close()`` succeeds.
    Use as a context manager; an exception inside the block removes the temporary
    directory.

    Args:
        directory: destination shard directory.
        num_clusters: k, the number of clusters.
        context_length: maximum document tokens per window (a window has <=
            context_length + 1 ids).
        tokenizer_sha256: identity of the tokenizer that produced the ids
            (``keras_pn.data.tokenizer_training.tokenizer_sha256``).
        overwrite: replace an existing directory; otherwise an existing one is an error.
        buffer_bytes: flush threshold for the buffered serialized records.

    Example:

    >>> import tempfile, os
    >>> d = os.path.join(tempfile.mkdtemp(), "shards")
    >>> with ShardWriter(d, num_clusters=4, context_length=8, tokenizer_sha256="") as w:
    ...     w.add([2, 10, 11, 3], cluster_id=3)
    >>> read_index(d)["windows_per_cluster"]
    [0, 0, 0, 1]
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        num_clusters: int,
        context_length: int,
        tokenizer_sha256: str,
        *,
        overwrite: bool = False,
        buffer_bytes: int = 256 * 2**20,
    ):
        self.directory = os.path.abspath(os.fspath(directory))
        if num_clusters < 1:
            raise ValueError(f"num_clusters must be >= 1, got {num_clusters}.")
        if os.path.exists(self.directory) and not overwrite:
            raise FileExistsError(
                f"Shard directory {self.directory!r} already exists. Pass "
                "overwrite=True to replace it, or choose another directory."
            )
        self.num_clusters = int(num_clusters)
        self.context_length = int(context_length)
        self.tokenizer_sha256 = tokenizer_sha256
        self.overwrite = overwrite
        self.buffer_bytes = int(buffer_bytes)
        # Entered here, left by close() (rename into place) or abort() (deleted).
        self._staging = staging_directory(self.directory)
        self._tmp = self._staging.__enter__()
        self._buffers: dict[int, list[bytes]] = {}
        self._buffered = 0
        self._windows = np.zeros(self.num_clusters, np.int64)
        self._tokens = np.zeros(self.num_clusters, np.int64)
        self._files: list[list[str]] = [[] for _ in range(self.num_clusters)]
        self._closed = False

    def add(self, token_ids: Any, cluster_id: int) -> None:
        """Adds one window (``[bos] + chunk (+ [eos])``) to cluster ``cluster_id``."""
        token_ids = np.asarray(token_ids, np.int64).reshape(-1)
        cluster_id = int(cluster_id)
        if not 0 <= cluster_id < self.num_clusters:
            raise ValueError(
                f"cluster_id {cluster_id} is outside [0, {self.num_clusters}). Fix: "
                "pass the labels of the k-means model with num_clusters="
                f"{self.num_clusters} clusters (KMeans.assign), or set num_clusters to "
                "that model's k."
            )
        if not 2 <= len(token_ids) <= self.context_length + 1:
            raise ValueError(
                f"A window has {len(token_ids)} ids; windows hold between 2 and "
                f"context_length + 1 = {self.context_length + 1} ids ([bos] + up to "
                "context_length tokens (+ [eos])). Cut documents with "
                "keras_pn.data.windows using the same context_length."
            )
        record = _serialize(token_ids, cluster_id)
        self._buffers.setdefault(cluster_id, []).append(record)
        self._buffered += len(record)
        self._windows[cluster_id] += 1
        self._tokens[cluster_id] += len(token_ids) - 1
        if self._buffered >= self.buffer_bytes:
            self._flush()

    def _flush(self) -> None:
        import tensorflow as tf

        for cluster_id in sorted(self._buffers):
            name = shard_file_name(cluster_id, len(self._files[cluster_id]))
            with tf.io.TFRecordWriter(os.path.join(self._tmp, name)) as writer:
                for record in self._buffers[cluster_id]:
                    writer.write(record)
            self._files[cluster_id].append(name)
        self._buffers.clear()
        self._buffered = 0

    def index(self) -> dict[str, Any]:
        """The index as it will be written (counts so far)."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "num_clusters": self.num_clusters,
            "context_length": self.context_length,
            "tokenizer_sha256": self.tokenizer_sha256,
            "num_windows": int(self._windows.sum()),
            "num_tokens": int(self._tokens.sum()),
            "tokens_definition": "predicted tokens: ids per window minus one (the bos)",
            "windows_per_cluster": self._windows.tolist(),
            "tokens_per_cluster": self._tokens.tolist(),
            "files_per_cluster": self._files,
            "features": {
                "token_ids": "int64 list [bos] + chunk (+ [eos])",
                "cluster_id": "int64",
            },
        }

    def close(self) -> dict[str, Any]:
        """Flushes, writes index.json, renames the directory into place."""
        if self._closed:
            raise RuntimeError("ShardWriter.close() was already called.")
        self._flush()
        index = self.index()
        with open(os.path.join(self._tmp, INDEX_FILE), "w") as f:
            json.dump(index, f)
        if os.path.exists(self.directory) and not self.overwrite:
            self.abort()
            raise FileExistsError(
                f"Shard directory {self.directory!r} appeared while writing."
            )
        self._staging.__exit__(None, None, None)
        self._closed = True
        logger.info(
            "Wrote %d windows (%d tokens) in %d clusters to %s.",
            index["num_windows"],
            index["num_tokens"],
            self.num_clusters,
            self.directory,
        )
        return index

    def abort(self) -> None:
        """Drops everything written so far."""
        if not self._closed:
            aborted = RuntimeError("ShardWriter aborted")
            self._staging.__exit__(RuntimeError, aborted, None)
        self._buffers.clear()
        self._closed = True

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._closed:
            return
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_shards(
    directory: str | os.PathLike,
    windows: Any,
    cluster_ids: Sequence[int] | np.ndarray,
    num_clusters: int,
    context_length: int,
    *,
    tokenizer: Any = None,
    tokenizer_sha256: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
    buffer_bytes: int = 256 * 2**20,
) -> dict[str, Any]:
    """Writes windows with their cluster ids as a shard directory; returns the index.

    Args:
        directory: destination directory (written atomically).
        windows: a ``keras_pn.data.windows.WindowSet``, or an iterable of id arrays or
            Windows, in the same order as ``cluster_ids``.
        cluster_ids: (num_windows,) cluster of each window.
        num_clusters: k.
        context_length: maximum document tokens per window.
        tokenizer: the tokenizer (proto bytes, path or keras_hub tokenizer) whose sha256
            is recorded; alternatively pass ``tokenizer_sha256``.
        tokenizer_sha256: recorded tokenizer identity when ``tokenizer`` is not given.
            For a WindowSet it defaults to the set's own.
        overwrite: replace an existing directory.
        progress: show a tqdm progress bar.
        buffer_bytes: memory bound of the writer (see ``ShardWriter``).
    """
    from tqdm.auto import tqdm

    from keras_pn.data.windows import Window, WindowSet

    if tokenizer is not None:
        from keras_pn.data.tokenizer_training import tokenizer_sha256 as sha

        tokenizer_sha256 = sha(tokenizer)
    if tokenizer_sha256 is None:
        tokenizer_sha256 = (
            windows.tokenizer_sha256 if isinstance(windows, WindowSet) else ""
        )
    if isinstance(windows, WindowSet) and windows.context_length != context_length:
        raise ValueError(
            f"The windows were cut with context_length={windows.context_length}, not "
            f"{context_length}."
        )
    cluster_ids = np.asarray(cluster_ids).reshape(-1)
    n = len(windows) if hasattr(windows, "__len__") else None
    if n is not None and n != len(cluster_ids):
        raise ValueError(
            f"{n} windows but {len(cluster_ids)} cluster ids: they must align."
        )
    count = 0
    with ShardWriter(
        directory,
        num_clusters,
        context_length,
        tokenizer_sha256,
        overwrite=overwrite,
        buffer_bytes=buffer_bytes,
    ) as writer:
        items: Iterable[Any]
        if isinstance(windows, WindowSet):
            items = (windows.token_ids(i) for i in range(len(windows)))
        else:
            items = windows
        for ids, c in tqdm(
            zip(items, cluster_ids),
            total=len(cluster_ids),
            unit="window",
            desc="shards",
            disable=not progress,
        ):
            writer.add(ids.token_ids if isinstance(ids, Window) else ids, c)
            count += 1
        if count != len(cluster_ids):
            raise ValueError(
                f"{count} windows but {len(cluster_ids)} cluster ids: they must align."
            )
        index = writer.close()
    return index


def read_index(directory: str | os.PathLike) -> dict[str, Any]:
    """Reads and checks a shard directory's ``index.json``."""
    path = os.path.join(os.fspath(directory), INDEX_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path!r} does not exist: {os.fspath(directory)!r} is not a complete "
            "shard directory. Write one with keras_pn.data.shards.write_shards."
        )
    with open(path) as f:
        index = json.load(f)
    if index.get("format") != FORMAT or index.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{path!r} is not a {FORMAT} v{FORMAT_VERSION} index "
            f"(format={index.get('format')!r}, version={index.get('version')!r})."
        )
    return index


@dataclasses.dataclass
class ClusterWindows:
    """Windows read back from shards, grouped by cluster (cluster 0 first).

    Attributes:
        values: (total_ids,) int32, all windows' ids concatenated.
        row_splits: (num_windows + 1,) int64; window i is
            ``values[row_splits[i]:row_splits[i+1]]``.
        cluster_ids: (num_windows,) int32, non-decreasing.
        cluster_offsets: (k + 1,) int64; cluster c holds windows
            ``cluster_offsets[c]:cluster_offsets[c+1]`` (empty for clusters not read).
        index: the shard directory's index.
    """

    values: np.ndarray
    row_splits: np.ndarray
    cluster_ids: np.ndarray
    cluster_offsets: np.ndarray
    index: dict[str, Any]

    def __len__(self) -> int:
        return len(self.row_splits) - 1

    def token_ids(self, i: int) -> np.ndarray:
        """Window i's ids, (<= context_length + 1,) int32."""
        return self.values[self.row_splits[i] : self.row_splits[i + 1]]

    @property
    def cluster_sizes(self) -> np.ndarray:
        """(k,) windows held per cluster."""
        return np.diff(self.cluster_offsets)

    def cluster(self, c: int) -> list[np.ndarray]:
        """The windows of cluster c, in write order."""
        return [
            self.token_ids(i)
            for i in range(self.cluster_offsets[c], self.cluster_offsets[c + 1])
        ]


def read_shards(
    directory: str | os.PathLike,
    clusters: Iterable[int] | None = None,
    *,
    expected_tokenizer_sha256: str | None = None,
    progress: bool = False,
) -> ClusterWindows:
    """Reads a shard directory back into memory.

    Args:
        directory: a directory written by ``write_shards``/``ShardWriter``.
        clusters: clusters to read (default: all); the others are returned empty.
        expected_tokenizer_sha256: if given, a different recorded tokenizer is an error.
        progress: show a tqdm progress bar (in windows).

    Returns:
        A ClusterWindows with the windows of each requested cluster in write order.
    """
    import tensorflow as tf
    from tqdm.auto import tqdm

    directory = os.fspath(directory)
    index = read_index(directory)
    if (
        expected_tokenizer_sha256
        and index["tokenizer_sha256"] != expected_tokenizer_sha256
    ):
        raise ValueError(
            f"The shards in {directory!r} were tokenized with tokenizer "
            f"{index['tokenizer_sha256'][:12]}…, not "
            f"{expected_tokenizer_sha256[:12]}…. Rebuild the windows and shards with "
            "this run's tokenizer."
        )
    k = index["num_clusters"]
    wanted = np.zeros(k, bool)
    if clusters is None:
        wanted[:] = True
    else:
        clusters = np.asarray(list(clusters), np.int64)
        if clusters.size and (clusters.min() < 0 or clusters.max() >= k):
            raise ValueError(f"Requested clusters outside [0, {k}).")
        wanted[clusters] = True
    sizes = np.where(wanted, np.asarray(index["windows_per_cluster"], np.int64), 0)
    files = [
        os.path.join(directory, name)
        for c in np.flatnonzero(wanted)
        for name in index["files_per_cluster"][c]
    ]
    spec = {
        "token_ids": tf.io.RaggedFeature(tf.int64),
        "cluster_id": tf.io.FixedLenFeature([], tf.int64),
    }
    chunks, lengths, cids = [], [], []
    if files:
        ds = tf.data.TFRecordDataset(files).batch(4096)
        ds = ds.map(
            lambda s: tf.io.parse_example(s, spec),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        with tqdm(
            total=int(sizes.sum()),
            unit="window",
            desc="read shards",
            disable=not progress,
        ) as bar:
            for batch in ds.prefetch(2):
                ids = batch["token_ids"]
                chunks.append(ids.flat_values.numpy().astype(np.int32))
                lengths.append(ids.row_lengths().numpy())
                cids.append(batch["cluster_id"].numpy().astype(np.int32))
                bar.update(len(cids[-1]))
    values = np.concatenate(chunks) if chunks else np.zeros(0, np.int32)
    lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
    cluster_ids = np.concatenate(cids) if cids else np.zeros(0, np.int32)
    counts = np.bincount(cluster_ids, minlength=k)  # (>= k,)
    if len(counts) != k or np.any(counts != sizes) or np.any(np.diff(cluster_ids) < 0):
        raise ValueError(
            f"The shards in {directory!r} do not match their index (read "
            f"{len(cluster_ids)} windows, expected {int(sizes.sum())}): the directory "
            "is corrupt; rewrite it."
        )
    row_splits = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=row_splits[1:])
    offsets = np.zeros(k + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return ClusterWindows(values, row_splits, cluster_ids, offsets, index)
