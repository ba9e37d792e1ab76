"""Regime sweep: which CPU-scale regime reproduces the paper's orderings (issue 17)?

Each regime is a `recipes.plan_early` command line (architecture presets written
here, flags for tokens, vocabulary, k, fine-tuning); each runs in its own workdir
under ``--root`` (resumable: a finished regime is only read back). For every
regime the script prints, from ``results.json`` at the largest specialization
size and the smallest:

* macro perplexity after fine-tuning of every method, and the paper's checks:
  SLM-is / SLM <= 0.90, SLM-pn / SLM <= 0.95, SLM-mix < SLM, LLM < SLM,
  SLM-nopt worst, LLM-LoRA within 5% of LLM;
* the generic pretraining tokens per SLM parameter;
* wall seconds of the run.

Usage::

    python bench/regime_sweep.py --list                       # the regimes
    python bench/regime_sweep.py --regimes=r2x64_4m --root=runs/regime_sweep
    python bench/regime_sweep.py --root=runs/regime_sweep --report_only

Ends with ``RATIO <regime>_<check> <value>`` lines and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

try:  # python -m bench.<name>
    from bench.common import ratio
except ImportError:  # python bench/<name>.py
    from common import ratio

VOCAB, CONTEXT = 1024, 128


def _gpt(layers, width, heads):
    return ("GPTBackbone", dict(vocabulary_size=VOCAB, num_layers=layers, num_heads=heads,
                                hidden_dim=width, intermediate_dim=4 * width,
                                max_sequence_length=CONTEXT))


def _pn(layers, width, heads, k, projected):
    name, config = _gpt(layers, width, heads)
    return ("ProjectedGPTBackbone", dict(config, num_experts=k, projected_layers=projected))


# name -> (architectures, plan_early flags). The architectures are written as presets.
REGIMES = {
    # The calibration point of PAPER.md ("The regime").
    "r4x96_2m": (
        {"slm": _gpt(4, 96, 4), "llm": _gpt(4, 160, 4), "pn": _pn(4, 96, 4, 8, [1, 2])},
        {"pretrain_tokens": 2_000_000, "pn_clusters": 8, "mix_clusters": 8},
    ),
    # A smaller SLM on twice the tokens: ~23 tokens per SLM parameter.
    "r2x64_4m": (
        {"slm": _gpt(2, 64, 2), "llm": _gpt(4, 128, 4), "pn": _pn(2, 64, 2, 8, [0, 1])},
        {"pretrain_tokens": 4_000_000, "pn_clusters": 8, "mix_clusters": 4},
    ),
    "r2x64_8m": (
        {"slm": _gpt(2, 64, 2), "llm": _gpt(4, 128, 4), "pn": _pn(2, 64, 2, 8, [0, 1])},
        {"pretrain_tokens": 8_000_000, "pn_clusters": 8, "mix_clusters": 4},
    ),
    # Capacity-limited: a 62k-parameter SLM on 16M tokens (~260 per parameter),
    # the LLM at ~6.5x, batches of 64 (twice the tokens/s of 16 at these sizes).
    "r2x32_16m": (
        {"slm": _gpt(2, 32, 2), "llm": _gpt(4, 80, 4), "pn": _pn(2, 32, 2, 8, [0, 1])},
        {"pretrain_tokens": 16_000_000, "is_tokens": 4_000_000, "batch_size": 64,
         "pn_clusters": 8, "mix_clusters": 4},
    ),
}
# MiniLM clusters (the default embedder); each domain's train split is capped at
# the largest specialization size, so that MiniLM embeds only what the run uses.
COMMON_FLAGS = {
    "embedder": "minilm",
    "max_domain_train_tokens": 200_000,
    "vocabulary_size": VOCAB,
    "context_length": CONTEXT,
    "specialization_tokens": "20000,200000",
    "is_tokens": 2_000_000,
    "max_generic_tokens": 4_000_000,
    "finetune_max_steps": 1000,
    "verbose": 2,
}
CHECKS = (
    # (name, numerator, denominator, goal: ratio must be <= goal)
    ("is_over_slm", "is", "slm", 0.90),
    ("pn_over_slm", "pn", "slm", 0.95),
    ("mix_over_slm", "mix", "slm", 1.0),
    ("llm_over_slm", "llm", "slm", 1.0),
    ("lora_over_llm", "llm_lora", "llm", 1.05),
)


def write_presets(root, name, architectures):
    """Architecture presets of a regime; returns the `--<model>_preset` flags."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from keras_pn.models.architectures.definitions import serialized_config

    flags = {}
    for model, (class_name, config) in architectures.items():
        directory = os.path.join(root, name, "presets", model)
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "config.json"), "w") as f:
            json.dump(serialized_config(class_name, config), f)
        with open(os.path.join(directory, "metadata.json"), "w") as f:
            json.dump({"parameter_count": 0}, f)
        flags[f"{model}_preset"] = directory
    return flags


def run_regime(root, name, extra_flags, backend):
    architectures, flags = REGIMES[name]
    workdir = os.path.join(root, name, "run")
    all_flags = {**COMMON_FLAGS, **flags, **write_presets(root, name, architectures),
                 **extra_flags, "workdir": workdir}
    command = [sys.executable, "-m", "recipes.plan_early"] + [
        f"--{key}={value}" for key, value in all_flags.items()
    ]
    print("#", " ".join(command), flush=True)
    start = time.time()
    with open(os.path.join(root, name, "plan_early.log"), "a") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT,
                       env={**os.environ, "KERAS_BACKEND": backend})
    with open(os.path.join(root, name, "wall_seconds.json"), "w") as f:
        json.dump({"seconds": time.time() - start}, f)


def _macro(results, method, size):
    by_size = results.get("by_specialization_tokens", {}).get(str(size))
    table = (by_size or {}).get("macro") if by_size else None
    table = table or results.get("macro", {})
    return table.get(method)


def report(root, names):
    rows = []
    for name in names:
        path = os.path.join(root, name, "run", "results.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            results = json.load(f)
        sizes = results.get("budgets", {}).get("specialization_tokens") or [None]
        for size in sizes:
            macro = {m: _macro(results, m, size) for m in results.get("macro", {})}
            row = {"regime": name, "size": size, "macro": macro}
            for check, num, den, goal in CHECKS:
                if macro.get(num) and macro.get(den):
                    value = macro[num] / macro[den]
                    row[check] = value
                    ratio(f"{name}_{size}_{check}", round(value, 4))
            finite = {m: v for m, v in macro.items() if v and math.isfinite(v)}
            if finite:
                row["nopt_worst"] = max(finite, key=finite.get) == "slm_nopt"
            rows.append(row)
    methods = sorted({m for r in rows for m in r["macro"]})
    print("| regime | size | " + " | ".join(methods) + " | " +
          " | ".join(c[0] for c in CHECKS) + " | nopt worst |")
    print("|---" * (3 + len(methods) + len(CHECKS)) + "|")
    for r in rows:
        cells = [f"{r['macro'][m]:.1f}" if r["macro"].get(m) else "" for m in methods]
        checks = [
            (f"{r[c[0]]:.3f}" + ("" if r[c[0]] <= c[3] else " ✗")) if c[0] in r else ""
            for c in CHECKS
        ]
        print(f"| {r['regime']} | {r['size']} | " + " | ".join(cells) + " | " +
              " | ".join(checks) + f" | {r.get('nopt_worst', '')} |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="runs/regime_sweep")
    p.add_argument("--regimes", default=",".join(REGIMES))
    p.add_argument("--backend", default="tensorflow")
    p.add_argument("--flags", default="", help="extra plan_early flags, key=value,...")
    p.add_argument("--report_only", action="store_true")
    p.add_argument("--list", action="store_true")
    args = p.parse_args(argv)
    if args.list:
        for name, (architectures, flags) in REGIMES.items():
            print(name, flags, {m: c[1] for m, c in architectures.items()})
        return
    names = [n for n in args.regimes.split(",") if n]
    unknown = sorted(set(names) - set(REGIMES))
    if unknown:
        p.error(f"unknown regimes {unknown}; known: {sorted(REGIMES)}")
    extra = dict(kv.split("=", 1) for kv in args.flags.split(",") if kv)
    if not args.report_only:
        for name in names:
            run_regime(args.root, name, extra, args.backend)
    report(args.root, names)


if __name__ == "__main__":
    main()
