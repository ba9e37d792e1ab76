"""A tiny prepared run and the trained-shaped presets it saves (PN with its clustering, SLM).

Built once per session: prepare_data on a four-topic generic mix (hashed embedder,
k = 4), a projected network and a small GPT saved as presets through
`keras_pn.methods.common.save_preset` (the pretraining's writer); the generic corpus
and the prepared workdir are kept apart from the presets, so a test can delete them.
"""

import json
import os
import shutil

import numpy as np
import pytest

from tests.architecture_presets import write_architecture_preset
from tests.recipes.test_plan_early import TOPICS
from tests.recipes.test_plan_early import write_corpus

K = 4
SMALL = dict(vocabulary_size=300, num_layers=2, num_heads=2, hidden_dim=16,
             intermediate_dim=32, max_sequence_length=32)


def documents(topic, n, seed, words=40):
    rng = np.random.default_rng(seed)
    vocabulary = TOPICS[topic].split()
    return [" ".join(rng.choice(vocabulary, size=words)) + "." for _ in range(n)]


def write_text_folder(root, topic="sea", n=10, seed=500):
    """A folder of `n` .txt files (one document each, some in a subfolder)."""
    os.makedirs(os.path.join(root, "more"), exist_ok=True)
    for i, text in enumerate(documents(topic, n, seed, words=80)):
        sub = "more" if i % 3 == 0 else ""
        with open(os.path.join(root, sub, f"doc{i:02d}.txt"), "w", encoding="utf-8") as f:
            f.write(text)
    return str(root)


class TinyRun:
    """The prepared workdir, the run config and the saved presets."""

    def __init__(self, root):
        from keras_pn.data.prepare import PrepareConfig
        from keras_pn.data.prepare import prepare_data
        from keras_pn.methods import RunConfig
        from keras_pn.methods import common

        self.root = root
        self.generic_dir, self.domain_dirs = write_corpus(os.path.join(root, "corpus"))
        self.prepare = PrepareConfig(vocabulary_size=300, context_length=32, embedder="hashed",
                                     cluster_counts=(K,), specialization_tokens=(400,),
                                     progress=False)
        self.data = prepare_data(os.path.join(root, "data"), self.prepare,
                                 generic_dir=self.generic_dir, domain_dirs=self.domain_dirs)
        presets = os.path.join(root, "architectures")
        self.config = RunConfig(
            slm_preset=write_architecture_preset(os.path.join(presets, "slm"), "GPTBackbone",
                                                 **SMALL),
            pn_preset=write_architecture_preset(os.path.join(presets, "pn"),
                                                "ProjectedGPTBackbone", **SMALL,
                                                num_experts=K, projected_layers=[1]),
            batch_size=4, finetune_batch_size=4, learning_rate=1e-2, finetune_max_steps=4,
            finetune_eval_every=2, pn_clusters=K, verbose=0,
        )
        self.pn = common.save_preset(common.projected_network(self.config, self.data),
                                     self.data, os.path.join(root, "presets", "pn"))
        self.slm = common.save_preset(common.gpt(self.config.slm_preset, self.data),
                                      self.data, os.path.join(root, "presets", "slm"))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    return TinyRun(str(tmp_path_factory.mktemp("tiny_run")))


@pytest.fixture
def pn_preset(tiny_run, tmp_path):
    """A private copy of the PN preset (tests may break it)."""
    return shutil.copytree(tiny_run.pn, tmp_path / "pn_preset")


def read_json(path):
    with open(path) as f:
        return json.load(f)
