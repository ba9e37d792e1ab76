"""reStructuredText sources (Python docs `_sources/*.rst.txt`, kernel docs `*.rst.gz`).

Markup is removed line by line: section adornment lines, comments and metadata
directives with their indented bodies (`.. index::`, `.. toctree::`, targets
`.. _label:`, `.. SPDX...`), directive option lines (`:maxdepth: 2`); content
directives (`.. note::`, `.. function:: open(file)`) keep their argument and body.
Inline roles (``:func:`~os.open` `` -> `os.open`), links (`` `text <url>`_ `` ->
`text`) and literals (``` ``x`` ``` -> `x`) keep their text. Plain `.txt` files pass
through the same rules harmlessly. One document per file.
"""

import re
from pathlib import Path

from keras_pn.data.corpora.text import Document, read_text

# Directives whose whole block (argument and indented body) is dropped.
_DROPPED_DIRECTIVES = {
    "index",
    "toctree",
    "highlight",
    "currentmodule",
    "sectionauthor",
    "moduleauthor",
    "include",
    "literalinclude",
    "image",
    "figure",
    "raw",
    "only",
    "tabularcolumns",
    "kernel-doc",
    "kernel-include",
    "kernel-feat",
    "kernel-abi",
    "c:namespace",
    "default-domain",
    "contents",
    "sectnum",
    "spelling",
    "cssclass",
    "testsetup",
    "testcleanup",
    "audit-event",
    "audit-event-table",
    "impl-detail",
    "maintainers-include",
    "kernel-figure",
    "kernel-render",
    "csv-table",
    "loadsitemacros",
    "c:namespace-push",
    "c:namespace-pop",
    "opcode",
    "pdbcommand",
}
_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+([\w:.-]+)::\s*(.*)$")
_COMMENT = re.compile(r"^(\s*)\.\.(?:\s|$)")
_ADORNMENT = re.compile(r"^\s*([=\-~^\"'`#*+_:.<>])\1{3,}\s*$")
_OPTION = re.compile(r"^\s+:[\w -]+:(?:\s.*)?$")
_ROLE = re.compile(r":[\w:.+-]+:`([^`]*)`")
_LINK = re.compile(r"`([^`<]*?)\s*<[^`>]*>`__?")
_REF = re.compile(r"`([^`]+)`__?")
_LITERAL = re.compile(r"``(.+?)``")
_SUBSTITUTION_DEF = re.compile(r"^\s*\.\.\s+\|[^|]+\|")


def _role_text(match):
    text = match.group(1)
    link = re.match(r"(.*?)\s*<[^<>]*>$", text)
    if link and link.group(1):
        text = link.group(1)
    return text.lstrip("~!")


def inline_to_text(line):
    """Removes inline rST markup from one line."""
    line = _ROLE.sub(_role_text, line)
    line = _LINK.sub(r"\1", line)
    line = _LITERAL.sub(r"\1", line)
    line = _REF.sub(r"\1", line)
    return line


def rst_to_text(source):
    """Returns the plain text of an rST document."""
    out, skip_indent, in_directive = [], None, None
    for line in source.split("\n"):
        indent = len(line) - len(line.lstrip())
        if skip_indent is not None:
            if not line.strip() or indent > skip_indent:
                continue
            skip_indent = None
        if in_directive is not None:
            if line.strip() and indent <= in_directive:
                in_directive = None
            elif _OPTION.match(line):
                continue
        directive = _DIRECTIVE.match(line)
        if directive:
            name = (
                directive.group(2).split(":")[-1]
                if ":" in directive.group(2)
                else directive.group(2)
            )
            if directive.group(2) in _DROPPED_DIRECTIVES or name in _DROPPED_DIRECTIVES:
                skip_indent = indent
                continue
            in_directive = indent
            if directive.group(3):
                out.append(directive.group(1) + inline_to_text(directive.group(3)))
            continue
        if _COMMENT.match(line) or _SUBSTITUTION_DEF.match(line):
            skip_indent = indent  # comments, targets (.. _x:), substitution definitions
            continue
        if _ADORNMENT.match(line):
            continue
        out.append(inline_to_text(line))
    return "\n".join(out)


def parse(root, files, **options):
    """Yields one `Document` per rST file."""
    del options
    for rel in files:
        yield Document(rst_to_text(read_text(Path(root) / rel)), rel)
