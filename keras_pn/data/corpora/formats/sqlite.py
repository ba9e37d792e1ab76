"""SQLite databases (the Gene Ontology in `GO.sqlite`): one document per result row.

The query returns (group, text) rows.
"""

import sqlite3
from pathlib import Path

from keras_pn.data.corpora.text import Document


def parse(root, files, *, query):
    """Yields one `Document` per row of `query`, opened read-only.

    Args:
        root: Extraction directory.
        files: Member paths of SQLite files.
        query: SQL returning (group, text) rows.
    """
    for rel in files:
        uri = f"{(Path(root) / rel).resolve().as_uri()}?mode=ro"
        connection = sqlite3.connect(uri, uri=True)
        try:
            for group, text in connection.execute(query):
                if text:
                    yield Document(str(text), str(group))
        finally:
            connection.close()
