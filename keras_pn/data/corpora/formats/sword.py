"""SWORD Bible and commentary modules, exported with `mod2imp` (Debian libsword-utils).

`mod2imp` prints `$$$Book C:V` keys, each followed by the entry's OSIS/ThML markup.
Entries are grouped into one document per chapter (`Book C`), grouped by Bible book.
Footnotes are dropped, tags stripped, entities unescaped. Commentaries repeat one
passage for every verse it covers (MHCC exports 410 MB): an entry identical to an
earlier one is skipped and, for commentaries, so is every line already seen.
"""

import hashlib
import html
import os
import re
import subprocess
import tempfile
from pathlib import Path

from keras_pn.data.corpora import errors, tools
from keras_pn.data.corpora.text import Document

_KEY = re.compile(r"^(.+) (\d+):(\d+)$")
_NOTE = re.compile(r"<note\b[^>]*>.*?</note>", re.DOTALL)
_BREAK_TAGS = re.compile(
    r"<(?:/?p\b|/?div\b|lb\b|/?l\b|/?lg\b|/?title\b|/?item\b|br\b)[^>]*>"
)
_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"[ \t]+")
_BLANKS = re.compile(r"\s*\n\s*")


def strip_osis(markup):
    """Returns the plain text of an OSIS/ThML fragment (footnotes dropped)."""
    text = _NOTE.sub("", markup)
    text = _BREAK_TAGS.sub("\n", text)
    text = html.unescape(_TAG.sub("", text))
    text = _SPACES.sub(" ", text)
    return _BLANKS.sub("\n", text).strip()


def iter_imp(lines):
    """Yields (key, markup) pairs from the lines of a `mod2imp` export."""
    key, body = None, []
    for line in lines:
        if line.startswith("$$$"):
            if key is not None:
                yield key, "".join(body)
            key, body = line[3:].strip(), []
        else:
            body.append(line)
    if key is not None:
        yield key, "".join(body)


def _drop_seen_lines(text, seen, min_chars=40):
    kept = []
    for line in text.split("\n"):
        if len(line) >= min_chars:
            digest = hashlib.blake2b(line.encode("utf-8"), digest_size=16).digest()
            if digest in seen:
                continue
            seen.add(digest)
        kept.append(line)
    return "\n".join(kept).strip()


def chapters(entries, dedup_lines=False):
    """Groups (key, markup) entries into chapter documents grouped by book.

    Identical entries after the first are skipped; with `dedup_lines`, so is every
    line (of 40+ characters) already seen in the module.
    """
    seen, seen_lines = set(), set()
    current, parts = None, []
    for key, markup in entries:
        match = _KEY.match(key)
        if not match:
            continue  # module and testament headings
        digest = hashlib.blake2b(
            markup.strip().encode("utf-8"), digest_size=16
        ).digest()
        if digest in seen:
            continue
        seen.add(digest)
        text = strip_osis(markup)
        if dedup_lines:
            text = _drop_seen_lines(text, seen_lines)
        if not text:
            continue
        book, chapter = match.group(1), int(match.group(2))
        if (book, chapter) != current:
            if parts:
                yield Document(
                    f"{current[0]} {current[1]}\n" + "\n".join(parts), current[0]
                )
            current, parts = (book, chapter), []
        parts.append(text)
    if parts:
        yield Document(f"{current[0]} {current[1]}\n" + "\n".join(parts), current[0])


def _sword_root(root, files):
    for rel in files:
        if "/mods.d/" in f"/{rel}":
            return Path(root) / rel.split("mods.d/")[0]
    raise errors.CorpusError(
        f"no SWORD mods.d/ directory among the extracted files under {root}"
    )


def parse(root, files, *, module, dedup_lines=False):
    """Yields chapter documents of one SWORD module.

    Args:
        root: Extraction directory.
        files: Member paths (must include `.../mods.d/*.conf` and the module data).
        module: The module name in its `.conf` (e.g. `engKJV2006eb`, `MHCC`).
        dedup_lines: Drop lines already seen in the module (for commentaries, whose
            export repeats passages; not for Bible texts, which repeat verses).
    """
    mod2imp = tools.require("mod2imp")
    env = dict(os.environ, SWORD_PATH=str(_sword_root(root, files)))
    # stderr goes to a file: mod2imp prints one warning per missing verse, which
    # would fill a pipe and deadlock the export.
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            [mod2imp, module], stdout=subprocess.PIPE, stderr=stderr, env=env
        )
        try:
            lines = (raw.decode("utf-8", errors="replace") for raw in proc.stdout)
            yield from chapters(iter_imp(lines), dedup_lines)
        finally:
            proc.stdout.close()
            code = proc.wait()
        if code != 0:
            stderr.seek(0)
            message = stderr.read()[-2000:].decode("utf-8", "replace")
            raise errors.CorpusError(
                f"mod2imp {module} failed (SWORD_PATH={env['SWORD_PATH']}): {message}"
            )
