"""ProjectedGPT: project() parity, per-example experts, hard mixture, generation, presets."""

import json
import os

import keras
import keras_hub
import numpy as np
import pytest

from keras_pn.models import GPTByteTokenizer
from keras_pn.models import GPTCausalLM
from keras_pn.models import ProjectedGPT
from keras_pn.models import ProjectedGPTBackbone
from keras_pn.models import ProjectedGPTCausalLMPreprocessor
from keras_pn.testing import TINY_PN
from keras_pn.testing import TestCase
from keras_pn.testing import random_batch
from keras_pn.testing import to_numpy


def make_pn(preprocessor=True, **overrides):
    config = dict(TINY_PN, **overrides)
    backbone = ProjectedGPTBackbone(**config)
    # Random (not zero) bias bases, so bias projection is exercised.
    for layer in backbone._flatten_layers():
        if getattr(layer, "bias_bases", None) is not None:
            layer.bias_bases.assign(
                np.random.default_rng(0).normal(size=layer.bias_bases.shape) * 0.1
            )
    pre = None
    if preprocessor:
        pre = ProjectedGPTCausalLMPreprocessor(GPTByteTokenizer(), sequence_length=12)
    return ProjectedGPT(backbone, preprocessor=pre)


def logits_for_code(pn, batch, code):
    """Reference forward with one explicit expert code for every example."""
    backbone = pn.backbone
    codes = np.repeat(np.asarray(code, "float32")[None], batch["token_ids"].shape[0], 0)
    hidden, _ = backbone.decode(backbone.embed(batch["token_ids"]), codes)
    return to_numpy(backbone.token_embedding(hidden, reverse=True))


def test_config_round_trip_and_counts():
    backbone = ProjectedGPTBackbone(**TINY_PN, projected_layers=[1])
    config = json.loads(json.dumps(backbone.get_config()))
    clone = ProjectedGPTBackbone.from_config(config)
    assert clone.get_config() == backbone.get_config()
    assert clone.count_params() == backbone.count_params()
    assert backbone.num_experts == TINY_PN["num_experts"]
    assert keras.saving.serialize_keras_object(backbone)["registered_name"] == (
        "keras_pn>ProjectedGPTBackbone"
    )


@pytest.mark.parametrize("projected_attention", [False, True])
def test_project_expert_parity(projected_attention):
    pn = make_pn(preprocessor=False, projected_attention=projected_attention)
    batch = random_batch(num_experts=None, seq_len=7)
    for expert in range(pn.backbone.num_experts):
        slm = pn.project(expert=expert)
        assert isinstance(slm, GPTCausalLM)
        assert not any("projected" in type(l).__name__.lower() for l in slm._flatten_layers())
        with_expert = dict(batch, cluster_ids=np.full((3,), expert, "int32"))
        np.testing.assert_allclose(to_numpy(slm(batch)), to_numpy(pn(with_expert)), atol=1e-5)


def test_project_histogram_parity():
    pn = make_pn(preprocessor=False)
    batch = random_batch(seq_len=6)
    histogram = np.array([0.5, 0.0, 0.3, 0.2])
    slm = pn.project(histogram=histogram)
    code = to_numpy(pn.backbone.expert_code(histogram=histogram))
    np.testing.assert_allclose(to_numpy(slm(batch)), logits_for_code(pn, batch, code), atol=1e-5)
    # A one-hot histogram is that expert.
    one_hot = pn.project(histogram=np.eye(4)[2])
    np.testing.assert_allclose(
        to_numpy(one_hot(batch)), to_numpy(pn.project(expert=2)(batch)), atol=1e-5
    )


def test_projected_parameter_count_is_the_small_models():
    pn = make_pn(preprocessor=False, projected_layers=[1])
    slm = pn.project(expert=0)
    from keras_pn.models import GPTBackbone
    from keras_pn.models.gpt.decoder_stack import DECODER_CONFIG_KEYS as GPT_CONFIG_KEYS

    plain = GPTBackbone(**{k: pn.backbone.get_config()[k] for k in GPT_CONFIG_KEYS})
    assert slm.backbone.count_params() == plain.count_params()
    assert pn.backbone.count_params() > plain.count_params()


def test_per_example_experts_equal_each_example_alone():
    pn = make_pn(preprocessor=False)
    batch = random_batch(batch_size=4, seq_len=6, num_experts=4)
    batch["cluster_ids"] = np.array([3, 0, 2, 0], "int32")
    together = to_numpy(pn(batch))
    for b in range(4):
        alone = {k: v[b : b + 1] for k, v in batch.items()}
        np.testing.assert_allclose(together[b : b + 1], to_numpy(pn(alone)), atol=1e-5)


def test_hard_mixture_trains_experts_independently():
    """h = k, E = I, M = I: a batch of cluster 2 only moves expert 2's MLP."""
    pn = make_pn(preprocessor=False, hard_mixture=True, num_bases=None, expert_dim=None)
    backbone = pn.backbone
    assert backbone.num_bases == backbone.expert_dim == backbone.num_experts
    np.testing.assert_array_equal(to_numpy(backbone.expert_embedding.embeddings), np.eye(4))
    mlp = backbone.transformer_layers[0].mlp_intermediate_dense
    before = to_numpy(mlp.kernel_bases).copy()
    pn.compile(optimizer=keras.optimizers.SGD(0.5), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    batch = random_batch(batch_size=2, seq_len=6, num_experts=4)
    batch["cluster_ids"] = np.array([2, 2], "int32")
    pn.fit(batch, batch["token_ids"], epochs=1, batch_size=2, verbose=0)
    after = to_numpy(mlp.kernel_bases)
    changed = np.abs(after - before).max(axis=(0, 1))
    assert changed[2] > 0 and np.all(changed[[0, 1, 3]] == 0), changed
    # And each expert exported is a plain SLM whose MLP is exactly its slice.
    slm = pn.project(expert=1)
    np.testing.assert_allclose(
        to_numpy(slm.backbone.transformer_layers[0].mlp_intermediate_dense.kernel),
        after[:, :, 1],
        atol=1e-6,
    )


def test_fit_lowers_loss():
    keras.utils.set_random_seed(0)
    pn = make_pn()
    pn.compile(optimizer=keras.optimizers.Adam(1e-2))
    data = {"prompts": ["the cat sat on the mat", "a dog ran in the fog"] * 2, "cluster_ids": np.array([0, 1, 0, 1])}
    history = pn.fit(data, batch_size=4, epochs=12, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0], losses


def test_compiled_training_accepts_a_new_batch_size():
    # TensorFlow + XLA once failed here: retracing for a second batch size left
    # the batch dimension unknown inside ProjectedDense's expert `cond`.
    pn = ProjectedGPT.from_preset("pn_tiny", load_weights=False)
    pn.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True if keras.config.backend() != "torch" else "auto",
    )
    vocabulary_size = pn.backbone.vocabulary_size
    for batch_size in (4, 8):
        batch = random_batch(batch_size, 33, vocabulary_size, pn.backbone.num_experts)
        batch["cluster_ids"][:] = 7  # one expert for the whole batch
        x = {k: v[:, :-1] if k != "cluster_ids" else v for k, v in batch.items()}
        loss = pn.train_on_batch(x, batch["token_ids"][:, 1:])
        assert np.isfinite(float(np.asarray(loss).ravel()[0])), batch_size


def test_generate_for_an_expert_equals_the_projected_model():
    pn = make_pn()
    pn.compile(sampler="greedy")
    for expert in (0, 3):
        slm = pn.project(expert=expert)
        slm.compile(sampler="greedy")
        assert pn.generate("abc", expert=expert, max_length=10) == slm.generate(
            "abc", max_length=10
        )
    with pytest.raises(ValueError, match="needs an expert"):
        pn.generate("abc")
    with pytest.raises(ValueError, match="does not exist"):
        pn.generate("abc", expert=4)


def test_bad_expert_and_histogram():
    pn = make_pn(preprocessor=False)
    with pytest.raises(ValueError, match="does not exist"):
        pn.project(expert=7)
    with pytest.raises(ValueError, match="negative"):
        pn.project(histogram=[1.5, -0.5, 0, 0])
    with pytest.raises(ValueError, match="sums to"):
        pn.project(histogram=[0.5, 0.1, 0, 0])
    with pytest.raises(ValueError, match="shape"):
        pn.project(histogram=[1.0, 0])
    with pytest.raises(ValueError, match="exactly one"):
        pn.project()


def test_save_and_load_preset(tmp_path):
    pn = make_pn()
    preset = str(tmp_path / "my_pn")
    pn.save_to_preset(preset)
    batch = random_batch(num_experts=4, seq_len=6)
    expected = to_numpy(pn(batch))
    for cls in (ProjectedGPT, keras_hub.models.CausalLM):
        restored = cls.from_preset(preset)
        assert isinstance(restored, ProjectedGPT)
        assert isinstance(restored.preprocessor, ProjectedGPTCausalLMPreprocessor)
        np.testing.assert_allclose(to_numpy(restored(batch)), expected, atol=1e-6)
    metadata = json.load(open(os.path.join(preset, "metadata.json")))
    assert metadata["parameter_count"] == pn.backbone.count_params()
    # The exported expert keeps the tokenizer and saves as a plain GPT preset.
    slm = pn.project(expert=1)
    slm.save_to_preset(str(tmp_path / "expert_1"))
    restored = GPTCausalLM.from_preset(str(tmp_path / "expert_1"))
    plain = {k: batch[k] for k in ("token_ids", "padding_mask")}
    np.testing.assert_allclose(to_numpy(restored(plain)), to_numpy(slm(plain)), atol=1e-6)


@pytest.mark.parametrize("projected_attention", [False, True])
def test_mixed_bfloat16_reaches_every_layer_and_trains(projected_attention):
    """A `mixed_bfloat16` backbone computes every block in bfloat16 and trains."""
    from keras_pn.training.trainer import compile_for_training

    backbone = ProjectedGPTBackbone(
        **TINY_PN, projected_attention=projected_attention, dtype="mixed_bfloat16"
    )
    layers = [l for l in backbone._flatten_layers() if l.weights]
    assert {l.dtype_policy.name for l in layers} == {"mixed_bfloat16"}, [
        (l.name, l.dtype_policy.name) for l in layers if l.dtype_policy.name != "mixed_bfloat16"
    ]
    assert all(w.dtype == "float32" for w in backbone.weights)  # float32 variables
    pn = ProjectedGPT(backbone)
    batch = random_batch(seq_len=9, num_experts=TINY_PN["num_experts"])
    assert np.all(np.isfinite(to_numpy(pn(batch)).astype("float32")))
    compile_for_training(pn, 1e-3, total_steps=2)
    loss = pn.train_on_batch(batch, batch["token_ids"])
    assert np.isfinite(float(loss))
    expert = pn.project(expert=1)
    assert {l.dtype_policy.name for l in expert.backbone._flatten_layers() if l.weights} == {
        "mixed_bfloat16"
    }


@pytest.mark.slow
class ProjectedGPTHarnessTest(TestCase):
    """keras-hub's backbone and task checks."""

    def test_backbone(self):
        batches = [
            random_batch(batch_size=2, seq_len=n, num_experts=TINY_PN["num_experts"])
            for n in (5, 2, 3, 4)
        ]
        for projected_attention in (False, True):
            with self.subTest(projected_attention=projected_attention):
                self.run_backbone_test(
                    cls=ProjectedGPTBackbone,
                    init_kwargs=dict(TINY_PN, projected_attention=projected_attention),
                    input_data=batches[0],
                    expected_output_shape=(2, 5, TINY_PN["hidden_dim"]),
                    # `cluster_ids` has no sequence axis to cut.
                    variable_length_data=batches[1:],
                )

    def test_causal_lm(self):
        preprocessor = ProjectedGPTCausalLMPreprocessor(
            GPTByteTokenizer(), sequence_length=8
        )
        self.run_task_test(
            cls=ProjectedGPT,
            init_kwargs={
                "backbone": ProjectedGPTBackbone(**TINY_PN),
                "preprocessor": preprocessor,
            },
            train_data=(
                {
                    "prompts": ["the quick brown fox.", "the earth is round."],
                    "cluster_ids": np.array([0, 3], "int32"),
                },
            ),
            expected_output_shape=(2, 8, TINY_PN["vocabulary_size"]),
        )
