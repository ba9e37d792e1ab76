"""Source code files (Python modules, Perl modules): one document per file, verbatim.

The group is the module path (the member path without its installation prefix).
"""

from pathlib import Path

from keras_pn.data.corpora.text import Document, read_text


def parse(root, files, **options):
    """Yields one `Document` per source file, grouped by its member path."""
    del options
    for rel in files:
        yield Document(read_text(Path(root) / rel), rel)
