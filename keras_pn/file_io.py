"""Files written whole or not at all, and JSON Lines read with one error text.

Every file keras_pn writes goes through `atomic_path` (a temporary sibling, then a
rename), so an interrupted run never leaves a half-written file that looks complete;
every directory built in several steps goes through `staging_directory`. Every JSON
Lines reader parses its lines with `parse_jsonl_line`, so a bad line reads the same
wherever it is found: ``<file>, line <n>: <problem>. Fix: <fix>.``

>>> import pathlib, tempfile
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = atomic_write_json(root / "a.json", {"x": 1})
>>> (root / "a.json").read_text()
'{\\n "x": 1\\n}\\n'
>>> _ = atomic_write_text(root / "docs.jsonl", '{"text": "one"}\\n\\n{"text": 2}\\n')
>>> [(n, record_text(r)) for n, r in iter_jsonl(root / "docs.jsonl")]
[(1, 'one'), (3, '')]
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

JSONL_FORMAT_HINT = (
    'each line must be one JSON object such as {"text": "...", "group": "..."}'
)
_BINARY_HINT = "point at a UTF-8 text file with one JSON object per line"
_ENCODING_HINT = "re-encode the file as UTF-8, e.g. `iconv -f latin1 -t utf-8`"


class JsonlFormatError(ValueError):
    """A JSON Lines file is unreadable; the message names the file, the line and the fix."""


def remove(path: str | os.PathLike) -> None:
    """Deletes a file, a link or a directory tree; nothing if it does not exist."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike, *, mode: int | None = None, fsync: bool = False
) -> Iterator[Path]:
    """Yields a temporary sibling of ``path``; on success it is renamed onto ``path``.

    Write the file's content to the yielded path (with any writer that takes a path).
    On an exception the temporary file is deleted and ``path`` is untouched.

    Args:
        path: the file to write; its directory is created.
        mode: permission bits to give the file before the rename (default: what
            `open` would give a new file, ``0o666`` less the umask).
        fsync: flush the file to disk before the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask() if mode is None else mode)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes, **kwargs: Any) -> Path:
    """Writes ``data`` to ``path`` atomically; returns the path (kwargs: `atomic_path`)."""
    with atomic_path(path, **kwargs) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, **kwargs: Any) -> Path:
    """Writes UTF-8 ``text`` to ``path`` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"), **kwargs)


def atomic_write_json(
    path: str | os.PathLike,
    obj: Any,
    *,
    indent: int = 1,
    default: Callable[[Any], Any] | None = None,
    ensure_ascii: bool = True,
    **kwargs: Any,
) -> Path:
    """Writes ``obj`` as indented JSON (and a final newline) atomically; returns the path."""
    text = json.dumps(obj, indent=indent, default=default, ensure_ascii=ensure_ascii)
    return atomic_write_text(path, text + "\n", **kwargs)


def atomic_save_npy(path: str | os.PathLike, array: Any) -> Path:
    """Saves a NumPy array in ``.npy`` format atomically; returns the path."""
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array)
    return atomic_write_bytes(path, buffer.getvalue())


@contextlib.contextmanager
def staging_directory(
    final: str | os.PathLike, *, mode: int | None = None
) -> Iterator[Path]:
    """Yields a fresh hidden sibling of ``final``; on success it replaces ``final``.

    Build the directory's content in the yielded path (write any manifest last). On
    an exception the staging directory is deleted and ``final`` is untouched; on
    success an existing ``final`` is moved aside, the staging directory renamed onto
    it, and the old one deleted.

    Args:
        final: the directory to build; its parent is created.
        mode: permission bits of the directory (default: what `os.mkdir` would give,
            ``0o777`` less the umask).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    os.chmod(staging, 0o777 & ~_umask() if mode is None else mode)
    try:
        yield staging
        old = None
        if final.exists() or final.is_symlink():
            old = final.parent / f".{final.name}.old-{os.getpid()}"
            remove(old)
            os.replace(final, old)
        os.replace(staging, final)
        if old is not None:
            remove(old)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def jsonl_error(
    where: str, problem: str, fix: str, error: type[Exception] = JsonlFormatError
) -> Exception:
    """The one error of a bad JSON line: ``<where>: <problem>. Fix: <fix>.``"""
    return error(f"{where}: {problem}. Fix: {fix}.")


def parse_jsonl_line(
    raw: bytes,
    where: str,
    *,
    error: type[Exception] = JsonlFormatError,
    require_object: bool = False,
) -> Any:
    """Decodes one line of a JSON Lines file; None for a blank line.

    Args:
        raw: the line's bytes.
        where: how the error names the line, e.g. ``"train.jsonl, line 3"``.
        error: the exception class raised (a subclass of ValueError by convention).
        require_object: refuse a line that is valid JSON but not an object.
    """
    if b"\x00" in raw:
        raise jsonl_error(where, "contains NUL bytes (a binary file?)", _BINARY_HINT, error)
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise jsonl_error(
            where, f"invalid UTF-8 at byte {e.start} of the line", _ENCODING_HINT, error
        ) from None
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise jsonl_error(
            where, f"invalid JSON ({e.msg} at column {e.colno})", JSONL_FORMAT_HINT, error
        ) from None
    if require_object and not isinstance(obj, dict):
        raise jsonl_error(
            where, f"a JSON {type(obj).__name__}, not an object", JSONL_FORMAT_HINT, error
        )
    return obj


def iter_jsonl(
    path: str | os.PathLike,
    *,
    error: type[Exception] = JsonlFormatError,
    require_object: bool = False,
    progress: Any = None,
    opener: Callable[[str], Any] | None = None,
) -> Iterator[tuple[int, Any]]:
    """Yields ``(line_number, record)`` for every non-blank line of a JSON Lines file.

    Args:
        path: the file.
        error: the exception class of a missing, binary or malformed file.
        require_object: refuse lines that are not JSON objects.
        progress: optional tqdm bar, advanced by the bytes read.
        opener: opens ``path`` for binary reading (default `open`; e.g. a GFile).
    """
    path = os.fspath(path)
    if opener is None:
        if not os.path.isfile(path):
            raise jsonl_error(
                path, "file not found", "create it with one JSON object per line", error
            )
        opener = lambda p: open(p, "rb")  # noqa: E731
    with opener(path) as f:
        if b"\x00" in f.read(8192):
            raise jsonl_error(
                path,
                "contains NUL bytes: this looks like a binary file, not JSON Lines",
                _BINARY_HINT,
                error,
            )
        f.seek(0)
        for line_number, raw in enumerate(f, start=1):
            if progress is not None:
                progress.update(len(raw))
            record = parse_jsonl_line(
                raw, f"{path}, line {line_number}", error=error, require_object=require_object
            )
            if record is not None:
                yield line_number, record


def record_text(record: Any) -> str:
    """The ``text`` field of a JSON Lines record; "" when it has none (indices stay aligned)."""
    text = record.get("text") if isinstance(record, dict) else None
    return text if isinstance(text, str) else ""
