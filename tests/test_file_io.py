"""keras_pn.file_io: whole files or none, staged directories, one JSON Lines error text."""

import json
import os

import pytest

from keras_pn import file_io

pytestmark = pytest.mark.backend_agnostic


def test_atomic_write_replaces_whole_file_with_default_permissions(tmp_path):
    path = tmp_path / "sub" / "a.json"
    file_io.atomic_write_json(path, {"x": 1})
    file_io.atomic_write_json(path, {"x": 2})
    assert json.loads(path.read_text()) == {"x": 2}
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.json"]  # no temporary left


def test_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.txt"
    file_io.atomic_write_text(path, "old")
    with pytest.raises(KeyboardInterrupt):
        with file_io.atomic_path(path) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_staging_directory_replaces_on_success_only(tmp_path):
    final = tmp_path / "out"
    with file_io.staging_directory(final) as staging:
        (staging / "one").write_text("1")
    assert [p.name for p in final.iterdir()] == ["one"]
    with pytest.raises(RuntimeError):
        with file_io.staging_directory(final) as staging:
            (staging / "two").write_text("2")
            raise RuntimeError("interrupted")
    assert [p.name for p in final.iterdir()] == ["one"]
    with file_io.staging_directory(final) as staging:
        (staging / "three").write_text("3")
    assert [p.name for p in final.iterdir()] == ["three"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging or old copy left
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(final).st_mode & 0o777 == 0o777 & ~umask  # as os.mkdir would make it


def test_save_npy_round_trips(tmp_path):
    np = pytest.importorskip("numpy")
    array = np.arange(6, dtype="int32").reshape(2, 3)
    file_io.atomic_save_npy(tmp_path / "a.npy", array)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), array)


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"text": "ok"}\n{"text": "unterminated\n', r"a\.jsonl, line 2: invalid JSON .*Fix: "),
        (b'{"text": "ok"}\n{"text": "caf\xe9"}\n',
         r"a\.jsonl, line 2: invalid UTF-8 at byte 13 of the line\. Fix: re-encode .*iconv"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", r"a\.jsonl: contains NUL bytes: this looks like a binary"),
        (b'["a", "list"]\n', r"a\.jsonl, line 1: a JSON list, not an object"),
    ],
)
def test_bad_lines_read_the_same_everywhere(tmp_path, content, message):
    path = tmp_path / "a.jsonl"
    path.write_bytes(content)
    with pytest.raises(file_io.JsonlFormatError, match=message):
        list(file_io.iter_jsonl(path, require_object=True))


def test_records_skip_blank_lines_and_keep_line_numbers(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "a"}\n\n   \n{"other": 1}\n{"text": "b"}\n')
    records = list(file_io.iter_jsonl(path))
    assert [n for n, _ in records] == [1, 4, 5]
    assert [file_io.record_text(r) for _, r in records] == ["a", "", "b"]


def test_the_caller_chooses_the_exception_class(tmp_path):
    class DomainError(ValueError):
        pass

    with pytest.raises(DomainError, match=r"missing\.jsonl: file not found\. Fix: "):
        list(file_io.iter_jsonl(tmp_path / "missing.jsonl", error=DomainError))
