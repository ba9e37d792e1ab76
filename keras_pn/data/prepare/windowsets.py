"""The saved `WindowSet`s of a workdir: memory-mapped loading, row selection, tokens.

>>> import numpy as np
>>> predicted_tokens(np.array([0, 5, 9])).tolist()
[4, 3]
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def predicted_tokens(row_splits: np.ndarray) -> np.ndarray:
    """(num_windows,) tokens a window trains on: its ids minus the bos."""
    return np.diff(np.asarray(row_splits, np.int64)) - 1


def load_windowset(directory: Path, with_text: bool = False):
    """A saved WindowSet with memory-mapped arrays; texts only when asked for."""
    from keras_pn.data.windows import WindowSet, WindowStats

    if with_text:
        return WindowSet.load(directory)
    meta = json.loads((directory / "windows.json").read_text())
    arrays = {
        name: np.load(directory / f"{name}.npy", mmap_mode="r")
        for name in ("values", "row_splits", "doc_index", "window_index")
    }
    return WindowSet(
        **arrays,
        texts=None,
        context_length=meta["context_length"],
        tokenizer_sha256=meta.get("tokenizer_sha256", ""),
        stats=WindowStats(**meta.get("stats", {})),
    )


def select_windows(ws, rows: np.ndarray):
    """A WindowSet holding the windows ``rows`` of ``ws`` (in that order)."""
    from keras_pn.data.windows import WindowSet

    rows = np.asarray(rows, np.int64)
    row_splits = np.asarray(ws.row_splits, np.int64)
    starts, stops = row_splits[rows], row_splits[rows + 1]
    lengths = stops - starts
    new_splits = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lengths, out=new_splits[1:])
    # (total,) position of every kept id in ws.values
    gather = np.repeat(starts - new_splits[:-1], lengths) + np.arange(new_splits[-1])
    return WindowSet(
        values=np.asarray(ws.values)[gather].astype(np.int32),
        row_splits=new_splits,
        doc_index=np.asarray(ws.doc_index)[rows],
        window_index=np.asarray(ws.window_index)[rows],
        texts=None if ws.texts is None else [ws.texts[i] for i in rows],
        context_length=ws.context_length,
        tokenizer_sha256=ws.tokenizer_sha256,
    )
