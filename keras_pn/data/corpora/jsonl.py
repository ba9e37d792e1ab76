"""The on-disk document format: JSON Lines with a `text` field and an optional `group`.

This is also how users bring their own domain: a directory with `train.jsonl`,
`valid.jsonl` and `test.jsonl`. `iter_jsonl` and `read_domain` validate such files and
explain what is wrong and how to fix it.
"""

import hashlib
import json
import logging
from pathlib import Path

from keras_pn import file_io
from keras_pn.data.corpora import errors
from keras_pn.data.corpora.text import Document

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


def encode_document(doc):
    """Returns the JSONL line (bytes, with newline) of a document."""
    obj = {"text": doc.text}
    if doc.group is not None:
        obj["group"] = doc.group
    return (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")


def write_jsonl(path, docs):
    """Writes documents to one JSONL file.

    Returns:
        A dict with the file's `bytes`, `docs`, `text_bytes` and `sha256`.
    """
    digest = hashlib.sha256()
    n_docs = n_text = n_bytes = 0
    with file_io.atomic_path(path, fsync=True) as tmp, open(tmp, "wb") as f:
        for doc in docs:
            line = encode_document(doc)
            f.write(line)
            digest.update(line)
            n_docs += 1
            n_bytes += len(line)
            n_text += len(doc.text.encode("utf-8"))
    return {
        "bytes": n_bytes,
        "docs": n_docs,
        "text_bytes": n_text,
        "sha256": digest.hexdigest(),
    }


def write_shards(directory, docs, shard_bytes=32 << 20, prefix="shard"):
    """Writes documents into JSONL shards of about `shard_bytes` each.

    Returns:
        A dict `{shard file name: write_jsonl-style stats}`.
    """
    directory = Path(directory)
    stats, current, size = {}, [], 0

    def flush():
        name = f"{prefix}-{len(stats):05d}.jsonl"
        stats[name] = write_jsonl(directory / name, current)

    for doc in docs:
        current.append(doc)
        size += len(doc.text) + 32
        if size >= shard_bytes:
            flush()
            current, size = [], 0
    if current or not stats:
        flush()
    return stats


def _error(where, problem, fix):
    return file_io.jsonl_error(where, problem, fix, errors.DomainFormatError)


def iter_jsonl(path, *, stats=None):
    """Yields the documents of a JSONL file, validating every line.

    Empty and whitespace-only documents are skipped and counted (in
    `stats["empty"]` when a dict is given, and in a warning).

    Args:
        path: The file.
        stats: Optional dict that receives `docs` and `empty` counts.

    Yields:
        `Document`s.

    Raises:
        DomainFormatError: a missing or empty file, a binary file, invalid UTF-8,
            invalid JSON, a line that is not an object, or a missing / non-string
            `text` or non-string `group`; the message names the file and line.
    """
    path = Path(path)
    counts = {"docs": 0, "empty": 0}
    lines = file_io.iter_jsonl(
        path, error=errors.DomainFormatError, require_object=True
    )
    for line_no, obj in lines:
        where = f"{path}, line {line_no}"
        if "text" not in obj:
            raise _error(where, "no 'text' field", file_io.JSONL_FORMAT_HINT)
        text, group = obj["text"], obj.get("group")
        if not isinstance(text, str):
            raise _error(
                where,
                f"'text' is a {type(text).__name__}, not a string",
                file_io.JSONL_FORMAT_HINT,
            )
        if group is not None and not isinstance(group, (str, int)):
            raise _error(
                where,
                f"'group' is a {type(group).__name__}",
                "make 'group' a string (or leave it out)",
            )
        if not text.strip():
            counts["empty"] += 1
            continue
        counts["docs"] += 1
        yield Document(text, None if group is None else str(group))
    if counts["empty"]:
        log.warning(
            "%s: skipped %d empty or whitespace-only documents", path, counts["empty"]
        )
    if stats is not None:
        stats.update(counts)
    if counts["docs"] == 0:
        raise _error(
            str(path),
            "no non-empty documents",
            'add lines like {"text": "..."} (empty texts are skipped)',
        )


def read_domain(directory):
    """Reads and validates a domain directory (`train.jsonl`, `valid.jsonl`, `test.jsonl`).

    Any directory in this format works, not only the built-in domains.

    Args:
        directory: The domain directory, e.g. `~/.cache/keras_pn/domains/drama`.

    Returns:
        A dict `{"train": [Document, ...], "valid": [...], "test": [...]}`.

    Raises:
        DomainFormatError: a missing directory or split file, or a malformed file.
    """
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise errors.DomainFormatError(
            f"{directory}: not a directory. Fix: pass a directory holding "
            "train.jsonl, valid.jsonl and test.jsonl (build the built-in domains with "
            "`python -m recipes.build_corpus`)."
        )
    missing = [s for s in SPLITS if not (directory / f"{s}.jsonl").is_file()]
    if missing:
        raise errors.DomainFormatError(
            f"{directory}: missing {', '.join(f'{s}.jsonl' for s in missing)}. Fix: a "
            "domain directory needs train.jsonl, valid.jsonl and test.jsonl, one JSON "
            'object per line with a "text" field.'
        )
    return {split: list(iter_jsonl(directory / f"{split}.jsonl")) for split in SPLITS}
