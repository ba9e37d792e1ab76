"""FLOPs formulas against built models' parameter counts; the cost ledger, C_total."""

import json
import math

import keras
import pytest

from keras_pn import methods
from keras_pn import presets
from keras_pn.evaluation.architecture import DEFAULT_LORA_LAYERS
from keras_pn.evaluation.architecture import ModelDims
from keras_pn.evaluation.architecture import lora_parameter_count
from keras_pn.evaluation.architecture import parameter_counts
from keras_pn.evaluation.flops import inference_flops_per_token
from keras_pn.evaluation.flops import projection_flops_per_batch
from keras_pn.evaluation.flops import training_flops_per_token
from keras_pn.evaluation.ledger import CostLedger
from keras_pn.evaluation.ledger import apply_paper_conventions
from keras_pn.models import GPTBackbone
from keras_pn.models import GPTCausalLM
from keras_pn.models import ProjectedGPTBackbone

from tests.evaluation.conftest import TINY


@pytest.fixture
def gpt(tiny_gpt):
    return tiny_gpt.backbone


@pytest.fixture
def pn(tiny_pn):
    return tiny_pn.backbone


def test_parameter_counts_match_built_models(gpt, pn, tiny_gpt):
    assert parameter_counts(gpt)["total"] == gpt.count_params()
    assert parameter_counts(tiny_gpt)["total"] == gpt.count_params()  # a CausalLM
    assert parameter_counts(pn)["total"] == pn.count_params()
    position = gpt.position_embedding.position_embeddings
    assert parameter_counts(gpt)["position_embedding"] == math.prod(position.shape)
    # One expert of the PN is a plain GPT of the same sizes.
    assert parameter_counts(pn)["expert"] == gpt.count_params()


def test_parameter_counts_projected_attention():
    config = dict(
        TINY,
        num_experts=4,
        num_bases=3,
        expert_dim=2,
        projected_layers=[1],
        projected_attention=True,
    )
    backbone = ProjectedGPTBackbone(**config)
    assert parameter_counts(backbone)["total"] == backbone.count_params()
    assert parameter_counts(config)["total"] == backbone.count_params()
    # A hard mixture has the same weights (E and M frozen to identities).
    mixture = dict(config, num_bases=4, expert_dim=4, hard_mixture=True)
    assert (
        parameter_counts(mixture)["total"]
        == parameter_counts(dict(mixture, hard_mixture=False))["total"]
    )


def test_paper_presets_match_their_metadata():
    # metadata.json holds count_params() of the built preset.
    for name in ("slm_paper", "llm_paper", "pn_paper", "slm_tiny", "pn_tiny"):
        path = presets.ARCHITECTURES_DIR / name / "metadata.json"
        expected = json.loads(path.read_text())["parameter_count"]
        assert parameter_counts(name)["total"] == expected, name
    assert round(parameter_counts("pn_paper")["total"] / 1e6) == 1423  # paper: 1,422M


def test_training_and_inference_flops_formula(gpt):
    n = gpt.count_params() - math.prod(gpt.position_embedding.position_embeddings.shape)
    layers, heads, head_dim = (
        gpt.num_layers,
        gpt.num_heads,
        gpt.hidden_dim // gpt.num_heads,
    )
    t = 8
    train = 6 * n + 12 * layers * heads * head_dim * t
    assert training_flops_per_token(gpt, sequence_length=t) == train
    assert (
        inference_flops_per_token(gpt, sequence_length=t)
        == 2 * n + 4 * layers * heads * head_dim * t
    )
    assert inference_flops_per_token(gpt, sequence_length=t) * 3 == train
    # Default T: the context length. Optimizer term: c_opt * P / tokens per batch.
    assert training_flops_per_token(gpt) == 6 * n + 12 * layers * 16 * 16
    with_opt = training_flops_per_token(gpt, sequence_length=t, tokens_per_batch=64)
    assert with_opt == pytest.approx(train + 15 * gpt.count_params() / 64)
    # The paper's SLM: 6 * 120.9M + 12 * 7 * 1024 * 1024.
    assert (
        training_flops_per_token("slm_paper") == 6 * 120_943_616 + 12 * 7 * 1024 * 1024
    )


def test_projected_training_flops(pn, gpt):
    batch_tokens = 4 * 16
    h, m = 3, 2
    # Projected block 1: two MLP matrices (16x32, 32x16);
    # forward 2 (m h + h d_in d_out + h d_out) each.
    forward = 2 * (m * h + h * 16 * 32 + h * 32) + 2 * (m * h + h * 32 * 16 + h * 16)
    assert projection_flops_per_batch(pn) == 3 * forward
    assert projection_flops_per_batch(pn, kernels_per_batch=4) == 12 * forward
    expected = (
        training_flops_per_token(gpt)
        + (3 * forward + 15 * pn.count_params()) / batch_tokens
    )
    assert training_flops_per_token(pn, tokens_per_batch=batch_tokens) == pytest.approx(
        expected
    )
    assert inference_flops_per_token(pn) == inference_flops_per_token(gpt)
    with pytest.raises(ValueError, match="tokens_per_batch"):
        training_flops_per_token(pn)
    mix = dict(pn.get_config(), hard_mixture=True, num_bases=4, expert_dim=4)
    assert projection_flops_per_batch(mix) == 0.0


def test_lora_flops_count_adapters_like_keras(gpt):
    backbone = GPTBackbone.from_config(gpt.get_config())
    backbone.enable_lora(4)  # keras-hub's default targets
    adapters = sum(math.prod(w.shape) for w in backbone.trainable_weights)
    counted = lora_parameter_count(backbone, rank=4, layers=DEFAULT_LORA_LAYERS)
    assert counted == adapters
    n = parameter_counts(gpt)["flops"]
    attention = 12 * 2 * 16 * 16
    assert (
        training_flops_per_token(gpt, lora_rank=4, lora_layers=DEFAULT_LORA_LAYERS)
        == 4 * n + 6 * adapters + attention
    )
    with pytest.raises(ValueError, match="Unknown LoRA"):
        lora_parameter_count(gpt, 4, layers=("nope",))
    # No silent default: the adapted layers are the ones trained.
    with pytest.raises(ValueError, match="lora_layers"):
        training_flops_per_token(gpt, lora_rank=4)


def test_lora_cost_counts_the_registry_targets_as_trained(gpt):
    lora = [m for m in methods.all_methods() if m.lora_targets]
    assert lora, "the registry declares a LoRA method"
    targets = lora[0].lora_targets
    model = GPTCausalLM(GPTBackbone.from_config(gpt.get_config()))
    model.backbone.enable_lora(4, target_layer_names=list(targets))
    trainable = model.backbone.trainable_weights
    adapted = {w.path.split("/")[-2] for w in trainable}
    assert adapted == set(targets)  # LoRA trained exactly the declared targets
    counted = lora_parameter_count(model, rank=4, layers=targets)
    assert counted == sum(math.prod(w.shape) for w in trainable)
    # The paper's targets are keras-hub's default ones (query and value).
    assert counted == lora_parameter_count(model, rank=4, layers=DEFAULT_LORA_LAYERS)
    n = parameter_counts(model)["flops"]
    attention = 12 * 2 * 16 * 8
    per_token = training_flops_per_token(
        model, sequence_length=8, tokens_per_batch=64, lora_rank=4, lora_layers=targets
    )
    expected = 4 * n + 6 * counted + attention + 15 * counted / 64
    assert per_token == pytest.approx(expected)
    ledger = CostLedger()
    ledger.add(
        lora[0].id,
        "specialization",
        domain="a",
        phase="finetune",
        tokens=640,
        flops_per_token=per_token,
        device="",
    )
    assert ledger.specialization(lora[0].id).flops == pytest.approx(640 * per_token)


def test_model_dims_sources(pn):
    from_config = ModelDims.of(pn.get_config())
    assert ModelDims.of(pn) == from_config
    assert from_config.projected_layers == (1,)
    assert ModelDims.of("pn_tiny").expert == ModelDims.of("slm_tiny")
    with pytest.raises(ValueError, match="No preset"):
        ModelDims.of("no_such_preset")
    with pytest.raises(ValueError, match="lacks"):
        ModelDims.of({"vocabulary_size": 3})


def test_ledger_total_cost_and_mean_specialization():
    ledger = CostLedger()
    ledger.add(
        "slm",
        "generic",
        phase="pretrain",
        tokens=1000,
        flops=6e6,
        seconds=10.0,
        device="cpu",
    )
    ledger.add(
        "slm",
        "specialization",
        domain="a",
        phase="finetune",
        tokens=10,
        flops=100.0,
        seconds=1.0,
        device="cpu",
    )
    ledger.add(
        "slm",
        "specialization",
        domain="b",
        phase="finetune",
        tokens=30,
        flops_per_token=10.0,
        seconds=3.0,
        device="cpu",
    )
    assert ledger.specialization("slm").flops == 200.0  # mean of 100 and 300
    assert ledger.specialization("slm", "b").tokens == 30
    # C_total(N) = C_generic + N * C_spec
    assert ledger.total_cost("slm", 0) == 6e6
    assert ledger.total_cost("slm", 5) == 6e6 + 5 * 200.0
    assert ledger.total_cost("slm", 5, field="seconds") == 10.0 + 5 * 2.0
    assert ledger.total_cost("slm", 2, field="tokens") == 1000 + 2 * 20
    with pytest.raises(KeyError):
        ledger.total_cost("llm", 1)
    with pytest.raises(ValueError, match="domain"):
        ledger.add("slm", "specialization", phase="x")
    with pytest.raises(ValueError, match="shared by all domains"):
        ledger.add("slm", "generic", phase="x", domain="a")
    with pytest.raises(ValueError, match="kind"):
        ledger.add("slm", "pretraining", phase="x")


def test_ledger_conventions_is_distill_lora():
    ledger = CostLedger()
    ledger.add("slm", "generic", phase="pretrain", flops=100.0, device="")
    ledger.add("llm", "generic", phase="pretrain", flops=600.0, device="")
    for domain in ("a", "b"):
        ledger.add(
            "llm",
            "specialization",
            domain=domain,
            phase="finetune",
            flops=6.0,
            device="",
        )
        ledger.add(
            "distill",
            "specialization",
            domain=domain,
            phase="distill",
            flops=2.0,
            device="",
        )
        ledger.add(
            "llm_lora",
            "specialization",
            domain=domain,
            phase="lora",
            flops=3.0,
            device="",
        )
        # SLM-is: its pretraining is per domain (specialization).
        ledger.add(
            "is",
            "specialization",
            domain=domain,
            phase="pretrain_is",
            flops=100.0,
            device="",
        )
        ledger.add(
            "is",
            "specialization",
            domain=domain,
            phase="finetune",
            flops=1.0,
            device="",
        )
    apply_paper_conventions(ledger)
    # SLM-d: generic = teacher + student pretraining; per domain = teacher FT + distill.
    assert ledger.generic("distill").flops == 700.0
    assert ledger.specialization("distill").flops == 8.0
    assert ledger.total_cost("distill", 10) == 700.0 + 80.0
    assert ledger.total_cost("llm_lora", 10) == 600.0 + 30.0
    assert ledger.total_cost("is", 3) == 3 * 101.0
    assert ledger.pretraining("is") == 100.0
    assert ledger.pretraining("slm") == 100.0
    summary = ledger.summary("distill")
    assert summary["inherits"] == {"generic": ["llm", "slm"], "specialization": ["llm"]}
    assert {p["phase"] for p in summary["generic_phases"]} == {
        "llm:pretrain",
        "slm:pretrain",
    }


def test_ledger_json_round_trip_measure_and_cycles(tmp_path):
    ledger = CostLedger()
    with ledger.measure("pn", "generic", phase="pretrain", flops_per_token=2.0) as cost:
        cost.tokens = 50
    ledger.add(
        "pn_histogram", "specialization", domain="a", phase="finetune", flops=1.0
    )
    ledger.declare_inheritance("pn_histogram", "generic", ["pn"])
    entry = ledger.generic("pn")
    assert entry.flops == 100.0 and entry.seconds >= 0.0
    assert keras.config.backend() in entry.device
    ledger.save(tmp_path / "ledger.json")
    loaded = CostLedger.load(tmp_path / "ledger.json")
    assert loaded.to_dict() == ledger.to_dict()
    assert loaded.total_cost("pn_histogram", 4) == 104.0
    with pytest.raises(ValueError, match="Cyclic"):
        loaded.inherit("pn", "pn_histogram")
    with pytest.raises(ValueError, match="format"):
        CostLedger.from_dict({"methods": {}})
    # An explicit empty inheritance is kept: conventions do not override it.
    ledger = CostLedger()
    ledger.add("llm", "generic", phase="pretrain", flops=1.0, device="")
    ledger.add(
        "llm_lora", "specialization", domain="a", phase="lora", flops=1.0, device=""
    )
    ledger.declare_inheritance("llm_lora", "generic", [])
    assert apply_paper_conventions(ledger).generic("llm_lora").flops == 0.0
