"""Exact-duplicate removal, for whole documents and for repeated paragraphs."""

import hashlib

from keras_pn.data.corpora.text import Document, split_paragraphs


def _key(text):
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def drop_duplicate_documents(docs, stats=None):
    """Keeps the first occurrence of each exact text.

    Args:
        docs: Iterable of `Document`s (already cleaned).
        stats: Optional dict receiving `duplicate_docs` and `duplicate_bytes`.

    Yields:
        The documents whose text was not seen before.
    """
    seen = set()
    dropped = dropped_bytes = 0
    for doc in docs:
        key = _key(doc.text)
        if key in seen:
            dropped += 1
            dropped_bytes += len(doc.text.encode("utf-8"))
            continue
        seen.add(key)
        yield doc
    if stats is not None:
        stats["duplicate_docs"] = stats.get("duplicate_docs", 0) + dropped
        stats["duplicate_bytes"] = stats.get("duplicate_bytes", 0) + dropped_bytes


def drop_repeated_paragraphs(docs, min_chars=40):
    """Removes paragraphs already seen in an earlier document of the same stream.

    For sources that repeat boilerplate blocks (the SWORD commentaries repeat a
    passage for every verse it covers; package descriptions repeat shared paragraphs).
    Short paragraphs (< `min_chars`, e.g. headings) are always kept.

    Yields:
        Documents with repeated paragraphs removed (possibly empty texts).
    """
    seen = set()
    for doc in docs:
        kept = []
        for para in split_paragraphs(doc.text):
            if len(para) >= min_chars:
                key = _key(para.strip())
                if key in seen:
                    continue
                seen.add(key)
            kept.append(para)
        yield Document("\n\n".join(kept), doc.group)
