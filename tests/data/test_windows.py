"""Tests of keras_pn.data.windows: documents to windows, provenance and text spans."""

import json
import random

import numpy as np
import pytest
import sentencepiece as spm

from keras_pn.data import windows as wn
from keras_pn.data.tokenizer_training import train_sentencepiece

pytestmark = pytest.mark.backend_agnostic  # no Keras backend involved

WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his "
    "from at which but have an they you were her she there been one all we their"
).split()
T = 8


def corpus(n=120, seed=0):
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40))) for _ in range(n)
    ]


@pytest.fixture(scope="module")
def proto():
    return train_sentencepiece(corpus(300, seed=1), 300)


def reference_windows(docs, proto, context_length):
    """Pure-Python windows: [bos] + chunk (+ [eos] if the document ends inside)."""
    sp = spm.SentencePieceProcessor(model_proto=proto)
    out = []
    for d, text in enumerate(docs):
        if not text.strip():
            continue
        ids = sp.encode(text)
        for w, start in enumerate(range(0, len(ids), context_length)):
            chunk = ids[start : start + context_length]
            eos = [3] if len(chunk) < context_length else []
            out.append(([2] + chunk + eos, d, w))
    return out


def test_windows_match_reference_with_provenance(proto):
    docs = corpus()
    docs[5] = ""
    docs[9] = "  \n\t "
    sp = spm.SentencePieceProcessor(model_proto=proto)
    docs[11] = sp.decode(sp.encode(docs[12])[: 2 * T])  # ends exactly at a window end
    assert len(sp.encode(docs[11])) == 2 * T
    ws = wn.collect_windows(docs, proto, T, progress=False)
    expected = reference_windows(docs, proto, T)
    assert len(ws) == len(expected)
    for got, (ids, d, w) in zip(ws, expected):
        assert got.token_ids.tolist() == ids
        assert (got.doc_index, got.window_index) == (d, w)
    assert ws.stats.documents == len(docs)
    assert ws.stats.skipped_empty == 2
    assert ws.stats.windows == len(ws)
    assert ws.stats.tokens == sum(
        len(ids) - 1 - (ids[-1] == 3) for ids, _, _ in expected
    )
    assert ws.lengths.max() <= T + 1 and ws.values.dtype == np.int32
    exact = [w for w in ws if w.doc_index == 11]
    assert [len(w.token_ids) for w in exact] == [
        T + 1,
        T + 1,
    ]  # eos does not fit: dropped
    assert exact[-1].token_ids[-1] != 3


def test_window_texts_are_the_raw_spans(proto):
    docs = corpus()
    ws = wn.collect_windows(docs, proto, T, progress=False)
    sp = spm.SentencePieceProcessor(model_proto=proto)
    for d, text in enumerate(docs):
        spans = [w.text for w in ws if w.doc_index == d]
        assert "".join(spans) == text
    first = ws[0]
    assert sp.decode(first.token_ids[1:].tolist()).strip() == first.text.strip()


def test_jsonl_source_streams_with_progress(tmp_path, proto):
    docs = corpus(50)
    path = tmp_path / "train.jsonl"
    with open(path, "w") as f:
        for d in docs:
            f.write(json.dumps({"text": d, "group": "g"}) + "\n")
        f.write(json.dumps({"text": "   "}) + "\n")
    stats = wn.WindowStats()
    streamed = list(wn.iter_windows(str(path), proto, T, stats=stats, progress=True))
    from_strings = wn.collect_windows(docs, proto, T, progress=False)
    assert [w.token_ids.tolist() for w in streamed] == [
        w.token_ids.tolist() for w in from_strings
    ]
    assert stats.documents == 51 and stats.skipped_empty == 1
    assert list(wn.read_jsonl_texts(path))[:3] == docs[:3]


def test_unicode_spans_and_no_text_mode(proto):
    docs = ["héllo wörld ☃ 中文 " * 4, "plain words here"]
    ws = wn.collect_windows(docs, proto, T, progress=False)
    assert "".join(w.text for w in ws if w.doc_index == 1) == docs[1]
    assert all(isinstance(w.text, str) for w in ws)
    bare = wn.collect_windows(docs, proto, T, with_text=False, progress=False)
    assert bare.texts is None and np.array_equal(bare.values, ws.values)


def test_window_set_save_load_round_trip(tmp_path, proto):
    ws = wn.collect_windows(corpus(30), proto, T, progress=False)
    ws.save(tmp_path / "w")
    back = wn.WindowSet.load(tmp_path / "w")
    assert np.array_equal(back.values, ws.values)
    assert np.array_equal(back.row_splits, ws.row_splits)
    assert np.array_equal(back.doc_index, ws.doc_index)
    assert back.texts == ws.texts and back.context_length == T
    assert back.tokenizer_sha256 == ws.tokenizer_sha256 and back.stats == ws.stats
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]


def test_errors(tmp_path, proto):
    with pytest.raises(FileNotFoundError, match="train.jsonl"):
        list(wn.read_jsonl_texts(tmp_path / "missing.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\nnot json\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl, line 2: invalid JSON"):
        list(wn.read_jsonl_texts(bad))
    with pytest.raises(ValueError, match="context_length"):
        wn.document_windows_fn(proto, 0)
