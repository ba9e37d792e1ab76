"""apt `Translation-en` indexes: one document per package description.

Stanzas hold `Package:` and `Description-en:` (a short line, then an indented long
description where ` .` is a blank line). Shared boilerplate paragraphs are removed by
the builder (`dedup_paragraphs`).
"""

from pathlib import Path

from keras_pn.data.corpora.text import Document, read_text


def iter_descriptions(text):
    """Yields (package, description text) for each stanza."""
    for stanza in text.split("\n\n"):
        package, lines, in_description = None, [], False
        for line in stanza.splitlines():
            if line.startswith("Package:"):
                package = line.split(":", 1)[1].strip()
                in_description = False
            elif line.startswith("Description-"):
                lines = [line.split(":", 1)[1].strip(), ""]
                in_description = True
            elif in_description and line.startswith(" "):
                body = line[1:]
                lines.append("" if body.strip() == "." else body)
            else:
                in_description = False
        if package and lines:
            yield package, "\n".join(lines)


def parse(root, files, **options):
    """Yields one `Document` per package description, grouped by package."""
    del options
    for rel in files:
        for package, description in iter_descriptions(read_text(Path(root) / rel)):
            yield Document(description, package)
