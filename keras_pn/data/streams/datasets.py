"""The tf.data datasets: importance-resampled, generic (with cluster ids), domain."""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from keras_pn.data.streams.batches import _stream_dataset, windows_to_batch
from keras_pn.data.streams.resampling_stats import effective_sample_size
from keras_pn.data.streams.rows import (
    _normalize_target,
    _rebatch,
    generic_rows,
    resampled_rows,
)

logger = logging.getLogger(__name__)


def _check_context_length(index: dict[str, Any], context_length: int | None) -> int:
    stored = int(index["context_length"])
    if context_length is None:
        return stored
    if int(context_length) != stored:
        raise ValueError(
            f"context_length={context_length} but the shards hold windows of up to "
            f"{stored} tokens. Pass context_length={stored}, or re-cut the windows "
            f"with {context_length}."
        )
    return stored


def _pad_id(pad_id: int | None) -> int:
    from keras_pn.data.tokenizer_training import PAD_ID

    return PAD_ID if pad_id is None else int(pad_id)


def resampled_dataset(
    shard_dir: str | os.PathLike,
    target_histogram: Any,
    batch_size: int,
    context_length: int | None = None,
    seed: int = 0,
    *,
    on_missing: str = "raise",
    include_cluster_ids: bool = True,
    pad_id: int | None = None,
    expected_tokenizer_sha256: str | None = None,
    num_hosts: int = 1,
    host_index: int = 0,
):
    """Importance-resampled generic stream matching a domain's cluster histogram.

    Each example: a cluster drawn from ``target_histogram``, then a window drawn
    uniformly inside that cluster, with replacement (the `keras_pn.data.streams`
    docstring says why this is exact). Infinite: use ``steps_per_epoch`` in ``fit``
    or ``.take(n)``.

    Args:
        shard_dir: generic windows sharded by cluster (``keras_pn.data.shards``).
        target_histogram: (k,) cluster histogram of the domain (counts or
            probabilities).
        batch_size: examples per batch.
        context_length: sequence length; must equal the shards' (None: take theirs).
        seed: the stream's seed; the same seed gives the same stream.
        on_missing: ``"raise"`` (default) if target mass falls on a cluster with no
            generic window, or ``"renormalize"`` to drop that mass with a warning.
        include_cluster_ids: add ``x["cluster_ids"]``.
        pad_id: padding id (default 0, ``<pad>``).
        expected_tokenizer_sha256: check the shards were tokenized by this tokenizer.
        num_hosts: training hosts reading the stream (multi-host data parallelism).
        host_index: this host, in ``[0, num_hosts)``. Every host draws the same
            global batches of ``batch_size`` windows and yields its contiguous share
            of ``batch_size // num_hosts``; together the hosts yield exactly the
            single-host stream.

    Returns:
        A ``tf.data.Dataset`` of ``(x, y, sample_weight)`` batches (see the
        package docstring), of ``batch_size // num_hosts`` examples.

    Example:

    >>> ds = resampled_dataset("shards/", histogram, 32, seed=0)  # doctest: +SKIP
    >>> model.fit(ds, steps_per_epoch=1000)  # doctest: +SKIP
    """
    from keras_pn.data.shards import read_index, read_shards

    index = read_index(shard_dir)
    context_length = _check_context_length(index, context_length)
    sizes = np.asarray(index["windows_per_cluster"], np.int64)
    p = _normalize_target(target_histogram, sizes, on_missing)
    used = np.flatnonzero(p > 0)
    store = read_shards(
        shard_dir, clusters=used, expected_tokenizer_sha256=expected_tokenizer_sha256
    )
    ess = effective_sample_size(p, sizes)
    logger.info(
        "Resampled stream over %d of %d clusters (%d windows held); effective sample "
        "size %.0f windows (%.1f%% of the %d generic windows).",
        len(used),
        len(sizes),
        len(store),
        ess,
        100 * ess / max(sizes.sum(), 1),
        sizes.sum(),
    )
    held = store.cluster_sizes  # Equal to `sizes` on the used clusters, zero elsewhere.
    return _stream_dataset(
        store.values,
        store.row_splits,
        store.cluster_ids,
        lambda: _rebatch(resampled_rows(p, held, seed), batch_size),
        batch_size,
        context_length,
        include_cluster_ids,
        _pad_id(pad_id),
        num_hosts,
        host_index,
    )


def generic_dataset(
    shard_dir: str | os.PathLike,
    batch_size: int,
    context_length: int | None = None,
    seed: int = 0,
    *,
    batch_composition: str = "mixed",
    replacement: bool = False,
    include_cluster_ids: bool = True,
    pad_id: int | None = None,
    expected_tokenizer_sha256: str | None = None,
    num_hosts: int = 1,
    host_index: int = 0,
):
    """The generic stream with cluster ids, for SLM and PN pretraining.

    Args:
        shard_dir: generic windows sharded by cluster.
        batch_size: examples per batch.
        context_length: sequence length; must equal the shards' (None: take theirs).
        seed: the stream's seed.
        batch_composition: ``"mixed"``: examples from any cluster. ``"single_cluster"``:
            every batch comes from one cluster, chosen with probability proportional to
            its windows — PN pretraining then runs a single expert per step.
        replacement: False (default): epochs without replacement — ``mixed`` walks a
            fresh permutation of all windows each epoch; ``single_cluster`` permutes
            each cluster, cuts it into batches (the last one topped up by wrapping
            around the cluster) and shuffles the batches, so a cluster's share of
            batches is ``ceil(n_c / batch_size)`` per epoch. True: i.i.d. draws —
            ``mixed`` uniform over windows; ``single_cluster`` a cluster with
            probability ``n_c / N``, then ``batch_size`` windows uniformly inside it.
        include_cluster_ids: add ``x["cluster_ids"]``.
        pad_id: padding id (default 0).
        expected_tokenizer_sha256: check the shards were tokenized by this tokenizer.
        num_hosts, host_index: host sharding, as in ``resampled_dataset``: host
            ``host_index`` yields rows ``[i * b, (i + 1) * b)`` of every global batch,
            ``b = batch_size // num_hosts`` (a single-cluster batch stays single-
            cluster on every host).

    Returns:
        An infinite ``tf.data.Dataset`` of ``(x, y, sample_weight)`` batches of
        ``batch_size // num_hosts`` examples.
    """
    from keras_pn.data.shards import read_index, read_shards

    if batch_composition not in ("mixed", "single_cluster"):
        raise ValueError(
            "batch_composition must be 'mixed' or 'single_cluster', got "
            f"{batch_composition!r}."
        )
    index = read_index(shard_dir)
    context_length = _check_context_length(index, context_length)
    store = read_shards(shard_dir, expected_tokenizer_sha256=expected_tokenizer_sha256)
    if len(store) == 0:
        raise ValueError(f"The shards in {os.fspath(shard_dir)!r} hold no window.")
    sizes = store.cluster_sizes
    return _stream_dataset(
        store.values,
        store.row_splits,
        store.cluster_ids,
        lambda: generic_rows(sizes, seed, batch_size, batch_composition, replacement),
        batch_size,
        context_length,
        include_cluster_ids,
        _pad_id(pad_id),
        num_hosts,
        host_index,
    )


def domain_dataset(
    source: Any,
    split: str = "train",
    *,
    batch_size: int,
    tokenizer: Any = None,
    context_length: int | None = None,
    shuffle: bool | None = None,
    seed: int = 0,
    repeat: bool = False,
    cluster_ids: Any = None,
    shuffle_buffer: int = 16384,
    drop_remainder: bool = False,
    pad_id: int | None = None,
):
    """Windows of a specialization domain: fine-tuning (shuffled), evaluation (ordered).

    Text is read from ``<domain_dir>/<split>.jsonl`` by a small Python reader and
    tokenized and cut into windows inside tf.data by graph ops
    (``keras_pn.data.windows.document_windows_fn``); the windows are cached in memory
    after the first pass. Window order before shuffling is that of
    ``keras_pn.data.windows.collect_windows`` on the same file, so per-window cluster
    ids computed from those windows line up.

    Args:
        source: a domain directory (``train.jsonl``, ``valid.jsonl``, ``test.jsonl``), a
            JSONL file, or a ``keras_pn.data.windows.WindowSet`` (already tokenized).
        split: ``"train"``, ``"valid"`` or ``"test"`` (for a directory).
        batch_size: examples per batch.
        tokenizer: SentencePiece proto, path or keras_hub tokenizer (text sources only).
        context_length: sequence length (text sources; a WindowSet carries its own).
        shuffle: shuffle windows (default: True for ``"train"``, False otherwise).
        seed: shuffle seed.
        repeat: repeat forever (then use ``steps_per_epoch``).
        cluster_ids: None; an int (every example gets it); or a (num_windows,) array
            aligned with the windows in file order. Adds ``x["cluster_ids"]``.
        shuffle_buffer: shuffle buffer in windows (a domain of 1M tokens at context
            1,024 has about 1k windows, so the default shuffles it fully).
        drop_remainder: drop the last partial batch.
        pad_id: padding id (default 0).

    Returns:
        A ``tf.data.Dataset`` of ``(x, y, sample_weight)`` batches.

    Example:

    >>> ds = domain_dataset("domains/europarl", "valid", batch_size=8,
    ...     tokenizer="tok.model", context_length=1024)  # doctest: +SKIP
    """
    import tensorflow as tf

    from keras_pn.data.tokenizer_training import sentencepiece_proto
    from keras_pn.data.windows import WindowSet, _traced_windows_fn, read_jsonl_texts

    pad_id = _pad_id(pad_id)
    if shuffle is None:
        shuffle = split == "train"
    if isinstance(source, WindowSet):
        if context_length is not None and context_length != source.context_length:
            raise ValueError(
                f"The WindowSet was cut with context_length={source.context_length}, "
                f"not {context_length}."
            )
        context_length = source.context_length
        ragged = tf.RaggedTensor.from_row_splits(
            np.asarray(source.values, np.int32), np.asarray(source.row_splits, np.int64)
        )
        windows = tf.data.Dataset.from_tensor_slices(ragged)  # (None,) per element
    else:
        if tokenizer is None or context_length is None:
            raise ValueError("A text source needs tokenizer= and context_length=.")
        path = os.fspath(source)
        if os.path.isdir(path):
            path = os.path.join(path, f"{split}.jsonl")
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{path!r} does not exist. A domain directory holds train.jsonl, "
                "valid.jsonl and test.jsonl (one JSON object with a 'text' field per "
                "line)."
            )
        window_fn = _traced_windows_fn(sentencepiece_proto(tokenizer), context_length)
        texts = tf.data.Dataset.from_generator(
            lambda: (t for t in read_jsonl_texts(path) if t.strip()),
            output_signature=tf.TensorSpec((), tf.string),
        )
        windows = texts.batch(256).map(lambda t: window_fn(t)["token_ids"]).unbatch()
        windows = windows.cache()

    width = context_length + 1
    windows = windows.map(lambda w: (w[:width], tf.minimum(tf.size(w), width)))
    if cluster_ids is not None:
        if np.ndim(cluster_ids) == 0:
            constant = int(cluster_ids)
            windows = windows.map(lambda w, n: (w, n, tf.constant(constant, tf.int32)))
        else:
            table = tf.constant(np.asarray(cluster_ids, np.int32).reshape(-1))

            def attach(i, element):
                tf.debugging.assert_less(
                    i,
                    tf.size(table, out_type=tf.int64),
                    message=(
                        "cluster_ids has fewer entries than the domain has windows; "
                        "compute them on collect_windows() of the same split, context "
                        "and tokenizer."
                    ),
                )
                return element[0], element[1], tf.gather(table, i)

            windows = windows.enumerate().map(attach)
    if shuffle:
        windows = windows.shuffle(
            shuffle_buffer, seed=seed, reshuffle_each_iteration=True
        )
    if repeat:
        windows = windows.repeat()
    padded_shapes = ([width], []) + (([],) if cluster_ids is not None else ())
    padding_values = (pad_id, 0) + ((0,) if cluster_ids is not None else ())
    batches = windows.padded_batch(
        batch_size,
        padded_shapes=padded_shapes,
        padding_values=padding_values,
        drop_remainder=drop_remainder,
    )
    batches = batches.map(
        windows_to_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return batches.prefetch(tf.data.AUTOTUNE)
