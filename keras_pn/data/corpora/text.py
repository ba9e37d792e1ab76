"""Documents and the text clean-up every format shares."""

import dataclasses
import gzip
import re
import unicodedata
from pathlib import Path

# C0/C1 control characters except tab and newline (form feeds, NULs, escapes, ...).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")


@dataclasses.dataclass(frozen=True)
class Document:
    """One document of a corpus.

    Attributes:
        text: Clean UTF-8 text.
        group: The split key (Bible book, play, license family, ...): documents of one
            group always land in the same split. `None` when the source has none.
    """

    text: str
    group: str | None = None


def clean_text(text):
    """Normalizes a document: NFC, `\\n` newlines, no control characters, no
    trailing spaces, at most one blank line in a row, no leading/trailing blank space.

    Args:
        text: Raw text.

    Returns:
        The cleaned text (possibly empty).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    text = _CONTROL.sub("", text.replace("\f", "\n"))
    text = unicodedata.normalize("NFC", text)
    text = _TRAILING_SPACE.sub("\n", text + "\n")
    text = _MANY_BLANK_LINES.sub("\n\n", text)
    return text.strip()


def decode_bytes(data):
    """Decodes bytes as UTF-8, falling back to Windows-1252 for legacy files.

    Args:
        data: Raw bytes.

    Returns:
        The decoded string.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def read_bytes(path):
    """Reads a file, transparently un-gzipping `.gz` and dictzip `.dz` files."""
    path = Path(path)
    data = path.read_bytes()
    if path.suffix in (".gz", ".dz") or data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data


def read_text(path):
    """Reads a (possibly gzipped) text file as a string."""
    return decode_bytes(read_bytes(path))


def split_paragraphs(text):
    """Splits text on blank lines."""
    return [part for part in re.split(r"\n\s*\n", text) if part.strip()]
