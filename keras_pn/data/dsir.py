"""The DSIR peer: hashed n-gram importance resampling of the generic mix.

DSIR (Xie et al. 2023, PyPI ``data-selection==1.0.3``) fits bags of hashed word unigrams
and bigrams on the target (domain) and raw (generic) text, scores each generic document
by its log-importance weight ``log p_target(features) - log p_raw(features)`` and
samples documents without replacement proportionally to the weights with the
Gumbel-top-k trick. It is the lexical counterpart of the paper's cluster importance
sampling and serves as a comparison stream.

``dsir_select`` uses ``HashedNgramDSIR`` for the features, the fit and the weights, and
performs the Gumbel-top-k step itself so that it can (a) stop at a *token* budget rather
than a number of documents — the prefix of the Gumbel-perturbed order is a sample
without replacement of any length — and (b) take an explicit seed (the package's
``resample`` draws from NumPy's global generator; the global seed is also set, for any
other draw the package makes).

Example:

>>> manifest = dsir_select(
...     ["generic/00.jsonl"], ["domains/law/train.jsonl"], num_tokens=1_000_000,
...     out_dir="runs/dsir/law", seed=0)  # doctest: +SKIP
>>> manifest["selected_tokens"] >= 1_000_000  # doctest: +SKIP
True
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from keras_pn.file_io import iter_jsonl, record_text, staging_directory

logger = logging.getLogger(__name__)

OUTPUT_FILE = "train.jsonl"
MANIFEST_FILE = "dsir.json"


def _load_records(path: str) -> Iterator[dict]:
    """One record per non-blank JSON line (the default loader fails on blank lines)."""
    for _, record in iter_jsonl(path, error=ValueError):
        yield record


def _as_paths(
    paths: str | os.PathLike | Sequence[str | os.PathLike], what: str
) -> list[str]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError(f"No {what} JSONL file given.")
    for p in paths:
        if not os.path.isfile(p):
            raise FileNotFoundError(f"{what} file {p!r} does not exist.")
    return paths


def _read_lines(paths: list[str], wanted: dict[tuple[int, int], int]) -> dict[int, str]:
    """Reads the JSON lines ``{(file, record): key}`` and returns ``{key: line}``."""
    out: dict[int, str] = {}
    files = {f for f, _ in wanted}
    for f_index, path in enumerate(paths):
        if f_index not in files:
            continue
        with open(path, encoding="utf-8") as f:
            record = 0
            for line in f:
                if not line.strip():
                    continue
                key = wanted.get((f_index, record))
                if key is not None:
                    out[key] = line.rstrip("\n")
                record += 1
    return out


def dsir_select(
    generic_jsonl_files: str | os.PathLike | Sequence[str | os.PathLike],
    domain_jsonl_files: str | os.PathLike | Sequence[str | os.PathLike],
    num_tokens: int,
    out_dir: str | os.PathLike,
    seed: int = 0,
    *,
    tokenizer: Any = None,
    num_buckets: int = 10_000,
    ngrams: int = 2,
    min_example_length: int = 100,
    num_proc: int = 1,
    cache_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Selects about ``num_tokens`` tokens of generic documents resembling the domain.

    Documents are taken in decreasing order of Gumbel-perturbed log-importance weight
    until their tokens reach ``num_tokens`` (the last document may overshoot), and
    written in their generic order to ``<out_dir>/train.jsonl`` (the original JSON
    lines), with ``<out_dir>/dsir.json`` describing the selection. ``out_dir`` is then
    usable as a domain-like directory by ``keras_pn.data.streams.domain_dataset(out_dir,
    "train", ...)``. Written atomically.

    Args:
        generic_jsonl_files: the generic mix shards (``<cache>/generic/*.jsonl``).
        domain_jsonl_files: the domain's training text (e.g. ``<domain>/train.jsonl``).
        num_tokens: the token budget to select.
        out_dir: output directory.
        seed: seed of the Gumbel noise (also set as NumPy's global seed).
        tokenizer: SentencePiece proto/path/keras_hub tokenizer to count tokens in model
            tokens; None counts DSIR's own word-punctuation tokens.
        num_buckets: hashed n-gram buckets (DSIR default 10,000).
        ngrams: n-gram order (2: unigrams and bigrams).
        min_example_length: generic documents shorter than this many word tokens are
            never selected (DSIR's default filter, 100).
        num_proc: processes DSIR uses (joblib); 1 runs in this process.
        cache_dir: DSIR's cache of weights (default: a temporary directory, removed
            afterwards).
        overwrite: replace an existing ``out_dir``.

    Returns:
        The manifest (also written to ``dsir.json``).
    """
    import data_selection
    from data_selection import HashedNgramDSIR

    generic = _as_paths(generic_jsonl_files, "generic")
    domain = _as_paths(domain_jsonl_files, "domain")
    if num_tokens <= 0:
        raise ValueError(f"num_tokens must be positive, got {num_tokens}.")
    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.exists(out_dir) and not overwrite:
        raise FileExistsError(f"{out_dir!r} exists; pass overwrite=True to replace it.")
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    own_cache = cache_dir is None
    cache_dir = (
        tempfile.mkdtemp(prefix=".dsir-cache-", dir=parent)
        if own_cache
        else os.fspath(cache_dir)
    )
    np.random.seed(seed % 2**32)  # The package draws from the global generator.
    try:
        dsir = HashedNgramDSIR(
            raw_datasets=generic,
            target_datasets=domain,
            cache_dir=cache_dir,
            raw_load_dataset_fn=_load_records,
            raw_parse_example_fn=record_text,
            target_load_dataset_fn=_load_records,
            target_parse_example_fn=record_text,
            num_proc=num_proc,
            ngrams=ngrams,
            num_buckets=num_buckets,
            min_example_length=min_example_length,
        )
        logger.info(
            "DSIR: fitting hashed %d-gram models on %d generic and %d domain file(s).",
            ngrams,
            len(generic),
            len(domain),
        )
        dsir.fit_importance_estimator(num_tokens_to_fit="auto")
        dsir.compute_importance_weights()

        # Weights are stored per virtual shard: shard (path, j of m) holds records j,
        # j+m, ...
        shards = dsir._get_virtually_sharded_datasets(generic)
        counts = {p: sum(1 for _ in _load_records(p)) for p in generic}
        file_of, line_of, log_w, word_tokens = [], [], [], []
        for s in shards:
            w = np.load(
                os.path.join(dsir.log_importance_weights_dir, f"{s['overall_idx']}.npy")
            )
            meta = np.load(
                os.path.join(dsir.perexample_metadata_dir, f"{s['overall_idx']}.npy")
            )
            records = np.arange(s["shard_idx"], counts[s["path"]], s["num_shards"])
            if not len(w) == len(meta) == len(records):
                raise RuntimeError(
                    "DSIR weights do not line up with the generic records."
                )
            file_of.append(np.full(len(records), generic.index(s["path"])))
            line_of.append(records)
            log_w.append(w)
            word_tokens.append(meta)
        file_of, line_of = np.concatenate(file_of), np.concatenate(line_of)
        log_w, word_tokens = np.concatenate(log_w), np.concatenate(word_tokens)
    finally:
        if own_cache:
            shutil.rmtree(cache_dir, ignore_errors=True)

    eligible = np.flatnonzero(word_tokens >= min_example_length)
    if len(eligible) == 0:
        raise ValueError(
            f"No generic document has >= {min_example_length} word tokens; lower "
            "min_example_length."
        )
    rng = np.random.Generator(np.random.PCG64(seed))
    keys = log_w[eligible] + rng.gumbel(size=len(eligible))  # Gumbel-top-k keys
    order = eligible[np.argsort(-keys, kind="stable")]

    if tokenizer is not None:
        import sentencepiece as spm

        from keras_pn.data.tokenizer_training import sentencepiece_proto

        sp = spm.SentencePieceProcessor(model_proto=sentencepiece_proto(tokenizer))
        count_unit = "sentencepiece"
    else:
        sp = None
        count_unit = "dsir_wordpunct"

    # Read only a prefix of the order from disk (about twice the budget in word tokens),
    # growing it if the model-token count of that prefix falls short.
    texts: dict[int, str] = {}
    lengths: list[int] = []
    selected, total = [], 0
    cumulative = np.cumsum(word_tokens[order])
    prefix = min(len(order), int(np.searchsorted(cumulative, 2 * num_tokens)) + 1)
    while True:
        missing = {
            (int(file_of[i]), int(line_of[i])): int(i)
            for i in order[:prefix]
            if int(i) not in texts
        }
        texts.update(_read_lines(generic, missing))
        block = order[len(lengths) : prefix]
        if sp is not None:
            encoded = sp.encode([record_text(json.loads(texts[int(i)])) for i in block])
            lengths.extend(len(ids) for ids in encoded)
        else:
            lengths.extend(int(n) for n in word_tokens[block])
        while len(selected) < prefix and total < num_tokens:
            total += lengths[len(selected)]
            selected.append(int(order[len(selected)]))
        if total >= num_tokens or prefix == len(order):
            break
        prefix = min(len(order), 2 * prefix)
    if total < num_tokens:
        logger.warning(
            "DSIR: the eligible generic documents hold only %d tokens (< %d); all are "
            "selected.",
            total,
            num_tokens,
        )
    selected = np.asarray(selected, np.int64)
    keep = selected[np.lexsort((line_of[selected], file_of[selected]))]  # generic order

    with staging_directory(out_dir) as tmp:
        digest = hashlib.sha256()
        with open(tmp / OUTPUT_FILE, "w", encoding="utf-8") as f:
            for i in keep:
                line = texts[int(i)] + "\n"
                f.write(line)
                digest.update(line.encode("utf-8"))
        manifest = {
            "method": "dsir",
            "package": f"data-selection=={data_selection.__version__}",
            "requested_tokens": int(num_tokens),
            "selected_tokens": int(total),
            "token_unit": count_unit,
            "selected_documents": int(len(keep)),
            "eligible_documents": int(len(eligible)),
            "generic_documents": int(len(log_w)),
            "seed": int(seed),
            "num_buckets": num_buckets,
            "ngrams": ngrams,
            "min_example_length": min_example_length,
            "generic_files": generic,
            "domain_files": domain,
            "output": OUTPUT_FILE,
            "output_sha256": digest.hexdigest(),
        }
        with open(tmp / MANIFEST_FILE, "w") as f:
            json.dump(manifest, f, indent=1)
    logger.info(
        "DSIR selected %d documents (%d %s tokens) into %s.",
        len(keep),
        total,
        count_unit,
        out_dir,
    )
    return manifest
