"""The user-facing domain format: `read_domain` / `iter_jsonl` validation."""

import json
import logging

import pytest

from keras_pn.data.corpora import DomainFormatError, iter_jsonl, read_domain
from keras_pn.data.corpora.jsonl import write_jsonl, write_shards
from keras_pn.data.corpora.text import Document

pytestmark = pytest.mark.backend_agnostic  # no Keras backend involved


def _domain(
    tmp_path,
    train=b'{"text": "a"}\n',
    valid=b'{"text": "b"}\n',
    test=b'{"text": "c"}\n',
):
    for name, data in (("train", train), ("valid", valid), ("test", test)):
        if data is not None:
            (tmp_path / f"{name}.jsonl").write_bytes(data)
    return tmp_path


def test_read_domain_round_trip(tmp_path):
    docs = [Document("first", "g1"), Document("second\nline ✓", None)]
    stats = write_jsonl(tmp_path / "train.jsonl", docs)
    assert (
        stats["docs"] == 2
        and stats["bytes"] == (tmp_path / "train.jsonl").stat().st_size
    )
    _domain(tmp_path, train=None)
    splits = read_domain(tmp_path)
    assert splits["train"] == docs
    assert splits["valid"] == [Document("b")] and splits["test"] == [Document("c")]


BAD_LINES = [
    (b'{"text": "ok"}\n{"text": "unterminated\n', "line 2: invalid JSON"),
    (b'{"body": "no text field"}\n', "line 1: no 'text' field"),
    (b'["a", "list"]\n', "line 1: a JSON list, not an object"),
    (b'{"text": 42}\n', "'text' is a int, not a string"),
    (b'{"text": "x", "group": {"a": 1}}\n', "'group' is a dict"),
    (b'{"text": "caf\xe9"}\n', "line 1: invalid UTF-8 at byte 13.*iconv"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\n", "NUL bytes"),
    (b"", "no non-empty documents"),
    (b'{"text": "   "}\n{"text": "\\n\\t"}\n', "no non-empty documents"),
]


@pytest.mark.parametrize("data, message", BAD_LINES)
def test_bad_files_name_the_file_line_and_fix(tmp_path, data, message):
    path = tmp_path / "train.jsonl"
    path.write_bytes(data)
    with pytest.raises(DomainFormatError, match=message) as error:
        list(iter_jsonl(path))
    assert str(path) in str(error.value) and "Fix:" in str(error.value)


def test_missing_split_file_and_missing_directory(tmp_path):
    _domain(tmp_path, test=None)
    with pytest.raises(DomainFormatError, match="missing test.jsonl"):
        read_domain(tmp_path)
    with pytest.raises(DomainFormatError, match="not a directory"):
        read_domain(tmp_path / "nope")


def test_empty_documents_are_skipped_with_a_warning(tmp_path, caplog):
    path = tmp_path / "train.jsonl"
    path.write_text(
        '{"text": "keep"}\n\n{"text": ""}\n{"text": "  "}\n{"text": "also", "group": 3}\n'
    )
    stats = {}
    with caplog.at_level(logging.WARNING):
        docs = list(iter_jsonl(path, stats=stats))
    assert docs == [Document("keep"), Document("also", "3")]
    assert stats == {"docs": 2, "empty": 2}
    assert "skipped 2 empty" in caplog.text


def test_a_single_very_long_line(tmp_path):
    text = "word " * 2_000_000  # one 10 MB document on one line
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps({"text": text}) + "\n")
    (doc,) = iter_jsonl(path)
    assert len(doc.text) == len(text)


def test_shards_are_split_by_size(tmp_path):
    docs = [Document("x" * 100, "g") for _ in range(50)]
    stats = write_shards(tmp_path, docs, shard_bytes=1000)
    assert list(stats) == [f"shard-{i:05d}.jsonl" for i in range(len(stats))]
    assert len(stats) == 7 and sum(s["docs"] for s in stats.values()) == 50
    assert [d for name in stats for d in iter_jsonl(tmp_path / name)] == docs
