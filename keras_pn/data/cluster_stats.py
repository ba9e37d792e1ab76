"""Cluster statistics of a domain, as in the paper's Tables 9-10.

For a domain whose windows were assigned to k clusters: the histogram over the k
clusters, the share of the most frequent (top) cluster -- the expert SLM-pn and
SLM-mix specialise -- the entropy of the histogram in nats and bits, its
exponential (the effective number of clusters) and the number of non-empty
clusters. `domain_stats` computes them, `write_domain_stats` writes one domain as
JSON + PNG, `write_stats_table` does the same for a table of domains (JSON, a
Markdown table and one figure). Figures use matplotlib's Agg canvas directly, so
the global matplotlib backend is left untouched.

Example:

>>> import numpy as np
>>> from keras_pn.data.cluster_stats import domain_stats
>>> s = domain_stats(np.array([0, 0, 1, 3]), n_clusters=4)
>>> s["top_cluster"], s["top_share"], s["n_nonempty"], round(s["entropy_bits"], 3)
(0, 0.5, 3, 1.5)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import numpy as np

from keras_pn.file_io import atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = [
    "cluster_histogram",
    "domain_stats",
    "stats_from_counts",
    "format_table",
    "write_domain_stats",
    "write_stats_table",
]


def cluster_histogram(labels, n_clusters: int) -> np.ndarray:
    """Counts ``(n_clusters,)`` int64 of integer cluster ids ``labels``.

    Raises:
        ValueError: ids outside ``[0, n_clusters)`` or a non-integer array.

    Example:

    >>> cluster_histogram([0, 2, 2], 4).tolist()
    [1, 0, 2, 0]
    """
    labels = np.asarray(labels).reshape(-1)
    if labels.size == 0:
        return np.zeros((max(int(n_clusters), 0),), dtype="int64")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be integer cluster ids; got dtype {labels.dtype}."
        )
    if n_clusters < 1:
        raise ValueError(f"n_clusters must be >= 1; got {n_clusters}.")
    if labels.size and (labels.min() < 0 or labels.max() >= n_clusters):
        raise ValueError(
            f"labels must lie in [0, {n_clusters}); found ids in "
            f"[{labels.min()}, {labels.max()}]. "
            "Pass the n_clusters of the clustering that produced them."
        )
    return np.bincount(labels, minlength=n_clusters).astype("int64")


def stats_from_counts(counts, *, name: str | None = None) -> dict:
    """Statistics of a cluster histogram ``counts`` ``(k,)``.

    Returns:
        A JSON-ready dict: ``name``, ``n_items``, ``n_clusters``, ``n_nonempty``,
        ``top_cluster``, ``top_share``, ``top5_share``, ``entropy_nats``,
        ``entropy_bits``, ``max_entropy_bits`` (``log2 k``), ``normalized_entropy``
        (entropy / log k), ``effective_clusters`` (``exp(entropy)``), ``counts`` and
        ``shares``. An empty histogram has zero entropy and ``top_cluster = None``.

    Example:

    >>> stats_from_counts([2, 2])["entropy_nats"] == math.log(2)
    True
    """
    counts = np.asarray(counts, dtype="float64").reshape(-1)
    if counts.size == 0 or (counts < 0).any():
        raise ValueError("counts must be a non-empty vector of non-negative numbers.")
    k = counts.size
    total = float(counts.sum())
    shares = counts / total if total > 0 else np.zeros_like(counts)
    nz = shares[shares > 0]
    # max(0.0, .) turns the -0.0 of a one-cluster histogram into 0.0 (printed "-0.00" otherwise).
    entropy = max(0.0, float(-(nz * np.log(nz)).sum())) if nz.size else 0.0
    top = int(np.argmax(counts)) if total > 0 else None
    return {
        "name": name,
        "n_items": int(total) if float(total).is_integer() else total,
        "n_clusters": k,
        "n_nonempty": int((counts > 0).sum()),
        "top_cluster": top,
        "top_share": float(shares.max()) if total > 0 else 0.0,
        "top5_share": float(np.sort(shares)[::-1][:5].sum()),
        "entropy_nats": entropy,
        "entropy_bits": entropy / math.log(2),
        "max_entropy_bits": math.log2(k),
        "normalized_entropy": entropy / math.log(k) if k > 1 else 0.0,
        "effective_clusters": math.exp(entropy),
        "counts": [int(c) if float(c).is_integer() else float(c) for c in counts],
        "shares": shares.tolist(),
    }


def domain_stats(labels, n_clusters: int, *, name: str | None = None) -> dict:
    """Statistics of one domain from its cluster ids (see `stats_from_counts`)."""
    return stats_from_counts(cluster_histogram(labels, n_clusters), name=name)


_TABLE_COLUMNS = (
    ("domain", "name", "{}"),
    ("items", "n_items", "{:,}"),
    ("non-empty", "n_nonempty", "{}"),
    ("top cluster", "top_cluster", "{}"),
    ("top share", "top_share", "{:.1%}"),
    ("entropy (bits)", "entropy_bits", "{:.2f}"),
    ("entropy (nats)", "entropy_nats", "{:.2f}"),
    ("effective k", "effective_clusters", "{:.1f}"),
)


def format_table(rows) -> str:
    """A Markdown table of per-domain statistics (the dicts of `domain_stats`)."""
    lines = [
        "| " + " | ".join(c[0] for c in _TABLE_COLUMNS) + " |",
        "|" + "|".join("---" for _ in _TABLE_COLUMNS) + "|",
    ]
    for r in rows:
        cells = [
            fmt.format(r[key]) if r[key] is not None else "-"
            for _, key, fmt in _TABLE_COLUMNS
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# Writing.
# --------------------------------------------------------------------------------------
def _save_figure(fig, path: Path) -> None:
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(path, buf.getvalue())


def _safe_name(name: str) -> str:
    keep = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return keep or "domain"


def _draw_domain(ax_id, ax_rank, stats: dict) -> None:
    shares = np.asarray(stats["shares"])
    k = len(shares)
    ax_id.bar(np.arange(k), shares, width=1.0, color="tab:blue")
    ax_id.set_xlim(-0.5, k - 0.5)
    ax_id.set_xlabel("cluster id")
    ax_id.set_ylabel("share of windows")
    ax_id.set_title(
        f"{stats['name'] or 'domain'}: top {stats['top_share']:.1%} "
        f"(cluster {stats['top_cluster']}), "
        f"H = {stats['entropy_bits']:.2f} bits",
        fontsize=9,
    )
    ranked = np.sort(shares)[::-1]
    ranked = ranked[ranked > 0]
    if ranked.size:
        ax_rank.semilogy(np.arange(1, ranked.size + 1), ranked, marker=".", lw=1)
        ax2 = ax_rank.twinx()
        ax2.plot(
            np.arange(1, ranked.size + 1), np.cumsum(ranked), color="tab:orange", lw=1
        )
        ax2.set_ylim(0, 1.02)
        ax2.set_ylabel("cumulative share", color="tab:orange")
    ax_rank.set_xlabel("cluster rank")
    ax_rank.set_ylabel("share (log)")
    ax_rank.set_title(f"{stats['n_nonempty']} of {k} clusters non-empty", fontsize=9)


def write_domain_stats(labels, n_clusters: int, out_dir, name: str) -> dict:
    """Write ``<out_dir>/<name>.json`` and ``<out_dir>/<name>.png`` for one domain.

    Args:
        labels: cluster id of each window of the domain ``(n,)``.
        n_clusters: k of the clustering.
        out_dir: output directory (created).
        name: domain name (also the file stem).

    Returns:
        The statistics dict, with ``json`` and ``png`` paths added.

    Example:

    >>> import tempfile, numpy as np
    >>> s = write_domain_stats(np.array([0, 1, 1]), 4, tempfile.mkdtemp(), "toy")
    >>> s["png"].endswith("toy.png")
    True
    """
    from matplotlib.figure import Figure

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats = domain_stats(labels, n_clusters, name=name)
    stem = _safe_name(name)
    json_path, png_path = out / f"{stem}.json", out / f"{stem}.png"
    fig = Figure(figsize=(10, 3.4), layout="constrained")
    ax_id, ax_rank = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    _draw_domain(ax_id, ax_rank, stats)
    _save_figure(fig, png_path)
    atomic_write_json(json_path, stats)
    return {**stats, "json": str(json_path), "png": str(png_path)}


def write_stats_table(
    domains: Mapping[str, object],
    n_clusters: int,
    out_dir,
    *,
    name: str = "cluster_stats",
) -> list[dict]:
    """Statistics of several domains: ``<name>.json``, ``<name>.md``, ``<name>.png``.

    Args:
        domains: domain name -> cluster ids of its windows.
        n_clusters: k of the clustering.
        out_dir: output directory (created).
        name: file stem.

    Returns:
        One statistics dict per domain, in the order given. The figure shows the
        domain x cluster share matrix (clusters ordered by their overall share) and,
        per domain, the top-cluster share and entropy.

    Example:

    >>> import tempfile, numpy as np
    >>> rows = write_stats_table({"a": np.array([0, 0]), "b": np.array([1, 2])}, 3,
    ...                          tempfile.mkdtemp())
    >>> [r["top_share"] for r in rows]
    [1.0, 0.5]
    """
    from matplotlib.figure import Figure

    if not domains:
        raise ValueError(
            "domains is empty; pass a mapping of domain name -> cluster ids."
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = [domain_stats(labels, n_clusters, name=d) for d, labels in domains.items()]
    payload = {"n_clusters": n_clusters, "domains": rows}
    stem = _safe_name(name)
    atomic_write_json(out / f"{stem}.json", payload)
    atomic_write_text(out / f"{stem}.md", format_table(rows))

    shares = np.array([r["shares"] for r in rows])  # (n_domains, k)
    order = np.argsort(-shares.mean(axis=0), kind="stable")
    names = [r["name"] for r in rows]
    height = 1.2 + 0.32 * len(rows)
    fig = Figure(figsize=(12, max(3.0, height)), layout="constrained")
    ax_map, ax_bar = fig.subplots(1, 2, gridspec_kw={"width_ratios": [4, 1.3]})
    im = ax_map.imshow(
        np.log10(np.maximum(shares[:, order], 1e-6)),
        aspect="auto",
        cmap="viridis",
        interpolation="nearest",
        vmin=-6,
        vmax=0,
    )
    ax_map.set_yticks(range(len(names)), names, fontsize=8)
    ax_map.set_xlabel("cluster (sorted by mean share)")
    ax_map.set_title(
        f"log10 share of each domain's windows per cluster (k = {n_clusters})",
        fontsize=9,
    )
    fig.colorbar(im, ax=ax_map, fraction=0.03)
    y = np.arange(len(rows))
    ax_bar.barh(y, [r["top_share"] for r in rows], color="tab:blue", label="top share")
    ax_bar.set_yticks(y, [""] * len(rows))
    ax_bar.set_ylim(len(rows) - 0.5, -0.5)  # same rows as the heat map
    ax_bar.set_xlim(0, 1)
    ax_bar.set_xlabel("top-cluster share", color="tab:blue")
    ax_h = ax_bar.twiny()
    ax_h.plot([r["entropy_bits"] for r in rows], y, "o", color="tab:orange")
    ax_h.set_xlim(0, max(1e-9, math.log2(n_clusters)) * 1.05)
    ax_h.set_xlabel("entropy (bits)", color="tab:orange")
    _save_figure(fig, out / f"{stem}.png")
    return rows
