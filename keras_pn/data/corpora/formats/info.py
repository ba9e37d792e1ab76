"""GNU info manuals (`*.info.gz`): node headers, menus and tag tables removed.

One document per manual.
"""

import re
from pathlib import Path

from keras_pn.data.corpora.text import Document, read_text

_MENU = re.compile(r"^\* Menu:.*?(?=\n\s*\n(?!\*)|\Z)", re.DOTALL | re.MULTILINE)
_NODE_HEADER = re.compile(r"^File: [^\n]*Node: [^\n]*\n", re.MULTILINE)
_STAR_LINE = re.compile(r"^[*=\-.]{3,}\s*$", re.MULTILINE)


def info_text(raw):
    """Returns the readable text of an info file."""
    nodes = []
    for node in raw.split("\x1f"):
        node = node.lstrip("\n")
        if node.startswith(("Tag Table:", "End Tag Table", "Local Variables")):
            continue
        if not node.startswith("File:"):
            continue  # the preamble before the first node
        node = _NODE_HEADER.sub("", node, count=1)
        node = _MENU.sub("", node)
        nodes.append(_STAR_LINE.sub("", node))
    return "\n\n".join(nodes)


def parse(root, files, **options):
    """Yields one `Document` per info manual."""
    del options
    for rel in files:
        yield Document(info_text(read_text(Path(root) / rel)), Path(rel).name)
