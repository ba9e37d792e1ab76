"""13-gram decontamination of the generic mix against the domains' held-out sets.

Words are lower-cased `\\w+` runs. Every 13-word window of every domain's valid and
test documents is hashed (64-bit polynomial hash over exact word ids, vectorized with
numpy). A generic paragraph (blank-line separated block) that shares any 13-gram with
a held-out set is removed; the rest of its document is kept. The report counts the
removed paragraphs and bytes per domain (a paragraph matching two domains counts for
both) and in total (once).
"""

import collections
import itertools
import re

import numpy as np

from keras_pn.data.corpora.text import Document, split_paragraphs

NGRAM = 13
_WORD = re.compile(r"\w+")
_PRIME = np.uint64(0x9E3779B97F4A7C15)
_BATCH_WORDS = 4_000_000


def _ngram_hashes(ids, n):
    """Hashes of all length-n windows of an int array (uint64, wrapping arithmetic)."""
    count = len(ids) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    ids = ids.astype(np.uint64)
    hashes = np.zeros(count, dtype=np.uint64)
    for i in range(n):
        hashes = hashes * _PRIME + ids[i : i + count]
    return hashes


def _sorted_unique(values):
    """Sorted unique values (sort-based: numpy's hash-based `unique` is slow on uint64)."""
    values = np.sort(values, kind="stable")
    if len(values) == 0:
        return values
    return values[np.concatenate(([True], values[1:] != values[:-1]))]


def _member(values, sorted_table):
    """Boolean mask: which `values` occur in the sorted unique array `sorted_table`."""
    if len(sorted_table) == 0:
        return np.zeros(len(values), dtype=bool)
    order = np.argsort(values)  # sorted needles make the binary searches cache-friendly
    needles = values[order]
    positions = np.minimum(
        np.searchsorted(sorted_table, needles), len(sorted_table) - 1
    )
    mask = np.empty(len(values), dtype=bool)
    mask[order] = sorted_table[positions] == needles
    return mask


class NgramIndex:
    """The 13-gram hashes of several named text collections (the domains)."""

    def __init__(self, n=NGRAM):
        self.n = n
        self.vocab = {}
        self.by_name = {}
        self.all = np.zeros(0, dtype=np.uint64)

    def add(self, name, texts):
        """Adds the n-grams of `texts` (iterable of str) under `name`."""
        parts = []
        for text in texts:
            words = _WORD.findall(text.lower())
            ids = np.fromiter(
                (self.vocab.setdefault(w, len(self.vocab) + 1) for w in words),
                dtype=np.int64,
                count=len(words),
            )
            parts.append(_ngram_hashes(ids, self.n))
        new = (
            _sorted_unique(np.concatenate(parts))
            if parts
            else np.zeros(0, dtype=np.uint64)
        )
        old = self.by_name.get(name)
        self.by_name[name] = (
            new if old is None else _sorted_unique(np.concatenate([old, new]))
        )
        self.all = _sorted_unique(np.concatenate([self.all, new]))

    def _word_ids(self, text):
        words = _WORD.findall(text.lower())
        return list(map(self.vocab.get, words, itertools.repeat(0, len(words))))

    def contaminated_paragraphs(self, paragraphs):
        """Returns `{paragraph index: set of matching names}` for a list of strings."""
        found = {}
        batch_ids, batch_paras, words = [], [], 0

        def check():
            if not batch_ids:
                return
            lengths = np.array([len(x) for x in batch_ids])
            ids = np.fromiter(
                (i for x in batch_ids for i in x),
                dtype=np.int64,
                count=int(lengths.sum()),
            )
            owner = np.repeat(np.arange(len(batch_ids)), lengths)
            hashes = _ngram_hashes(ids, self.n)
            if not len(hashes):
                return
            same = owner[: len(hashes)] == owner[self.n - 1 :]
            starts = np.nonzero(same)[0]
            hits = starts[_member(hashes[starts], self.all)]
            if not len(hits):
                return
            hit_hashes = hashes[hits]
            for name, table in self.by_name.items():
                for k in set(owner[hits[_member(hit_hashes, table)]].tolist()):
                    found.setdefault(batch_paras[k], set()).add(name)

        for index, para in enumerate(paragraphs):
            ids = self._word_ids(para)
            if len(ids) < self.n:
                continue
            batch_ids.append(ids)
            batch_paras.append(index)
            words += len(ids)
            if words >= _BATCH_WORDS:
                check()
                batch_ids, batch_paras, words = [], [], 0
        check()
        return found


def decontaminate(docs, index, report=None):
    """Removes the paragraphs of `docs` that share an n-gram with `index`.

    Args:
        docs: List of `Document`s (the generic mix).
        index: An `NgramIndex` of the domains' valid and test sets.
        report: Optional dict updated with the removal statistics.

    Returns:
        The list of decontaminated, non-empty documents (same order).
    """
    paragraphs, owners = [], []
    for i, doc in enumerate(docs):
        for para in split_paragraphs(doc.text):
            paragraphs.append(para)
            owners.append(i)
    found = index.contaminated_paragraphs(paragraphs)
    per_domain = collections.defaultdict(lambda: {"paragraphs": 0, "bytes": 0})
    kept = collections.defaultdict(list)
    removed_bytes = 0
    touched = set()
    for j, (para, owner) in enumerate(zip(paragraphs, owners)):
        names = found.get(j)
        if names:
            size = len(para.encode("utf-8"))
            removed_bytes += size
            touched.add(owner)
            for name in names:
                per_domain[name]["paragraphs"] += 1
                per_domain[name]["bytes"] += size
        else:
            kept[owner].append(para)
    out = [
        Document("\n\n".join(kept[i]), doc.group)
        for i, doc in enumerate(docs)
        if kept[i]
    ]
    if report is not None:
        total_bytes = sum(len(d.text.encode("utf-8")) for d in docs)
        report.update(
            {
                "ngram": index.n,
                "granularity": "paragraph",
                "held_out_ngrams": len(index.all),
                "input_bytes": total_bytes,
                "removed_paragraphs": len(found),
                "removed_bytes": removed_bytes,
                "removed_fraction": removed_bytes / total_bytes if total_bytes else 0.0,
                "documents_touched": len(touched),
                "documents_emptied": len(docs) - len(out),
                "per_domain": {k: dict(v) for k, v in sorted(per_domain.items())},
            }
        )
    return out
