"""Result fragments written by the recipes, merged into one `results.json`.

Each training or specialization run drops one small JSON file; `evaluate`
merges them. Layout under a work directory:

    <workdir>/results/<method>/_generic.json            # generic cost, once per method
    <workdir>/results/<method>/<domain>.json            # one per domain
    <workdir>/results/<method>/<domain>@<tokens>.json   # sweeps over set sizes
    <workdir>/results/_budgets.json                     # optional run-wide facts

**Domain fragment** (`write_fragment`):

    {"format": "keras_pn.results_fragment/1",
     "method": "<method id>", "domain": "arxiv",
     "nll": 2.913, "tokens": 120345,        # test per-token NLL and test tokens
     "perplexity": 18.41,                   # exp(nll), informative
     "specialization_tokens": 25000,        # size of the specialization set
     "before_finetuning": {"nll": 3.2, "tokens": 120345},   # optional
     "cost": [{"phase": "finetune", "tokens": 75000, "flops": 1.2e12,
               "seconds": 41.0, "device": "CPU: ..., 2 cores (jax)"}],
     "inherit": ["<method id>"],            # optional: also pay these methods'
                                            # specialization on this domain
     "info": {...}}                         # free-form (expert, steps, checkpoint)

`cost` holds the specialization cost of this domain only (entries as
`keras_pn.evaluation.ledger.CostEntry`: SLM-is records its importance-sampled
pretraining here, phase `"pretrain_is"`).

**Generic fragment** (`write_generic_fragment`), `_generic.json`:

    {"format": "keras_pn.results_fragment/1", "method": "<method id>",
     "kind": "generic", "pretraining_tokens": 5000000,
     "cost": [{"phase": "pretrain", ...}], "inherit": [], "info": {...},
     "generic_validation": {"nll": 3.9, "tokens": 32512, "perplexity": 49.4,
                            "windows": 256, "scoring": "plain", ...}}   # optional

`generic_validation` (`record_generic_validation`) is the pretrained model's NLL
on the held-out generic windows (`keras_pn.evaluation.generic_validation`);
merged into `results["generic_validation"]` (`{method: record}`).

Methods that share another's pretraining (SLM-d, LLM-LoRA, SLM-pn with a
histogram) need no generic fragment: `merge_fragments` applies the paper's
conventions (each method's `keras_pn.methods.Method.inherits`) unless a fragment
declares its own `inherit` list. Methods are reported in the registry's order
(`keras_pn.methods.report_order`).

**Budgets** (`_budgets.json`, optional): any JSON object, copied into
`results["budgets"]` (e.g. `{"pretraining_tokens": 5000000, "context_length":
256}`); sizes found in the fragments fill the rest.

Files are written atomically (temporary file, then rename), so a crashed run
never leaves half a fragment. Domain names may not start with `_` nor hold
`/` or `@`.
"""

from __future__ import annotations

import json
import math
import pathlib
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from keras_pn import methods as method_registry
from keras_pn.evaluation.ledger import CostEntry
from keras_pn.evaluation.ledger import CostLedger
from keras_pn.evaluation.ledger import apply_paper_conventions
from keras_pn.evaluation.perplexity import macro_nll
from keras_pn.evaluation.perplexity import nll_to_perplexity
from keras_pn.file_io import atomic_write_json
from keras_pn.methods import display_name

__all__ = [
    "DISPLAY_NAMES",
    "FRAGMENT_FORMAT",
    "METHODS",
    "RESULTS_FORMAT",
    "display_name",
    "load_results",
    "merge_fragments",
    "normalize_results",
    "read_generic_fragment",
    "record_generic_validation",
    "write_fragment",
    "write_generic_fragment",
    "write_json",
]

FRAGMENT_FORMAT = "keras_pn.results_fragment/1"
RESULTS_FORMAT = "keras_pn.results/1"
GENERIC_FILE = "_generic.json"
GENERIC_VALIDATION = "generic_validation"  # the field of a generic fragment
BUDGETS_FILE = "_budgets.json"

# Compatibility names, derived from the method registry (`keras_pn.methods`):
# the registered ids in report order, and the paper's name of each.
METHODS = tuple(method_registry.report_order(method_registry.ids()))
DISPLAY_NAMES = {method: display_name(method) for method in METHODS}


# --- Writing ----------------------------------------------------------------


def write_json(path, data) -> pathlib.Path:
    """Write `data` as JSON (indent 2) atomically; return the path."""
    return atomic_write_json(path, data, indent=2)


def _check_name(kind, name):
    if (
        not isinstance(name, str)
        or not name
        or name.startswith("_")
        or any(c in name for c in "/\\@")
    ):
        raise ValueError(
            f"Invalid {kind} name {name!r}: use a non-empty name without '/', "
            "'\\\\' or '@' that does not start with '_'."
        )


def _entries(cost) -> list[dict]:
    if cost is None:
        return []
    if isinstance(cost, (CostEntry, Mapping)):
        cost = [cost]
    entries = []
    for entry in cost:
        if isinstance(entry, CostEntry):
            entry = entry.to_dict()
        entries.append(CostEntry.from_dict(entry).to_dict())  # validates
    return entries


def write_fragment(
    workdir,
    method: str,
    domain: str,
    *,
    nll: float,
    tokens: int,
    specialization_tokens: int | None = None,
    size_in_name: bool = False,
    before_finetuning: Mapping | None = None,
    cost: Any = None,
    inherit: Sequence[str] | None = None,
    info: Mapping | None = None,
) -> pathlib.Path:
    """Write `<workdir>/results/<method>/<domain>.json` (one domain's result).

    Args:
        workdir: the run's work directory.
        method: the method id (`keras_pn.methods.ids()`).
        domain: the domain name.
        nll: test per-token NLL after specialization (`evaluate_nll(...)["nll"]`).
        tokens: test tokens it averages over.
        specialization_tokens: size of the specialization set, in tokens.
        size_in_name: name the file `<domain>@<specialization_tokens>.json`,
            for sweeps over several set sizes in one work directory.
        before_finetuning: optional `{"nll", "tokens"}` of the model before
            fine-tuning (e.g. the pretrained SLM, the selected PN expert).
        cost: this domain's specialization cost: `CostEntry`s or dicts with
            `phase`, `tokens`, `flops`, `seconds`, `device`.
        inherit: methods whose specialization cost on this domain is also
            paid (SLM-d: its teacher's fine-tuning); `None`
            applies the paper's conventions at merge time.
        info: free-form JSON-able details (expert chosen, steps, checkpoint).

    Returns:
        The path written.

    Example:
    >>> import tempfile
    >>> path = write_fragment(tempfile.mkdtemp(), "a", "arxiv", nll=3.0,
    ...     tokens=1000, specialization_tokens=25000,
    ...     cost=[{"phase": "finetune", "tokens": 50000, "flops": 1e12,
    ...            "seconds": 30.0, "device": "cpu"}])
    >>> path.parts[-3:]
    ('results', 'a', 'arxiv.json')
    """
    _check_name("method", method)
    _check_name("domain", domain)
    if not math.isfinite(float(nll)):
        raise ValueError(f"The NLL of {method}/{domain} is not finite: {nll}.")
    if int(tokens) < 1:
        raise ValueError(f"`tokens` must be >= 1 (test tokens). Received: {tokens}.")
    data = {
        "format": FRAGMENT_FORMAT,
        "method": method,
        "domain": domain,
        "nll": float(nll),
        "tokens": int(tokens),
        "perplexity": nll_to_perplexity(float(nll)),
    }
    if specialization_tokens is not None:
        data["specialization_tokens"] = int(specialization_tokens)
    if before_finetuning is not None:
        if "nll" not in before_finetuning:
            raise ValueError("`before_finetuning` needs an 'nll' (and 'tokens').")
        data["before_finetuning"] = {
            "nll": float(before_finetuning["nll"]),
            "tokens": int(before_finetuning.get("tokens", 0)),
        }
    data["cost"] = _entries(cost)
    if inherit is not None:
        data["inherit"] = [str(m) for m in inherit]
    data["info"] = dict(info or {})
    name = domain
    if size_in_name:
        if specialization_tokens is None:
            raise ValueError("`size_in_name=True` needs `specialization_tokens`.")
        name = f"{domain}@{int(specialization_tokens)}"
    return write_json(pathlib.Path(workdir) / "results" / method / f"{name}.json", data)


def write_generic_fragment(
    workdir,
    method: str,
    *,
    cost: Any = None,
    pretraining_tokens: int | None = None,
    inherit: Sequence[str] | None = None,
    info: Mapping | None = None,
) -> pathlib.Path:
    """Write `<workdir>/results/<method>/_generic.json`: the method's generic cost.

    Args:
        workdir: the run's work directory.
        method: the method id.
        cost: generic cost entries (pretraining); see `write_fragment`.
        pretraining_tokens: the pretraining token budget.
        inherit: methods whose generic cost this one includes; `None` applies
            the paper's conventions at merge time.
        info: free-form details.

    Example:
    >>> import tempfile
    >>> write_generic_fragment(tempfile.mkdtemp(), "a", cost=[{"phase":
    ...     "pretrain", "tokens": 10**6, "flops": 1e13}]).name
    '_generic.json'
    """
    _check_name("method", method)
    data = {"format": FRAGMENT_FORMAT, "method": method, "kind": "generic"}
    if pretraining_tokens is not None:
        data["pretraining_tokens"] = int(pretraining_tokens)
    data["cost"] = _entries(cost)
    if inherit is not None:
        data["inherit"] = [str(m) for m in inherit]
    data["info"] = dict(info or {})
    return write_json(pathlib.Path(workdir) / "results" / method / GENERIC_FILE, data)


def read_generic_fragment(workdir, method: str) -> dict | None:
    """The method's `_generic.json` (None when it has none yet)."""
    _check_name("method", method)
    path = pathlib.Path(workdir) / "results" / method / GENERIC_FILE
    if not path.is_file():
        return None
    data = _read(path)
    _check_fragment(path, data, method)
    return data


def record_generic_validation(
    workdir, method: str, validation: Mapping
) -> pathlib.Path:
    """Store the method's generic validation result in its `_generic.json`.

    Args:
        workdir: the run's work directory (the generic fragment must exist).
        method: the method id.
        validation: `keras_pn.evaluation.generic_validation` result (`nll`,
            `tokens`, ...; any further JSON-able keys are kept).

    Example:
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> _ = write_generic_fragment(d, "a", pretraining_tokens=100)
    >>> _ = record_generic_validation(d, "a", {"nll": 2.0, "tokens": 64})
    >>> round(read_generic_fragment(d, "a")["generic_validation"]["perplexity"], 3)
    7.389
    """
    data = read_generic_fragment(workdir, method)
    if data is None:
        raise FileNotFoundError(
            f"{method} has no generic fragment in {workdir}/results: write it "
            "(write_generic_fragment) when its pretraining ends, then record its "
            "generic validation."
        )
    record = dict(validation)
    nll = float(record.get("nll", math.nan))
    if not math.isfinite(nll) or int(record.get("tokens", 0)) < 1:
        raise ValueError(
            f"The generic validation of {method} needs a finite 'nll' and 'tokens' "
            f">= 1. Received: {validation!r}."
        )
    record.update(
        nll=nll, tokens=int(record["tokens"]), perplexity=nll_to_perplexity(nll)
    )
    data[GENERIC_VALIDATION] = record
    return write_json(pathlib.Path(workdir) / "results" / method / GENERIC_FILE, data)


# --- Merging ----------------------------------------------------------------


def _read(path: pathlib.Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}.") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object.")
    return data


def _check_fragment(path, data, method):
    if data.get("format") != FRAGMENT_FORMAT:
        raise ValueError(
            f"{path}: format {data.get('format')!r}, expected {FRAGMENT_FORMAT!r}. "
            "Write fragments with keras_pn.evaluation.results.write_fragment."
        )
    if data.get("method") != method:
        raise ValueError(
            f"{path} says method {data.get('method')!r} but lies in the "
            f"directory of {method!r}."
        )


def merge_fragments(workdir, paper_conventions: bool = True) -> dict:
    """Merge `<workdir>/results/**` fragments into one results dict.

    Args:
        workdir: the work directory (holding `results/`).
        paper_conventions: link shared generic/specialization costs as the
            paper counts them (`apply_paper_conventions`) where fragments do
            not declare their own `inherit`.

    Returns:
        The normalized results dict (see `normalize_results`). `cost` comes
        from a `CostLedger` of the generic fragments and the domain fragments
        at the primary specialization size (each size of a sweep gets its own
        under `by_specialization_tokens`).
    """
    root = pathlib.Path(workdir) / "results"
    if not root.is_dir():
        raise FileNotFoundError(f"No fragment directory {root}.")
    generic = {}  # method -> fragment
    rows = {}  # (method, domain, size) -> fragment
    for method_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        method = method_dir.name
        if method.startswith(("_", ".")):
            continue
        path = method_dir / GENERIC_FILE
        if path.is_file():
            data = _read(path)
            _check_fragment(path, data, method)
            data["cost"] = [CostEntry.from_dict(e) for e in data.get("cost", [])]
            generic[method] = data
        for path in sorted(method_dir.glob("*.json")):
            if path.name.startswith(("_", ".")):
                continue
            data = _read(path)
            _check_fragment(path, data, method)
            domain = data.get("domain")
            size = data.get("specialization_tokens")
            expected = {str(domain)} | (
                {f"{domain}@{size}"} if size is not None else set()
            )
            if path.stem not in expected:
                raise ValueError(
                    f"{path}: the file name must be '<domain>.json' or "
                    f"'<domain>@<specialization_tokens>.json' (domain {domain!r}, "
                    f"size {size!r})."
                )
            for key in ("nll", "tokens"):
                if key not in data:
                    raise ValueError(f"{path} has no {key!r}.")
            key = (method, domain, size)
            if key in rows:
                raise ValueError(
                    f"Two fragments for {method}/{domain} at specialization size "
                    f"{size}: {rows[key]['_path']} and {path}."
                )
            data["cost"] = [CostEntry.from_dict(e) for e in data.get("cost", [])]
            rows[key] = dict(data, _path=str(path))
    if not rows:
        raise ValueError(
            f"{root} holds no domain fragment (<method>/<domain>.json): nothing "
            "to report."
        )
    budgets = _read(root / BUDGETS_FILE) if (root / BUDGETS_FILE).is_file() else {}

    def ledger_at(size) -> CostLedger:
        ledger = CostLedger()
        for method, data in generic.items():
            for entry in data["cost"]:
                ledger._append(method, "generic", None, entry)
            ledger._generic.setdefault(method, [])
            if "inherit" in data:
                ledger.declare_inheritance(method, "generic", data["inherit"])
        for (method, domain, s), data in rows.items():
            if s != size:
                continue
            ledger._specialization.setdefault(method, {}).setdefault(domain, [])
            for entry in data["cost"]:
                ledger._append(method, "specialization", domain, entry)
            if "inherit" in data:
                ledger.declare_inheritance(
                    method, "specialization", data["inherit"], replace=False
                )
        if paper_conventions:
            apply_paper_conventions(ledger)
        return ledger

    pretraining_tokens = {
        m: int(d["pretraining_tokens"])
        for m, d in generic.items()
        if "pretraining_tokens" in d
    }
    results = _assemble(rows, ledger_at, budgets, pretraining_tokens)
    validation = {
        m: d[GENERIC_VALIDATION] for m, d in generic.items() if GENERIC_VALIDATION in d
    }
    if validation:
        results[GENERIC_VALIDATION] = validation
    return results


def _primary_size(sizes: Counter, budgets: Mapping):
    declared = budgets.get("specialization_tokens")
    if isinstance(declared, (int, float)) and declared in sizes:
        return declared
    # The size with the most (method, domain) results; ties: the smallest.
    return sorted(sizes, key=lambda s: (-sizes[s], -1 if s is None else s))[0]


def _assemble(rows, ledger_at, budgets, pretraining_tokens) -> dict:
    sizes = Counter(size for (_, _, size) in rows)
    primary = _primary_size(sizes, budgets)

    def tables(size):
        nll, tokens, before = {}, {}, {}
        for (method, domain, s), data in rows.items():
            if s != size:
                continue
            nll.setdefault(method, {})[domain] = float(data["nll"])
            tokens.setdefault(method, {})[domain] = int(data["tokens"])
            if "before_finetuning" in data:
                before.setdefault(method, {})[domain] = float(
                    data["before_finetuning"]["nll"]
                )
        ledger = ledger_at(size)
        cost = {method: ledger.summary(method) for method in ledger.methods()}
        return nll, tokens, before, cost

    nll, tokens, before, cost = tables(primary)
    results = {"nll": nll, "tokens": tokens, "cost": cost}
    if before:
        results["nll_before_finetuning"] = before
    if len(sizes) > 1:
        results["by_specialization_tokens"] = {}
        for size in sorted(s for s in sizes if s is not None):
            size_nll, size_tokens, _, size_cost = tables(size)
            results["by_specialization_tokens"][str(size)] = {
                "nll": size_nll,
                "tokens": size_tokens,
                "cost": size_cost,
            }
    budgets = dict(budgets)
    if pretraining_tokens and "pretraining_tokens" not in budgets:
        values = set(pretraining_tokens.values())
        budgets["pretraining_tokens"] = (
            values.pop()
            if len(values) == 1
            else dict(sorted(pretraining_tokens.items()))
        )
    known = sorted(s for s in sizes if s is not None)
    if len(known) > 1 or (known and "specialization_tokens" not in budgets):
        # The sizes found in the fragments (a declared int names the primary).
        budgets["specialization_tokens"] = known[0] if len(known) == 1 else known
    if primary is not None:
        budgets["primary_specialization_tokens"] = primary
    results["budgets"] = budgets
    return normalize_results(results)


# --- Normalizing --------------------------------------------------------------


def _macro_table(nll: Mapping) -> dict:
    return {
        method: nll_to_perplexity(macro_nll(per_domain))
        for method, per_domain in nll.items()
        if per_domain
    }


def _ppl_table(nll: Mapping) -> dict:
    return {
        method: {d: nll_to_perplexity(v) for d, v in per_domain.items()}
        for method, per_domain in nll.items()
    }


def _nll_from_ppl(perplexity: Mapping) -> dict:
    nll = {}
    for method, per_domain in perplexity.items():
        for domain, ppl in per_domain.items():
            if not (ppl > 0):
                raise ValueError(f"Perplexity of {method}/{domain} must be > 0: {ppl}.")
            nll.setdefault(method, {})[domain] = math.log(ppl)
    return nll


def normalize_results(results: Mapping) -> dict:
    """Fill derived fields of a results dict; check its shape.

    Input needs `perplexity` (`{method: {domain: ppl}}`) or `nll` (same
    shape). Adds `nll`/`perplexity` (each from the other), `macro`
    (`exp(mean over the method's domains of NLL)`), `generic_validation`'s
    perplexities (from its NLLs), `macro_complete`
    (`{method: bool}`: the method covers every domain), `domains`, `methods`
    (report order), and the same for `*_before_finetuning` and each entry of
    `by_specialization_tokens`. Keeps `cost` and `budgets` as they are.

    Example:
    >>> r = normalize_results({"perplexity": {"m": {"a": 10.0, "b": 40.0}}})
    >>> round(r["macro"]["m"], 6), r["domains"]
    (20.0, ['a', 'b'])
    """
    results = dict(results)
    if "nll" not in results:
        if "perplexity" not in results:
            raise ValueError(
                "Results need 'perplexity' ({method: {domain: ppl}}) or 'nll'."
            )
        results["nll"] = _nll_from_ppl(results["perplexity"])
    for method, per_domain in results["nll"].items():
        if not isinstance(per_domain, Mapping):
            raise ValueError(
                f"results['nll'/'perplexity'][{method!r}] must map domains to "
                f"numbers. Received a {type(per_domain).__name__}."
            )
    results["perplexity"] = _ppl_table(results["nll"])
    results["macro"] = _macro_table(results["nll"])
    domains = sorted({d for per in results["nll"].values() for d in per})
    results["domains"] = domains
    results["macro_complete"] = {
        m: set(per) == set(domains) for m, per in results["nll"].items()
    }
    if (
        "nll_before_finetuning" not in results
        and "perplexity_before_finetuning" in results
    ):
        results["nll_before_finetuning"] = _nll_from_ppl(
            results["perplexity_before_finetuning"]
        )
    if "nll_before_finetuning" in results:
        before = results["nll_before_finetuning"]
        results["perplexity_before_finetuning"] = _ppl_table(before)
        results["macro_before_finetuning"] = _macro_table(before)
    for size, table in dict(results.get("by_specialization_tokens", {})).items():
        table = dict(table)
        if "nll" not in table:
            table["nll"] = _nll_from_ppl(table["perplexity"])
        table["perplexity"] = _ppl_table(table["nll"])
        table["macro"] = _macro_table(table["nll"])
        results["by_specialization_tokens"][str(size)] = table
    if GENERIC_VALIDATION in results:
        results[GENERIC_VALIDATION] = {
            method: dict(record, perplexity=nll_to_perplexity(float(record["nll"])))
            for method, record in results[GENERIC_VALIDATION].items()
        }
    results.setdefault("cost", {})
    results.setdefault("budgets", {})
    results["methods"] = method_registry.report_order(
        set(results["nll"]) | set(results["cost"])
    )
    results["format"] = RESULTS_FORMAT
    return results


def load_results(workdir, source: str = "auto") -> dict:
    """Results of a work directory: merged fragments, or `results.json`.

    Args:
        workdir: holds `results/<method>/<domain>.json` fragments and/or a
            `results.json`.
        source: `"fragments"`, `"json"`, or `"auto"` (fragments when the
            `results/` directory exists, else `results.json`).

    Returns:
        A normalized results dict.
    """
    workdir = pathlib.Path(workdir)
    fragments = workdir / "results"
    summary = workdir / "results.json"
    if source not in ("auto", "fragments", "json"):
        raise ValueError(f"`source` must be auto, fragments or json: {source!r}.")
    if source == "fragments" or (source == "auto" and fragments.is_dir()):
        return merge_fragments(workdir)
    if summary.is_file():
        return normalize_results(_read(summary))
    raise FileNotFoundError(
        f"{workdir} has neither fragments ({fragments}/<method>/<domain>.json) "
        f"nor {summary}. Run the training recipes (they write fragments) or "
        "plan_early (it writes results.json) first."
    )
