"""Checks an export against keras_pn: logits on probe tokens, perplexity on a domain.

Uniform logits over 7 tokens have perplexity 7:

>>> round(perplexity([np.zeros((1, 5, 7))], [np.array([[1, 2, 3, 4, 5]])]), 6)
7.0
"""

import os

import keras
import numpy as np

from keras_pn.export.errors import ExportError
from keras_pn.export.runtimes import load_runtime
from keras_pn.file_io import iter_jsonl
from keras_pn.file_io import record_text


def keras_logits(model, token_ids):
    """`(batch, seq, vocabulary)` float32 logits of a keras_pn causal LM."""
    ids = np.asarray(token_ids, "int32")
    batch = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    return np.asarray(keras.ops.convert_to_numpy(model(batch, training=False)), "float32")


def perplexity(logits, token_ids):
    """Next-token perplexity over windows: lists of `(1, T, V)` logits and `(1, T)` ids."""
    total, count = 0.0, 0
    for window_logits, ids in zip(logits, token_ids):
        x = np.asarray(window_logits, "float64")[:, :-1]
        targets = np.asarray(ids)[:, 1:]
        top = x.max(-1, keepdims=True)
        log_z = np.log(np.exp(x - top).sum(-1)) + top[..., 0]
        total += float((log_z - np.take_along_axis(x, targets[..., None], -1)[..., 0]).sum())
        count += targets.size
    return float(np.exp(total / max(count, 1)))


def probe_tokens(vocabulary_size, batch_size=2, length=16, seed=0):
    """Random token ids `(batch, length)` that avoid the special ids 0-3."""
    rng = np.random.default_rng(seed)
    return rng.integers(4, vocabulary_size, (batch_size, length)).astype("int32")


def domain_texts(domain):
    """The texts of a domain's test split: `DIR/test.jsonl`, the test files of a folder of
    `.txt` files (split by file as `recipes.specialize` splits it), or a `.jsonl` file."""
    import tempfile

    from keras_pn.data import text_folder

    path = os.path.join(domain, "test.jsonl") if os.path.isdir(domain) else domain
    if os.path.isdir(domain) and not os.path.isfile(path) and text_folder.text_files(domain):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                splits = text_folder.domain_splits(domain, os.path.join(tmp, "splits"))
            except text_folder.DomainFolderError as error:
                raise ExportError(str(error)) from None
            return [record_text(r) for _, r in iter_jsonl(splits / "test.jsonl")]
    if not os.path.isfile(path):
        raise ExportError(
            f"No test split at '{path}'. Fix: pass a domain directory holding "
            "test.jsonl (one {\"text\": ...} object per line) or .txt files, or a "
            ".jsonl file."
        )
    return [record_text(r) for _, r in iter_jsonl(path)]


def domain_windows(model, domain, length=None, max_windows=16):
    """Token windows `[bos] + chunk` of a domain's test split, each `(1, T)`."""
    from keras_pn.data.windows import collect_windows
    from keras_pn.export.tokenizer_assets import model_tokenizer

    tokenizer = model_tokenizer(model)
    if getattr(tokenizer, "proto", None) is None:
        raise ExportError(
            "Scoring a domain needs the model's SentencePiece tokenizer, and this "
            "model has none. Fix: export a preset saved with its preprocessor."
        )
    length = length or model.backbone.max_sequence_length
    windows = collect_windows(
        domain_texts(domain), tokenizer.proto, length - 1, with_text=False, progress=False
    )
    splits = windows.row_splits
    rows = [windows.values[splits[i] : splits[i + 1]][:length] for i in range(len(splits) - 1)]
    rows = [r[None].astype("int32") for r in rows if len(r) > 1][:max_windows]
    if not rows:
        raise ExportError(f"'{domain}' has no text to score. Fix: add documents to its test split.")
    return rows


def check_export(reference, directory, probe=None, windows=None):
    """Compares the export in `directory` with the float keras_pn model `reference`.

    Returns:
        dict: `max_abs_logit_diff` on `probe` ids; with `windows`, the perplexities
        `keras_perplexity`, `export_perplexity` and their `perplexity_change`
        (relative).
    """
    run = load_runtime(directory)
    if probe is None:
        probe = probe_tokens(reference.backbone.vocabulary_size)
    result = {
        "max_abs_logit_diff": float(np.max(np.abs(run(probe) - keras_logits(reference, probe))))
    }
    if windows:
        ref = perplexity([keras_logits(reference, w) for w in windows], windows)
        got = perplexity([run(w) for w in windows], windows)
        result.update(
            keras_perplexity=ref,
            export_perplexity=got,
            perplexity_change=got / ref - 1.0,
            windows=len(windows),
            tokens=int(sum(w.shape[1] - 1 for w in windows)),
        )
    return result
