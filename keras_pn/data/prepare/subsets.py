"""The subset stages: each domain's specialization subsets and cluster histograms.

- ``subsets``: per domain and specialization-set cap, the train windows of a seeded
  document permutation, whole documents first, cut at the cap (caps are nested: a
  smaller subset is a prefix of a larger one). They are cut before the embeddings,
  because the histograms are computed on them.
- ``stats`` (histograms): per k and domain, the cluster counts of the full train
  split and of each subset.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from keras_pn.data.prepare.config import FULL
from keras_pn.data.prepare.context import StageContext
from keras_pn.data.prepare.windowsets import load_windowset, predicted_tokens
from keras_pn.file_io import atomic_write_json, staging_directory

logger = logging.getLogger(__name__)


def run_subsets(ctx: StageContext, name: str) -> dict[str, Any]:
    """Cuts a domain's nested specialization subsets."""
    cfg, layout = ctx.config, ctx.layout
    ws = load_windowset(layout.split_windows(name, "train"))
    tokens = predicted_tokens(ws.row_splits)  # (num_windows,)
    doc_index = np.asarray(ws.doc_index)
    docs = np.unique(doc_index)
    rng = np.random.default_rng(cfg.seed)
    rank = np.empty(int(docs.max()) + 1, np.int64)
    rank[rng.permutation(docs)] = np.arange(len(docs))
    # Windows of whole documents in a shuffled document order; windows of one
    # document stay in reading order (the sort is stable and windows are stored in
    # document order).
    order = np.argsort(rank[doc_index], kind="stable")
    cumulative = np.cumsum(tokens[order])
    summary = {}
    with staging_directory(layout.subsets_dir(name)) as tmp:
        for cap in cfg.specialization_tokens:
            m = int(np.searchsorted(cumulative, cap, side="right"))
            rows = np.sort(order[:m])
            whole = m == len(order)
            if whole and cumulative[-1] < cap:
                logger.warning(
                    "Domain %r: its train split holds %d tokens, fewer than the "
                    "cap "
                    "of %d: that subset is the whole train split.",
                    name,
                    int(cumulative[-1]),
                    cap,
                )
            np.save(layout.subset(name, cap, under=tmp), rows.astype(np.int64))
            summary[str(cap)] = {
                "windows": m,
                "tokens": int(cumulative[m - 1]) if m else 0,
                "documents": len(np.unique(doc_index[rows])),
                "whole_split": bool(whole),
            }
        atomic_write_json(layout.subsets_summary(name, under=tmp), summary)
    return summary


def run_histograms(ctx: StageContext, k: int, name: str) -> dict[str, Any]:
    """Counts a domain's train windows per cluster, for the full split and each cap."""
    layout = ctx.layout
    labels = np.load(layout.assignments(k, name, "train"))
    train = load_windowset(layout.split_windows(name, "train"))
    tokens = predicted_tokens(train.row_splits)
    sizes: dict[str, Any] = {}
    for label in ctx.config.size_labels:
        if label == FULL:
            rows = np.arange(len(labels))
        else:
            rows = np.load(layout.subset(name, label))
        counts = np.bincount(labels[rows], minlength=k)
        sizes[label] = {
            "windows": len(rows),
            "tokens": int(tokens[rows].sum()),
            "top_cluster": int(np.argmax(counts)),
            "counts": counts.tolist(),
        }
    atomic_write_json(
        layout.histogram(k, name), {"k": k, "domain": name, "sizes": sizes}
    )
    return {label: {"top_cluster": s["top_cluster"]} for label, s in sizes.items()}
