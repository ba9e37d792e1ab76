"""The statistics stage: cluster statistics of every domain, size and k, and one table.

Per k and domain, from the histograms: top share, entropy, effective sample size and
repetition rate of the importance-resampled stream, as JSON, Markdown and PNG, and a
combined table like the paper's Tables 9-10.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from keras_pn.data.prepare.config import FULL, PrepareConfig
from keras_pn.data.prepare.context import StageContext
from keras_pn.data.prepare.layout import CLUSTER_STATS
from keras_pn.data.prepare.resampling_stats import resampling_stats
from keras_pn.data.prepare.units import UnitName
from keras_pn.file_io import atomic_write_json, atomic_write_text, staging_directory

_ROW_STATS = (
    "top_cluster",
    "top_share",
    "top5_share",
    "entropy_bits",
    "entropy_nats",
    "effective_clusters",
    "n_nonempty",
)


def run_stats(ctx: StageContext) -> dict[str, Any]:
    """Writes ``stats/``: per-size tables, ``summary.json`` and ``table.md``."""
    from keras_pn.data.cluster_stats import (
        domain_stats,
        format_table,
        stats_from_counts,
        write_stats_table,
    )
    from keras_pn.data.shards import read_index

    cfg, layout = ctx.config, ctx.layout
    domains = list(ctx.inputs.domain_dirs)
    # The windows the resampled streams draw from: the held-out ones aside.
    n = int(ctx.summary(UnitName.GENERIC_WINDOWS)["windows"])
    n -= int(ctx.summary(UnitName.GENERIC_VALID).get("windows", 0))
    draws = cfg.resampling_draws or n
    rows: list[dict[str, Any]] = []
    with staging_directory(layout.stats_dir) as tmp:
        for k in cfg.cluster_counts:
            index = read_index(layout.shards_dir(k))
            generic = np.asarray(index["windows_per_cluster"])
            histograms = {
                d: json.loads(layout.histogram(k, d).read_text()) for d in domains
            }
            for label in cfg.size_labels:
                by_domain = {}
                for d, h in histograms.items():
                    counts = np.asarray(h["sizes"][label]["counts"], np.int64)
                    by_domain[d] = np.repeat(np.arange(k), counts)
                    s = stats_from_counts(counts, name=d)
                    r = resampling_stats(
                        counts,
                        generic,
                        draws,
                        cfg.seed,
                        f"Domain {d!r} ({label}, k={k})",
                    )
                    rows.append(
                        {
                            "domain": d,
                            "size": label,
                            "k": k,
                            "windows": h["sizes"][label]["windows"],
                            "tokens": h["sizes"][label]["tokens"],
                            **{key: s[key] for key in _ROW_STATS},
                            **r,
                        }
                    )
                out = layout.cluster_stats_dir(k, label, under=tmp)
                if label == FULL:  # JSON, Markdown and a figure.
                    write_stats_table(by_domain, k, out, name=CLUSTER_STATS)
                else:  # JSON and Markdown only: figures are slow to draw.
                    table = [domain_stats(v, k, name=d) for d, v in by_domain.items()]
                    atomic_write_json(
                        layout.cluster_stats(k, label, "json", under=tmp),
                        {"n_clusters": k, "domains": table},
                    )
                    atomic_write_text(
                        layout.cluster_stats(k, label, "md", under=tmp),
                        format_table(table),
                    )
        # Reference: draws uniform over the generic windows, with replacement.
        uniform = 1.0 - n * -math.expm1(draws * math.log1p(-1.0 / n)) / draws
        payload = {
            "generic_windows": n,
            "resampling_draws": draws,
            "uniform_repetition_rate": uniform if n > 1 else 1.0,
            "rows": rows,
        }
        atomic_write_json(layout.stats_summary(under=tmp), payload)
        table = stats_table(
            rows, cfg, domains, draws, payload["uniform_repetition_rate"]
        )
        atomic_write_text(layout.stats_table(under=tmp), table)
    unavailable = [
        f"{r['domain']}/{r['size']}/k{r['k']}" for r in rows if not r["available"]
    ]
    return {"rows": len(rows), "resampling_unavailable": unavailable}


def stats_table(
    rows: list[dict[str, Any]],
    cfg: PrepareConfig,
    domains: list[str],
    draws: int,
    uniform: float,
) -> str:
    """Markdown table: per domain, size and k: top share, entropy, ESS, repetition."""
    ks = cfg.cluster_counts
    header = ["domain", "size", "tokens"]
    for k in ks:
        header += [f"k={k} top", f"k={k} H (bits)", f"k={k} ESS", f"k={k} rep."]
    lines = [
        (
            "Cluster statistics of each domain's train windows (full split and "
            "specialization subsets). top: share of the most frequent cluster; H: "
            "entropy; ESS: Kish effective sample size of the importance-resampled "
            "generic stream, as a share of the generic windows; rep.: repetition "
            f"rate over {draws:,} draws (uniform draws from the generic windows with "
            f"replacement: {uniform:.1%})."
        ),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    index = {(r["domain"], r["size"], r["k"]): r for r in rows}
    for d in domains:
        for label in cfg.size_labels:
            first = index[(d, label, ks[0])]
            cells = [d, label, f"{first['tokens']:,}"]
            for k in ks:
                r = index[(d, label, k)]
                rep = r["repetition_rate"]
                cells += [
                    f"{r['top_share']:.1%}",
                    f"{r['entropy_bits']:.2f}",
                    f"{r['ess_fraction']:.1%}" if r["available"] else "n/a",
                    f"{rep:.1%}" if rep is not None else "n/a",
                ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
