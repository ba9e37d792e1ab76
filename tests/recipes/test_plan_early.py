"""plan_early end to end on tiny fixtures: every method, results, resume."""

import json
import os

import numpy as np
import pytest

from keras_pn.data.prepare import PrepareConfig
from keras_pn.methods import RunConfig
from tests.architecture_presets import write_architecture_preset

TOPICS = {
    "sea": "the ship sailed across the sea with the wind and the waves at dawn",
    "code": "def function returns value import module class object method call",
    "law": "the licensee shall grant the rights under this license agreement",
    "food": "bake the bread with flour water salt and yeast in a hot oven",
}


def _documents(topic, n, seed):
    rng = np.random.default_rng(seed)
    words = TOPICS[topic].split()
    return [" ".join(rng.choice(words, size=40)) + "." for _ in range(n)]


def _write_jsonl(path, texts):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for text in texts:
            f.write(json.dumps({"text": text}) + "\n")


def write_corpus(root):
    """The generic mix of four topics and one domain ("sailing"); `(generic_dir, {name: dir})`."""
    generic = [t for i, topic in enumerate(TOPICS) for t in _documents(topic, 60, i)]
    _write_jsonl(os.path.join(root, "generic", "shard-00000.jsonl"), generic)
    domains = {}
    for name, topic in (("sailing", "sea"),):  # one domain: every method, half the CI time
        for j, split in enumerate(("train", "valid", "test")):
            _write_jsonl(os.path.join(root, name, f"{split}.jsonl"), _documents(topic, 12, 100 + j))
        domains[name] = str(os.path.join(root, name))
    return str(os.path.join(root, "generic")), domains


def tiny_configs(preset_root):
    """`(RunConfig, PrepareConfig)` of the one-domain run: tiny models, every method."""
    small = dict(vocabulary_size=300, num_layers=2, num_heads=2, hidden_dim=16,
                 intermediate_dim=32, max_sequence_length=32)
    config = RunConfig(
        slm_preset=write_architecture_preset(os.path.join(preset_root, "slm"), "GPTBackbone",
                                             **small),
        llm_preset=write_architecture_preset(os.path.join(preset_root, "llm"), "GPTBackbone",
                                             **dict(small, hidden_dim=32)),
        pn_preset=write_architecture_preset(os.path.join(preset_root, "pn"),
                                            "ProjectedGPTBackbone", **small, num_experts=4,
                                            projected_layers=[1]),
        batch_size=4, finetune_batch_size=4, pretrain_tokens=4 * 32 * 8, learning_rate=1e-2,
        finetune_max_steps=4, finetune_eval_every=2, pn_clusters=4, mix_clusters=4, is_clusters=8,
        lora_rank=2, checkpoints=2, verbose=0,
    )
    prepare = PrepareConfig(vocabulary_size=300, context_length=32, embedder="hashed",
                            specialization_tokens=(400,))
    return config, prepare


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(tmp_path)


@pytest.mark.slow
@pytest.mark.tensorflow_only  # the main job's backend; every method's pieces are tested on all three
def test_plan_early_runs_every_method(corpus, tmp_path):
    from keras_pn.plan_early import run_plan_early

    generic_dir, domain_dirs = corpus
    config, prepare = tiny_configs(tmp_path / "p")
    workdir = str(tmp_path / "run")
    results = run_plan_early(
        workdir, generic_dir=generic_dir, domain_dirs=domain_dirs, config=config,
        prepare=prepare,
    )
    methods = {"slm", "slm_nopt", "llm", "llm_lora", "mix", "pn", "pn_histogram", "is", "distill"}
    assert set(results["perplexity"]) == methods
    for method in methods:
        assert set(results["perplexity"][method]) == {"sailing"}
        assert all(np.isfinite(v) and v > 1 for v in results["perplexity"][method].values())
        assert np.isfinite(results["macro"][method])
    for name in ("results.json", "results.md"):
        assert os.path.exists(os.path.join(workdir, name))
    saved = json.load(open(os.path.join(workdir, "results.json")))
    assert set(saved) >= {"perplexity", "macro", "cost"}
    # The specialized PN expert is a plain preset that loads by path.
    from keras_pn.models import GPTCausalLM

    expert = GPTCausalLM.from_preset(os.path.join(workdir, "specialized", "pn", "sailing@400"))
    assert expert.backbone.vocabulary_size == 300
    # The run publishes to a zoo: presets, model cards, the evaluate table.
    from keras_pn.models import ProjectedGPT
    from keras_pn.zoo import export_zoo

    zoo = tmp_path / "zoo"
    written = export_zoo(workdir, zoo, command="plan_early (test)")
    assert set(written) == {"pn_tiny_generic", "pn_tiny_sailing"}
    entry = json.load(open(zoo / "sailing" / "pn_tiny_sailing" / "zoo.json"))
    assert entry["parameter_count"] == expert.backbone.count_params()
    assert entry["metrics"]["sailing"]["pn"] == results["perplexity"]["pn"]["sailing"]
    assert "plan_early (test)" in (zoo / "sailing" / "pn_tiny_sailing" / "README.md").read_text()
    assert (zoo / "results.md").exists() and (zoo / "README.md").exists()
    published = GPTCausalLM.from_preset(str(zoo / "sailing" / "pn_tiny_sailing"))
    np.testing.assert_allclose(
        published.backbone.get_weights()[0], expert.backbone.get_weights()[0]
    )
    pn = ProjectedGPT.from_preset(str(zoo / "generic" / "pn_tiny_generic"))
    assert pn.backbone.num_experts == 4
    # A second run resumes: nothing is retrained.
    mtime = os.path.getmtime(os.path.join(workdir, "results", "pn", "sailing.json"))
    run_plan_early(
        workdir, generic_dir=generic_dir, domain_dirs=domain_dirs, config=config,
        prepare=prepare,
    )
    assert os.path.getmtime(os.path.join(workdir, "results", "pn", "sailing.json")) == mtime
