"""JSON files of records (`{key: {title, extract}}` or a list of objects).

One document per record: the title on the first line, then the text; grouped by title.
"""

import json
from pathlib import Path

from keras_pn.data.corpora.text import Document, read_text


def parse(root, files, *, text_field="text", title_field=None):
    """Yields one `Document` per record that has a non-empty `text_field`.

    Args:
        root: Extraction directory.
        files: Member paths of JSON files.
        text_field: Field holding the text.
        title_field: Optional field prepended as a title line (and used as group).
    """
    for rel in files:
        data = json.loads(read_text(Path(root) / rel))
        records = data.values() if isinstance(data, dict) else data
        for i, record in enumerate(records):
            if not isinstance(record, dict) or not isinstance(
                record.get(text_field), str
            ):
                continue
            title = str(record.get(title_field) or "") if title_field else ""
            text = f"{title}\n\n{record[text_field]}" if title else record[text_field]
            yield Document(text, title or f"{rel}#{i}")
