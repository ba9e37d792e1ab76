"""The markdown report of a results dict: budgets, perplexity tables, costs.

`markdown_report(results)` writes methods x domains, macro perplexity, generic
and specialization costs and `C_total(N)` (`keras_pn.evaluation.ledger`), under a
header stating the pretraining token budget and the specialization-set sizes, the
generic pretrainings' perplexity on the held-out generic windows (when recorded),
then the cost convention of each method (from `keras_pn.methods`).
"""

from __future__ import annotations

from collections.abc import Mapping

from keras_pn.evaluation import report_format as fmt
from keras_pn.evaluation.ledger import cost_convention
from keras_pn.evaluation.ledger import summary_value
from keras_pn.evaluation.ledger import total_cost_from_summary
from keras_pn import methods as method_registry
from keras_pn.evaluation.results import normalize_results
from keras_pn.methods import display_name

__all__ = ["markdown_report"]


def _budget_lines(results) -> list[str]:
    budgets = results.get("budgets", {})
    lines = []
    pretraining = budgets.get("pretraining_tokens")
    sizes = budgets.get("specialization_tokens")
    size_list = sizes if isinstance(sizes, list) else [sizes] if sizes else []
    if isinstance(pretraining, Mapping):
        text = ", ".join(
            f"{display_name(m)} {fmt.tokens(v)}" for m, v in pretraining.items()
        )
        lines.append(f"- **Pretraining budget**: {text} tokens.")
        largest_pretraining = max(pretraining.values()) if pretraining else None
    elif pretraining is not None:
        lines.append(
            f"- **Pretraining budget**: {fmt.tokens(pretraining)} tokens per "
            "pretrained model."
        )
        largest_pretraining = pretraining
    else:
        lines.append("- **Pretraining budget**: not recorded.")
        largest_pretraining = None
    if size_list:
        text = " / ".join(fmt.tokens(s) for s in size_list)
        line = f"- **Specialization sets**: {text} tokens per domain"
        primary = budgets.get("primary_specialization_tokens")
        if len(size_list) > 1 and primary is not None:
            line += f" (main table: {fmt.tokens(primary)})"
        if largest_pretraining:
            ratio = float(largest_pretraining) / float(max(size_list))
            line += f"; pretraining / largest set = {ratio:,.0f}x"
        lines.append(line + ".")
    else:
        lines.append("- **Specialization sets**: size not recorded.")
    for key, value in budgets.items():
        if key in (
            "pretraining_tokens",
            "specialization_tokens",
            "primary_specialization_tokens",
        ):
            continue
        if isinstance(value, (str, int, float, bool)):
            lines.append(f"- {key.replace('_', ' ').capitalize()}: {value}.")
    return lines


def _test_token_line(results) -> str | None:
    tokens = results.get("tokens", {})
    per_domain = {}
    for method_tokens in tokens.values():
        for domain, n in method_tokens.items():
            per_domain.setdefault(domain, n)
    if not per_domain:
        return None
    text = ", ".join(f"{d} {fmt.tokens(n)}" for d, n in sorted(per_domain.items()))
    return f"- Test tokens per domain: {text}."


def _perplexity_table(results, perplexity, macro, num_domains, with_costs=True):
    domains = results["domains"]
    methods = [m for m in results["methods"] if m in perplexity]
    cost = results.get("cost", {})
    header = ["Method", *domains, "Macro"]
    if with_costs:
        header += [
            "Generic FLOPs",
            "Spec. FLOPs / domain",
            f"C_total({num_domains}) FLOPs",
            "Generic time",
            "Spec. time / domain",
        ]
    best = {}
    for domain in domains:
        values = [perplexity[m][domain] for m in methods if domain in perplexity[m]]
        best[domain] = min(values) if values else None
    macro_values = [macro[m] for m in methods if m in macro]
    best_macro = min(macro_values) if macro_values else None
    rows = []
    for method in methods:
        cells = [display_name(method)]
        for domain in domains:
            value = perplexity[method].get(domain)
            text = fmt.perplexity(value)
            if value is not None and value == best[domain]:
                text = f"**{text}**"
            cells.append(text)
        value = macro.get(method)
        text = fmt.perplexity(value)
        if value is not None and value == best_macro:
            text = f"**{text}**"
        if not results["macro_complete"].get(method, True):
            text += "*"
        cells.append(text)
        if with_costs:
            summary = cost.get(method, {})
            cells += [
                fmt.si(summary_value(summary.get("generic"), "flops"), "FLOP"),
                fmt.si(summary_value(summary.get("specialization"), "flops"), "FLOP"),
                fmt.si(total_cost_from_summary(summary, num_domains, "flops"), "FLOP"),
                fmt.duration(summary_value(summary.get("generic"), "seconds")),
                fmt.duration(summary_value(summary.get("specialization"), "seconds")),
            ]
        rows.append(cells)
    align = ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


GENERIC_VALIDATION_TITLE = (
    "## Generic validation (held-out, each window by its cluster's expert)"
)
_SCORED_BY = {
    "plain": "the model",
    "code": "its cluster's expert code",
    "expert": "its cluster's expert",
}


def _generic_validation_lines(results) -> list[str]:
    """The generic pretrainings on the held-out generic windows (the paper's Fig. 3)."""
    validation = results.get("generic_validation") or {}
    if not validation:
        return []
    methods = method_registry.report_order(validation)
    # The first in report order (the SLM) is the reference of the last column.
    reference = None
    if len(methods) > 1:
        reference = float(validation[methods[0]]["perplexity"])
    windows = sorted({int(v.get("windows", 0)) for v in validation.values()})
    sample = (
        f"the same {windows[0]:,} windows for every model"
        if len(windows) == 1
        else "/".join(f"{w:,}" for w in windows) + " windows (runs of other caps)"
    )
    lines = [
        "",
        GENERIC_VALIDATION_TITLE,
        "",
        "Perplexity of each generic pretraining on held-out generic windows that no "
        f"pretraining (and no k-means fit) saw, {sample}. A plain model scores every "
        "window, the "
        "projected network each window with its cluster's expert code, the hard "
        "mixture each window with its cluster's expert. Lower is better; bold: best.",
        "",
    ]
    header = ["Method", "Perplexity", "NLL", "Scored by", "Windows", "Tokens"]
    if reference:
        header.append(f"vs. {display_name(methods[0])}")
    align = ["---", "---:", "---:", "---", "---:", "---:"] + ["---:"] * bool(reference)
    lines.append("| " + " | ".join(header) + " |")
    lines.append("| " + " | ".join(align) + " |")
    best = min(float(v["perplexity"]) for v in validation.values())
    for method in methods:
        record = validation[method]
        ppl = float(record["perplexity"])
        text = fmt.perplexity(ppl)
        scored = _SCORED_BY.get(record.get("scoring"), record.get("scoring", "?"))
        if record.get("k") is not None:
            scored += f" (k={record['k']})"
        if record.get("pretrained_before_split"):
            text += "†"
        cells = [
            display_name(method),
            f"**{text}**" if ppl == best else text,
            f"{float(record['nll']):.4f}",
            scored,
            f"{int(record.get('windows', 0)):,}",
            f"{int(record['tokens']):,}",
        ]
        if reference:
            first = method == methods[0]
            cells.append("–" if first else f"{ppl / reference - 1:+.1%}")
        lines.append("| " + " | ".join(cells) + " |")
    if any(v.get("pretrained_before_split") for v in validation.values()):
        lines += [
            "",
            "†: pretrained before the held-out split was made (a workdir of earlier "
            "code): it may have trained on these windows; pretrain it again.",
        ]
    return lines


def markdown_report(results: Mapping, plots: Mapping | None = None) -> str:
    """The markdown report of a results dict (see the module docstring).

    Args:
        results: a results dict (normalized here).
        plots: optional `{name: file name}` of plots to link.

    Example:
    >>> text = markdown_report({"perplexity": {"baseline": {"arxiv": 20.0}},
    ...     "budgets": {"pretraining_tokens": 5_000_000,
    ...                 "specialization_tokens": 25_000}})
    >>> "| baseline | **20.00** | **20.00** |" in text
    True
    """
    results = normalize_results(results)
    domains = results["domains"]
    num_domains = len(domains)
    cost = results.get("cost", {})
    with_costs = bool(cost)
    devices = sorted(
        {
            device
            for summary in cost.values()
            for part in ("generic", "specialization")
            for device in str((summary.get(part) or {}).get("device") or "").split("; ")
            if device
        }
    )
    lines = ["# Specialized language models: results", ""]
    lines += _budget_lines(results)
    lines.append(f"- **Domains** ({num_domains}): {', '.join(domains)}.")
    test_line = _test_token_line(results)
    if test_line:
        lines.append(test_line)
    lines.append(
        "- **Perplexity**: test perplexity after specialization, per domain; "
        "**Macro** = exp(mean over domains of the per-token NLL). Lower is "
        "better; bold: best of the column."
    )
    if not all(results["macro_complete"].values()):
        lines.append(
            "- `*`: the method misses some domains; its macro average is over "
            "the domains it has."
        )
    if with_costs:
        lines.append(
            "- **Costs**: FLOPs by formula (training `6N + 12LHQT` per token, "
            "`keras_pn.evaluation.flops`), time measured"
            + (f" on {'; '.join(devices)}" if devices else "")
            + ". Generic: pretraining, shared by all domains; specialization: "
            "mean per domain; `C_total(N) = C_generic + N * C_spec`, "
            f"N = {num_domains}."
        )
    primary = results.get("budgets", {}).get("primary_specialization_tokens")
    title = "## Perplexity after specialization"
    if primary is not None:
        title += f" ({fmt.tokens(primary)} tokens per domain)"
    lines += ["", title, ""]
    lines += _perplexity_table(
        results, results["perplexity"], results["macro"], num_domains, with_costs
    )
    if "perplexity_before_finetuning" in results:
        lines += ["", "## Before fine-tuning", ""]
        lines += _perplexity_table(
            results,
            results["perplexity_before_finetuning"],
            results["macro_before_finetuning"],
            num_domains,
            with_costs=False,
        )
    lines += _generic_validation_lines(results)
    by_size = results.get("by_specialization_tokens", {})
    if len(by_size) > 1:
        sizes = sorted(by_size, key=float)
        methods = [
            m
            for m in results["methods"]
            if any(m in by_size[s]["macro"] for s in sizes)
        ]
        lines += ["", "## Macro perplexity by specialization-set size", ""]
        lines.append(
            "| Method | " + " | ".join(f"{fmt.tokens(s)} tokens" for s in sizes) + " |"
        )
        lines.append("| --- | " + " | ".join("---:" for _ in sizes) + " |")
        for method in methods:
            cells = [fmt.perplexity(by_size[s]["macro"].get(method)) for s in sizes]
            lines.append(f"| {display_name(method)} | " + " | ".join(cells) + " |")
    conventions = [m for m in results["methods"] if m in cost and cost_convention(m)]
    if conventions:
        lines += ["", "## Cost conventions", ""]
        for method in conventions:
            inherits = cost[method].get("inherits") or {}
            shared = "; ".join(
                f"{kind} includes {', '.join(display_name(s) for s in sources)}"
                for kind, sources in inherits.items()
                if sources
            )
            line = f"- **{display_name(method)}**: {cost_convention(method)}"
            lines.append(line + (f" ({shared}.)" if shared else ""))
    if plots:
        lines += ["", "## Plots", ""]
        for name, file in plots.items():
            lines.append(f"![{name.replace('_', ' ')}]({file})")
    return "\n".join(lines) + "\n"
