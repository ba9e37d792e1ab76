"""The report's plots: matplotlib PNGs of a results dict.

- `macro_vs_pretraining_cost.png`: macro perplexity against pretraining cost
  per method (log x), like the paper's figures;
- `perplexity_per_domain.png`: per-domain perplexity, grouped bars;
- `perplexity_vs_specialization_tokens.png`: macro perplexity against the
  specialization-set size, when results hold several sizes;
- `total_cost_vs_domains.png`: `C_total(N) = C_generic + N C_specialization`
  against the number of domains `N`.

Each method keeps one color and marker in every plot (its place in the
registry's report order, `keras_pn.methods.report_order`).
"""

from __future__ import annotations

import math
import pathlib

from keras_pn import methods as method_registry
from keras_pn.evaluation import report_format as fmt
from keras_pn.evaluation.ledger import summary_value
from keras_pn.evaluation.ledger import total_cost_from_summary
from keras_pn.evaluation.results import normalize_results
from keras_pn.file_io import atomic_path
from keras_pn.methods import display_name

__all__ = [
    "COST_FIELDS",
    "PLOT_FILES",
    "check_cost_field",
    "plot_domain_perplexity",
    "plot_macro_vs_pretraining_cost",
    "plot_specialization_size",
    "plot_total_cost",
    "write_plots",
]

PLOT_FILES = {
    "macro_vs_pretraining_cost": "macro_vs_pretraining_cost.png",
    "perplexity_per_domain": "perplexity_per_domain.png",
    "perplexity_vs_specialization_tokens": "perplexity_vs_specialization_tokens.png",
    "total_cost_vs_domains": "total_cost_vs_domains.png",
}
COST_FIELDS = ("flops", "seconds")
_MARKERS = "osD^v<>ph*"


def check_cost_field(field):
    """Refuse a cost axis other than `COST_FIELDS`."""
    if field not in COST_FIELDS:
        raise ValueError(f"`field` must be one of {COST_FIELDS}. Received: {field!r}.")


def _pretraining_cost(summary, field: str):
    value = summary.get(f"pretraining_{field}")
    if value is None:
        value = summary_value(summary.get("generic"), field)
    return value


def _save(fig, path):
    """Write the figure as a PNG atomically, close it; return the path."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130, format="png")
    _pyplot().close(fig)
    return pathlib.Path(path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _style(method: str):
    """A fixed color and marker per method, the same in every plot."""
    import matplotlib

    palette = matplotlib.colormaps["tab10"].colors
    order = method_registry.report_order(method_registry.ids())
    index = (
        order.index(method)
        if method in order
        else len(order) + (sum(map(ord, method)) % 10)
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
    check_cost_field(field)
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
    return _save(fig, path)


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
    return _save(fig, path)


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
    ax.set_xticklabels([fmt.tokens(s) for s in sizes])
    ax.xaxis.set_minor_locator(__import__("matplotlib").ticker.NullLocator())
    _log_y_if_wide(ax, values)
    ax.set_xlabel("specialization set (tokens per domain)")
    ax.set_ylabel("macro perplexity (lower is better)")
    ax.set_title("Macro perplexity vs. specialization data")
    ax.grid(True, which="both", alpha=0.3)
    _legend_outside(ax)
    return _save(fig, path)


def plot_total_cost(
    results, path, field: str = "flops", max_domains: int | None = None
):
    """`C_total(N)` vs. number of domains `N` per method; `None` if no cost."""
    check_cost_field(field)
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

    unit = (lambda v: fmt.si(v, "FLOP")) if field == "flops" else fmt.duration
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
    return _save(fig, path)


def write_plots(results, output_dir, cost_field: str = "flops") -> dict:
    """Write every plot with data into `output_dir`: `{name: path}`.

    Args:
        results: a normalized results dict.
        output_dir: an existing directory.
        cost_field: the cost on the plots' axes: `"flops"` or `"seconds"`.
    """
    output_dir = pathlib.Path(output_dir)
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
    return plots
