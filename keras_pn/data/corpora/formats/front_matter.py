"""Text files with YAML front matter (the ScanCode license texts `*.LICENSE`).

The front matter (between `---` lines) is parsed with PyYAML to read the license
`key` (the group is its family, the part before the first `-`, `_` or `.`) and
`language`: non-English texts are dropped. The document is the text after it.
"""

import re
from pathlib import Path

import yaml

from keras_pn.data.corpora.text import Document, read_text

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n?", re.DOTALL)


def split_front_matter(text):
    """Returns (metadata dict, body) of a document with optional YAML front matter."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError:
        meta = {}
    return (meta if isinstance(meta, dict) else {}), text[match.end() :]


def family(key):
    """License family of a key: `gpl-2.0-plus` -> `gpl`, `bsd-new` -> `bsd`."""
    return re.split(r"[-_.]", key, maxsplit=1)[0] or key


def parse(root, files, *, language="en"):
    """Yields one `Document` per file in `language`, grouped by key family.

    Args:
        root: Extraction directory.
        files: Member paths.
        language: Keep files whose `language` is this (missing means English).
    """
    for rel in files:
        meta, body = split_front_matter(read_text(Path(root) / rel))
        if str(meta.get("language", "en")).lower() != language:
            continue
        key = str(meta.get("key") or Path(rel).stem)
        yield Document(body, family(key))
