"""The held-out generic validation split: whole generic documents no pretraining reads.

The ``windows`` stage holds out, after cutting the generic windows, the windows of
whole documents from the end of the seeded generic document order (the windows are
in that order), at most ``generic_valid_windows`` of them and at most a tenth of the
generic windows; a document larger than what is left of that budget stays in
training and the next earlier one is tried. The split is a file of rows of the
generic windows (`WorkdirLayout.generic_valid_rows`): k-means fits on the other
windows (the held-out ones get their nearest centroid, for every k), and the
cluster shards, which every training stream reads, hold only the other windows.

>>> import numpy as np
>>> doc_index = np.repeat([7, 3, 9, 4, 1, 5, 2], [2, 3, 1, 2, 4, 16, 2])  # 30 windows
>>> heldout_rows(doc_index, 2).tolist()  # the last document, 2 windows
[28, 29]
>>> heldout_rows(doc_index, 256).tolist()  # 3 at most; 5, 1 and 4 do not fit
[5, 28, 29]
>>> training_rows(len(doc_index), heldout_rows(doc_index, 2))[-3:].tolist()
[25, 26, 27]
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from keras_pn.data.prepare.context import StageContext
from keras_pn.data.prepare.windowsets import load_windowset, predicted_tokens
from keras_pn.file_io import staging_directory

logger = logging.getLogger(__name__)

# At most this share of the generic windows is held out, whatever the cap.
MAX_HELDOUT_SHARE = 10


def heldout_rows(doc_index: np.ndarray, max_windows: int) -> np.ndarray:
    """Sorted rows of whole documents, from the last, up to the window budget.

    Args:
        doc_index: (windows,) document of each window; a document's windows are
            consecutive (windows in document order).
        max_windows: the cap (`PrepareConfig.generic_valid_windows`); the budget is
            also at most a tenth of the windows.

    Returns:
        (held-out windows,) int64 rows, ascending (empty when the budget is 0 or no
        document fits it).
    """
    doc_index = np.asarray(doc_index)
    n = len(doc_index)
    budget = min(int(max_windows), n // MAX_HELDOUT_SHARE)
    if budget <= 0:
        return np.zeros((0,), np.int64)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(doc_index) != 0) + 1])
    stops = np.concatenate([starts[1:], [n]])
    chosen, total = [], 0
    for start, stop in zip(starts[::-1], stops[::-1]):
        size = int(stop - start)
        if total + size <= budget:
            chosen.append(np.arange(start, stop, dtype=np.int64))
            total += size
            if total == budget:
                break
    if not chosen:
        return np.zeros((0,), np.int64)
    return np.sort(np.concatenate(chosen))


def training_rows(num_windows: int, heldout: np.ndarray) -> np.ndarray:
    """(windows - held out,) ascending rows of the generic windows training reads."""
    keep = np.ones(int(num_windows), bool)
    keep[np.asarray(heldout, np.int64)] = False
    return np.flatnonzero(keep).astype(np.int64)


def run_generic_valid(ctx: StageContext) -> dict[str, Any]:
    """Writes the held-out rows of the generic windows (``windows/generic_valid``)."""
    layout, cap = ctx.layout, ctx.config.generic_valid_windows
    ws = load_windowset(layout.generic_windows)
    rows = heldout_rows(np.asarray(ws.doc_index), cap)
    tokens = predicted_tokens(ws.row_splits)
    with staging_directory(layout.generic_valid_dir) as tmp:
        np.save(layout.generic_valid_rows(under=tmp), rows)
    n = len(ws)
    summary = {
        "max_windows": int(cap),
        "windows": int(len(rows)),
        "documents": int(len(np.unique(np.asarray(ws.doc_index)[rows]))),
        "tokens": int(tokens[rows].sum()),
        "training_windows": int(n - len(rows)),
        "training_tokens": int(tokens.sum() - tokens[rows].sum()),
    }
    if cap and not len(rows):
        logger.warning(
            "No generic window held out for validation (%d generic windows; at most a "
            "tenth is held out, whole documents only): the generic validation "
            "perplexity is unavailable.",
            n,
        )
    else:
        logger.info(
            "Generic validation: %d windows (%d tokens, %d documents) held out of %d.",
            summary["windows"],
            summary["tokens"],
            summary["documents"],
            n,
        )
    return summary
