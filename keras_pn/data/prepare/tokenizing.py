"""The text stages: the tokenizer, then the windows of the domains and the generic mix.

- ``tokenizer``: SentencePiece on the generic mix (the first ``tokenizer_sentences``
  training chunks of a seeded document permutation).
- ``windows``: each domain's train/valid/test windows at ``context_length``, then
  the generic windows of the same seeded document permutation, cut at
  ``max_generic_tokens`` (whole documents first, stopping at a window boundary).
  A domain's train split is cut the same way at ``max_domain_train_tokens`` when
  set (its valid and test splits are always whole).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

from keras_pn.data.prepare.context import StageContext
from keras_pn.data.prepare.errors import PreparationError
from keras_pn.data.prepare.layout import SPLITS
from keras_pn.data.prepare.windowsets import predicted_tokens
from keras_pn.file_io import staging_directory

logger = logging.getLogger(__name__)


def run_tokenizer(ctx: StageContext) -> dict[str, Any]:
    """Trains the SentencePiece model on the seeded generic document order."""
    from keras_pn.data.tokenizer_training import (
        iter_training_chunks,
        tokenizer_sha256,
        train_sentencepiece,
        vocabulary_size,
    )

    cfg = ctx.config
    index = ctx.generic_index()
    used = [0]

    def chunks() -> Iterator[str]:
        texts = index.texts(index.order(cfg.seed))
        for chunk in itertools.islice(
            iter_training_chunks(texts), cfg.tokenizer_sentences
        ):
            used[0] += 1
            yield chunk

    proto = train_sentencepiece(
        chunks(),
        cfg.vocabulary_size,
        ctx.layout.tokenizer,
        input_sentence_size=cfg.tokenizer_sentences,
        seed=cfg.seed,
        hard_vocab_limit=False,
    )
    actual = vocabulary_size(proto)
    if actual < cfg.vocabulary_size:
        logger.warning(
            "The generic text only supports %d pieces (vocabulary_size=%d was "
            "asked); models should use vocabulary_size=%d.",
            actual,
            cfg.vocabulary_size,
            actual,
        )
    return {
        "vocabulary_size": actual,
        "requested_vocabulary_size": cfg.vocabulary_size,
        "training_chunks": used[0],
        "sha256": tokenizer_sha256(proto),
    }


def run_domain_windows(ctx: StageContext, name: str) -> dict[str, Any]:
    """Cuts a domain's three splits into windows."""
    from keras_pn.data.corpora.jsonl import iter_jsonl
    from keras_pn.data.windows import collect_windows

    cfg = ctx.config
    proto = ctx.proto()
    sets = {}
    for split in SPLITS:
        path = ctx.inputs.split_file(name, split)
        logger.info("Cutting %s into windows of %d tokens.", path, cfg.context_length)
        if split == "train" and cfg.max_domain_train_tokens is not None:
            sets[split] = _capped_train_windows(ctx, name, proto)
            continue
        texts = (doc.text for doc in iter_jsonl(path))
        sets[split] = collect_windows(
            texts, proto, cfg.context_length, progress=cfg.progress
        )
    summary = {}
    for split, ws in sets.items():
        summary[split] = {
            "documents": ws.stats.documents - ws.stats.skipped_empty,
            "windows": len(ws),
            "tokens": int(predicted_tokens(ws.row_splits).sum()),
        }
    train_tokens = summary["train"]["tokens"]
    if train_tokens < cfg.context_length:
        raise PreparationError(
            f"Domain {name!r}: its train split holds {train_tokens} tokens, fewer "
            f"than one window of context_length={cfg.context_length}. Fix: add "
            "text "
            f"to {ctx.inputs.split_file(name, 'train')}, lower context_length, or "
            "drop the domain."
        )
    layout = ctx.layout
    with staging_directory(layout.domain_windows(name)) as tmp:
        for split, ws in sets.items():
            ws.save(layout.split_windows(name, split, under=tmp))
    return summary


def _capped_windows(
    texts: Iterator[str], order: np.ndarray, proto: bytes, cfg: Any, cap: int | None, desc: str
) -> tuple[Any, int, bool]:
    """Windows of ``texts`` (documents in ``order``) up to ``cap`` tokens.

    Whole documents first, stopping at a window boundary; the windows' ``doc_index``
    are the original record numbers (``order[position]``). Returns ``(windows,
    tokens, capped)``.
    """
    from tqdm.auto import tqdm

    from keras_pn.data.tokenizer_training import tokenizer_sha256
    from keras_pn.data.windows import WindowSet, WindowStats, iter_windows

    stats = WindowStats()
    chunks, positions, window_index, window_texts = [], [], [], []
    tokens = 0
    capped = False
    bar = tqdm(total=cap, unit="tok", unit_scale=True, desc=desc, disable=not cfg.progress)
    windows = iter_windows(texts, proto, cfg.context_length, progress=False, stats=stats)
    try:
        for w in windows:
            n = len(w.token_ids) - 1
            if cap is not None and tokens + n > cap:
                capped = True
                break
            chunks.append(w.token_ids)
            positions.append(w.doc_index)
            window_index.append(w.window_index)
            window_texts.append(w.text)
            tokens += n
            bar.update(n)
    finally:
        windows.close()
        bar.close()
    row_splits = np.zeros(len(chunks) + 1, np.int64)
    np.cumsum([len(c) for c in chunks], out=row_splits[1:])
    doc_index = order[np.asarray(positions, np.int64)] if chunks else np.zeros(0, np.int64)
    ws = WindowSet(
        values=np.concatenate(chunks).astype(np.int32) if chunks else np.zeros(0, np.int32),
        row_splits=row_splits,
        doc_index=doc_index.astype(np.int64),
        window_index=np.asarray(window_index, np.int32),
        texts=window_texts,
        context_length=cfg.context_length,
        tokenizer_sha256=tokenizer_sha256(proto),
        stats=stats,
    )
    return ws, tokens, capped


def _capped_train_windows(ctx: StageContext, name: str, proto: bytes) -> Any:
    """A domain's train windows of a seeded document order, cut at
    ``max_domain_train_tokens``."""
    from keras_pn.data.prepare.jsonl_index import JsonlIndex

    cfg = ctx.config
    index = JsonlIndex([ctx.inputs.split_file(name, "train")])
    order = index.order(cfg.seed)
    ws, tokens, capped = _capped_windows(
        index.texts(order), order, proto, cfg, cfg.max_domain_train_tokens,
        f"{name} train windows",
    )
    logger.info(
        "%s train: %d tokens in %d windows from %d of %d documents%s.",
        name, tokens, len(ws), len(np.unique(ws.doc_index)), len(index),
        f" (capped at {cfg.max_domain_train_tokens})" if capped else "",
    )
    return ws


def run_generic_windows(ctx: StageContext) -> dict[str, Any]:
    """Cuts the generic documents, in the seeded order, into windows up to the cap."""
    cfg = ctx.config
    index = ctx.generic_index()
    order = index.order(cfg.seed)
    cap = cfg.max_generic_tokens
    ws, tokens, capped = _capped_windows(
        index.texts(order), order, ctx.proto(), cfg, cap, "generic windows"
    )
    if not len(ws):
        raise PreparationError(
            f"The generic mix in {ctx.inputs.generic_dir} produced no window. Fix: "
            "check that its JSONL files hold non-empty 'text' fields."
        )
    ws.save(ctx.layout.generic_windows)
    doc_index = np.asarray(ws.doc_index)
    summary = {
        "documents_available": len(index),
        "documents": len(np.unique(doc_index)),
        "windows": len(ws),
        "tokens": int(tokens),
        "capped": capped,
    }
    logger.info(
        "Generic windows: %d tokens in %d windows from %d of %d documents%s.",
        tokens,
        len(ws),
        summary["documents"],
        len(index),
        f" (capped at {cap})" if capped else "",
    )
    return summary
