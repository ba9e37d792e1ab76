"""Every corpus format parser on tiny fixtures written by the tests (no network)."""

import gzip
import json
import shutil
import sqlite3
import struct
import zlib

import numpy as np
import pytest

from keras_pn.data.corpora import errors, tools
from keras_pn.data.corpora.formats import (
    FORMATS,
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
    rfc822,
    rst,
    source_code,
    sword,
    troff,
)
from keras_pn.data.corpora.formats import (
    rdata as rdata_format,
)
from keras_pn.data.corpora.formats import (
    sqlite as sqlite_format,
)
from keras_pn.data.corpora.sources import SOURCES

pytestmark = pytest.mark.backend_agnostic  # no Keras backend involved


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def _texts(docs):
    return [d.text for d in docs]


def test_every_source_row_names_a_known_format():
    assert {s.format for s in SOURCES} <= set(FORMATS)


# ---- dictd --------------------------------------------------------------------------


def _b64(n):
    digits = ""
    while True:
        digits = dictd._B64[n % 64] + digits
        n //= 64
        if n == 0:
            return digits


def test_dictd_reads_entries_once_and_strips_markup(tmp_path):
    entries = [
        ("00-database-info", "This file was converted by dictfmt.\n"),
        (
            "Abjure",
            'Abjure \\Ab*jure"\\, v. t. See {Jury}.\n   To renounce.\n   [1913 Webster]\n',
        ),
        ("Alcohol", 'Alcohol ([a^]l"k[-o]*h[o^]l), n. Pharmacop[oe]ia [Obs.]\n'),
    ]
    body, index = b"", []
    for word, text in entries:
        data = text.encode()
        index.append(f"{word}\t{_b64(len(body))}\t{_b64(len(data))}")
        body += data
    index.append(
        f"abjure\t{_b64(0 + len(entries[0][1]))}\t{_b64(len(entries[1][1]))}"
    )  # alias
    _write(tmp_path / "d/x.index", "\n".join(index) + "\n")
    _write(tmp_path / "d/x.dict.dz", gzip.compress(body))
    docs = list(dictd.parse(tmp_path, ["d/x.dict.dz", "d/x.index"]))
    assert _texts(docs) == [
        "Abjure, v. t. See Jury.\nTo renounce.\n",
        "Alcohol, n. Pharmacopoeia [Obs.]\n",
    ]
    assert docs[0].group == "abjure"


def test_dictd_base64_numbers():
    assert dictd.decode_b64_number("Kj") == 10 * 64 + 35
    assert dictd.decode_b64_number(_b64(123456)) == 123456


# ---- SWORD --------------------------------------------------------------------------


def test_sword_export_groups_chapters_by_book_and_strips_osis():
    export = [
        "$$$[ Module Heading ]\n",
        "\n",
        "$$$Genesis 1:1\n",
        (
            'In the <w lemma="strong:H7225">beginning</w> God created.'
            '<note placement="foot">Heb. footnote</note>\n'
        ),
        "$$$Genesis 1:2\n",
        "And the earth &amp; the <divineName>Lord</divineName>.\n",
        "$$$Genesis 2:1\n",
        "Thus the heavens.\n",
        "$$$Exodus 1:1\n",
        "Now these are the names.\n",
        "$$$Exodus 1:2\n",
        "Now these are the names.\n",  # repeated entry (commentary range)
    ]
    docs = list(sword.chapters(sword.iter_imp(export)))
    assert _texts(docs) == [
        "Genesis 1\nIn the beginning God created.\nAnd the earth & the Lord.",
        "Genesis 2\nThus the heavens.",
        "Exodus 1\nNow these are the names.",
    ]
    assert [d.group for d in docs] == ["Genesis", "Genesis", "Exodus"]


def test_sword_dedup_lines_drops_lines_seen_before():
    line = "A passage of commentary long enough to be deduplicated by line."
    export = [
        "$$$Psalms 1:1\n",
        f"{line}<lb/>First only.\n",
        "$$$Psalms 1:2\n",
        f"{line}<lb/>Second only.\n",
    ]
    docs = list(sword.chapters(sword.iter_imp(export), dedup_lines=True))
    assert docs[0].text == f"Psalms 1\n{line}\nFirst only.\nSecond only."


def test_sword_without_mod2imp_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(tools.shutil, "which", lambda name: None)
    _write(tmp_path / "usr/share/sword/mods.d/kjv.conf", "[KJV]\n")
    with pytest.raises(
        errors.MissingToolError, match="apt-get install -y libsword-utils"
    ):
        list(sword.parse(tmp_path, ["usr/share/sword/mods.d/kjv.conf"], module="KJV"))


# ---- OBO ----------------------------------------------------------------------------


def test_obo_terms(tmp_path):
    _write(
        tmp_path / "hp.obo",
        (
            "format-version: 1.2\n\n[Term]\nid: HP:0000001\nname: All\n\n"
            "[Term]\nid: HP:0000002\nname: Abnormality of body height\n"
            'def: "Deviation from the norm of \\"height\\"." [https://orcid.org/x]\n'
            "comment: Seen in children.\nxref: UMLS:C4025901\n\n"
            '[Term]\nid: HP:0000003\nname: Old\ndef: "Obsolete." []\nis_obsolete: true\n\n'
            '[Typedef]\nid: part_of\nname: part of\ndef: "x" []\n'
        ),
    )
    docs = list(obo.parse(tmp_path, ["hp.obo"]))
    assert _texts(docs) == [
        'Abnormality of body height\nDeviation from the norm of "height".\nSeen in children.'
    ]
    assert docs[0].group == "HP:0000002"


# ---- troff --------------------------------------------------------------------------

_MAN_PAGE = (
    '.TH DEMO 1 2024-01-01 "demo 1.0" "User Commands"\n.SH NAME\ndemo \\- show a demo\n'
    ".SH DESCRIPTION\n.B demo\nprints\n.I nothing\nat all.\n"
)


@pytest.mark.skipif(shutil.which("mandoc") is None, reason="mandoc is not installed")
def test_troff_renders_with_mandoc_and_skips_redirects(tmp_path):
    _write(tmp_path / "man1/demo.1.gz", gzip.compress(_MAN_PAGE.encode()))
    _write(tmp_path / "man1/alias.1.gz", gzip.compress(b".so man1/demo.1\n"))
    docs = list(troff.parse(tmp_path, ["man1/alias.1.gz", "man1/demo.1.gz"]))
    assert len(docs) == 1 and docs[0].group == "demo.1"
    assert "demo - show a demo" in docs[0].text
    assert "demo prints nothing at all." in docs[0].text
    assert "\x08" not in docs[0].text and "User Commands" not in docs[0].text


def test_troff_without_mandoc_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr(tools.shutil, "which", lambda name: None)
    _write(tmp_path / "man1/demo.1", _MAN_PAGE)
    with pytest.raises(
        errors.MissingToolError, match=r"'mandoc'.*apt-get install -y mandoc"
    ):
        list(troff.parse(tmp_path, ["man1/demo.1"]))


# ---- HTML / Mallard -----------------------------------------------------------------


def test_html_drops_navigation_and_keeps_preformatted_layout(tmp_path):
    page = (
        "<html><head><title>T</title><script>var x = 1;</script></head><body>"
        '<div class="navheader"><a href="p.html">Prev</a> <a>Next</a></div>'
        "<nav>Site menu</nav><h1>SELECT</h1><p>Retrieve   rows\nfrom a <code>table</code>.</p>"
        "<pre>SELECT *\n    FROM t;</pre><ul><li>one</li><li>two</li></ul>"
        '<ul class="docnav"><li>Up</li></ul><div class="navfooter">Home</div></body></html>'
    )
    _write(tmp_path / "a.html", page)
    (doc,) = html.parse(tmp_path, ["a.html"])
    assert (
        doc.text
        == "SELECT\n\nRetrieve rows from a table.\n\nSELECT *\n    FROM t;\n\none\ntwo"
    )


def test_mallard_pages_skip_info_and_comments():
    page = (
        '<?xml version="1.0"?><page xmlns="http://projectmallard.org/1.0/" id="x">'
        "<info><credit><name>Someone</name></credit></info><title>Read in Braille</title>"
        "<p>The screen reader can use a Braille display.</p>"
        "<comment><cite>ed</cite><p>Add more.</p></comment></page>"
    )
    text = html.html_to_text(page, xml=True)
    assert text == "Read in Braille\n\nThe screen reader can use a Braille display."


# ---- reStructuredText ---------------------------------------------------------------


def test_rst_keeps_text_and_drops_markup(tmp_path):
    source = (
        ".. SPDX-License-Identifier: GPL-2.0\n\n:mod:`os` --- Interfaces\n"
        "=========================\n\n.. index:: single: os\n   pair: a; b\n\n"
        ".. _os-intro:\n\nUse :func:`~os.open` or :ref:`the guide <guide>` and ``x = 1``.\n"
        "See `Python <https://python.org>`_.\n\n.. note::\n   :class: tip\n\n   Be careful.\n\n"
        ".. toctree::\n   :maxdepth: 2\n\n   intro\n\nThe end.\n"
    )
    _write(tmp_path / "os.rst.txt", source)
    (doc,) = rst.parse(tmp_path, ["os.rst.txt"])
    lines = [line.strip() for line in doc.text.split("\n") if line.strip()]
    assert lines == [
        "os --- Interfaces",
        "Use os.open or the guide and x = 1.",
        "See Python.",
        "Be careful.",
        "The end.",
    ]


# ---- R lazy-load database -----------------------------------------------------------


def _r_serialize(obj):
    import rdata

    r_data = rdata.conversion.convert_python_to_r_data(obj, file_type="rds")
    return rdata.unparser.unparse_data(r_data, file_format="xdr", file_type="rds")


def test_rdata_lazyload_database(tmp_path):
    objects = {
        "emma": np.array(["EMMA", "", "By Jane Austen", "Emma Woodhouse, handsome."]),
        "mobydick": np.array(
            [
                (
                    "Header\n*** START OF THIS PROJECT GUTENBERG EBOOK MOBY ***\n"
                    "Call me Ishmael.\nEnd of Project Gutenberg's Moby Dick\nLicence"
                )
            ]
        ),
        "counts": np.array([1, 2, 3], dtype=np.int32),
    }
    rdb, variables = b"", {}
    for name, obj in objects.items():
        payload = _r_serialize(obj)
        record = struct.pack(">I", len(payload)) + zlib.compress(payload)
        variables[name] = np.array([len(rdb), len(record)], dtype=np.int32)
        rdb += record
    _write(tmp_path / "data/Rdata.rdb", rdb)
    _write(
        tmp_path / "data/Rdata.rdx",
        gzip.compress(_r_serialize({"variables": variables})),
    )
    docs = list(rdata_format.parse(tmp_path, ["data/Rdata.rdb", "data/Rdata.rdx"]))
    assert [(d.group, d.text.strip()) for d in docs] == [
        ("emma", "EMMA\n\nBy Jane Austen\nEmma Woodhouse, handsome."),
        ("mobydick", "Call me Ishmael."),
    ]


# ---- e-mail -------------------------------------------------------------------------


def test_rfc822_keeps_subject_and_plain_text(tmp_path):
    message = (
        "From: a@example.org\nSubject: =?utf-8?q?Caf=C3=A9_meeting?=\nMIME-Version: 1.0\n"
        'Content-Type: multipart/alternative; boundary="XX"\n\n--XX\n'
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
        "See you at the caf=C3=A9.\n\n_______________________________________________\n"
        "Exmh-workers mailing list\nExmh-workers@redhat.com\n--XX\n"
        "Content-Type: text/html\n\n<p>See you</p>\n--XX--\n"
    )
    _write(tmp_path / "m/1.json", json.dumps({"id": "1", "text": message}))
    (doc,) = rfc822.parse(tmp_path, ["m/1.json"], json_field="text")
    assert doc.text == "Café meeting\n\nSee you at the café."


def test_rfc822_unicode_text_passes_through_unchanged():
    raw = (
        "Subject: Hi\nContent-Type: text/plain; charset=iso-8859-1\n\nI’m gone — £5.\n"
    )
    assert rfc822.message_text(raw) == "Hi\n\nI’m gone — £5."


# ---- JSON, fortunes, licenses, plain text, Gutenberg, Brown, SQLite, apt, info, code -


def test_json_records(tmp_path):
    data = {
        "Alpha": {"title": "Alpha", "extract": "First letter."},
        "Beta": {"title": "Beta", "extract": None},
    }
    _write(tmp_path / "s.json", json.dumps(data))
    docs = list(
        json_records.parse(
            tmp_path, ["s.json"], title_field="title", text_field="extract"
        )
    )
    assert [(d.group, d.text) for d in docs] == [("Alpha", "Alpha\n\nFirst letter.")]


def test_fortune_cookies(tmp_path):
    _write(tmp_path / "wisdom", "Be kind.\n%\nTwo\nlines.\n%\n%\n")
    docs = list(fortune.parse(tmp_path, ["wisdom"]))
    assert [(d.group, d.text.strip()) for d in docs] == [
        ("wisdom#0", "Be kind."),
        ("wisdom#1", "Two\nlines."),
    ]


def test_front_matter_licenses_group_by_family_and_drop_other_languages(tmp_path):
    _write(
        tmp_path / "gpl-2.0-plus.LICENSE",
        "---\nkey: gpl-2.0-plus\nname: GPL\n---\nGPL text\n",
    )
    _write(
        tmp_path / "bsd-de.LICENSE", "---\nkey: bsd-de\nlanguage: de\n---\nDeutsch\n"
    )
    _write(tmp_path / "plain.LICENSE", "No front matter.\n")
    docs = list(
        front_matter.parse(
            tmp_path, ["bsd-de.LICENSE", "gpl-2.0-plus.LICENSE", "plain.LICENSE"]
        )
    )
    assert [(d.group, d.text) for d in docs] == [
        ("gpl", "GPL text\n"),
        ("plain", "No front matter.\n"),
    ]


def test_plain_text_chunks_at_paragraphs(tmp_path):
    _write(tmp_path / "ChangeLog.gz", gzip.compress(("entry one\n\n" * 10).encode()))
    docs = list(plain_text.parse(tmp_path, ["ChangeLog.gz"], chunk_chars=40))
    assert len(docs) == 3 and {d.group for d in docs} == {"ChangeLog.gz"}
    assert "".join(d.text for d in docs).count("entry one") == 10


def test_gutenberg_boilerplate_is_removed(tmp_path):
    text = (
        "The Project Gutenberg EBook of X\r\n\r\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***"
        "\r\n\r\nProduced by Someone\r\n\r\nHAMLET\r\nTo be.\r\n\r\n"
        "*** END OF THIS PROJECT GUTENBERG EBOOK X ***\r\nLicence terms.\r\n"
    )
    _write(tmp_path / "hamlet_gut.txt", text)
    (doc,) = gutenberg.parse(tmp_path, ["hamlet_gut.txt"])
    assert doc.text.strip() == "HAMLET\nTo be." and doc.group == "hamlet_gut"
    assert gutenberg.strip_boilerplate("No markers.") == "No markers."


def test_brown_tags_dropped():
    line = "The/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, it/pps isn't/bez* ./."
    assert brown.untag_line(line) == 'The jury said " no evidence ", it isn\'t.'


def test_sqlite_rows(tmp_path):
    path = tmp_path / "GO.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute(
            "create table go_term (go_id text, term text, definition text)"
        )
        connection.executemany(
            "insert into go_term values (?, ?, ?)",
            [("GO:1", "reproduction", "Making offspring."), ("GO:2", "none", None)],
        )
    query = (
        "select go_id, term || char(10) || definition from go_term "
        "where definition is not null"
    )
    docs = list(sqlite_format.parse(tmp_path, ["GO.sqlite"], query=query))
    assert [(d.group, d.text) for d in docs] == [
        ("GO:1", "reproduction\nMaking offspring.")
    ]


def test_apt_descriptions(tmp_path):
    _write(
        tmp_path / "Translation-en",
        (
            "Package: 0ad\nDescription-md5: d94\nDescription-en: Real-time strategy game\n"
            " 0 A.D. is a free game.\n .\n It is ambitious.\n\n"
            "Package: zzz\nDescription-md5: 1\nDescription-en: Short only\n"
        ),
    )
    docs = list(apt_descriptions.parse(tmp_path, ["Translation-en"]))
    assert [(d.group, d.text.strip()) for d in docs] == [
        (
            "0ad",
            "Real-time strategy game\n\n0 A.D. is a free game.\n\nIt is ambitious.",
        ),
        ("zzz", "Short only"),
    ]


def test_info_manual(tmp_path):
    manual = (
        "This is x.info, produced by makeinfo.\n\n\x1f\nFile: x.info,  Node: Top,  Next: Intro\n\n"
        "X Manual\n********\n\n* Menu:\n\n* Intro::  Introduction.\n\n\x1f\n"
        "File: x.info,  Node: Intro,  Prev: Top\n\n1 Intro\n=======\n\nWrite clean code.\n\n"
        "\x1f\nTag Table:\nNode: Top\x7f100\n\x1f\nEnd Tag Table\n"
    )
    _write(tmp_path / "x.info.gz", gzip.compress(manual.encode()))
    (doc,) = info.parse(tmp_path, ["x.info.gz"])
    words = doc.text.split()
    assert words == ["X", "Manual", "1", "Intro", "Write", "clean", "code."]


@pytest.mark.skipif(
    shutil.which("pod2text") is None, reason="pod2text is not installed"
)
def test_pod_renders_with_pod2text(tmp_path):
    from keras_pn.data.corpora.formats import pod

    _write(tmp_path / "perlx.pod", "=head1 NAME\n\nperlx - a B<demo>\n\n=cut\n")
    (doc,) = pod.parse(tmp_path, ["perlx.pod"])
    assert "perlx - a demo" in doc.text and "B<" not in doc.text


def test_source_code_is_verbatim(tmp_path):
    code = "def f(x):\n    return x  # comment\n"
    _write(tmp_path / "usr/lib/python3.11/m.py", code)
    (doc,) = source_code.parse(tmp_path, ["usr/lib/python3.11/m.py"])
    assert doc.text == code and doc.group == "usr/lib/python3.11/m.py"
