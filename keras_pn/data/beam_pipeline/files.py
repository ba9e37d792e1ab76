"""Files of the Beam pipeline through ``tf.io.gfile`` (local paths, gs://, ...)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from keras_pn.file_io import iter_jsonl, record_text

# Names of the parts workers write, renamed by the driver once all are written.
MANIFEST_SUFFIX = ".manifest.json"
PART_SUFFIX = ".tfrecord.tmp"


def tf_gfile():
    """``tf.io.gfile`` (imported on first use)."""
    import tensorflow as tf

    return tf.io.gfile


def is_local(path: str) -> bool:
    return "://" not in os.fspath(path)


def expand_inputs(inputs: str | Sequence[str]) -> list[str]:
    """Files of ``inputs`` (paths, globs or directories of ``*.jsonl``), in order."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    files: list[str] = []
    gfile = tf_gfile()
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


def sentencepiece_bytes(tokenizer: Any) -> bytes:
    """SentencePiece proto bytes of a tokenizer, reading remote paths with gfile."""
    from keras_pn.data.tokenizer_training import sentencepiece_proto

    if isinstance(tokenizer, (str, os.PathLike)) and not is_local(tokenizer):
        with tf_gfile().GFile(os.fspath(tokenizer), "rb") as f:
            tokenizer = f.read()
    return sentencepiece_proto(tokenizer)


def read_records(item):
    """``(file_index, path)`` -> ``((file_index, record_index), text)`` per record.

    Records are counted as ``keras_pn.data.windows.read_jsonl_texts`` counts them:
    blank lines are not records; a record without a string ``text`` is ``""``.
    """
    file_index, path = item
    opener = lambda p: tf_gfile().GFile(p, "rb")  # noqa: E731
    lines = iter_jsonl(path, error=ValueError, opener=opener)
    for record, (_, obj) in enumerate(lines):
        yield (file_index, record), record_text(obj)
