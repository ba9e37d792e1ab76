"""The corpus cache layout and its crash-safe publication.

Layout (a contract other tools rely on)::

    <cache>/downloads/<registry>/<package>=<version>/<archive>
    <cache>/domains/<name>/{train,valid,test}.jsonl + manifest.json
    <cache>/generic/shard-00000.jsonl ... + manifest.json

`<cache>` is `--cache_dir`, else `$KERAS_PN_CACHE`, else `~/.cache/keras_pn`. A dataset
is built in a hidden sibling directory and renamed into place; `manifest.json`,
written last, marks it complete. An interrupted build therefore never leaves an entry
that looks complete.
"""

import json
import os
import shutil
from pathlib import Path

from keras_pn.data.corpora import sources as sources_lib
from keras_pn.file_io import atomic_write_json, staging_directory

ENV_VAR = "KERAS_PN_CACHE"
MANIFEST = "manifest.json"


def resolve_cache_dir(cache_dir=None):
    """Returns the cache root: the argument, else `$KERAS_PN_CACHE`, else
    `~/.cache/keras_pn`."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return Path.home() / ".cache" / "keras_pn"


def dataset_dir(cache_dir, name):
    """Returns the directory of one dataset (`generic` or a domain)."""
    root = resolve_cache_dir(cache_dir)
    if name == sources_lib.GENERIC:
        return root / "generic"
    return root / "domains" / name


def downloads_dir(cache_dir):
    """Returns the directory holding the fetched archives."""
    return resolve_cache_dir(cache_dir) / "downloads"


def read_manifest(directory):
    """Returns the manifest of a complete dataset directory, else `None`."""
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for name, info in manifest.get("files", {}).items():
        file = Path(directory) / name
        if not file.is_file() or file.stat().st_size != info.get("bytes"):
            return None
    return manifest


def is_complete(directory):
    """Whether `directory` holds a finished build (manifest present, files intact)."""
    return read_manifest(directory) is not None


def write_json_atomic(path, obj):
    """Writes JSON to `path` atomically (fsynced)."""
    atomic_write_json(path, obj, indent=2, ensure_ascii=False, fsync=True)


def remove_stale_staging(final_dir):
    """Deletes staging directories left next to `final_dir` by interrupted builds."""
    final_dir = Path(final_dir)
    if not final_dir.parent.is_dir():
        return
    for path in final_dir.parent.glob(f".{final_dir.name}.*"):
        shutil.rmtree(path, ignore_errors=True)


def staging_dir(final_dir):
    """Yields a fresh hidden sibling of `final_dir` to build into; on success it
    replaces `final_dir`, on any error it is deleted and `final_dir` is untouched.

    The caller writes the manifest last, inside the staging directory.
    """
    return staging_directory(final_dir)
