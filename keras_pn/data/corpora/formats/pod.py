"""Perl pod documentation rendered to text with `pod2text` (part of Debian perl)."""

from pathlib import Path

from keras_pn.data.corpora import tools
from keras_pn.data.corpora.text import Document, decode_bytes


def parse(root, files, **options):
    """Yields one `Document` per pod file."""
    del options
    for rel in files:
        out = tools.run(["pod2text", "--utf8", str(Path(root) / rel)], what="pod2text")
        yield Document(decode_bytes(out), Path(rel).name)
