"""A domain folder of .txt files: the seeded split by file, and each bad input's message."""

import json

import pytest

from keras_pn.data.text_folder import DomainFolderError
from keras_pn.data.text_folder import domain_splits
from keras_pn.data.text_folder import split_files

pytestmark = pytest.mark.backend_agnostic


def _write(root, name, data):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)
    return path


def _lines(path):
    return [json.loads(line)["text"] for line in open(path, encoding="utf-8") if line.strip()]


@pytest.mark.parametrize("n,sizes", [(3, (1, 1, 1)), (10, (8, 1, 1)), (30, (24, 3, 3)),
                                     (4, (2, 1, 1))])
def test_split_by_file_is_seeded_disjoint_and_complete(n, sizes):
    names = [f"f{i:03d}.txt" for i in range(n)]
    splits = split_files(names, seed=0)
    assert tuple(len(splits[s]) for s in ("train", "valid", "test")) == sizes
    assert sorted(sum(splits.values(), [])) == names
    assert split_files(list(reversed(names)), seed=0) == splits  # order of listing irrelevant
    if n >= 10:
        assert split_files(names, seed=1) != splits


def test_text_folder_becomes_jsonl_splits(tmp_path):
    src = tmp_path / "texts"
    texts = {f"d{i}.txt": f"document {i} caf\u00e9" for i in range(8)}
    texts["sub/deep.txt"] = "\ufeffa document with a BOM"
    for name, text in texts.items():
        _write(src, name, text)
    _write(src, "empty.txt", "  \n")
    _write(src, ".hidden/skip.txt", "not read")
    _write(src, "picture.png", b"\x89PNG\x00\x00")
    out = domain_splits(src, tmp_path / "splits", seed=0)
    record = json.load(open(out / "splits.json"))
    files = record["files"]
    assert sorted(sum(files.values(), [])) == sorted(texts)  # no empty, hidden, .png
    for split in ("train", "valid", "test"):
        assert _lines(out / f"{split}.jsonl") == [texts[n].lstrip("\ufeff") for n in files[split]]
    assert domain_splits(src, tmp_path / "again", seed=0).joinpath("splits.json").read_text() \
        == (out / "splits.json").read_text()
    # A directory of JSON Lines splits is used as it is.
    for split in ("train", "valid", "test"):
        _write(tmp_path / "jsonl", f"{split}.jsonl", '{"text": "x"}\n')
    assert domain_splits(tmp_path / "jsonl", tmp_path / "unused") == tmp_path / "jsonl"
    assert not (tmp_path / "unused").exists()


def test_bad_domain_folders_name_the_problem_and_the_fix(tmp_path):
    def error(directory):
        with pytest.raises(DomainFolderError) as info:
            domain_splits(directory, tmp_path / "out")
        assert not (tmp_path / "out").exists()  # nothing half-written
        return str(info.value)

    assert "does not exist" in error(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    assert "holds no text" in error(tmp_path / "empty") and "Fix:" in error(tmp_path / "empty")
    _write(tmp_path / "images", "a.png", b"\x89PNG\x00")
    assert "1 other file(s), e.g. a.png" in error(tmp_path / "images")
    for i in range(3):
        _write(tmp_path / "binary", f"{i}.txt", "text")
    _write(tmp_path / "binary", "x.txt", b"abc\x00def")
    message = error(tmp_path / "binary")
    assert "x.txt" in message and "binary" in message
    for i in range(3):
        _write(tmp_path / "latin1", f"{i}.txt", "text")
    _write(tmp_path / "latin1", "bad.txt", "first line\ncaf\u00e9 au lait".encode("latin1"))
    message = error(tmp_path / "latin1")
    assert "bad.txt, line 2: invalid UTF-8 at byte 14 of the file (byte 3 of the line)" in message
    assert "iconv" in message
    _write(tmp_path / "two", "a.txt", "one")
    _write(tmp_path / "two", "b.txt", "two")
    _write(tmp_path / "two", "c.txt", "")
    assert "2 non-empty text file(s)" in error(tmp_path / "two")
    _write(tmp_path / "blank", "a.txt", "\n")
    assert "Every .txt file" in error(tmp_path / "blank")
    _write(tmp_path / "partial", "train.jsonl", '{"text": "x"}\n')
    assert "not valid.jsonl, test.jsonl" in error(tmp_path / "partial")
