"""One parser module per source *format* (not per domain).

Every parser has the signature `parse(root, files, **options) -> Iterator[Document]`:
`root` is the directory the archive members were extracted to, `files` the sorted
member paths (relative to `root`) that matched the source's globs, and `options` the
source row's `options`. `FORMATS` maps the `format` column of the source table to the
parser.
"""

from keras_pn.data.corpora.formats import (
    apt_descriptions,
    brown,
    dictd,
    fortune,
    front_matter,
    gutenberg,
    html,
    info,
    json_records,
    obo,
    plain_text,
    pod,
    rdata,
    rfc822,
    rst,
    source_code,
    sqlite,
    sword,
    troff,
)

FORMATS = {
    "apt_descriptions": apt_descriptions.parse,
    "brown": brown.parse,
    "dictd": dictd.parse,
    "fortune": fortune.parse,
    "front_matter": front_matter.parse,
    "gutenberg": gutenberg.parse,
    "html": html.parse,
    "info": info.parse,
    "json_records": json_records.parse,
    "obo": obo.parse,
    "plain_text": plain_text.parse,
    "pod": pod.parse,
    "rdata": rdata.parse,
    "rfc822": rfc822.parse,
    "rst": rst.parse,
    "source_code": source_code.parse,
    "sqlite": sqlite.parse,
    "sword": sword.parse,
    "troff": troff.parse,
}
