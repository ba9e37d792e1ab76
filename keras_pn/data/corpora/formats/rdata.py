"""R lazy-load databases (`data/Rdata.rdx` + `Rdata.rdb`), read with PyPI `rdata`.

The `.rdx` is a gzip-serialized R list whose `variables` map each object name to an
(offset, length) record in the `.rdb`; a record is a 4-byte length and a zlib stream
holding one serialized object. Character vectors become documents (lines joined with
newlines, Project Gutenberg boilerplate removed), one per object, grouped by name.
"""

import gzip
import warnings
import zlib
from pathlib import Path

import numpy as np

from keras_pn.data.corpora.formats.gutenberg import strip_boilerplate
from keras_pn.data.corpora.text import Document


def _unserialize(data):
    import rdata  # lazy: it imports pandas

    with warnings.catch_warnings():  # "Unknown file type: assumed RDS": expected here
        warnings.simplefilter("ignore", UserWarning)
        return rdata.conversion.convert(rdata.parser.parse_data(data))


def read_lazyload(rdx_path, rdb_path):
    """Yields (name, object) for every object of an R lazy-load database."""
    index = _unserialize(gzip.decompress(Path(rdx_path).read_bytes()))
    blob = Path(rdb_path).read_bytes()
    for name, (offset, length) in index["variables"].items():
        offset, length = int(offset), int(length)
        record = blob[offset : offset + length]
        yield str(name), _unserialize(zlib.decompress(record[4:]))


def _as_text(obj):
    if isinstance(obj, str):
        return obj
    values = np.asarray(obj).ravel() if not isinstance(obj, list) else obj
    if len(values) and all(isinstance(v, (str, np.str_)) for v in values):
        return "\n".join(str(v) for v in values)
    return None


def parse(root, files, **options):
    """Yields one `Document` per character-vector object."""
    del options
    root = Path(root)
    for rel in files:
        if not rel.endswith(".rdx"):
            continue
        for name, obj in read_lazyload(root / rel, root / (rel[:-4] + ".rdb")):
            text = _as_text(obj)
            if text is not None:
                yield Document(strip_boilerplate(text), name)
