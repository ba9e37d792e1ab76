"""Cut documents into non-overlapping token windows of at most the context length.

A document is tokenized (SentencePiece, as a TensorFlow graph op inside tf.data) into
tokens ``t_1 .. t_n`` and cut into chunks of ``context_length`` tokens; the last chunk
may be shorter. A stored window is ``[bos] + chunk``, followed by ``[eos]`` when the
document ends *inside* that window (the chunk is shorter than ``context_length``), so a
window holds at most ``context_length + 1`` ids. When ``n`` is an exact multiple of
``context_length`` the document's ``eos`` does not fit and is dropped (1 document in
``context_length`` on average).

Each window keeps its provenance (document index, window index within the document) and
the raw character span of the document it covers, which is what Sentence-BERT embeds for
clustering.

Example:

>>> from keras_pn.data.tokenizer_training import train_sentencepiece
>>> texts = ["one two three four five six"] * 100
>>> proto = train_sentencepiece(texts, 280, hard_vocab_limit=False)
>>> docs = ["one two three four five", "  ", "six"]
>>> ws = collect_windows(docs, proto, 4, progress=False)
>>> ws.stats.skipped_empty, ws[0].doc_index, ws[0].window_index, int(ws[0].token_ids[0])
(1, 0, 0, 2)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from keras_pn.data.tokenizer_training import (
    sentencepiece_proto,
    special_token_ids,
    tokenizer_sha256,
)
from keras_pn.file_io import iter_jsonl, record_text, staging_directory

logger = logging.getLogger(__name__)

_DOCS_PER_BATCH = 256  # Documents tokenized per graph call.


def read_jsonl_texts(
    paths: str | os.PathLike | Sequence[str | os.PathLike], progress: Any = None
) -> Iterator[str]:
    """Yields the ``text`` field of every JSON line of the given files, in order.

    A minimal local reader (``keras_pn.data.corpora.iter_jsonl`` is the validating one).
    Blank lines are not records and are skipped; a record without a string ``text``
    yields ``""`` so that document indices stay aligned with records.

    Args:
        paths: one JSONL path or a sequence of them.
        progress: optional tqdm bar, advanced by the bytes read.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for path in map(os.fspath, paths):
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{path!r} does not exist. A domain directory holds train.jsonl, "
                "valid.jsonl and test.jsonl, one JSON object with a 'text' field per "
                "line."
            )
        for _, record in iter_jsonl(path, error=ValueError, progress=progress):
            yield record_text(record)


def _is_paths(source: Any) -> bool:
    if isinstance(source, (str, os.PathLike)):
        return True
    return (
        isinstance(source, (list, tuple))
        and len(source) > 0
        and all(
            isinstance(s, (str, os.PathLike)) and os.fspath(s).endswith(".jsonl")
            for s in source
        )
    )


@dataclasses.dataclass
class WindowStats:
    """Counts of a windowing pass.

    Attributes:
        documents: records read, skipped ones included.
        skipped_empty: empty or whitespace-only documents (and documents with no token).
        windows: windows produced.
        tokens: document tokens in the windows (without bos/eos).
    """

    documents: int = 0
    skipped_empty: int = 0
    windows: int = 0
    tokens: int = 0


@dataclasses.dataclass(frozen=True)
class Window:
    """One window: ``token_ids`` (<= context_length + 1,) int32, provenance, text."""

    token_ids: np.ndarray
    doc_index: int
    window_index: int
    text: str | None


def document_windows_fn(tokenizer: Any, context_length: int):
    """Returns a graph function cutting a batch of documents into windows.

    The function maps ``texts`` (batch,) string to a dict: ``token_ids`` a
    ``tf.RaggedTensor`` (num_windows, None) int32 of ``[bos] + chunk (+ [eos])``;
    ``doc`` (num_windows,) int64 the window's row in the batch; ``window_index``
    (num_windows,) int64; ``text`` (num_windows,) the raw text span each window covers
    (bytes; a byte-fallback boundary may split a multi-byte character); ``num_tokens``
    (batch,) int64 tokens per document. All graph ops (tensorflow-text's SentencePiece
    op and ragged ops, vectorized over the batch), so it belongs in
    ``tf.data.Dataset.batch(...).map(fn)``.

    Args:
        tokenizer: SentencePiece proto bytes, a ``.model`` path, or a keras_hub
            SentencePieceTokenizer.
        context_length: maximum number of document tokens per window.

    Example:

    >>> import tensorflow as tf
    >>> from keras_pn.data.tokenizer_training import train_sentencepiece
    >>> proto = train_sentencepiece(["a b c d"] * 100, 280, hard_vocab_limit=False)
    >>> fn = document_windows_fn(proto, 2)
    >>> out = fn(tf.constant(["a b c", "d"]))
    >>> int(out["token_ids"][0][0]), int(out["doc"][-1])  # bos; document of the last
    (2, 1)
    """
    import tensorflow as tf
    import tensorflow_text as tf_text

    if context_length < 1:
        raise ValueError(f"context_length must be >= 1, got {context_length}.")
    proto = sentencepiece_proto(tokenizer)
    ids = special_token_ids(proto)
    bos, eos = ids["bos"], ids["eos"]

    def fn(texts):
        # The SentencePiece resource is created inside the traced graph, not eagerly: an
        # eagerly created one is destroyed by tf.random.set_seed
        # (keras.utils.set_random_seed), which clears TensorFlow's eager kernel cache,
        # and later calls fail with NotFoundError.
        sp = tf_text.SentencepieceTokenizer(
            model=proto, out_type=tf.int32, add_bos=False, add_eos=False
        )
        T = tf.constant(context_length, tf.int64)
        tokens, starts, ends = sp.tokenize_with_offsets(texts)  # (B, None) each
        n = tokens.row_lengths()  # (B,)
        num_full = n // T  # (B,)
        num_windows = num_full + tf.cast(n % T > 0, tf.int64)  # (B,)
        doc = tf.repeat(tf.range(tf.size(n, out_type=tf.int64)), num_windows)  # (W,)
        window_index = tf.ragged.range(num_windows).flat_values  # (W,)
        full = window_index < tf.gather(num_full, doc)  # (W,): the chunk has T tokens
        # (W,) position of each chunk's first token in the flat tokens
        chunk_start = tf.gather(tokens.row_splits, doc) + window_index * T
        chunk_length = tf.where(full, T, tf.gather(n, doc) - window_index * T)  # (W,)
        # Chunks tile each document, and documents tile the flat tokens, in order.
        chunks = tf.RaggedTensor.from_row_lengths(tokens.flat_values, chunk_length)
        num_w = tf.size(doc, out_type=tf.int64)
        bos_col = tf.RaggedTensor.from_tensor(  # (W, 1)
            tf.fill(tf.stack([num_w, tf.constant(1, tf.int64)]), bos)
        )
        has_eos = tf.logical_not(full)  # The document ends inside this window.
        eos_col = tf.RaggedTensor.from_row_lengths(  # (W, 0 or 1)
            tf.fill([tf.reduce_sum(tf.cast(has_eos, tf.int64))], eos),
            tf.cast(has_eos, tf.int64),
        )
        windows = tf.concat([bos_col, chunks, eos_col], axis=1)  # (W, None)
        span_start = tf.gather(starts.flat_values, chunk_start)  # (W,) bytes
        span_end = tf.gather(ends.flat_values, chunk_start + chunk_length - 1)
        spans = tf.strings.substr(
            tf.gather(texts, doc), span_start, span_end - span_start, unit="BYTE"
        )
        return {
            "token_ids": windows,
            "doc": doc,
            "window_index": window_index,
            "text": spans,
            "num_tokens": n,
        }

    return fn


@functools.lru_cache(maxsize=8)
def _traced_windows_fn(proto: bytes, context_length: int):
    """``document_windows_fn`` traced once per (tokenizer, context) and reused."""
    import tensorflow as tf

    return tf.function(
        document_windows_fn(proto, context_length),
        input_signature=[tf.TensorSpec([None], tf.string)],
    )


def iter_windows(
    source: Any,
    tokenizer: Any,
    context_length: int,
    *,
    with_text: bool = True,
    progress: bool = True,
    stats: WindowStats | None = None,
) -> Iterator[Window]:
    """Streams the windows of a corpus, in document order.

    Args:
        source: a JSONL path, a sequence of JSONL paths, or an iterable of document
            strings.
        tokenizer: SentencePiece proto bytes, a ``.model`` path, or a keras_hub
            SentencePieceTokenizer.
        context_length: maximum number of document tokens per window (the model's
            sequence length).
        with_text: decode each window's raw text span (needed for embedding).
        progress: show a tqdm progress bar.
        stats: optional WindowStats updated in place (documents, skipped_empty, windows,
            tokens).

    Yields:
        Window objects; ``doc_index`` counts records of ``source`` (skipped ones
        included).

    Example:

    >>> from keras_pn.data.tokenizer_training import train_sentencepiece
    >>> proto = train_sentencepiece(["a b c d"] * 100, 280, hard_vocab_limit=False)
    >>> windows = iter_windows(["a b", "c"], proto, 8, progress=False)
    >>> [w.token_ids.tolist()[0] for w in windows]
    [2, 2]
    """
    import tensorflow as tf
    from tqdm.auto import tqdm

    stats = stats if stats is not None else WindowStats()
    graph_fn = _traced_windows_fn(sentencepiece_proto(tokenizer), context_length)
    if _is_paths(source):
        paths = [source] if isinstance(source, (str, os.PathLike)) else list(source)
        total = sum(os.path.getsize(p) for p in paths if os.path.isfile(p))
        bar = tqdm(
            total=total, unit="B", unit_scale=True, desc="windows", disable=not progress
        )
        texts = lambda: read_jsonl_texts(paths, progress=bar)  # noqa: E731
    else:
        bar = tqdm(unit="doc", desc="windows", disable=not progress)
        texts = lambda: iter(source)  # noqa: E731

    # An error while reading the source (a malformed file) would reach the caller
    # wrapped in a tf.errors.InvalidArgumentError by tf.data; it is kept here and
    # re-raised as itself once the batches before it are consumed.
    source_errors: list[Exception] = []

    def batches():
        try:
            yield from read_batches()
        except Exception as error:  # noqa: BLE001 - re-raised below, unchanged
            source_errors.append(error)

    def read_batches():
        doc_indices, batch = [], []
        for doc_index, text in enumerate(texts()):
            stats.documents += 1
            if not isinstance(bar.total, int):
                bar.update(1)
            if not text.strip():
                stats.skipped_empty += 1
                continue
            doc_indices.append(doc_index)
            batch.append(text)
            if len(batch) == _DOCS_PER_BATCH:
                yield np.asarray(doc_indices, np.int64), batch
                doc_indices, batch = [], []
        if batch:
            yield np.asarray(doc_indices, np.int64), batch

    # Tokenization runs in parallel tf.data map calls, overlapping JSON reading and the
    # Python loop below; `deterministic=True` keeps document order.
    ds = tf.data.Dataset.from_generator(
        batches,
        output_signature=(
            tf.TensorSpec([None], tf.int64),
            tf.TensorSpec([None], tf.string),
        ),
    )
    ds = ds.map(
        lambda d, t: (d, graph_fn(t)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    ).prefetch(2)
    try:
        for doc_indices, out in ds:
            doc_indices = doc_indices.numpy()
            num_tokens = out["num_tokens"].numpy()
            stats.skipped_empty += int(np.sum(num_tokens == 0))
            stats.tokens += int(np.sum(num_tokens))
            splits = out["token_ids"].row_splits.numpy()
            values = out["token_ids"].flat_values.numpy()
            doc_index = doc_indices[out["doc"].numpy()]
            window_index = out["window_index"].numpy()
            spans = out["text"].numpy() if with_text else None
            for w in range(len(doc_index)):
                stats.windows += 1
                yield Window(
                    token_ids=values[splits[w] : splits[w + 1]],
                    doc_index=int(doc_index[w]),
                    window_index=int(window_index[w]),
                    text=spans[w].decode("utf-8", errors="replace")
                    if with_text
                    else None,
                )
    finally:
        bar.close()
    if source_errors:
        raise source_errors[0]
    if stats.skipped_empty:
        logger.info(
            "Skipped %d empty or whitespace-only documents of %d.",
            stats.skipped_empty,
            stats.documents,
        )


@dataclasses.dataclass
class WindowSet:
    """All windows of a corpus as flat arrays (ragged rows), with provenance and texts.

    Attributes:
        values: (total_ids,) int32, the windows' ids concatenated.
        row_splits: (num_windows + 1,) int64; window i is
            ``values[row_splits[i]:row_splits[i+1]]``.
        doc_index: (num_windows,) int64 document index of each window.
        window_index: (num_windows,) int32 position of the window within its document.
        texts: list of the windows' raw text spans, or None.
        context_length: the maximum number of document tokens per window.
        tokenizer_sha256: identity of the tokenizer that produced the ids.
        stats: the WindowStats of the pass that built the set.
    """

    values: np.ndarray
    row_splits: np.ndarray
    doc_index: np.ndarray
    window_index: np.ndarray
    texts: list[str] | None
    context_length: int
    tokenizer_sha256: str = ""
    stats: WindowStats = dataclasses.field(default_factory=WindowStats)

    def __len__(self) -> int:
        return len(self.row_splits) - 1

    def __getitem__(self, i: int) -> Window:
        return Window(
            token_ids=self.token_ids(i),
            doc_index=int(self.doc_index[i]),
            window_index=int(self.window_index[i]),
            text=None if self.texts is None else self.texts[i],
        )

    def __iter__(self) -> Iterator[Window]:
        return (self[i] for i in range(len(self)))

    def token_ids(self, i: int) -> np.ndarray:
        """Window i's ids, (<= context_length + 1,) int32."""
        return self.values[self.row_splits[i] : self.row_splits[i + 1]]

    @property
    def lengths(self) -> np.ndarray:
        """(num_windows,) number of stored ids per window (bos and eos included)."""
        return np.diff(self.row_splits)

    def save(self, directory: str | os.PathLike) -> None:
        """Writes the set to a directory atomically (.npy arrays and texts.jsonl)."""
        with staging_directory(directory) as tmp:
            for name in ("values", "row_splits", "doc_index", "window_index"):
                np.save(tmp / f"{name}.npy", getattr(self, name))
            if self.texts is not None:
                with open(tmp / "texts.jsonl", "w", encoding="utf-8") as f:
                    for t in self.texts:
                        f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
            meta = {
                "context_length": self.context_length,
                "num_windows": len(self),
                "tokenizer_sha256": self.tokenizer_sha256,
                "stats": dataclasses.asdict(self.stats),
            }
            with open(tmp / "windows.json", "w") as f:
                json.dump(meta, f, indent=1)

    @classmethod
    def load(cls, directory: str | os.PathLike, mmap: bool = True) -> "WindowSet":
        """Reads a set written by ``save`` (arrays memory-mapped by default)."""
        directory = os.fspath(directory)
        meta_path = os.path.join(directory, "windows.json")
        if not os.path.isfile(meta_path):
            raise FileNotFoundError(
                f"{directory!r} holds no windows.json: not a saved WindowSet."
            )
        with open(meta_path) as f:
            meta = json.load(f)
        arrays = {
            name: np.load(
                os.path.join(directory, f"{name}.npy"), mmap_mode="r" if mmap else None
            )
            for name in ("values", "row_splits", "doc_index", "window_index")
        }
        texts_path = os.path.join(directory, "texts.jsonl")
        texts = (
            list(read_jsonl_texts(texts_path)) if os.path.isfile(texts_path) else None
        )
        return cls(
            **arrays,
            texts=texts,
            context_length=meta["context_length"],
            tokenizer_sha256=meta.get("tokenizer_sha256", ""),
            stats=WindowStats(**meta.get("stats", {})),
        )


def collect_windows(
    source: Any,
    tokenizer: Any,
    context_length: int,
    *,
    with_text: bool = True,
    progress: bool = True,
) -> WindowSet:
    """Windows of a whole corpus as a WindowSet (arguments as in ``iter_windows``).

    Example:

    >>> from keras_pn.data.tokenizer_training import train_sentencepiece
    >>> proto = train_sentencepiece(["a b c d"] * 100, 280, hard_vocab_limit=False)
    >>> int(collect_windows(["a b c d " * 10], proto, 8, progress=False).lengths.max())
    9
    """
    stats = WindowStats()
    chunks, doc_index, window_index, texts = [], [], [], [] if with_text else None
    for w in iter_windows(
        source,
        tokenizer,
        context_length,
        with_text=with_text,
        progress=progress,
        stats=stats,
    ):
        chunks.append(w.token_ids)
        doc_index.append(w.doc_index)
        window_index.append(w.window_index)
        if with_text:
            texts.append(w.text)
    lengths = np.fromiter((len(c) for c in chunks), dtype=np.int64, count=len(chunks))
    row_splits = np.zeros(len(chunks) + 1, np.int64)
    np.cumsum(lengths, out=row_splits[1:])
    values = (
        np.concatenate(chunks).astype(np.int32) if chunks else np.zeros(0, np.int32)
    )
    logger.info(
        "%d windows (%d tokens) from %d documents, %d skipped as empty.",
        stats.windows,
        stats.tokens,
        stats.documents,
        stats.skipped_empty,
    )
    return WindowSet(
        values=values,
        row_splits=row_splits,
        doc_index=np.asarray(doc_index, np.int64),
        window_index=np.asarray(window_index, np.int32),
        texts=texts,
        context_length=context_length,
        tokenizer_sha256=tokenizer_sha256(tokenizer),
        stats=stats,
    )

