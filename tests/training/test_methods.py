"""The methods' hooks: what each builds, pretrains on and specializes, on tiny fake data."""

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from keras_pn import methods
from keras_pn.evaluation import architecture
from keras_pn.evaluation import flops
from keras_pn.methods import RunConfig
from keras_pn.methods import common
from keras_pn.models import GPTBackbone
from keras_pn.models import GPTByteTokenizer
from keras_pn.models import GPTCausalLM
from keras_pn.models import ProjectedGPT
from keras_pn.testing import TINY_GPT
from tests.architecture_presets import write_architecture_preset

SEQ, VOCAB, K = 8, 256, 4  # 256: the byte tokenizer saved with presets


def _windows(seed, n=16, with_clusters=True):
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, 60, (n, 1))
    tokens = (4 + (starts + np.arange(SEQ + 1)) % 60).astype("int32")
    ids = (np.arange(n) % K).astype("int32")

    def to_batch(t, c):
        x = {"token_ids": t[:, :-1], "padding_mask": tf.ones_like(t[:, :-1])}
        if with_clusters:
            x["cluster_ids"] = c
        return x, t[:, 1:], tf.ones_like(t[:, 1:], dtype="float32")

    return tf.data.Dataset.from_tensor_slices((tokens, ids)).batch(4).map(to_batch)


class FakeData:
    """The part of `PreparedData` the methods read."""

    vocabulary_size, context_length = VOCAB, SEQ

    def domain_stream(self, domain, split, batch_size, size=None, shuffle=False, repeat=False,
                      max_windows=None, with_cluster_ids_k=None):
        ds = _windows({"train": 0, "valid": 1, "test": 2}[split])
        return ds.repeat() if repeat else ds

    def histogram(self, domain, size, k):
        return np.array([0.1, 0.2, 0.6, 0.1])[:k]

    def generic_stream(self, k, batch_size, seed, batch_composition="mixed"):
        self.batch_composition = batch_composition
        return _windows(3).repeat()

    def resampled_stream(self, domain, size, k, batch_size, seed):
        return _windows(4).repeat()

    def tokenizer(self):
        return GPTByteTokenizer()

    def cluster_stream(self, k, cluster, batch_size, seed):
        return _windows(10 + cluster, with_clusters=False).repeat()


@pytest.fixture
def config(tmp_path):
    small = dict(TINY_GPT, vocabulary_size=VOCAB, max_sequence_length=SEQ)
    return RunConfig(
        slm_preset=write_architecture_preset(tmp_path / "slm", "GPTBackbone", **small),
        llm_preset=write_architecture_preset(tmp_path / "llm", "GPTBackbone", **dict(small, hidden_dim=32)),
        pn_preset=write_architecture_preset(tmp_path / "pn", "ProjectedGPTBackbone", **small, num_experts=K,
                          projected_layers=[1]),
        batch_size=4, finetune_batch_size=4, finetune_max_steps=2, finetune_eval_every=1,
        pn_clusters=K, lora_rank=2, verbose=0,
    )


def test_declarations_are_consistent():
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    declared = methods.all_methods()
    for method in declared:
        assert set(method.flags) <= fields, method.id
        if method.pretraining:
            assert methods.get(method.pretraining).is_generic_pretraining, method.id
        assert method.description, method.id
    # Teachers run before their students; every generic pretraining is its own start.
    assert all(m.pretraining == m.id for m in declared if m.is_generic_pretraining)
    assert [m.id for m in declared if m.has_pretraining] == [
        m.id for m in declared if m.is_generic_pretraining or m.pretrains_per_domain
    ]


def test_build_model_follows_the_declared_architecture(config):
    data = FakeData()
    for method in methods.all_methods():
        model = method.build_model(data, config)
        projected = isinstance(model, ProjectedGPT)
        start = methods.get(method.pretraining) if method.pretraining else method
        # A method builds what its pretraining builds; projected networks use k experts.
        assert type(model) is type(start.build_model(data, config)), method.id
        if projected:
            assert model.backbone.num_experts == K
        else:
            assert isinstance(model, GPTCausalLM)
        assert model.backbone.vocabulary_size == VOCAB


def test_methods_without_a_pretraining_stage_refuse_to_pretrain(config, tmp_path):
    for method in methods.all_methods():
        if not method.has_pretraining:
            with pytest.raises(ValueError, match="has no pretraining stage"):
                method.pretrain(FakeData(), str(tmp_path / method.id), config)
    per_domain = [m for m in methods.all_methods() if m.pretrains_per_domain]
    assert per_domain
    for method in per_domain:
        with pytest.raises(ValueError, match="needs `domain` and `size`"):
            method.pretrain(FakeData(), str(tmp_path / method.id), config)


def test_specialize_writes_the_numbers_it_returns(config, tmp_path):
    scratch = next(m for m in methods.all_methods()
                   if not m.pretraining and not m.pretrains_per_domain)
    model, result, info = scratch.specialize(
        FakeData(), "toy", 100, str(tmp_path / "run"), config
    )
    assert isinstance(model, GPTCausalLM)
    saved = json.load(open(tmp_path / "run" / "specialize.json"))
    assert saved == json.loads(json.dumps({**info, **result.to_json()}))
    assert saved["method"] == scratch.id and saved["domain"] == "toy" and saved["size"] == 100
    assert saved["steps"] == result.steps > 0
    assert saved["best_valid_loss"] == pytest.approx(result.best_valid_loss)
    # From scratch at the pretraining learning rate, not the fine-tuning one.
    assert scratch.specialization_learning_rate(config) == config.learning_rate


def test_expert_methods_specialize_a_plain_gpt_of_the_chosen_expert(config, tmp_path):
    data = FakeData()
    for method_id, strategy in (("pn", "most_frequent"), ("pn_histogram", "histogram")):
        method = methods.get(method_id)
        pretrained = methods.get(method.pretraining).build_model(data, config)
        model, result, info = method.specialize(
            data, "toy", 100, str(tmp_path / method_id), config, pretrained=pretrained
        )
        assert isinstance(model, GPTCausalLM) and info["selection"]["strategy"] == strategy
        if strategy == "most_frequent":
            assert info["selection"]["expert"] == 2
        saved = json.load(open(tmp_path / method_id / "specialize.json"))
        assert saved["selection"] == info["selection"]


def test_lora_trains_and_costs_exactly_its_declared_adapters(config):
    lora = next(m for m in methods.all_methods() if m.lora_targets)
    model = GPTCausalLM(GPTBackbone(**dict(TINY_GPT, vocabulary_size=VOCAB)))
    info = {}
    model = lora.specialization_model(model, FakeData(), "toy", 100, config, teacher=None,
                                      info=info)
    assert info == {"lora_rank": config.lora_rank}
    trainable = sum(int(np.prod(w.shape)) for w in model.backbone.trainable_weights)
    assert trainable == architecture.lora_parameter_count(model, config.lora_rank, lora.lora_targets)
    phase, cost = lora.specialization_cost(
        model, teacher=None, config=config, sequence_length=SEQ, tokens_per_batch=4 * SEQ
    )
    assert phase == "finetune"
    assert cost == flops.training_flops_per_token(
        model, sequence_length=SEQ, tokens_per_batch=4 * SEQ, lora_rank=config.lora_rank,
        lora_layers=lora.lora_targets,
    )
    # The paper's LoRA: query and value adapters only (keras-hub's default targets),
    # rank x (in + out) per adapter, plus the biases Keras leaves trainable.
    assert set(lora.lora_targets) == {"query_dense", "value_dense"}
    hidden, layers, rank = TINY_GPT["hidden_dim"], TINY_GPT["num_layers"], config.lora_rank
    assert trainable == layers * 2 * (rank * (hidden + hidden) + hidden)
    assert lora.specialization_learning_rate(config) == config.lora_learning_rate
    assert lora.specialization_max_steps(config) == config.lora_max_steps


def test_lora_defaults_are_the_papers():
    config = RunConfig()
    assert config.lora_rank == 64
    assert config.lora_learning_rate == config.learning_rate  # adapters start at zero
    assert config.lora_max_steps == config.finetune_max_steps


def test_mixture_experts_are_independent_models(config, tmp_path):
    """Each expert trains alone, with its own optimizer: training the others moves nothing."""
    import keras

    from keras_pn.models.expert_set import ExpertSet

    mix = methods.get("mix")
    config = dataclasses.replace(config, mix_clusters=2, pretrain_tokens=2 * 8 * 4 * SEQ)
    model, result = mix.pretrain(FakeData(), str(tmp_path / "mix"), config)
    experts = mix.load_pretrained(str(tmp_path / "mix"))
    assert isinstance(experts, ExpertSet) and experts.num_experts == 2
    assert result.tokens == 2 * 8 * 4 * SEQ  # the SLM's budget, split between the experts
    trained = [experts.project(expert=c).get_weights() for c in range(2)]
    # Expert 1 alone, from the same seed and stream: identical weights, so neither
    # the other expert's batches nor a shared optimizer state touched it.
    keras.utils.set_random_seed(config.seed + 1)
    alone = mix.build_model(FakeData(), config)
    initial = [w.copy() for w in alone.get_weights()]
    common.train_for_tokens(
        alone, FakeData().cluster_stream(2, 1, 4, config.seed + 1), 8 * 4 * SEQ,
        str(tmp_path / "alone"), FakeData(), config,
    )
    for a, b in zip(alone.get_weights(), trained[1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert max(np.abs(a - b).max() for a, b in zip(initial, trained[1])) > 1e-3  # it trained
    assert max(np.abs(a - b).max() for a, b in zip(trained[0], trained[1])) > 1e-3
    with pytest.raises(ValueError, match="independent models"):
        experts.project(histogram=[0.5, 0.5])
    # Resuming the finished run trains nothing and reports the same budget.
    again, resumed = mix.pretrain(FakeData(), str(tmp_path / "mix"), config)
    assert resumed.tokens == result.tokens
    assert [w.tolist() for w in experts.project(expert=1).get_weights()] == [
        w.tolist() for w in trained[1]
    ]


def test_mixture_selects_an_expert_by_its_clustering(config, tmp_path):
    mix = methods.get("mix")
    config = dataclasses.replace(config, mix_clusters=4, pretrain_tokens=4 * 4 * SEQ)
    mix.pretrain(FakeData(), str(tmp_path / "mix"), config)
    experts = mix.load_pretrained(str(tmp_path / "mix"))
    model, result, info = mix.specialize(
        FakeData(), "toy", 100, str(tmp_path / "spec"), config, pretrained=experts
    )
    assert isinstance(model, GPTCausalLM)
    assert info["selection"] == {"strategy": "most_frequent", "expert": 2, "mass": 0.6}


def test_a_student_needs_its_teacher(config, tmp_path):
    student = next(m for m in methods.all_methods() if m.needs_teacher)
    pretrained = student.build_model(FakeData(), config)
    with pytest.raises(ValueError, match="needs the fine-tuned LLM"):
        student.specialize(FakeData(), "toy", 100, str(tmp_path), config, pretrained=pretrained)


def test_common_entry_points_take_ids(config):
    first = methods.all_methods()[0]
    assert common.resolve(first.id) is first
    assert type(common.build_model(first.id, FakeData(), config)) is type(
        first.build_model(FakeData(), config)
    )
    with pytest.raises(ValueError, match="Unknown method"):
        common.build_model("gpt9", FakeData(), config)


@pytest.mark.parametrize("composition", ["mixed", "single_cluster"])
def test_pn_pretrains_on_the_configured_batches_and_pays_their_kernels(config, composition):
    pn = methods.get("pn")
    config = dataclasses.replace(config, pn_batch_composition=composition)
    data = FakeData()
    pn.pretraining_stream(data, config)
    assert data.batch_composition == composition
    model = pn.build_model(data, config)
    cost = common.pretraining_flops_per_token(model, data, config)
    # Mixed batches build one expert kernel per example, a single-cluster batch one.
    kernels = config.batch_size if composition == "mixed" else 1
    assert cost == flops.training_flops_per_token(
        model, sequence_length=SEQ, tokens_per_batch=config.batch_size * SEQ,
        kernels_per_batch=kernels,
    )
    slm = common.gpt(config.slm_preset, data)
    # Equal pretraining cost: the PN gets the SLM's FLOPs, so fewer tokens.
    assert common.equal_cost_tokens(model, data, config) == int(
        config.pretrain_tokens / (cost / common.pretraining_flops_per_token(slm, data, config))
    )
