"""Tests of keras_pn.data.dsir: the DSIR comparison stream on a two-topic fixture."""

import json
import os
import random

import pytest

from keras_pn.data.dsir import dsir_select

pytestmark = pytest.mark.backend_agnostic  # no Keras backend involved

COOKING = "flour sugar butter oven bake whisk dough salt simmer sauce garlic".split()
COMPUTING = "kernel compiler thread memory cache socket pointer buffer mutex".split()
COMMON = "the a of and to in is with for on".split()


def write_jsonl(path, docs):
    with open(path, "w") as f:
        for d in docs:
            f.write(json.dumps({"text": d}) + "\n")


def topic_doc(rng, topic, n=40):
    return " ".join(rng.choice(topic + COMMON) for _ in range(n))


@pytest.fixture()
def fixture(tmp_path):
    rng = random.Random(0)
    generic = [
        (topic_doc(rng, COOKING), "cooking")
        if i % 4 == 0
        else (topic_doc(rng, COMPUTING), "computing")
        for i in range(200)
    ]
    write_jsonl(tmp_path / "g0.jsonl", [d for d, _ in generic[:120]])
    write_jsonl(tmp_path / "g1.jsonl", [d for d, _ in generic[120:]])
    write_jsonl(tmp_path / "domain.jsonl", [topic_doc(rng, COOKING) for _ in range(30)])
    labels = {d: t for d, t in generic}
    return tmp_path, labels


def run(tmp_path, out, seed, **kwargs):
    return dsir_select(
        [tmp_path / "g0.jsonl", tmp_path / "g1.jsonl"],
        tmp_path / "domain.jsonl",
        num_tokens=1000,
        out_dir=tmp_path / out,
        seed=seed,
        num_buckets=1000,
        min_example_length=10,
        **kwargs,
    )


def test_selects_the_domain_like_documents_up_to_the_token_budget(fixture):
    tmp_path, labels = fixture
    manifest = run(tmp_path, "sel", seed=0)
    lines = (tmp_path / "sel" / "train.jsonl").read_text().splitlines()
    texts = [json.loads(line)["text"] for line in lines]
    # 40 words per document, 1,000 tokens: 25 documents.
    assert manifest["selected_documents"] == len(texts) == 25
    assert 1000 <= manifest["selected_tokens"] < 1040
    assert manifest["token_unit"] == "dsir_wordpunct"
    cooking = sum(labels[t] == "cooking" for t in texts)
    assert cooking / len(texts) >= 0.9  # the generic mix is 25% cooking
    assert sorted(os.listdir(tmp_path / "sel")) == ["dsir.json", "train.jsonl"]
    assert json.loads((tmp_path / "sel" / "dsir.json").read_text()) == manifest
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # caches removed


def test_seeded_and_counts_model_tokens(fixture):
    from keras_pn.data.tokenizer_training import train_sentencepiece

    tmp_path, _ = fixture
    a = run(tmp_path, "a", seed=1)
    b = run(tmp_path, "b", seed=1)
    assert a["output_sha256"] == b["output_sha256"]
    rng = random.Random(5)
    proto = train_sentencepiece(
        [topic_doc(rng, COOKING + COMPUTING) for _ in range(50)], 300
    )
    c = run(tmp_path, "c", seed=1, tokenizer=proto)
    assert c["token_unit"] == "sentencepiece" and c["selected_tokens"] >= 1000
    with pytest.raises(FileExistsError):
        run(tmp_path, "a", seed=1)
    with pytest.raises(FileNotFoundError):
        dsir_select(
            tmp_path / "nope.jsonl", tmp_path / "domain.jsonl", 10, tmp_path / "x"
        )
