"""A user's domain directory: train/valid/test JSON Lines, or a plain folder of ``.txt`` files.

`domain_splits` returns a directory holding ``train.jsonl``, ``valid.jsonl`` and
``test.jsonl`` (what `prepare_data` reads). A directory that already holds them is
returned as it is. A folder of ``.txt`` files (searched recursively, hidden ones
skipped) is split *by file*, each file one document: the files' relative paths are
sorted, shuffled with ``numpy.random.default_rng(seed)``, and the first 10% (at
least one file) go to test, the next 10% (at least one) to valid, the rest to
train; the splits are written as JSON Lines with the file list in ``splits.json``.
At least `MIN_FILES` non-empty files are needed.

>>> import pathlib, tempfile
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> for i in range(10):
...     _ = (root / f"doc{i}.txt").write_text(f"text number {i}")
>>> out = domain_splits(root, root.parent / (root.name + "-splits"))
>>> {s: len(f) for s, f in split_files([f"doc{i}.txt" for i in range(10)], 0).items()}
{'train': 8, 'valid': 1, 'test': 1}
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from keras_pn import file_io

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
TEXT_SUFFIX = ".txt"
MIN_FILES = 3
HELD_OUT_FRACTION = 0.1  # of the files, for valid and for test each
_ENCODING_FIX = "re-encode it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`) or remove it"


class DomainFolderError(ValueError):
    """A domain directory holds no usable text; the message names the file and the fix."""


def has_jsonl_splits(directory: str | os.PathLike) -> bool:
    """True when the directory holds ``train.jsonl``, ``valid.jsonl`` and ``test.jsonl``."""
    return all((Path(directory) / f"{s}.jsonl").is_file() for s in SPLITS)


def text_files(directory: str | os.PathLike) -> list[Path]:
    """The ``.txt`` files under ``directory`` (recursive, hidden skipped), sorted by path."""
    root = Path(directory)
    found = []
    for path in root.rglob(f"*{TEXT_SUFFIX}"):
        relative = path.relative_to(root)
        if path.is_file() and not any(p.startswith(".") for p in relative.parts):
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def split_files(names: Sequence[str], seed: int = 0) -> dict[str, list[str]]:
    """The seeded split of file names (see the module doc); each list sorted."""
    names = sorted(names)
    if len(names) < MIN_FILES:
        raise DomainFolderError(
            f"{len(names)} non-empty text file(s): a folder of .txt files is split by "
            f"file into train, valid and test, which needs at least {MIN_FILES}. Fix: "
            "add files (or cut a long file into several), or write train.jsonl, "
            "valid.jsonl and test.jsonl yourself."
        )
    order = np.random.default_rng(seed).permutation(len(names))
    held = max(1, int(round(HELD_OUT_FRACTION * len(names))))
    if len(names) - 2 * held < 1:
        held = (len(names) - 1) // 2
    parts = {
        "test": order[:held],
        "valid": order[held : 2 * held],
        "train": order[2 * held :],
    }
    return {s: sorted(names[i] for i in parts[s]) for s in SPLITS}


def read_text_file(path: str | os.PathLike) -> str:
    """A UTF-8 text file's content; refuses binary files and invalid UTF-8 (naming line and byte)."""
    path = Path(path)
    data = path.read_bytes()
    if b"\x00" in data:
        raise DomainFolderError(
            f"{path}: contains NUL bytes, so it is a binary file, not text. Fix: remove "
            "it from the domain folder or convert it to plain text."
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1)
        raise DomainFolderError(
            f"{path}, line {line}: invalid UTF-8 at byte {error.start} of the file "
            f"(byte {column} of the line). Fix: {_ENCODING_FIX}."
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def domain_splits(
    directory: str | os.PathLike, output_dir: str | os.PathLike, seed: int = 0
) -> Path:
    """A directory with the domain's train/valid/test JSON Lines (see the module doc).

    Args:
        directory: the user's domain directory.
        output_dir: where the splits of a ``.txt`` folder are written (replaced whole).
        seed: the split's seed.

    Returns:
        ``directory`` when it holds JSON Lines splits, else ``output_dir``.

    Raises:
        DomainFolderError: no such directory, no text, too few files, a binary file
            or invalid UTF-8 (the file and position named).
    """
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise DomainFolderError(
            f"Domain directory {root} does not exist. Fix: pass a directory of .txt "
            "files, or one with train.jsonl, valid.jsonl and test.jsonl."
        )
    if has_jsonl_splits(root):
        return root
    partial = [f"{s}.jsonl" for s in SPLITS if (root / f"{s}.jsonl").is_file()]
    files = text_files(root)
    if partial and not files:
        missing = [f"{s}.jsonl" for s in SPLITS if f"{s}.jsonl" not in partial]
        raise DomainFolderError(
            f"{root} holds {', '.join(partial)} but not {', '.join(missing)}. Fix: add "
            "the missing split(s), or use a folder of .txt files (split by file)."
        )
    if not files:
        others = sorted(
            p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()
        )
        found = f" (it holds {len(others)} other file(s), e.g. {others[0]})" if others else ""
        raise DomainFolderError(
            f"{root} holds no text: no .txt file and no train/valid/test.jsonl{found}. "
            "Fix: put the domain's documents there as UTF-8 .txt files (one document "
            "per file), or as train.jsonl, valid.jsonl and test.jsonl."
        )
    texts, empty = {}, []
    for path in files:
        name = path.relative_to(root).as_posix()
        text = read_text_file(path)
        if text.strip():
            texts[name] = text
        else:
            empty.append(name)
    if empty:
        logger.warning("Skipping %d empty .txt file(s) of %s (e.g. %s).", len(empty), root, empty[0])
    if not texts:
        raise DomainFolderError(
            f"Every .txt file of {root} is empty. Fix: add the domain's text to them."
        )
    splits = split_files(list(texts), seed)
    with file_io.staging_directory(output_dir) as tmp:
        for split, names in splits.items():
            lines = (json.dumps({"text": texts[n]}, ensure_ascii=False) for n in names)
            file_io.atomic_write_text(tmp / f"{split}.jsonl", "\n".join(lines) + "\n")
        file_io.atomic_write_json(
            tmp / "splits.json",
            {"source": str(root.absolute()), "seed": int(seed), "files": splits},
            indent=2,
        )
    logger.info(
        "Split %d .txt files of %s by file: %s.",
        len(texts),
        root,
        ", ".join(f"{len(v)} {s}" for s, v in splits.items()),
    )
    return Path(output_dir)
