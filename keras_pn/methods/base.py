"""`Method`: one declared paper method (what it pretrains, how it specializes, what it costs).

Every method of the paper is one module of `keras_pn.methods` that declares one
`Method` (metadata fields, plus hook overrides for its behaviour) and registers it
(`keras_pn.methods.registry.register`). Recipes, the cost ledger, the report and
`plan_early` iterate the registry; nothing else names method ids, so adding a
method is one new file. The hooks' shared machinery is `keras_pn.methods.common`.

>>> from keras_pn import methods
>>> m = methods.get("slm")
>>> m.display_name, m.pretraining, m.has_pretraining
('SLM', 'slm', True)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

KINDS = ("generic", "specialization")


@dataclasses.dataclass(frozen=True)
class Method:
    """One method of the paper, declared once.

    Attributes:
        id: the stable id used in flags, result files and workdirs (`"slm"`, ...).
        display_name: the paper's name (`"SLM-pn"`).
        run_rank: position in a run (smaller first); a teacher runs before its student.
        report_rank: position in reports and tables (smaller first).
        pretraining: id of the generic pretraining run the method starts from
            (`"slm"`, `"llm"`, `"pn"`, `"mix"`), or None (trains from scratch, or
            pretrains per domain).
        is_generic_pretraining: the method's own pretraining is a shared generic run
            other methods start from (SLM, LLM, PN, mixture).
        cost_convention: the paper's cost convention, in words (report footnote).
        inherits: shared costs the method also pays, per cost kind
            (`{"generic": ("llm",)}`), linked by `CostLedger.declare_inheritance`.
        lora_targets: layers LoRA adapts in every block (empty: not a LoRA method);
            the cost ledger counts exactly these adapters.
        flags: the `RunConfig` fields the method reads beyond the common ones.
        needs_teacher: id of the specialized method whose model is the teacher
            (SLM-d: the fine-tuned LLM); that method runs first.
        description: one sentence on what the method does (model cards).
        pretrains_per_domain: the method pretrains its own model for every domain
            and size, as the first step of its specialization (SLM-is).
        evaluate_before_finetuning: runs also report the test perplexity of the
            model the method starts from, before fine-tuning.
        save_specialized: `plan_early` saves its specialized models as presets
            by default (for the zoo).
        exports_preset: its specialized model can be saved as a plain GPT preset
            (False for LoRA, whose adapters are not a plain GPT).
        publish_to_zoo: the zoo publishes its specialized models (and the generic
            pretraining they come from) by default.
        expert_clusters: the `RunConfig` field holding k when the pretrained model
            has one expert per cluster (`"pn_clusters"`, `"mix_clusters"`): generic
            validation then scores each window with its cluster's expert
            (`score_by_cluster`); None: a plain model scores every window.

    Hooks (override in a method's module; defaults in parentheses): `build_model`
    (the pretraining's architecture), `pretraining_stream`, `pretraining_tokens`
    (the SLM's FLOPs: `config.pretrain_tokens` SLM tokens), `load_pretrained` (the
    preset in the pretraining's workdir), `generic_validation` (the pretrained model on
    the held-out generic windows), `specialization_model` (the pretrained model),
    `specialization_learning_rate` (`config.finetune_learning_rate`),
    `specialization_max_steps` (`config.finetune_max_steps`),
    `trained_model` (the fine-tuned model), `specialization_cost` (fine-tuning
    FLOPs). `pretrain` and `specialize` run them (`keras_pn.methods.common`).
    """

    id: str
    display_name: str
    run_rank: int
    report_rank: int
    pretraining: str | None = None
    is_generic_pretraining: bool = False
    cost_convention: str = ""
    inherits: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    lora_targets: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    needs_teacher: str | None = None
    description: str = ""
    pretrains_per_domain: bool = False
    evaluate_before_finetuning: bool = False
    save_specialized: bool = False
    exports_preset: bool = True
    publish_to_zoo: bool = False
    expert_clusters: str | None = None

    def __post_init__(self):
        unknown = sorted(set(self.inherits) - set(KINDS))
        if unknown:
            raise ValueError(
                f"Method {self.id!r}: unknown cost kind(s) {unknown} in `inherits`; "
                f"known: {list(KINDS)}."
            )

    def describe(self) -> dict[str, Any]:
        """The declaration as plain JSON-able data (for model cards and reports)."""
        out = dataclasses.asdict(self)
        out["inherits"] = {k: list(v) for k, v in self.inherits.items()}
        return out

    @property
    def has_pretraining(self) -> bool:
        """The method has a pretraining stage of its own (generic, or per domain)."""
        return self.is_generic_pretraining or self.pretrains_per_domain

    # --- Hooks: what the method builds and trains -------------------------------

    def build_model(self, data, config):
        """An untrained model of the method's architecture (default: its pretraining's)."""
        from keras_pn.methods import registry

        if self.pretraining is None or self.pretraining == self.id:
            raise ValueError(f"`{self.id}` declares no model architecture.")
        return registry.get(self.pretraining).build_model(data, config)

    def pretraining_stream(self, data, config, domain=None, size=None):
        """The `tf.data` stream the method pretrains on."""
        raise ValueError(f"`{self.id}` has no pretraining stage.")

    def pretraining_tokens(self, config, model=None, data=None) -> int:
        """The method's pretraining budget in tokens.

        A generic pretraining gets the SLM's FLOPs (`config.pretrain_tokens` SLM
        tokens; `keras_pn.methods.common.equal_cost_tokens`) when `model` and
        `data` are given; else `config.pretrain_tokens`.
        """
        if self.is_generic_pretraining and model is not None and data is not None:
            from keras_pn.methods import common

            return common.equal_cost_tokens(model, data, config)
        return config.pretrain_tokens

    def load_pretrained(self, workdir):
        """The model this pretraining saved in `workdir` (`pretrain`'s output)."""
        from keras_pn.methods import common

        return common.load_pretrained(workdir)

    def generic_validation(self, pretrained, data, config, max_windows=None):
        """The pretrained model's NLL on the held-out generic windows (the paper's Fig. 3).

        The windows are `PreparedData.generic_valid`: read by no pretraining, the
        same fixed sample of at most `max_windows` for every method. A plain model
        scores every window (SLM, LLM); with `expert_clusters`, each window is
        scored by its cluster's expert (`score_by_cluster`).

        Returns the result of `keras_pn.evaluation.generic_validation` (`nll`,
        `tokens`, `perplexity`, `windows`, `scoring`; with experts also `k`).
        """
        from keras_pn.evaluation import generic_validation

        k = getattr(config, self.expert_clusters) if self.expert_clusters else None
        windows, labels = data.generic_valid(k, max_windows=max_windows)
        if k is None:
            return generic_validation.evaluate_plain(
                pretrained, windows, batch_size=config.batch_size
            )
        result = self.score_by_cluster(pretrained, windows, labels, config.batch_size)
        return {**result, "k": k}

    def score_by_cluster(self, pretrained, windows, cluster_ids, batch_size):
        """Generic validation with each window scored by its cluster's expert."""
        raise NotImplementedError(
            f"Method {self.id!r} declares expert_clusters but no score_by_cluster."
        )

    def specialization_model(self, pretrained, data, domain, size, config, *, teacher, info):
        """The model to fine-tune on the domain (may record its choices in `info`).

        Returns a model, or a list of `(expert, model)` candidates: each is
        fine-tuned and the best on the valid split is kept.
        """
        return pretrained

    def specialization_learning_rate(self, config) -> float:
        """The peak learning rate of the method's specialization."""
        return config.finetune_learning_rate

    def specialization_max_steps(self, config) -> int:
        """The upper bound on the method's fine-tuning steps (early stopping may stop sooner)."""
        return config.finetune_max_steps

    def trained_model(self, model):
        """The specialized model to test and save, from the fine-tuned one."""
        return model

    def specialization_cost(self, model, *, teacher, config, sequence_length, tokens_per_batch):
        """`(phase, FLOPs per token)` of the method's specialization training."""
        from keras_pn.evaluation import flops

        return "finetune", flops.training_flops_per_token(
            model, sequence_length=sequence_length, tokens_per_batch=tokens_per_batch
        )

    # --- Entry points ----------------------------------------------------------

    def pretrain(self, data, workdir, config, domain=None, size=None):
        """Pretrain the method's model; resumable; a preset in `workdir/preset`.

        Returns `(model, TrainResult)` (see `keras_pn.methods.common.pretrain`).
        """
        from keras_pn.methods import common

        return common.run_pretraining(self, data, workdir, config, domain=domain, size=size)

    def specialize(self, data, domain, size, workdir, config, pretrained=None, teacher=None):
        """Specialize to one domain; `(model, FineTuneResult, info)` (see `common.specialize`)."""
        from keras_pn.methods import common

        return common.run_specialization(
            self, data, domain, size, workdir, config, pretrained, teacher
        )
