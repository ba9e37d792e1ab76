"""The run flags generated from `RunConfig` are the flags the recipes always had."""

import dataclasses

import pytest
from absl import flags

from keras_pn.methods import RunConfig
from recipes import common

# The run flags as README commands and users rely on them (they began as the
# hand-written flags before `RunConfig` declared them): (name, type, default,
# help[, enum values]). A change to a flag is a change to this table.
LEGACY_FLAGS = [
    ("slm_preset", "string", "slm_tiny", "Architecture of the small model."),
    ("llm_preset", "string", "llm_tiny", "Architecture of the large model."),
    ("pn_preset", "string", "pn_tiny", "Architecture of the projected network."),
    ("batch_size", "int", 16, "Windows per pretraining batch (global)."),
    ("finetune_batch_size", "int", 8,
     "Windows per fine-tuning batch (global; default: --batch_size)."),
    ("pretrain_tokens", "int", 200_000,
     "Generic pretraining budget (tokens of the SLM; with --equal_pretraining_cost the "
     "LLM, PN and mixture get its FLOPs)."),
    ("equal_pretraining_cost", "bool", True,
     "Give every generic pretraining the SLM's FLOPs (the paper's comparison); off: the "
     "same tokens each."),
    ("is_tokens", "int", None,
     "Importance-sampled pretraining budget per domain (default: --pretrain_tokens)."),
    ("learning_rate", "float", 3e-3,
     "Peak pretraining learning rate (Adam, warm-up, cosine, clip 5.0)."),
    ("finetune_learning_rate", "float", None,
     "Fine-tuning learning rate (default: learning_rate / 3, as the paper)."),
    ("finetune_max_steps", "int", 1000,
     "Upper bound on fine-tuning steps (early stopping ends most runs sooner)."),
    ("finetune_eval_every", "int", 10, "Steps between validation checks."),
    ("patience", "int", 5, "Validation checks without improvement before early stopping."),
    ("valid_windows", "int", 32,
     "Cap on validation windows for early stopping (a fixed seeded sample; default: all)."),
    ("test_windows", "int", 128,
     "Cap on test windows for reported perplexities (same sample for every method; "
     "default: all)."),
    ("generic_eval_windows", "int", None,
     "Cap on the held-out generic windows each generic pretraining is scored on (a fixed "
     "seeded sample; default: the whole held-out split)."),
    ("pn_clusters", "int", 8, "k of the projected network (its experts)."),
    ("pn_batch_composition", "enum", "mixed",
     "PN pretraining batches: mixed clusters (each window scored by its cluster's expert) "
     "or single_cluster (one expert per step).", ["mixed", "single_cluster"]),
    ("mix_clusters", "int", 8, "k of the hard mixture (its independent experts)."),
    ("is_clusters", "int", 1024, "k of importance sampling."),
    ("select", "enum", "most_frequent", "PN / mixture expert selection.",
     ["most_frequent", "best_pretrained", "finetune_all", "histogram"]),
    ("lora_rank", "int", 64, "LoRA rank of LLM-LoRA (the paper's 64)."),
    ("lora_learning_rate", "float", None,
     "Peak learning rate of LLM-LoRA's adapters (default: --learning_rate)."),
    ("lora_max_steps", "int", None,
     "Upper bound on LLM-LoRA's fine-tuning steps (default: --finetune_max_steps)."),
    ("distill_alpha", "float", 0.5, "Weight of the teacher term in SLM-d."),
    ("checkpoints", "int", 4, "Checkpoints per pretraining run."),
    ("seed", "int", 0, "Random seed."),
    ("verbose", "int", 1, "Keras progress-bar verbosity (0, 1, 2)."),
]
TYPES = {"string": flags.DEFINE_string, "int": flags.DEFINE_integer,
         "float": flags.DEFINE_float, "bool": flags.DEFINE_boolean}


def _legacy_values():
    values = flags.FlagValues()
    for name, kind, default, help_text, *choices in LEGACY_FLAGS:
        if kind == "enum":
            flags.DEFINE_enum(name, default, choices[0], help_text, flag_values=values)
        else:
            TYPES[kind](name, default, help_text, flag_values=values)
    return values


def test_generated_flags_match_the_legacy_flags():
    generated, legacy = flags.FlagValues(), _legacy_values()
    common.define_run_flags(generated)
    assert list(generated) == list(legacy)
    for name in legacy:
        new, old = generated[name], legacy[name]
        assert (type(new), new.default, new.help) == (type(old), old.default, old.help), name
        assert getattr(new.parser, "enum_values", None) == getattr(old.parser, "enum_values", None)


@pytest.mark.parametrize("argv", [
    ["prog"],
    ["prog", "--select=finetune_all", "--lora_rank=64", "--learning_rate=1e-4",
     "--is_tokens=5000", "--finetune_batch_size=4", "--slm_preset=slm_paper"],
])
def test_run_config_from_flags_equals_the_legacy_construction(argv):
    values = flags.FlagValues()
    common.define_run_flags(values)
    values(argv)
    legacy = _legacy_values()
    legacy(argv)
    # What `run_config()` built field by field before.
    expected = RunConfig(**{
        f.name: legacy["select" if f.name == "expert_selection" else f.name].value
        for f in dataclasses.fields(RunConfig)
    })
    assert common.run_config(values) == expected


def test_run_config_derives_its_defaults():
    config = RunConfig(learning_rate=3e-3, batch_size=4, finetune_batch_size=None,
                       pretrain_tokens=1000)
    assert config.finetune_learning_rate == pytest.approx(1e-3)
    assert config.finetune_batch_size == 4 and config.is_tokens == 1000
    explicit = RunConfig(finetune_learning_rate=0.5, is_tokens=7)
    assert explicit.finetune_learning_rate == 0.5 and explicit.is_tokens == 7
    assert RunConfig().presets() == {"slm": "slm_tiny", "llm": "llm_tiny", "pn": "pn_tiny"}
