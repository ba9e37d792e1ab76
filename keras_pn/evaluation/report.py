"""The results report: `results.json`, a markdown table and PNG plots.

`write_report(results, output_dir)` takes a results dict

    {"perplexity": {method: {domain: ppl}},   # or "nll": same shape
     "macro": {method: ppl},                   # recomputed from the NLLs
     "cost": {method: CostLedger.summary(method)},
     "budgets": {"pretraining_tokens": ..., "specialization_tokens": ...}}

(as `keras_pn.evaluation.results.merge_fragments` builds it, or as a run
writes it) and writes into `output_dir`:

- `results.json`: the normalized results;
- `results.md`: methods x domains, macro perplexity, generic and
  specialization costs and `C_total(N)`, under a header stating the
  pretraining token budget and the specialization-set sizes;
- `macro_vs_pretraining_cost.png`: macro perplexity against pretraining cost
  per method (log x), like the paper's figures;
- `perplexity_per_domain.png`: per-domain perplexity, grouped bars;
- `perplexity_vs_specialization_tokens.png`: macro perplexity against the
  specialization-set size, when results hold several sizes;
- `total_cost_vs_domains.png`: `C_total(N) = C_generic + N C_specialization`
  against the number of domains `N`.

`evaluate_workdir(workdir)` does all of it for a work directory of fragments
or a `results.json` (the `recipes/evaluate.py` entry point).
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Mapping

from keras_pn.evaluation.costs import COST_CONVENTIONS
from keras_pn.evaluation.results import METHODS
from keras_pn.evaluation.results import display_name
from keras_pn.evaluation.results import load_results
from keras_pn.evaluation.results import normalize_results
from keras_pn.evaluation.results import write_json

__all__ = [
    "PLOT_FILES",
    "evaluate_workdir",
    "markdown_report",
    "plot_domain_perplexity",
    "plot_macro_vs_pretraining_cost",
    "plot_specialization_size",
    "plot_total_cost",
    "total_cost_from_summary",
    "write_report",
]

PLOT_FILES = {
    "macro_vs_pretraining_cost": "macro_vs_pretraining_cost.png",
    "perplexity_per_domain": "perplexity_per_domain.png",
    "perplexity_vs_specialization_tokens": "perplexity_vs_specialization_tokens.png",
    "total_cost_vs_domains": "total_cost_vs_domains.png",
}
_MARKERS = "osD^v<>ph*"
_FIELDS = ("flops", "seconds")


# --- Formatting ---------------------------------------------------------------


def _si(value: float, unit: str) -> str:
    """`1.2e15, "FLOP"` -> `"1.20 PFLOP"`."""
    if value is None or not math.isfinite(value):
        return "–"
    if value == 0:
        return f"0 {unit}"
    prefixes = ["", "k", "M", "G", "T", "P", "E", "Z"]
    exponent = min(max(int(math.floor(math.log10(abs(value)) / 3)), 0), 7)
    scaled = value / 1000**exponent
    digits = 2 if scaled < 10 else 1 if scaled < 100 else 0
    return f"{scaled:.{digits}f} {prefixes[exponent]}{unit}"


def _tokens(value) -> str:
    """`25000 -> "25k"`, `1600000 -> "1.6M"`."""
    if value is None:
        return "?"
    value = float(value)
    for factor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            text = f"{value / factor:.3g}"
            return f"{text}{suffix}"
    return f"{value:.0f}"


def _duration(seconds) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _ppl(value) -> str:
    if value is None:
        return "–"
    if not math.isfinite(value):
        return "inf"
    return f"{value:.2f}" if value < 1000 else f"{value:.0f}"


# --- Costs ----------------------------------------------------------------------


def _field(entry, field):
    if not isinstance(entry, Mapping):
        return None
    value = entry.get(field)
    return None if value is None else float(value)


def total_cost_from_summary(summary: Mapping, num_domains: int, field: str = "flops"):
    """`C_generic + N * C_specialization` from a `CostLedger.summary` dict.

    Returns `None` when the summary lacks that field.

    Example:
    >>> total_cost_from_summary({"generic": {"flops": 10.0},
    ...     "specialization": {"flops": 2.0}}, num_domains=3)
    16.0
    """
    generic = _field(summary.get("generic"), field)
    specialization = _field(summary.get("specialization"), field)
    if generic is None and specialization is None:
        return None
    return (generic or 0.0) + num_domains * (specialization or 0.0)


def _pretraining_cost(summary: Mapping, field: str):
    value = summary.get(f"pretraining_{field}")
    if value is None:
        value = _field(summary.get("generic"), field)
    return value


# --- Markdown -----------------------------------------------------------------


def _budget_lines(results) -> list[str]:
    budgets = results.get("budgets", {})
    lines = []
    pretraining = budgets.get("pretraining_tokens")
    sizes = budgets.get("specialization_tokens")
    size_list = sizes if isinstance(sizes, list) else [sizes] if sizes else []
    if isinstance(pretraining, Mapping):
        text = ", ".join(
            f"{display_name(m)} {_tokens(v)}" for m, v in pretraining.items()
        )
        lines.append(f"- **Pretraining budget**: {text} tokens.")
        largest_pretraining = max(pretraining.values()) if pretraining else None
    elif pretraining is not None:
        lines.append(
            f"- **Pretraining budget**: {_tokens(pretraining)} tokens per "
            "pretrained model."
        )
        largest_pretraining = pretraining
    else:
        lines.append("- **Pretraining budget**: not recorded.")
        largest_pretraining = None
    if size_list:
        text = " / ".join(_tokens(s) for s in size_list)
        line = f"- **Specialization sets**: {text} tokens per domain"
        primary = budgets.get("primary_specialization_tokens")
        if len(size_list) > 1 and primary is not None:
            line += f" (main table: {_tokens(primary)})"
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
    text = ", ".join(f"{d} {_tokens(n)}" for d, n in sorted(per_domain.items()))
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
            text = _ppl(value)
            if value is not None and value == best[domain]:
                text = f"**{text}**"
            cells.append(text)
        value = macro.get(method)
        text = _ppl(value)
        if value is not None and value == best_macro:
            text = f"**{text}**"
        if not results["macro_complete"].get(method, True):
            text += "*"
        cells.append(text)
        if with_costs:
            summary = cost.get(method, {})
            cells += [
                _si(_field(summary.get("generic"), "flops"), "FLOP"),
                _si(_field(summary.get("specialization"), "flops"), "FLOP"),
                _si(total_cost_from_summary(summary, num_domains, "flops"), "FLOP"),
                _duration(_field(summary.get("generic"), "seconds")),
                _duration(_field(summary.get("specialization"), "seconds")),
            ]
        rows.append(cells)
    align = ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def markdown_report(results: Mapping, plots: Mapping | None = None) -> str:
    """The markdown report of a results dict (see the module docstring).

    Args:
        results: a results dict (normalized here).
        plots: optional `{name: file name}` of plots to link.

    Example:
    >>> text = markdown_report({"perplexity": {"slm": {"arxiv": 20.0}},
    ...     "budgets": {"pretraining_tokens": 5_000_000,
    ...                 "specialization_tokens": 25_000}})
    >>> "| SLM | **20.00** | **20.00** |" in text
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
            "`keras_pn.evaluation.costs`), time measured"
            + (f" on {'; '.join(devices)}" if devices else "")
            + ". Generic: pretraining, shared by all domains; specialization: "
            "mean per domain; `C_total(N) = C_generic + N * C_spec`, "
            f"N = {num_domains}."
        )
    primary = results.get("budgets", {}).get("primary_specialization_tokens")
    title = "## Perplexity after specialization"
    if primary is not None:
        title += f" ({_tokens(primary)} tokens per domain)"
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
            "| Method | " + " | ".join(f"{_tokens(s)} tokens" for s in sizes) + " |"
        )
        lines.append("| --- | " + " | ".join("---:" for _ in sizes) + " |")
        for method in methods:
            cells = [_ppl(by_size[s]["macro"].get(method)) for s in sizes]
            lines.append(f"| {display_name(method)} | " + " | ".join(cells) + " |")
    conventions = [m for m in results["methods"] if m in COST_CONVENTIONS and m in cost]
    if conventions:
        lines += ["", "## Cost conventions", ""]
        for method in conventions:
            inherits = cost[method].get("inherits") or {}
            shared = "; ".join(
                f"{kind} includes {', '.join(display_name(s) for s in sources)}"
                for kind, sources in inherits.items()
                if sources
            )
            line = f"- **{display_name(method)}**: {COST_CONVENTIONS[method]}"
            lines.append(line + (f" ({shared}.)" if shared else ""))
    if plots:
        lines += ["", "## Plots", ""]
        for name, file in plots.items():
            lines.append(f"![{name.replace('_', ' ')}]({file})")
    return "\n".join(lines) + "\n"


# --- Plots ----------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _style(method: str):
    """A fixed color and marker per method, the same in every plot."""
    import matplotlib

    palette = matplotlib.colormaps["tab10"].colors
    index = (
        METHODS.index(method)
        if method in METHODS
        else len(METHODS) + (sum(map(ord, method)) % 10)
    )
    return palette[index % 10], _MARKERS[index % len(_MARKERS)]


def _cost_label(field: str) -> str:
    return "FLOPs by formula" if field == "flops" else "measured wall-clock seconds"


def _log_y_if_wide(ax, values, ratio=4.0):
    """Log y axis when values span more than `ratio`x, with plain tick labels."""
    from matplotlib.ticker import FuncFormatter
    from matplotlib.ticker import NullFormatter

    values = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    if not values or max(values) / min(values) <= ratio:
        return False
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    # Minor labels only while few decades are shown (else they crowd).
    decades = math.log10(max(values) / min(values))
    ax.yaxis.set_minor_formatter(plain if decades < 1.2 else NullFormatter())
    ax.tick_params(axis="y", which="minor", labelsize=7)
    return True


def _legend_outside(ax):
    ax.legend(
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        frameon=False,
    )


def _label_points(ax, labels, min_gap_px=13.0, near_px=110.0):
    """Write `(x, y, text, color)` labels right of their points without overlaps.

    Greedy: labels sorted by height are pushed up until no earlier label is
    within `min_gap_px` vertically and `near_px` horizontally; a thin leader
    line joins a moved label to its point.
    """
    fig = ax.figure
    fig.canvas.draw()  # settle limits and the transform
    to_px = ax.transData.transform
    points_per_px = 72.0 / fig.dpi
    items = sorted(
        ((*to_px((x, y)), text, color, x, y) for x, y, text, color in labels),
        key=lambda item: item[1],
    )
    placed = []
    for px, py, text, color, x, y in items:
        label_y = py
        while any(
            abs(px - qx) < near_px and abs(label_y - qy) < min_gap_px
            for qx, qy in placed
        ):
            label_y += min_gap_px / 2
        placed.append((px, label_y))
        moved = label_y - py > 4
        ax.annotate(
            text,
            (x, y),
            textcoords="offset points",
            fontsize=9,
            color=color,
            xytext=(7, (label_y - py) * points_per_px + (0 if moved else -3)),
            va="center" if moved else "bottom",
            arrowprops=dict(arrowstyle="-", color=color, lw=0.6, alpha=0.7)
            if moved
            else None,
        )


def plot_macro_vs_pretraining_cost(results, path, field: str = "flops"):
    """Macro perplexity vs. pretraining cost per method (log x); `None` if no cost.

    The x value is the method's pretraining cost: its generic cost plus any
    per-domain pretraining (SLM-is). Methods without pretraining (SLM-nopt)
    are drawn as dashed horizontal lines; hollow markers show the macro
    perplexity before fine-tuning when it was recorded.
    """
    _check_field(field)
    results = normalize_results(results)
    cost = results.get("cost", {})
    macro = results["macro"]
    before = results.get("macro_before_finetuning", {})
    points = {}
    flat = {}
    for method in results["methods"]:
        if method not in macro or method not in cost:
            continue
        x = _pretraining_cost(cost[method], field)
        if x is None:
            continue
        (points if x > 0 else flat)[method] = x
    if not points and not flat:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.0, 5.2), layout="constrained")
    for method, x in points.items():
        color, marker = _style(method)
        ax.scatter(
            [x],
            [macro[method]],
            s=90,
            color=color,
            marker=marker,
            zorder=3,
            label=display_name(method),
        )
        if method in before:
            ax.scatter(
                [x],
                [before[method]],
                s=90,
                facecolors="none",
                edgecolors=[color],
                marker=marker,
                zorder=3,
            )
            ax.plot(
                [x, x],
                [before[method], macro[method]],
                color=color,
                lw=0.8,
                ls=":",
                zorder=2,
            )
    for method in flat:
        color, _ = _style(method)
        ax.axhline(
            macro[method],
            color=color,
            ls="--",
            lw=1.2,
            label=f"{display_name(method)} (no pretraining)",
        )
    if points:
        ax.set_xscale("log")
        xs = list(points.values())
        ax.set_xlim(min(xs) / 2.5, max(xs) * 4)
    values = [macro[m] for m in (*points, *flat)] + [
        before[m] for m in points if m in before
    ]
    _log_y_if_wide(ax, values)
    if any(m in before for m in points):
        ax.scatter(
            [],
            [],
            s=60,
            facecolors="none",
            edgecolors="gray",
            label="before fine-tuning",
        )
    ax.set_xlabel(f"pretraining cost ({_cost_label(field)})")
    ax.set_ylabel("macro perplexity (lower is better)")
    ax.set_title("Macro perplexity after specialization vs. pretraining cost")
    ax.grid(True, which="both", alpha=0.3)
    _legend_outside(ax)
    _label_points(
        ax,
        [(x, macro[m], display_name(m), _style(m)[0]) for m, x in points.items()],
    )
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return pathlib.Path(path)


def plot_domain_perplexity(results, path):
    """Per-domain perplexity as grouped bars (one group per domain, + macro)."""
    results = normalize_results(results)
    perplexity, macro = results["perplexity"], results["macro"]
    methods = [m for m in results["methods"] if m in perplexity]
    groups = [*results["domains"], "macro"]
    plt = _pyplot()
    width = 0.8 / max(len(methods), 1)
    fig_width = min(max(7.0, 0.16 * len(groups) * len(methods) + 3.5), 22.0)
    fig, ax = plt.subplots(figsize=(fig_width, 4.8), layout="constrained")
    values = []
    for i, method in enumerate(methods):
        heights = [
            macro.get(method) if g == "macro" else perplexity[method].get(g)
            for g in groups
        ]
        xs = [j + (i - (len(methods) - 1) / 2) * width for j in range(len(groups))]
        kept = [
            (x, h)
            for x, h in zip(xs, heights, strict=True)
            if h is not None and math.isfinite(h)
        ]
        values += [h for _, h in kept]
        color, _ = _style(method)
        ax.bar(
            [x for x, _ in kept],
            [h for _, h in kept],
            width=width * 0.95,
            color=color,
            label=display_name(method),
        )
    ax.set_xticks(range(len(groups)))
    tilt = len(groups) > 6 or max(len(g) for g in groups) > 12
    ax.set_xticklabels(
        groups, rotation=20 if tilt else 0, ha="right" if tilt else "center"
    )
    ax.axvline(len(groups) - 1.5, color="gray", lw=0.8, ls=":")
    if not _log_y_if_wide(ax, values) and values:
        ax.set_ylim(0, max(values) * 1.08)
    ax.set_ylabel("test perplexity (lower is better)")
    ax.set_title("Perplexity per domain after specialization")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    _legend_outside(ax)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return pathlib.Path(path)


def plot_specialization_size(results, path):
    """Macro perplexity vs. specialization-set size; `None` with fewer than 2 sizes."""
    results = normalize_results(results)
    by_size = results.get("by_specialization_tokens", {})
    if len(by_size) < 2:
        return None
    sizes = sorted(by_size, key=float)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 4.8), layout="constrained")
    values = []
    for method in results["methods"]:
        points = [
            (float(s), by_size[s]["macro"][method])
            for s in sizes
            if method in by_size[s]["macro"]
        ]
        if not points:
            continue
        values += [p for _, p in points]
        color, marker = _style(method)
        ax.plot(
            *zip(*points, strict=True),
            marker=marker,
            color=color,
            label=display_name(method),
        )
    ax.set_xscale("log")
    ax.set_xticks([float(s) for s in sizes])
    ax.set_xticklabels([_tokens(s) for s in sizes])
    ax.xaxis.set_minor_locator(__import__("matplotlib").ticker.NullLocator())
    _log_y_if_wide(ax, values)
    ax.set_xlabel("specialization set (tokens per domain)")
    ax.set_ylabel("macro perplexity (lower is better)")
    ax.set_title("Macro perplexity vs. specialization data")
    ax.grid(True, which="both", alpha=0.3)
    _legend_outside(ax)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return pathlib.Path(path)


def plot_total_cost(
    results, path, field: str = "flops", max_domains: int | None = None
):
    """`C_total(N)` vs. number of domains `N` per method; `None` if no cost."""
    _check_field(field)
    results = normalize_results(results)
    cost = results.get("cost", {})
    num_domains = len(results["domains"])
    n_max = max_domains or max(2 * num_domains, 10)
    ns = list(range(1, n_max + 1))
    lines = {}
    for method in results["methods"]:
        if method not in cost:
            continue
        totals = [total_cost_from_summary(cost[method], n, field) for n in ns]
        if any(t is None for t in totals) or not any(totals):
            continue
        lines[method] = totals
    if not lines:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.0, 5.0), layout="constrained")
    styles = ["-", "--", "-.", ":"]
    seen = {}
    for method, totals in lines.items():
        color, marker = _style(method)
        # Methods with the same costs overlap: vary the dash to show them all.
        key = tuple(f"{t:.3g}" for t in totals[:2])
        linestyle = styles[seen.get(key, 0) % len(styles)]
        seen[key] = seen.get(key, 0) + 1
        ax.plot(
            ns,
            totals,
            color=color,
            marker=marker,
            ls=linestyle,
            markevery=max(1, n_max // 10),
            label=display_name(method),
        )
    # Linear axes: C_total is linear in N, its slope the specialization cost.
    ax.set_ylim(bottom=0)
    ax.set_xlim(0, n_max + 0.5)
    from matplotlib.ticker import FuncFormatter

    unit = (lambda v: _si(v, "FLOP")) if field == "flops" else _duration
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: unit(v)))
    ax.axvline(num_domains, color="gray", ls=":", lw=1)
    ax.annotate(
        f"{num_domains} domains evaluated",
        (num_domains, 0.02),
        xycoords=("data", "axes fraction"),
        xytext=(4, 0),
        textcoords="offset points",
        fontsize=8,
        color="gray",
    )
    ax.set_xlabel("number of domains N")
    ax.set_ylabel(f"C_total(N) = C_generic + N C_spec ({_cost_label(field)})")
    ax.set_title("Total cost of specializing to N domains")
    ax.grid(True, which="both", alpha=0.3)
    _legend_outside(ax)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return pathlib.Path(path)


def _check_field(field):
    if field not in _FIELDS:
        raise ValueError(f"`field` must be one of {_FIELDS}. Received: {field!r}.")


# --- Entry points -------------------------------------------------------------


def write_report(results, output_dir, cost_field: str = "flops") -> dict:
    """Write `results.json`, `results.md` and the PNG plots into `output_dir`.

    Args:
        results: a results dict (see the module docstring).
        output_dir: where to write (created if needed).
        cost_field: the cost on the plots' axes: `"flops"` or `"seconds"`.

    Returns:
        `{"results": path, "markdown": path, <plot name>: path, ...}` for the
        files written (plots lacking data are skipped).

    Example:
    >>> import tempfile
    >>> paths = write_report({"perplexity": {"slm": {"arxiv": 20.0}}},
    ...                      tempfile.mkdtemp())
    >>> sorted(paths)
    ['markdown', 'perplexity_per_domain', 'results']
    """
    _check_field(cost_field)
    results = normalize_results(results)
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {"results": write_json(output_dir / "results.json", results)}
    makers = {
        "macro_vs_pretraining_cost": lambda p: plot_macro_vs_pretraining_cost(
            results, p, cost_field
        ),
        "perplexity_per_domain": lambda p: plot_domain_perplexity(results, p),
        "perplexity_vs_specialization_tokens": lambda p: plot_specialization_size(
            results, p
        ),
        "total_cost_vs_domains": lambda p: plot_total_cost(results, p, cost_field),
    }
    plots = {}
    for name, make in makers.items():
        path = make(output_dir / PLOT_FILES[name])
        if path is not None:
            plots[name] = path
    markdown = markdown_report(results, {n: p.name for n, p in plots.items()})
    paths["markdown"] = output_dir / "results.md"
    paths["markdown"].write_text(markdown)
    paths.update(plots)
    return paths


def evaluate_workdir(
    workdir, output_dir=None, source: str = "auto", cost_field: str = "flops"
) -> dict:
    """Merge a work directory's results and write the report.

    Args:
        workdir: holds `results/<method>/<domain>.json` fragments (see
            `keras_pn.evaluation.results`) or a `results.json`.
        output_dir: where to write (default: `workdir`).
        source: `"auto"`, `"fragments"` or `"json"` (see `load_results`).
        cost_field: `"flops"` or `"seconds"` on the plots' cost axes.

    Returns:
        The paths written, as `write_report`, plus `"text"`: the markdown.
    """
    results = load_results(workdir, source=source)
    paths = write_report(results, output_dir or workdir, cost_field=cost_field)
    paths["text"] = pathlib.Path(paths["markdown"]).read_text()
    return paths
