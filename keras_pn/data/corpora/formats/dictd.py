"""dictd dictionaries (`NAME.index` + `NAME.dict.dz`): one document per entry.

The index lists `headword<TAB>offset<TAB>length` with offsets and lengths in dictd's
base64; the `.dict.dz` is gzip (dictzip). Entries reached by several headwords are
read once; `00-database-*` meta entries are dropped. Markup is removed: GCIDE
pronunciations `\\Ab*jure"\\`, `{cross references}`, whole-line source tags such as
`[1913 Webster]` or `[PJC]`, GCIDE character codes (`[a^]` -> `a`) and the entry
indentation.
"""

import re
from pathlib import Path

from keras_pn.data.corpora.text import Document, read_bytes

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VALUE = {c: i for i, c in enumerate(_B64)}
_PRONUNCIATION = re.compile(r"\s?\\[^\\\n]{1,80}\\")
# GCIDE also writes pronunciations as "([a^]l\"k[-o]*h[o^]l)": no spaces, with * " or `.
_PAREN_PRONUNCIATION = re.compile(r"\s?\((?=[^()\s]*[*\"`])[^()\s]{1,60}\)")
# GCIDE character codes: [ae]/[oe] ligatures and accented letters like [a^], [-o], [.a].
_LIGATURE = re.compile(r"\[(ae|oe|AE|OE)\]")
_ACCENTED = re.compile(r"\[[-=.~^\"`,']?([A-Za-z])[-=~^\"`,']?\]")
_LINK = re.compile(r"\{([^{}]*)\}")
_SOURCE_TAG_LINE = re.compile(r"^\s*\[[^\[\]\n]{1,60}\]\s*$", re.MULTILINE)


def decode_b64_number(text):
    """Decodes a dictd base64 number (e.g. `"Kj"` -> 675)."""
    value = 0
    for char in text:
        value = value * 64 + _B64_VALUE[char]
    return value


def clean_entry(text):
    """Removes dictd/GCIDE markup from one entry."""
    text = _PRONUNCIATION.sub("", text)
    text = _PAREN_PRONUNCIATION.sub("", text)
    text = _LIGATURE.sub(r"\1", text)
    text = _ACCENTED.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _SOURCE_TAG_LINE.sub("", text)
    lines = [line.strip() for line in text.split("\n")]
    return "\n".join(lines)


def read_dictionary(index_path, dict_path):
    """Yields (headword, raw entry text) in dictionary order, each entry once."""
    data = read_bytes(dict_path)
    seen = set()
    entries = []
    for line in (
        Path(index_path).read_text(encoding="utf-8", errors="replace").splitlines()
    ):
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        headword, offset, length = (
            parts[0],
            decode_b64_number(parts[1]),
            decode_b64_number(parts[2]),
        )
        if headword.startswith(("00-database", "00database")):
            continue
        if (offset, length) in seen:
            continue
        seen.add((offset, length))
        entries.append((offset, length, headword))
    for offset, length, headword in sorted(entries):
        yield headword, data[offset : offset + length].decode("utf-8", errors="replace")


def parse(root, files, **options):
    """Yields one `Document` per dictionary entry, grouped by headword.

    Args:
        root: Extraction directory.
        files: Member paths; every `X.index` is paired with `X.dict.dz` (or `X.dict`).
    """
    del options
    root = Path(root)
    for rel in files:
        if not rel.endswith(".index"):
            continue
        stem = rel[: -len(".index")]
        dict_rel = next(
            (c for c in (f"{stem}.dict.dz", f"{stem}.dict") if c in files), None
        )
        if dict_rel is None:
            raise FileNotFoundError(
                f"dictd index {rel} has no {stem}.dict.dz next to it"
            )
        for headword, raw in read_dictionary(root / rel, root / dict_rel):
            yield Document(clean_entry(raw), headword.strip().lower())
