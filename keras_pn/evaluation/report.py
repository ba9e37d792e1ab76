"""The results report: `results.json`, a markdown table and PNG plots.

`write_report(results, output_dir)` takes a results dict

    {"perplexity": {method: {domain: ppl}},   # or "nll": same shape
     "macro": {method: ppl},                   # recomputed from the NLLs
     "cost": {method: CostLedger.summary(method)},
     "budgets": {"pretraining_tokens": ..., "specialization_tokens": ...}}

(as `keras_pn.evaluation.results.merge_fragments` builds it, or as a run
writes it) and writes into `output_dir`:

- `results.json`: the normalized results;
- `results.md`: the markdown report (`keras_pn.evaluation.report_tables`);
- the PNG plots with data (`keras_pn.evaluation.report_plots`).

`evaluate_workdir(workdir)` does all of it for a work directory of fragments
or a `results.json` (the `recipes/evaluate.py` entry point).
"""

from __future__ import annotations

import pathlib

from keras_pn.evaluation.ledger import total_cost_from_summary
from keras_pn.evaluation.report_plots import PLOT_FILES
from keras_pn.evaluation.report_plots import check_cost_field
from keras_pn.evaluation.report_plots import plot_domain_perplexity
from keras_pn.evaluation.report_plots import plot_macro_vs_pretraining_cost
from keras_pn.evaluation.report_plots import plot_specialization_size
from keras_pn.evaluation.report_plots import plot_total_cost
from keras_pn.evaluation.report_plots import write_plots
from keras_pn.evaluation.report_tables import markdown_report
from keras_pn.evaluation.results import load_results
from keras_pn.evaluation.results import normalize_results
from keras_pn.evaluation.results import write_json
from keras_pn.file_io import atomic_write_text

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
    >>> paths = write_report({"perplexity": {"m": {"arxiv": 20.0}}},
    ...                      tempfile.mkdtemp())
    >>> sorted(paths)
    ['markdown', 'perplexity_per_domain', 'results']
    """
    check_cost_field(cost_field)
    results = normalize_results(results)
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {"results": write_json(output_dir / "results.json", results)}
    plots = write_plots(results, output_dir, cost_field)
    markdown = markdown_report(results, {n: p.name for n, p in plots.items()})
    paths["markdown"] = atomic_write_text(output_dir / "results.md", markdown)
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
    paths["text"] = pathlib.Path(paths["markdown"]).read_text(encoding="utf-8")
    return paths
