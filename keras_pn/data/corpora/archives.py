"""Extracts the members of a fetched archive that match a source's globs.

Handles Debian `.deb` (ar + data.tar.*), wheels and zips, and tarballs (sdists, npm
packs) in pure Python. Only regular files are written; links are skipped and a member
whose path would leave the destination directory aborts the extraction.
"""

import io
import re
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from keras_pn.data.corpora import errors


def glob_to_regex(pattern):
    """Translates a path glob (`*`, `?`, `[...]`, `**` for any depth) to a regex."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


class MemberFilter:
    """Selects archive paths matching any include glob and no exclude glob."""

    def __init__(self, include, exclude=()):
        self._include = [glob_to_regex(p) for p in include]
        self._exclude = [glob_to_regex(p) for p in exclude]

    def __call__(self, path):
        return any(r.match(path) for r in self._include) and not any(
            r.match(path) for r in self._exclude
        )


def _normalized(name):
    """Returns the archive member path relative to the archive root, or raises if it
    is absolute or climbs out with `..`."""
    while name.startswith("./"):
        name = name[2:]
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise errors.CorpusError(
            f"archive member '{name}' would be written outside the extraction "
            "directory; refusing to extract this archive."
        )
    return str(path)


def _iter_tar(fileobj):
    with tarfile.open(fileobj=fileobj, mode="r|*") as tar:
        for member in tar:
            if member.isfile():
                yield member.name, lambda m=member, t=tar: t.extractfile(m).read()


def _iter_deb(path):
    """Yields (name, reader) for the files of a .deb's data.tar.*."""
    with open(path, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise errors.CorpusError(f"{path} is not a Debian package (no ar header).")
        while True:
            header = f.read(60)
            if len(header) < 60:
                break
            name = header[:16].decode("ascii").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            if name.startswith("data.tar"):
                if name.endswith(".zst"):
                    raise errors.CorpusError(
                        f"{path} uses zstd compression, which this extractor does not "
                        "read. Install zstandard (pip install zstandard) or use a package "
                        "compressed with xz/gzip."
                    )
                yield from _iter_tar(io.BytesIO(f.read(size)))
                return
            f.seek(size + (size & 1), io.SEEK_CUR)
    raise errors.CorpusError(f"{path} has no data.tar member.")


def _iter_zip(path):
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.is_dir():
                yield info.filename, lambda i=info: archive.read(i)


def iter_members(path):
    """Yields (member path, zero-argument reader returning bytes) for every regular
    file of the archive at `path`, in archive order."""
    path = Path(path)
    if path.suffix == ".deb":
        yield from _iter_deb(path)
    elif path.suffix in (".whl", ".zip"):
        yield from _iter_zip(path)
    elif tarfile.is_tarfile(path):
        with open(path, "rb") as f:
            yield from _iter_tar(f)
    else:
        raise errors.CorpusError(f"unknown archive type: {path}")


def extract(path, dest, include, exclude=()):
    """Extracts the matching regular files of an archive.

    Args:
        path: The archive (.deb, .whl, .zip, .tar.gz, .tgz).
        dest: Destination directory (created).
        include: Globs of member paths to keep, relative to the archive root
            (a leading `./` is ignored), e.g. `usr/share/dictd/*.dict.dz`.
        exclude: Globs of member paths to skip.

    Returns:
        The sorted list of extracted member paths (relative to `dest`).
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    wanted = MemberFilter(include, exclude)
    extracted = []
    for name, read in iter_members(path):
        rel = _normalized(name)
        if not wanted(rel):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read())
        extracted.append(rel)
    return sorted(extracted)
