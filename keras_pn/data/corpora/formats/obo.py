"""OBO ontologies (`hp.obo`): one document per term, `name` + `def` + `comment`.

Obsolete terms are skipped; the quoted definition loses its trailing `[xrefs]`.
"""

import re
from pathlib import Path

from keras_pn.data.corpora.text import Document, read_text

_QUOTED = re.compile(r'^"((?:[^"\\]|\\.)*)"')


def _unquote(value):
    match = _QUOTED.match(value)
    text = match.group(1) if match else value
    return text.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def iter_stanzas(text):
    """Yields (stanza type, {tag: [values]}) for every `[Term]`-like stanza."""
    kind, tags = None, {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            if kind is not None:
                yield kind, tags
            kind, tags = line[1:-1], {}
        elif kind is not None and ":" in line and not line.startswith("!"):
            tag, _, value = line.partition(":")
            tags.setdefault(tag.strip(), []).append(value.strip())
    if kind is not None:
        yield kind, tags


def term_text(tags):
    """Returns the document text of one term stanza."""
    parts = [tags["name"][0]] if "name" in tags else []
    for tag in ("def", "comment"):
        parts.extend(_unquote(v) for v in tags.get(tag, []))
    return "\n".join(p for p in parts if p)


def parse(root, files, **options):
    """Yields one `Document` per non-obsolete `[Term]`, grouped by term id."""
    del options
    for rel in files:
        for kind, tags in iter_stanzas(read_text(Path(root) / rel)):
            if kind != "Term" or tags.get("is_obsolete") == ["true"]:
                continue
            if "def" not in tags and "comment" not in tags:
                continue  # a bare name is not a document
            yield Document(term_text(tags), tags.get("id", [""])[0])
