"""Clean-up, dedup, group split, 13-gram decontamination and archive extraction."""

import io
import tarfile
import zipfile

import pytest

from keras_pn.data.corpora import archives, dedup, errors, split
from keras_pn.data.corpora.decontaminate import NgramIndex, decontaminate
from keras_pn.data.corpora.text import Document, clean_text

pytestmark = pytest.mark.backend_agnostic  # no Keras backend involved


def test_clean_text_normalizes_whitespace_controls_and_unicode():
    raw = "\ufeffTitle  \r\n\r\n\r\n\r\nCafe\u0301\x00 text\x0c\tend \n\n"
    assert clean_text(raw) == "Title\n\nCafé text\n\tend"
    assert clean_text(" \n\t \n") == ""


def test_exact_duplicates_are_dropped_and_counted():
    docs = [Document("a", "g1"), Document("b", "g2"), Document("a", "g3")]
    stats = {}
    kept = list(dedup.drop_duplicate_documents(docs, stats))
    assert kept == docs[:2]
    assert stats == {"duplicate_docs": 1, "duplicate_bytes": 1}


def test_repeated_paragraphs_are_dropped_but_short_ones_kept():
    boiler = "This package contains the debugging symbols for the library."
    docs = [
        Document(f"Intro\n\n{boiler}"),
        Document(f"Intro\n\n{boiler}\n\nNew text here."),
    ]
    kept = list(dedup.drop_repeated_paragraphs(docs))
    assert [d.text for d in kept] == [f"Intro\n\n{boiler}", "Intro\n\nNew text here."]


def _docs(n_groups, per_group=3, size=1000):
    return [
        Document(f"group {g} doc {i} " + "x" * size, f"g{g}")
        for g in range(n_groups)
        for i in range(per_group)
    ]


def test_split_never_puts_a_group_in_two_splits_and_is_deterministic():
    docs = _docs(60)
    a = split.split_by_group(docs, min_bytes=0, seed=3)
    b = split.split_by_group(list(docs), min_bytes=0, seed=3)
    assert a == b
    groups = {name: {d.group for d in part} for name, part in a.items()}
    assert not groups["train"] & groups["valid"]
    assert not groups["train"] & groups["test"]
    assert not groups["valid"] & groups["test"]
    assert sum(len(p) for p in a.values()) == len(docs)
    total = sum(len(d.text) for d in docs)
    for held_out in ("valid", "test"):
        share = sum(len(d.text) for d in a[held_out]) / total
        assert 0.09 <= share <= 0.2
    assert split.split_by_group(docs, min_bytes=0, seed=4) != a


def test_split_reaches_the_minimum_held_out_size_where_possible():
    docs = _docs(40, per_group=1, size=20_000)  # 800 kB
    parts = split.split_by_group(docs, min_bytes=100_000)
    for held_out in ("valid", "test"):
        assert sum(len(d.text) for d in parts[held_out]) >= 100_000


def test_split_keeps_a_huge_group_in_train():
    docs = [Document("p" * 50_000, "Psalms")] + _docs(30, per_group=1, size=1000)
    parts = split.split_by_group(docs, min_bytes=0)
    assert any(d.group == "Psalms" for d in parts["train"])


def test_split_needs_three_groups():
    with pytest.raises(ValueError, match="at least 3 groups"):
        split.split_by_group([Document("a", "x"), Document("b", "y")])


def test_decontamination_drops_only_paragraphs_sharing_a_13_gram():
    secret = "the quick brown fox jumps over the lazy dog near the old river bank today"
    index = NgramIndex()
    index.add("drama", [f"Act one. {secret.upper()}!"])  # case and punctuation differ
    index.add("news", ["completely unrelated held out text " * 3])
    clean = "A perfectly clean paragraph about compilers and linkers and nothing else at all."
    generic = [
        Document(f"{clean}\n\nPrefix, {secret}, suffix.", "gcide"),
        Document(clean.replace("compilers", "parsers"), "wn"),
        Document(f"Only {secret}", "wn"),
        Document(
            "the quick brown fox jumps over the lazy dog near the old", "wn"
        ),  # 12 words
    ]
    report = {}
    out = decontaminate(generic, index, report)
    assert [d.text for d in out] == [clean, generic[1].text, generic[3].text]
    assert report["removed_paragraphs"] == 2
    assert report["documents_emptied"] == 1
    assert report["per_domain"] == {
        "drama": {"paragraphs": 2, "bytes": report["removed_bytes"]}
    }
    assert report["removed_bytes"] == len(f"Prefix, {secret}, suffix.") + len(
        f"Only {secret}"
    )


def test_decontamination_does_not_match_across_paragraph_boundaries():
    words = [f"w{i}" for i in range(13)]
    index = NgramIndex()
    index.add("d", [" ".join(words)])
    generic = [Document(" ".join(words[:6]) + "\n\n" + " ".join(words[6:]))]
    assert decontaminate(generic, index) == generic


# ---- archives -----------------------------------------------------------------------


def _tar_bytes(files, mode="w:gz"):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def make_deb(files):
    """Builds a minimal .deb (ar archive with an xz data.tar) holding `files`."""
    members = [
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", _tar_bytes({"./control": b"Package: x\n"}, "w:xz")),
        ("data.tar.xz", _tar_bytes({f"./{k}": v for k, v in files.items()}, "w:xz")),
    ]
    out = b"!<arch>\n"
    for name, data in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
        out += header + data + (b"\n" if len(data) % 2 else b"")
    return out


def test_globs():
    match = archives.MemberFilter(
        ["usr/share/man/man[1-8]/*", "doc/**/*.rst.gz"], ["**/translations/**"]
    )
    assert match("usr/share/man/man1/ls.1.gz")
    assert not match("usr/share/man/man9/x.9.gz")
    assert not match("usr/share/man/man1/sub/x.1")
    assert match("doc/a.rst.gz") and match("doc/a/b/c.rst.gz")
    assert not match("doc/translations/it/a.rst.gz")


@pytest.mark.parametrize("kind", ["deb", "whl", "tgz"])
def test_extract_selects_members_from_every_archive_type(tmp_path, kind):
    files = {
        "usr/share/doc/a.txt": b"A",
        "usr/share/doc/b.bin": b"B",
        "other/c.txt": b"C",
    }
    path = tmp_path / f"pkg.{kind}"
    if kind == "deb":
        path.write_bytes(make_deb(files))
    elif kind == "whl":
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in files.items():
                archive.writestr(name, data)
    else:
        path.write_bytes(_tar_bytes({f"package/{k}": v for k, v in files.items()}))
    prefix = "package/" if kind == "tgz" else ""
    out = archives.extract(path, tmp_path / "out", [f"{prefix}usr/share/doc/*.txt"])
    assert out == [f"{prefix}usr/share/doc/a.txt"]
    assert (tmp_path / "out" / out[0]).read_bytes() == b"A"


def test_extract_refuses_members_that_escape_the_destination(tmp_path):
    path = tmp_path / "evil.tgz"
    path.write_bytes(_tar_bytes({"../../etc/evil": b"x"}))
    with pytest.raises(errors.CorpusError, match="outside the extraction directory"):
        archives.extract(path, tmp_path / "out", ["**"])
    assert not (tmp_path / "etc").exists()
