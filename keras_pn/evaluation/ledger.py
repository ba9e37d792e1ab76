"""The cost ledger: per-method generic and per-domain specialization costs.

The paper (Grangier et al., 2024) compares methods by four costs; two of them
are accounted here, per method: the **generic** cost (pretraining, paid once
before any domain is known and shared by all domains) and the
**specialization** cost (paid per domain). For `N` domains,

    C_total(N) = C_generic + N * C_specialization,

with `C_specialization` the mean over the domains measured (`c_total`, the one
implementation every total uses). Each cost holds tokens processed, FLOPs (by
the formulas of `keras_pn.evaluation.flops`) and measured wall seconds, with
the device they ran on.

Cost conventions come from the method registry (`keras_pn.methods`): each
method declares its convention in words and the shared costs it `inherits`
(e.g. a distilled student's generic cost includes its teacher's pretraining).
`CostLedger.inherit` links such shared costs without copying them, so each run
records only what it executed.

Example:
>>> from keras_pn.evaluation.flops import training_flops_per_token
>>> slm = "slm_paper"  # an architecture preset name, a backbone or a model
>>> ledger = CostLedger()
>>> ledger.add("a", "generic", phase="pretrain", tokens=10**9,
...            flops_per_token=training_flops_per_token(slm), seconds=7920.0)
>>> ledger.add("a", "specialization", domain="arxiv", phase="finetune",
...            tokens=10**6, flops_per_token=training_flops_per_token(slm),
...            seconds=8.0)
>>> ledger.total_cost("a", num_domains=9, field="seconds")
7992.0
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import pathlib
from collections.abc import Mapping

from keras_pn import methods as method_registry
from keras_pn.evaluation.device import device_description
from keras_pn.file_io import atomic_write_json
from keras_pn.methods.base import KINDS

__all__ = [
    "KINDS",
    "CostEntry",
    "CostLedger",
    "apply_paper_conventions",
    "c_total",
    "cost_convention",
    "summary_value",
    "total_cost_from_summary",
]


def c_total(generic: float, specialization: float, num_domains: int) -> float:
    """`C_total(N) = C_generic + N * C_specialization` for `N >= 0` domains.

    Example:
    >>> c_total(10.0, 2.0, num_domains=3)
    16.0
    """
    if num_domains < 0:
        raise ValueError(f"`num_domains` must be >= 0. Received: {num_domains}.")
    return float(generic + num_domains * specialization)


def summary_value(entry, field: str) -> float | None:
    """`entry[field]` of a summary's cost entry as a float; None when absent."""
    if not isinstance(entry, Mapping):
        return None
    value = entry.get(field)
    return None if value is None else float(value)


def total_cost_from_summary(summary: Mapping, num_domains: int, field: str = "flops"):
    """`c_total` of a `CostLedger.summary` dict; `None` when it lacks `field`.

    Example:
    >>> total_cost_from_summary({"generic": {"flops": 10.0},
    ...     "specialization": {"flops": 2.0}}, num_domains=3)
    16.0
    """
    generic = summary_value(summary.get("generic"), field)
    specialization = summary_value(summary.get("specialization"), field)
    if generic is None and specialization is None:
        return None
    return c_total(generic or 0.0, specialization or 0.0, num_domains)


def cost_convention(method: str) -> str:
    """The registry's cost convention of a method, in words ("" if unregistered)."""
    if method not in method_registry.ids():
        return ""
    return method_registry.get(method).cost_convention


def _registry_inheritance() -> dict:
    """`{method: {kind: sources}}` of every registered method that inherits costs."""
    return {m.id: dict(m.inherits) for m in method_registry.all_methods() if m.inherits}


@dataclasses.dataclass
class CostEntry:
    """One measured piece of work: a phase of a method's generic or per-domain cost.

    Attributes:
        phase: what ran (`"pretrain"`, `"finetune"`, `"pretrain_is"`, ...);
            phases starting with `"pretrain"` count as pretraining in plots.
        tokens: training tokens processed.
        flops: FLOPs by formula.
        seconds: measured wall-clock seconds.
        device: where it ran (`device_description()`).
    """

    phase: str
    tokens: float = 0
    flops: float = 0.0
    seconds: float = 0.0
    device: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> CostEntry:
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"Unknown cost entry field(s) {sorted(unknown)}.")
        if "phase" not in data:
            raise ValueError(f"A cost entry needs a 'phase'. Received: {dict(data)}.")
        return cls(**data)


def _sum_entries(entries: list[CostEntry], phase: str = "total") -> CostEntry:
    devices = sorted({e.device for e in entries if e.device})
    return CostEntry(
        phase=phase,
        tokens=sum(e.tokens for e in entries),
        flops=float(sum(e.flops for e in entries)),
        seconds=float(sum(e.seconds for e in entries)),
        device="; ".join(devices),
    )


def _mean_entries(entries: list[CostEntry], phase: str = "mean") -> CostEntry:
    if not entries:
        return CostEntry(phase=phase)
    total = _sum_entries(entries, phase)
    n = len(entries)
    return CostEntry(
        phase=phase,
        tokens=total.tokens / n,
        flops=total.flops / n,
        seconds=total.seconds / n,
        device=total.device,
    )


class CostLedger:
    """Per-method generic and per-domain specialization costs.

    Each run records what it executed with `add` (or `measure`, which times
    a block); shared costs are linked with `inherit` instead of copied. The
    ledger answers `generic`, `specialization`, `total_cost` (`C_total(N)`)
    and serializes to JSON (`to_dict` / `save`, `from_dict` / `load`).

    Example:
    >>> ledger = CostLedger()
    >>> ledger.add("base", "generic", phase="pretrain", tokens=100, flops=6e4)
    >>> for domain in ("arxiv", "pubmed"):
    ...     ledger.add("adapted", "specialization", domain=domain,
    ...                phase="lora", tokens=10, flops=1e3)
    >>> ledger.inherit("adapted", "base", kind="generic")
    >>> ledger.total_cost("adapted", num_domains=9)
    69000.0
    """

    FORMAT = "keras_pn.cost_ledger/1"

    def __init__(self):
        self._generic: dict[str, list[CostEntry]] = {}
        self._specialization: dict[str, dict[str, list[CostEntry]]] = {}
        self._inherit: dict[str, dict[str, list[str]]] = {}

    # --- Recording ---

    def add(
        self,
        method: str,
        kind: str,
        *,
        phase: str,
        domain: str | None = None,
        tokens: float = 0,
        flops: float | None = None,
        flops_per_token: float | None = None,
        seconds: float = 0.0,
        device: str | None = None,
    ) -> None:
        """Record one phase of `method`'s generic or specialization cost.

        Args:
            method: the method id (`keras_pn.methods.ids()`, or any name).
            kind: `"generic"` (shared by all domains) or `"specialization"`
                (paid for `domain`).
            phase: what ran, e.g. `"pretrain"`, `"finetune"`.
            domain: the domain, required for (and only for) specialization.
            tokens: training tokens processed.
            flops: FLOPs; or give `flops_per_token` (times `tokens`).
            seconds: measured wall seconds.
            device: where it ran (default: `device_description()`).
        """
        self._check(method, kind, domain)
        if flops is not None and flops_per_token is not None:
            raise ValueError("Pass `flops` or `flops_per_token`, not both.")
        if flops is None:
            flops = (flops_per_token or 0.0) * tokens
        for name, value in (("tokens", tokens), ("flops", flops), ("seconds", seconds)):
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(
                    f"`{name}` must be finite and >= 0. Received: {value}."
                )
        if device is None:
            device = device_description()
        self._append(
            method,
            kind,
            domain,
            CostEntry(
                phase=phase,
                tokens=tokens,
                flops=float(flops),
                seconds=float(seconds),
                device=device,
            ),
        )

    @contextlib.contextmanager
    def measure(
        self,
        method: str,
        kind: str,
        *,
        phase: str,
        domain: str | None = None,
        flops_per_token: float | None = None,
        device: str | None = None,
    ):
        """Time a block and record it; set `.tokens` (or `.flops`) inside.

        Example:
        >>> ledger = CostLedger()
        >>> with ledger.measure("a", "generic", phase="pretrain",
        ...                     flops_per_token=6.0, device="cpu") as cost:
        ...     cost.tokens = 1000  # e.g. steps * batch_size * seq_len
        >>> ledger.generic("a").flops
        6000.0
        """
        import time

        self._check(method, kind, domain)
        entry = CostEntry(phase=phase)
        start = time.perf_counter()
        yield entry
        seconds = time.perf_counter() - start
        flops = entry.flops if entry.flops else (flops_per_token or 0.0) * entry.tokens
        self.add(
            method,
            kind,
            phase=phase,
            domain=domain,
            tokens=entry.tokens,
            flops=flops,
            seconds=seconds,
            device=device,
        )

    def inherit(self, method: str, source: str, kind: str = "generic") -> None:
        """Count `source`'s `kind` cost in `method`'s (resolved when queried).

        For `kind="specialization"`, each domain of `method` includes
        `source`'s specialization cost for the same domain (e.g. SLM-d pays
        for fine-tuning its teacher on every domain).
        """
        self.declare_inheritance(method, kind, [source], replace=False)

    def declare_inheritance(self, method, kind, sources, replace=True):
        """Set (or extend) the methods whose `kind` cost `method` includes.

        An explicit empty list records "inherits nothing", which
        `apply_paper_conventions` then leaves alone.
        """
        self._check(method, kind, "" if kind == "specialization" else None)
        links = self._inherit.setdefault(method, {}).setdefault(kind, [])
        if replace:
            links.clear()
        for source in sources:
            if source == method:
                raise ValueError(f"Method {method!r} cannot inherit from itself.")
            if source not in links:
                links.append(source)
        self._entries(method, kind, domain=None, resolve=True)  # cycle check

    def merge(self, other: CostLedger) -> None:
        """Add every entry and link of `other` to this ledger."""
        data = other.to_dict()
        self._load(data)

    # --- Queries ---

    def methods(self) -> list[str]:
        """Methods with any entry or link, in insertion order."""
        names = list(self._generic) + list(self._specialization) + list(self._inherit)
        return list(dict.fromkeys(names))

    def domains(self, method: str) -> list[str]:
        """Domains with a specialization cost for `method` (own or inherited)."""
        own = list(self._specialization.get(method, {}))
        return sorted(own)

    def generic(self, method: str) -> CostEntry:
        """Total generic cost of `method`, inherited costs included."""
        return _sum_entries(self._entries(method, "generic", None, resolve=True))

    def specialization(self, method: str, domain: str | None = None) -> CostEntry:
        """Specialization cost for `domain`, or the mean over the domains."""
        if domain is not None:
            return _sum_entries(self._entries(method, "specialization", domain, True))
        per_domain = [self.specialization(method, d) for d in self.domains(method)]
        return _mean_entries(per_domain)

    def pretraining(self, method: str, field: str = "flops") -> float:
        """Pretraining cost: generic, plus per-domain phases named `pretrain*`.

        SLM-is pretrains per domain (a specialization cost); this is the cost
        the paper's perplexity-vs-pretraining-cost figures put on the x axis.
        """
        _check_field(field)
        generic = getattr(self.generic(method), field)
        per_domain = []
        for domain in self.domains(method):
            entries = self._entries(method, "specialization", domain, True)
            per_domain.append(
                sum(
                    getattr(e, field) for e in entries if e.phase.startswith("pretrain")
                )
            )
        return float(generic + (sum(per_domain) / len(per_domain) if per_domain else 0))

    def total_cost(self, method: str, num_domains: int, field: str = "flops") -> float:
        """`C_total(N) = C_generic + N * C_specialization` for `N` domains.

        Args:
            method: the method name.
            num_domains: `N >= 0`.
            field: `"flops"`, `"seconds"` or `"tokens"`.
        """
        _check_field(field)
        if method not in self.methods():
            raise KeyError(f"No cost recorded for method {method!r}.")
        generic = getattr(self.generic(method), field)
        specialization = getattr(self.specialization(method), field)
        return c_total(generic, specialization, num_domains)

    def summary(self, method: str) -> dict:
        """A JSON-ready summary (what `results.json` holds under `cost`)."""
        generic_entries = self._entries(method, "generic", None, resolve=True)
        per_domain = {
            d: self.specialization(method, d).to_dict() for d in self.domains(method)
        }
        return {
            "generic": self.generic(method).to_dict(),
            "generic_phases": [e.to_dict() for e in generic_entries],
            "specialization": self.specialization(method).to_dict(),
            "specialization_per_domain": per_domain,
            "pretraining_flops": self.pretraining(method, "flops"),
            "pretraining_seconds": self.pretraining(method, "seconds"),
            "inherits": {k: list(v) for k, v in self._inherit.get(method, {}).items()},
            "convention": cost_convention(method),
        }

    # --- Serialization ---

    def to_dict(self) -> dict:
        methods = {}
        for method in self.methods():
            methods[method] = {
                "generic": [e.to_dict() for e in self._generic.get(method, [])],
                "specialization": {
                    d: [e.to_dict() for e in entries]
                    for d, entries in self._specialization.get(method, {}).items()
                },
                "inherit": {
                    k: list(v) for k, v in self._inherit.get(method, {}).items()
                },
            }
        return {"format": self.FORMAT, "methods": methods}

    @classmethod
    def from_dict(cls, data: Mapping) -> CostLedger:
        ledger = cls()
        ledger._load(data)
        return ledger

    def save(self, path) -> None:
        atomic_write_json(path, self.to_dict(), indent=2)

    @classmethod
    def load(cls, path) -> CostLedger:
        return cls.from_dict(json.loads(pathlib.Path(path).read_text()))

    # --- Internals ---

    def _load(self, data: Mapping) -> None:
        if data.get("format") != self.FORMAT:
            raise ValueError(
                f"Not a cost ledger: format {data.get('format')!r}, expected "
                f"{self.FORMAT!r}."
            )
        for method, record in data.get("methods", {}).items():
            for entry in record.get("generic", []):
                self._append(method, "generic", None, CostEntry.from_dict(entry))
            for domain, entries in record.get("specialization", {}).items():
                for entry in entries:
                    self._append(
                        method, "specialization", domain, CostEntry.from_dict(entry)
                    )
            for kind, sources in record.get("inherit", {}).items():
                self.declare_inheritance(method, kind, sources, replace=False)

    def _append(self, method, kind, domain, entry):
        if kind == "generic":
            self._generic.setdefault(method, []).append(entry)
        else:
            by_domain = self._specialization.setdefault(method, {})
            by_domain.setdefault(domain, []).append(entry)

    def _entries(self, method, kind, domain, resolve, _seen=()):
        if method in _seen:
            chain = " -> ".join((*_seen, method))
            raise ValueError(f"Cyclic cost inheritance: {chain}.")
        if kind == "generic":
            entries = list(self._generic.get(method, []))
        else:
            by_domain = self._specialization.get(method, {})
            domains = [domain] if domain is not None else list(by_domain)
            entries = [e for d in domains for e in by_domain.get(d, [])]
        if resolve:
            for source in self._inherit.get(method, {}).get(kind, []):
                inherited = self._entries(source, kind, domain, True, (*_seen, method))
                entries += [
                    dataclasses.replace(e, phase=f"{source}:{e.phase}")
                    for e in inherited
                ]
        return entries

    @staticmethod
    def _check(method, kind, domain):
        if not isinstance(method, str) or not method:
            raise ValueError(
                f"`method` must be a non-empty string. Received: {method!r}."
            )
        if kind not in KINDS:
            raise ValueError(f"`kind` must be one of {KINDS}. Received: {kind!r}.")
        if kind == "specialization" and domain is None:
            raise ValueError("A specialization cost needs its `domain=`.")
        if kind == "generic" and domain is not None:
            raise ValueError(
                f"A generic cost is shared by all domains: do not pass "
                f"`domain={domain!r}` (use kind='specialization')."
            )


def _check_field(field):
    if field not in ("flops", "seconds", "tokens"):
        raise ValueError(
            f"`field` must be 'flops', 'seconds' or 'tokens'. Received: {field!r}."
        )


def apply_paper_conventions(ledger: CostLedger, inheritance=None) -> CostLedger:
    """Add the paper's shared-cost links (each method's `inherits`) to `ledger`.

    A link `method <- source` for `kind` is added when both methods are in
    the ledger and `method` declares no inheritance of that kind itself (an
    explicitly declared empty list counts as declared). Runs must
    then record only their own work (e.g. SLM-d's recipe records the student's
    distillation, not the teacher's pretraining).

    Args:
        ledger: the ledger to link (modified in place and returned).
        inheritance: `{method: {kind: sources}}`; default: the registry's
            `Method.inherits` of every registered method.

    Example:
    >>> from keras_pn import methods
    >>> lora = next(m for m in methods.all_methods() if m.lora_targets)
    >>> base = lora.inherits["generic"][0]
    >>> ledger = CostLedger()
    >>> ledger.add(base, "generic", phase="pretrain", flops=10.0, device="")
    >>> ledger.add(lora.id, "specialization", domain="arxiv", phase="lora",
    ...            flops=1.0, device="")
    >>> apply_paper_conventions(ledger).total_cost(lora.id, 3)
    13.0
    """
    inheritance = _registry_inheritance() if inheritance is None else inheritance
    methods = set(ledger.methods())
    for method, kinds in inheritance.items():
        if method not in methods:
            continue
        for kind, sources in kinds.items():
            if kind in ledger._inherit.get(method, {}):
                continue  # declared explicitly
            for source in sources:
                if source in methods:
                    ledger.inherit(method, source, kind)
    return ledger
