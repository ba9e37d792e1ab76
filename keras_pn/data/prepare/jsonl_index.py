"""`JsonlIndex`: the records of the generic mix's JSONL files, read in any order.

>>> import pathlib, tempfile
>>> from keras_pn.file_io import atomic_write_text
>>> path = pathlib.Path(tempfile.mkdtemp()) / "shard.jsonl"
>>> _ = atomic_write_text(path, '{"text": "a"}\\n\\n{"text": "b"}\\n{"id": 3}\\n')
>>> index = JsonlIndex([path])
>>> len(index), list(index.texts([1, 0, 2]))
(3, ['b', 'a', ''])
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from keras_pn.data.prepare.errors import PreparationError
from keras_pn.file_io import parse_jsonl_line, record_text


class JsonlIndex:
    """Byte offsets of the records of JSONL files, for reading them in any order.

    Args:
        paths: the JSONL files (a generic directory's shards).
    """

    def __init__(self, paths: Sequence[Path]):
        self.paths = [Path(p) for p in paths]
        file_ids, offsets = [], []
        for i, path in enumerate(self.paths):
            position = 0
            with open(path, "rb") as f:
                for line in f:
                    if line.strip():
                        file_ids.append(i)
                        offsets.append(position)
                    position += len(line)
        self.file_ids = np.asarray(file_ids, np.int32)
        self.offsets = np.asarray(offsets, np.int64)

    def __len__(self) -> int:
        return len(self.offsets)

    def order(self, seed: int) -> np.ndarray:
        """A seeded permutation of the records (the generic document order)."""
        return np.random.default_rng(seed).permutation(len(self))

    def texts(self, order: Sequence[int]) -> Iterator[str]:
        """The ``text`` of each record of ``order`` ("" when it has none).

        Raises:
            PreparationError: a record is not valid UTF-8 JSON; the message names
                the file and the record's byte offset.
        """
        with contextlib.ExitStack() as stack:
            handles = [stack.enter_context(open(p, "rb")) for p in self.paths]
            for d in order:
                i = int(self.file_ids[d])
                f = handles[i]
                f.seek(int(self.offsets[d]))
                record = parse_jsonl_line(
                    f.readline(),
                    f"{self.paths[i]} at byte {int(self.offsets[d])}",
                    error=PreparationError,
                )
                yield record_text(record)
