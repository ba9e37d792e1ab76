"""`format_summary`: what a preparation holds and cost, for a terminal."""

from __future__ import annotations

from keras_pn.data.prepare.reader import PreparedData
from keras_pn.data.prepare.units import STAGES


def _heldout_line(heldout) -> str:
    if heldout is None:
        return "  generic validation: none (prepared before the held-out split existed)"
    return (
        f"  generic validation: {heldout['tokens']:,} tokens in {heldout['windows']:,} "
        f"windows of {heldout['documents']:,} documents held out of every pretraining "
        f"(cap {heldout['max_windows']:,} windows)"
    )


def format_summary(data: PreparedData) -> str:
    """A human-readable summary: sizes, per-stage wall times and the cluster table."""
    info = data.info
    w = info["windows"]
    g = w["generic"]
    lines = [
        f"Prepared data in {data.workdir}",
        (
            f"  tokenizer: {data.vocabulary_size:,} pieces "
            f"(sha256 {data.tokenizer_sha256[:12]}), context {data.context_length}, "
            f"embedder {data.embedder}, k = {', '.join(map(str, data.cluster_counts))}"
        ),
        f"  generic: {g['tokens']:,} tokens in {g['windows']:,} windows from "
        f"{g['documents']:,} of {g['documents_available']:,} documents"
        + (" (capped)" if g["capped"] else ""),
        _heldout_line(w.get("generic_valid")),
        "",
        "| domain | train tokens (windows) | valid tokens | test tokens | subsets |",
        "|---|---|---|---|---|",
    ]
    for d in data.domains:
        s = w["domains"][d]
        subsets = ", ".join(
            f"{int(c):,}: {v['tokens']:,}"
            + (" (whole split)" if v["whole_split"] else "")
            for c, v in w["subsets"][d].items()
        )
        lines.append(
            f"| {d} | {s['train']['tokens']:,} ({s['train']['windows']:,}) | "
            f"{s['valid']['tokens']:,} | {s['test']['tokens']:,} | {subsets} |"
        )
    lines += [
        "",
        "| stage | this call, wall (s) | when built, wall (s) | when built, CPU (s) |",
        "|---|---|---|---|",
    ]
    for stage in STAGES:
        now = data.stage_seconds.get(stage, 0.0)
        lines.append(
            f"| {stage} | {now:.1f}{'' if now else ' (cached)'} | "
            f"{data.built_seconds.get(stage, 0.0):.1f} | "
            f"{data.built_cpu_seconds.get(stage, 0.0):.1f} |"
        )
    lines += ["", data.cluster_table()]
    return "\n".join(lines)
