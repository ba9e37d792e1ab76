"""fortune cookie files: cookies are separated by lines holding only `%`.

One document per cookie; each cookie is its own group. ROT13-encoded (offensive)
files are not in the Debian `fortunes` package and are not decoded here.
"""

import re
from pathlib import Path

from keras_pn.data.corpora.text import Document, read_text

_SEPARATOR = re.compile(r"^%\s*$", re.MULTILINE)


def parse(root, files, **options):
    """Yields one `Document` per cookie, grouped by `file#index`."""
    del options
    for rel in files:
        cookies = _SEPARATOR.split(read_text(Path(root) / rel))
        for i, cookie in enumerate(cookies):
            if cookie.strip():
                yield Document(cookie, f"{Path(rel).name}#{i}")
