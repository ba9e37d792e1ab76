"""Project Gutenberg texts: the licence header and footer are removed.

The body lies between the `*** START OF ... ***` and `*** END OF ... ***` lines
(older files: `*END*THE SMALL PRINT` / `End of (the) Project Gutenberg ...`). Files
without markers are kept whole. One document per file, grouped by file name.
"""

import re
from pathlib import Path

from keras_pn.data.corpora.text import Document, read_text

_START = re.compile(
    r"^.*(?:\*\*\*\s*START OF (?:THIS|THE) PROJECT GUTENBERG|\*END\*THE SMALL PRINT).*$",
    re.IGNORECASE | re.MULTILINE,
)
_END = re.compile(
    r"^.*(?:\*\*\*\s*END OF (?:THIS|THE) PROJECT GUTENBERG|End of (?:the )?Project Gutenberg).*$",
    re.IGNORECASE | re.MULTILINE,
)
_PRODUCED_BY = re.compile(
    r"\A\s*(?:Produced by|This etext was prepared by)[^\n]*(?:\n[^\n]+)*\n",
    re.IGNORECASE,
)


def strip_boilerplate(text):
    """Returns the body of a Project Gutenberg text (unchanged if no markers)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    start = _START.search(text)
    if start:
        text = text[start.end() :]
        text = _PRODUCED_BY.sub("", text, count=1)
    end = _END.search(text)
    if end:
        text = text[: end.start()]
    return text


def parse(root, files, **options):
    """Yields one `Document` per text, grouped by file stem (`hamlet_gut`)."""
    del options
    for rel in files:
        yield Document(strip_boilerplate(read_text(Path(root) / rel)), Path(rel).stem)
