"""Tests of keras_pn.data.tokenizer_training: SentencePiece training and resolution."""

import json
import random

import pytest
import sentencepiece as spm

from keras_pn.data import tokenizer_training as tt

pytestmark = pytest.mark.backend_agnostic  # no Keras backend involved

WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his "
    "from at which but have an they you were her she there been one all we their def "
    "return"
).split()


def corpus(n=200, seed=0):
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        lines = []
        for j in range(rng.randint(1, 5)):
            indent = "    " * rng.randint(0, 2)
            lines.append(
                indent + " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
            )
            if j % 2:
                lines.append("\tx = f(1, 2)  # 42")
        docs.append("\n".join(lines))
    return docs


def test_special_ids_vocabulary_and_lossless_round_trip():
    proto = tt.train_sentencepiece(corpus(), 300)
    assert tt.special_token_ids(proto) == {"pad": 0, "unk": 1, "bos": 2, "eos": 3}
    assert tt.vocabulary_size(proto) == 300
    sp = spm.SentencePieceProcessor(model_proto=proto)
    assert [sp.id_to_piece(i) for i in range(4)] == ["<pad>", "<unk>", "<s>", "</s>"]
    text = "    def f(x):\n\treturn x  # é 中文 ☃\n\n  trailing  "
    ids = sp.encode(text)
    # Identity normalization, whitespace kept, byte fallback: lossless.
    assert sp.decode(ids) == text
    assert tt.UNK_ID not in ids


def test_deterministic_and_written_atomically(tmp_path):
    docs = corpus()
    a = tt.train_sentencepiece(docs, 300, tmp_path / "a" / "tok.model", seed=3)
    b = tt.train_sentencepiece(docs, 300, seed=3)
    assert a == b
    assert (tmp_path / "a" / "tok.model").read_bytes() == a
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["tok.model"]
    assert tt.tokenizer_sha256(tmp_path / "a" / "tok.model") == tt.tokenizer_sha256(a)


def test_jsonl_and_text_file_inputs_match_strings(tmp_path):
    docs = corpus(60)
    with open(tmp_path / "g.jsonl", "w") as f:
        for d in docs[:30]:
            f.write(json.dumps({"text": d}) + "\n\n")  # blank lines are not records
    (tmp_path / "doc.txt").write_text("\n".join(docs[30:]))
    from_files = list(
        tt.iter_training_chunks([str(tmp_path / "g.jsonl"), tmp_path / "doc.txt"])
    )
    assert from_files[:5] == list(tt.iter_training_chunks(docs[:30]))[:5]
    proto = tt.train_sentencepiece(
        [str(tmp_path / "g.jsonl"), str(tmp_path / "doc.txt")], 320
    )
    assert tt.vocabulary_size(proto) == 320


def test_long_lines_are_chunked_not_dropped():
    long_doc = " ".join(["lorem ipsum"] * 2000)  # one 22 KB line
    chunks = list(tt.iter_training_chunks([long_doc, "a\nb"]))
    assert all(len(c.encode()) <= 2048 for c in chunks)
    assert "".join(chunks[:-1]) == long_doc


def test_keras_hub_tokenizer_is_accepted():
    import keras
    import keras_hub

    proto = tt.train_sentencepiece(corpus(), 300)
    tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=proto)
    assert tt.sentencepiece_proto(tokenizer) == proto
    sp = spm.SentencePieceProcessor(model_proto=proto)
    ids = keras.ops.convert_to_numpy(tokenizer("one cat")).tolist()
    assert ids == sp.encode("one cat")


def test_errors():
    import io

    with pytest.raises(ValueError, match="vocabulary_size"):
        tt.train_sentencepiece(corpus(), 200)
    with pytest.raises(ValueError, match="model_type"):
        tt.train_sentencepiece(corpus(), 300, model_type="char")
    with pytest.raises(ValueError, match="No non-empty document"):
        tt.train_sentencepiece(["", "  "], 300)
    with pytest.raises(TypeError, match="proto"):
        tt.sentencepiece_proto(12)
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()),
        model_writer=buf,
        vocab_size=60,
        eos_id=-1,
        minloglevel=2,
    )
    with pytest.raises(ValueError, match="eos"):
        tt.special_token_ids(buf.getvalue())
