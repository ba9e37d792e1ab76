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

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from keras_pn.data.corpora import sources as sources_lib

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


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_public(path, directory=False):
    """Gives a temp file (0600) or directory (0700) the usual umask-based mode."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def write_json_atomic(path, obj):
    """Writes JSON to `path` through a temporary file and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, ensure_ascii=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        make_public(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def remove_stale_staging(final_dir):
    """Deletes staging directories left next to `final_dir` by interrupted builds."""
    final_dir = Path(final_dir)
    if not final_dir.parent.is_dir():
        return
    for path in final_dir.parent.glob(f".{final_dir.name}.*"):
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def staging_dir(final_dir):
    """Yields a fresh hidden sibling of `final_dir` to build into; on success it
    replaces `final_dir`, on any error it is deleted and `final_dir` is untouched.

    The caller writes the manifest last, inside the staging directory.
    """
    final_dir = Path(final_dir)
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{final_dir.name}.tmp-", dir=final_dir.parent)
    )
    make_public(staging, directory=True)
    try:
        yield staging
        old = None
        if final_dir.exists():
            old = final_dir.parent / f".{final_dir.name}.old-{os.getpid()}"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final_dir, old)
        os.replace(staging, final_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
