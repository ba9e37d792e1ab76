"""HTML and XML help pages (DocBook HTML, LibreOffice help, Mallard `.page`) to text.

Scripts, styles, titles and navigation are skipped: `<nav>`, `<header>`,
`<footer>`, `<aside>`, forms, and elements whose class or id marks navigation
(`navheader`, `navfooter`, `toc`, `breadcrumb`, `banner`, ...). Block elements start
new lines; `<pre>` keeps its layout. With `xml=True` (Mallard) the `<info>` metadata
and `<comment>` blocks are skipped too. One document per file.
"""

import html.parser
import re
from pathlib import Path

from keras_pn.data.corpora.text import Document, read_text

_SKIP_TAGS = {
    "script",
    "style",
    "nav",
    "header",
    "footer",
    "aside",
    "noscript",
    "form",
    "button",
    "select",
    "template",
    "svg",
    "title",
}
_NAV_WORDS = re.compile(
    r"\b(\w*nav\w*|toc|breadcrumbs?|banner|sidebar-nav|related|"
    r"footer|header|menu|search|skip)\b",
    re.IGNORECASE,
)
# Tags that end a line, and tags that end a paragraph (a blank line).
_LINE_TAGS = {"br", "li", "dt", "dd", "tr", "td", "th", "item", "caption", "tree"}
_PARAGRAPH_TAGS = {
    "p",
    "div",
    "ul",
    "ol",
    "dl",
    "table",
    "pre",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "section",
    "article",
    "blockquote",
    "hr",
    "body",
    "main",
    "figure",
}
_MALLARD_PARAGRAPH_TAGS = {
    "page",
    "title",
    "list",
    "steps",
    "terms",
    "note",
    "screen",
    "code",
    "synopsis",
    "example",
    "listing",
}
_INDENT = "\x01"
_VOID_TAGS = {
    "br",
    "hr",
    "img",
    "input",
    "meta",
    "link",
    "area",
    "base",
    "col",
    "embed",
    "source",
    "track",
    "wbr",
}


class _TextExtractor(html.parser.HTMLParser):
    def __init__(self, skip_tags, paragraph_tags):
        super().__init__(convert_charrefs=True)
        self.skip_tags = skip_tags
        self.paragraph_tags = paragraph_tags
        self.parts = []
        self.skip_tag, self.skip_depth = None, 0
        self.pre = 0
        self.pending = 0

    def _is_navigation(self, tag, attrs):
        if tag in self.skip_tags:
            return True
        marks = " ".join(v for k, v in attrs if k in ("class", "id", "role") and v)
        return bool(marks) and bool(
            _NAV_WORDS.search(marks.replace("-", " ").replace("_", " "))
        )

    def handle_starttag(self, tag, attrs):
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth += 1
            return
        if tag not in _VOID_TAGS and self._is_navigation(tag, attrs):
            self.skip_tag, self.skip_depth = tag, 1
            return
        if tag == "pre" or tag == "screen":
            self.pre += 1
        self._break(tag)

    def _break(self, tag):
        # Breaks are pending until the next text, so nested blocks give one break.
        if tag in self.paragraph_tags:
            self.pending = max(self.pending, 2)
        elif tag in _LINE_TAGS:
            self.pending = max(self.pending, 1)

    def handle_startendtag(self, tag, attrs):
        if self.skip_tag is None:
            self._break(tag)

    def handle_endtag(self, tag):
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth -= 1
                if self.skip_depth == 0:
                    self.skip_tag = None
            return
        if tag in ("pre", "screen") and self.pre:
            self.pre -= 1
        self._break(tag)

    def handle_data(self, data):
        if self.skip_tag is not None:
            return
        if not data.strip() and not self.pre:
            if self.pending == 0:
                self.parts.append(" ")
            return
        if self.pending:
            self.parts.append("\n" * self.pending)
            self.pending = 0
        if self.pre:  # protect the indentation of preformatted lines from stripping
            self.parts.append(
                re.sub(r"(?m)^ +", lambda m: _INDENT * len(m.group()), data)
            )
        else:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(markup, xml=False):
    """Returns the visible main text of an HTML (or Mallard XML) page."""
    if xml:  # Mallard: <info> is metadata, <comment> editorial notes, <title> content
        skip = (_SKIP_TAGS - {"title"}) | {"info", "comment"}
        parser = _TextExtractor(skip, _PARAGRAPH_TAGS | _MALLARD_PARAGRAPH_TAGS)
    else:
        parser = _TextExtractor(_SKIP_TAGS, _PARAGRAPH_TAGS)
    parser.feed(markup)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).split("\n")]
    text = "\n".join(lines).replace(_INDENT, " ")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def parse(root, files, *, xml=False):
    """Yields one `Document` per page.

    Args:
        root: Extraction directory.
        files: Member paths.
        xml: Mallard / XML help pages rather than HTML.
    """
    for rel in files:
        yield Document(html_to_text(read_text(Path(root) / rel), xml=xml), rel)
