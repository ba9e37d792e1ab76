"""`RunConfig`: the run-level knobs of every method, each declared once with its flag help.

Architecture comes from presets only. The recipes generate one absl flag per field
(`recipes.config_flags.define_flags(RunConfig)`): a field's help is its flag's help,
`choices` make an enum flag and `flag` renames it (`--select` fills `expert_selection`).

>>> config = RunConfig(learning_rate=6e-3, finetune_batch_size=None)
>>> config.finetune_learning_rate, config.finetune_batch_size, config.is_tokens
(0.002, 16, 200000)
"""

from __future__ import annotations

import dataclasses

EXPERT_SELECTIONS = ("most_frequent", "best_pretrained", "finetune_all", "histogram")


@dataclasses.dataclass
class RunConfig:
    """Run-level knobs; `None` budgets and rates are derived in `__post_init__`.

    `is_tokens` defaults to `pretrain_tokens`, `finetune_learning_rate` to
    `learning_rate / 3` (the paper), `finetune_batch_size` to `batch_size`,
    `lora_learning_rate` to `learning_rate` and `lora_max_steps` to
    `finetune_max_steps`.
    """

    slm_preset: str = dataclasses.field(
        default="slm_tiny", metadata={"help": "Architecture of the small model."}
    )
    llm_preset: str = dataclasses.field(
        default="llm_tiny", metadata={"help": "Architecture of the large model."}
    )
    pn_preset: str = dataclasses.field(
        default="pn_tiny", metadata={"help": "Architecture of the projected network."}
    )
    batch_size: int = dataclasses.field(
        default=16, metadata={"help": "Windows per pretraining batch (global)."}
    )
    # Small: on CPU a batch of 8 reached the perplexity of a batch of 16 after the
    # same number of steps, in less time (bench/RESULTS.md).
    finetune_batch_size: int | None = dataclasses.field(
        default=8,
        metadata={"help": "Windows per fine-tuning batch (global; default: --batch_size)."},
    )
    pretrain_tokens: int = dataclasses.field(
        default=200_000,
        metadata={
            "help": "Generic pretraining budget (tokens of the SLM; with "
            "--equal_pretraining_cost the LLM, PN and mixture get its FLOPs)."
        },
    )
    equal_pretraining_cost: bool = dataclasses.field(
        default=True,
        metadata={
            "help": "Give every generic pretraining the SLM's FLOPs (the paper's "
            "comparison); off: the same tokens each."
        },
    )
    is_tokens: int | None = dataclasses.field(
        default=None,
        metadata={
            "help": "Importance-sampled pretraining budget per domain (default: "
            "--pretrain_tokens)."
        },
    )
    learning_rate: float = dataclasses.field(
        default=3e-3,
        metadata={
            "help": "Peak pretraining learning rate (Adam, warm-up, cosine, clip 5.0)."
        },
    )
    finetune_learning_rate: float | None = dataclasses.field(
        default=None,
        metadata={
            "help": "Fine-tuning learning rate (default: learning_rate / 3, as the paper)."
        },
    )
    finetune_max_steps: int = dataclasses.field(
        default=1000,
        metadata={
            "help": "Upper bound on fine-tuning steps (early stopping ends most runs "
            "sooner)."
        },
    )
    finetune_eval_every: int = dataclasses.field(
        default=10, metadata={"help": "Steps between validation checks."}
    )
    # 5, not fewer: at the peak learning rate the validation loss of a freshly
    # pretrained model often rises for a check or two before it falls, and a
    # shorter patience stops it before it improves (bench/RESULTS.md).
    patience: int = dataclasses.field(
        default=5,
        metadata={"help": "Validation checks without improvement before early stopping."},
    )
    valid_windows: int | None = dataclasses.field(
        default=32,
        metadata={
            "help": "Cap on validation windows for early stopping (a fixed seeded "
            "sample; default: all)."
        },
    )
    test_windows: int | None = dataclasses.field(
        default=128,
        metadata={
            "help": "Cap on test windows for reported perplexities (same sample for "
            "every method; default: all)."
        },
    )
    generic_eval_windows: int | None = dataclasses.field(
        default=None,
        metadata={
            "help": "Cap on the held-out generic windows each generic pretraining is "
            "scored on (a fixed seeded sample; default: the whole held-out split)."
        },
    )
    pn_clusters: int = dataclasses.field(
        default=8, metadata={"help": "k of the projected network (its experts)."}
    )
    pn_batch_composition: str = dataclasses.field(
        default="mixed",
        metadata={
            "help": "PN pretraining batches: mixed clusters (each window scored by its "
            "cluster's expert) or single_cluster (one expert per step).",
            "choices": ("mixed", "single_cluster"),
        },
    )
    mix_clusters: int = dataclasses.field(
        default=8, metadata={"help": "k of the hard mixture (its independent experts)."}
    )
    is_clusters: int = dataclasses.field(
        default=1024, metadata={"help": "k of importance sampling."}
    )
    expert_selection: str = dataclasses.field(
        default="most_frequent",
        metadata={
            "help": "PN / mixture expert selection.",
            "choices": EXPERT_SELECTIONS,
            "flag": "select",
        },
    )
    lora_rank: int = dataclasses.field(
        default=64, metadata={"help": "LoRA rank of LLM-LoRA (the paper's 64)."}
    )
    lora_learning_rate: float | None = dataclasses.field(
        default=None,
        metadata={
            "help": "Peak learning rate of LLM-LoRA's adapters (default: --learning_rate)."
        },
    )
    lora_max_steps: int | None = dataclasses.field(
        default=None,
        metadata={
            "help": "Upper bound on LLM-LoRA's fine-tuning steps (default: "
            "--finetune_max_steps)."
        },
    )
    distill_alpha: float = dataclasses.field(
        default=0.5, metadata={"help": "Weight of the teacher term in SLM-d."}
    )
    checkpoints: int = dataclasses.field(
        default=4, metadata={"help": "Checkpoints per pretraining run."}
    )
    seed: int = dataclasses.field(default=0, metadata={"help": "Random seed."})
    verbose: int = dataclasses.field(
        default=1, metadata={"help": "Keras progress-bar verbosity (0, 1, 2)."}
    )

    def __post_init__(self):
        if self.is_tokens is None:
            self.is_tokens = self.pretrain_tokens
        if self.finetune_learning_rate is None:
            self.finetune_learning_rate = self.learning_rate / 3
        if self.finetune_batch_size is None:
            self.finetune_batch_size = self.batch_size
        if self.lora_learning_rate is None:
            self.lora_learning_rate = self.learning_rate
        if self.lora_max_steps is None:
            self.lora_max_steps = self.finetune_max_steps

    def cluster_counts(self) -> tuple[int, ...]:
        """The k-means k's the run's methods use (PN, mixture, importance sampling)."""
        return tuple(sorted({self.pn_clusters, self.mix_clusters, self.is_clusters}))

    def presets(self) -> dict[str, str]:
        """`{"slm": ..., "llm": ..., "pn": ...}`: the architecture of each model family."""
        suffix = "_preset"
        return {
            f.name[: -len(suffix)]: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name.endswith(suffix)
        }
