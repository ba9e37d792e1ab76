"""The Brown corpus (POS-tagged `word/tag` tokens): tags dropped, text detokenized.

One document per sample file (`ca01` ...); paragraphs are kept.
"""

import re
from pathlib import Path

from keras_pn.data.corpora.text import Document, read_text

_NO_SPACE_BEFORE = re.compile(
    r" ([.,;:!?)\]}'](?:\s|$)|n't\b|'s\b|'re\b|'ve\b|'ll\b|'d\b|'m\b)"
)
_NO_SPACE_AFTER = re.compile(r"([(\[{]) ")


def untag_line(line):
    """Turns `The/at jury/nn ./.` into `The jury.`."""
    words = [token.rsplit("/", 1)[0] for token in line.split()]
    text = " ".join(words).replace("``", '"').replace("''", '"')
    text = _NO_SPACE_BEFORE.sub(r"\1", text)
    return _NO_SPACE_AFTER.sub(r"\1", text)


def parse(root, files, **options):
    """Yields one `Document` per Brown sample file."""
    del options
    for rel in files:
        paragraphs = []
        for block in re.split(r"\n\s*\n", read_text(Path(root) / rel)):
            lines = [untag_line(line) for line in block.splitlines() if line.strip()]
            if lines:
                paragraphs.append(" ".join(lines))
        yield Document("\n\n".join(paragraphs), Path(rel).name)
