"""`Method`: one declared paper method (what it pretrains, how it specializes, what it costs).

Every method of the paper is one module of `keras_pn.methods` that declares one
`Method` and registers it (`keras_pn.methods.registry.register`). Recipes, the cost
ledger, the report and `plan_early` iterate the registry; nothing else names method
ids, so adding a method is one new file.

>>> from keras_pn import methods
>>> m = methods.get("slm")
>>> m.display_name, m.pretraining
('SLM', 'slm')
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
