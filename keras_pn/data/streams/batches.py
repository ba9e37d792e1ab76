"""Batches of the streams: stored windows to Keras ``(x, y, sample_weight)``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np


def gather_windows(
    values: np.ndarray,
    row_splits: np.ndarray,
    rows: np.ndarray,
    width: int,
    pad_id: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Pads the windows ``rows`` of a flat (values, row_splits) array to ``width`` ids.

    Returns:
        ``(ids (batch, width) int32, lengths (batch,) int32)``.
    """
    starts = row_splits[rows]  # (batch,)
    lengths = np.minimum(row_splits[rows + 1] - starts, width)  # (batch,)
    positions = np.arange(width)  # (width,)
    index = starts[:, None] + positions[None, :]  # (batch, width)
    np.minimum(index, len(values) - 1, out=index)
    real = positions[None, :] < lengths[:, None]  # (batch, width)
    ids = np.where(real, values[index], pad_id)  # (batch, width)
    return ids.astype(np.int32, copy=False), lengths.astype(np.int32)


def windows_to_batch(ids, lengths, cluster_ids=None):
    """Graph function: padded windows to a Keras ``(x, y, sample_weight)`` batch.

    Args:
        ids: (batch, context_length + 1) int32 windows padded with pad.
        lengths: (batch,) int32 stored ids per window (bos and eos included).
        cluster_ids: optional (batch,) int32.
    """
    import tensorflow as tf

    ids = tf.cast(ids, tf.int32)
    seq = tf.shape(ids)[1] - 1
    positions = tf.range(seq)[None, :]  # (1, seq)
    lengths = tf.cast(lengths, tf.int32)[:, None]  # (batch, 1)
    x = {
        "token_ids": ids[:, :-1],  # (batch, seq)
        "padding_mask": positions < lengths,  # (batch, seq): the input token is real
    }
    if cluster_ids is not None:
        x["cluster_ids"] = tf.cast(cluster_ids, tf.int32)  # (batch,)
    y = ids[:, 1:]  # (batch, seq)
    # (batch, seq): 1 where y is a real token
    sample_weight = tf.cast(positions < lengths - 1, tf.float32)
    return x, y, sample_weight


def _stream_dataset(
    values: np.ndarray,
    row_splits: np.ndarray,
    window_clusters: np.ndarray,
    row_batches: Callable[[], Iterator[np.ndarray]],
    batch_size: int,
    context_length: int,
    include_cluster_ids: bool,
    pad_id: int,
    num_hosts: int = 1,
    host_index: int = 0,
):
    """tf.data stream over in-memory windows; row_batches gives each batch's rows.

    With ``num_hosts > 1`` every host draws the same global batches of
    ``batch_size`` rows and keeps its contiguous share of ``batch_size //
    num_hosts`` rows, so the hosts' batches together are the single-host batch.
    """
    import tensorflow as tf

    width = context_length + 1
    batch_size, share = _host_share(batch_size, num_hosts, host_index)

    def generator():
        for rows in row_batches():
            rows = rows[share]
            ids, lengths = gather_windows(values, row_splits, rows, width, pad_id)
            yield ids, lengths, window_clusters[rows]

    ds = tf.data.Dataset.from_generator(
        generator,
        output_signature=(
            tf.TensorSpec((batch_size, width), tf.int32),
            tf.TensorSpec((batch_size,), tf.int32),
            tf.TensorSpec((batch_size,), tf.int32),
        ),
    )
    if include_cluster_ids:
        ds = ds.map(
            windows_to_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
    else:
        ds = ds.map(
            lambda i, n, c: windows_to_batch(i, n),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return ds.prefetch(tf.data.AUTOTUNE)


def _host_share(batch_size: int, num_hosts: int, host_index: int):
    """``(per-host batch size, slice of the global batch)`` of host ``host_index``."""
    num_hosts, host_index = int(num_hosts), int(host_index)
    if num_hosts < 1 or not 0 <= host_index < num_hosts:
        raise ValueError(
            f"host_index={host_index} must be in [0, num_hosts={num_hosts})."
        )
    if batch_size % num_hosts:
        raise ValueError(
            f"The global batch size {batch_size} does not split over {num_hosts} "
            f"hosts. Fix: use a batch size that is a multiple of {num_hosts}."
        )
    per_host = batch_size // num_hosts
    return per_host, slice(host_index * per_host, (host_index + 1) * per_host)
