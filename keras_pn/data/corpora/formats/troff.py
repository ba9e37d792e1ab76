"""Man pages (troff), rendered with `mandoc -T utf8` (Debian package mandoc).

troff is rendered, never regex-stripped. Overstrike bold/underline sequences are
removed, and so are the running header and footer lines. `.so` redirect pages
(aliases of another page) are skipped. One document per page, grouped by page name.
"""

import concurrent.futures
import re
from pathlib import Path

from keras_pn.data.corpora import tools
from keras_pn.data.corpora.text import Document, decode_bytes, read_bytes

_OVERSTRIKE = re.compile(r".\x08")


def render(source_bytes, mandoc="mandoc"):
    """Renders troff source bytes to plain UTF-8 text."""
    out = tools.run([mandoc, "-T", "utf8"], input_bytes=source_bytes, what="mandoc")
    lines = _OVERSTRIKE.sub("", decode_bytes(out)).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) > 2:
        lines = lines[
            1:-1
        ]  # "ls(1)  User Commands  ls(1)" ... "GNU coreutils 9.1  2022  ls(1)"
    return "\n".join(lines)


def _page_name(rel):
    name = Path(rel).name
    return name.removesuffix(".gz")


def parse(root, files, **options):
    """Yields one `Document` per man page (redirects skipped)."""
    del options
    mandoc = tools.require("mandoc")
    sources = []
    for rel in files:
        data = read_bytes(Path(root) / rel)
        if data.lstrip().startswith(b".so "):
            continue
        sources.append((rel, data))
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        texts = pool.map(lambda item: render(item[1], mandoc), sources)
        for (rel, _), text in zip(sources, texts):
            yield Document(text, _page_name(rel))
