"""`max_domain_train_tokens`: a domain's train split cut at a token cap (seeded document
sample) before windows are embedded; valid/test whole; subsets drawn from the capped split."""

import json

import numpy as np
import pytest

from keras_pn.data import prepare as prep

T = 32
WORDS = "river water fish boat bank stream flood shore rain lake wave tide".split()


def _write_jsonl(path, texts):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for t in texts:
            f.write(json.dumps({"text": t}) + "\n")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)

    def doc(n):
        return " ".join(rng.choice(WORDS, size=n)) + "."

    _write_jsonl(root / "generic" / "shard-00000.jsonl", [doc(30) for _ in range(120)])
    d = root / "rivers"
    _write_jsonl(d / "train.jsonl", [doc(int(rng.integers(30, 80))) for _ in range(60)])
    for split in ("valid", "test"):
        _write_jsonl(d / f"{split}.jsonl", [doc(40) for _ in range(4)])
    return root


def _prepare(workdir, root, **overrides):
    config = prep.PrepareConfig(
        vocabulary_size=300, context_length=T, embedder="hashed", cluster_counts=(4,),
        specialization_tokens=(300,), progress=False, kmeans_iterations=4,
        generic_valid_windows=0, **overrides,
    )
    return prep.prepare_data(
        workdir, config, generic_dir=root / "generic", domain_dirs={"rivers": root / "rivers"}
    )


def _windows(workdir, split):
    from keras_pn.data.windows import WindowSet

    return WindowSet.load(workdir / "windows" / "domains" / "rivers" / split)


def test_the_cap_bounds_the_train_tokens_and_keeps_valid_and_test_whole(corpus, tmp_path):
    whole = _prepare(tmp_path / "whole", corpus)
    capped = _prepare(tmp_path / "capped", corpus, max_domain_train_tokens=600)
    full_train = _windows(whole.workdir, "train")
    train = _windows(capped.workdir, "train")
    tokens = int((train.lengths - 1).sum())
    assert 600 - T <= tokens <= 600  # cut at a window boundary under the cap
    assert int((full_train.lengths - 1).sum()) > 3 * tokens
    # Every capped window is one of the whole split's (same document, same place).
    whole_keys = set(zip(full_train.doc_index.tolist(), full_train.window_index.tolist()))
    assert set(zip(train.doc_index.tolist(), train.window_index.tolist())) <= whole_keys
    for split in ("valid", "test"):
        assert len(_windows(capped.workdir, split)) == len(_windows(whole.workdir, split))
    # The domain's embeddings cover the capped split only.
    emb = np.load(capped.workdir / "embeddings" / "domains" / "rivers" / "train.npy")
    assert emb.shape[0] == len(train)


def test_a_cap_below_the_largest_specialization_cap_is_a_clear_error(corpus, tmp_path):
    with pytest.raises(prep.PreparationError, match="max_domain_train_tokens=200.*Fix"):
        _prepare(tmp_path / "bad", corpus, max_domain_train_tokens=200)
