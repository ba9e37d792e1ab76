"""Quality at equal token budgets: test perplexity ratios of a finished plan_early run.

Reads ``<workdir>/results.json`` (written by ``python -m recipes.plan_early``; see
``keras_pn.evaluation.results``) and prints, per domain and for the macro average
(``exp`` of the mean test NLL over the domains both methods cover), the perplexity
ratios of the paper's comparisons at the run's primary specialization size:

* ``SLM-is / SLM``: importance-sampled pretraining vs generic pretraining, both
  fine-tuned (goal <= 0.90);
* ``SLM-pn / SLM``: the projected network's expert vs the SLM (goal <= 0.95);
* ``SLM-pn (histogram) / SLM-pn``: the soft projection of the domain histogram vs
  the most frequent cluster's expert (informative, no goal).

Pretraining budgets are read from the run and printed: SLM, SLM-pn and SLM-is
must have had the same number of pretraining tokens for the comparison to hold.
Nothing is trained in this mode; it takes seconds.

``--dsir`` adds an arm that *does* train: for each domain, ``slm`` is pretrained
from scratch twice for the same token budget (default: the run's SLM-is budget),
once on keras_pn's cluster importance-resampled generic stream
(the importance-sampling method's ``pretrain`` hook, ``keras_pn.methods.get(...).pretrain``) and once on generic documents
selected by DSIR (``keras_pn.data.dsir.dsir_select``: hashed n-gram importance
weights fitted on the same specialization subset, drawn from the same generic
documents the run prepared, tokens counted with the run's tokenizer), then both are
tested before and after the same fine-tuning (``keras_pn.methods.get(...).specialize``).
Ratios: perplexity(importance sampling) / perplexity(DSIR), lower is better for the
paper's method. The runs are cached under ``<workdir>/bench_quality/``
(``--dsir_dir``) and resume. ``--quick`` makes the DSIR arm tiny (32 steps, first
domain only): a smoke test, not a measurement.

Usage::

    python -m recipes.plan_early --workdir=runs/plan_early   # first
    python bench/quality.py --workdir=runs/plan_early
    python bench/quality.py --workdir=runs/plan_early --dsir [--quick] [--backend=jax]

Ends with ``RATIO <name> <value>`` lines.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

try:  # python -m bench.<name>
    from bench.common import add_backend_flag, machine, ratio
except ImportError:  # python bench/<name>.py
    from common import add_backend_flag, machine, ratio

# (ratio name, numerator method, denominator method); goals live in run_all.py.
COMPARISONS = (
    ("slm_is_over_slm", "is", "slm"),
    ("pn_over_slm", "pn", "slm"),
    ("pn_histogram_over_pn", "pn_histogram", "pn"),
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", default="runs/plan_early", help="a finished plan_early run")
    add_backend_flag(p, allow_all=False, help="Keras backend of the --dsir arm")
    p.add_argument("--quick", action="store_true", help="with --dsir: a tiny budget, one domain")
    p.add_argument("--dsir", action="store_true", help="also train the DSIR vs importance-sampling arm")
    p.add_argument("--dsir_tokens", type=int, default=None,
                   help="pretraining tokens per arm (default: the run's SLM-is budget; quick: 32 steps)")
    p.add_argument("--domains", default=None, help="comma-separated domains for --dsir (default: all)")
    p.add_argument("--dsir_dir", default=None, help="default <workdir>/bench_quality")
    p.add_argument("--dsir_min_words", type=int, default=100,
                   help="DSIR's min_example_length: shorter generic documents are never selected")
    p.add_argument("--finetune_steps", type=int, default=None,
                   help="fine-tuning steps of the --dsir arm (default: the run's; quick: 6)")
    p.add_argument("--batch_size", type=int, default=None,
                   help="batch size of the --dsir arm (default: RunConfig's, 16)")
    p.add_argument("--learning_rate", type=float, default=None,
                   help="pretraining learning rate of the --dsir arm (default: RunConfig's)")
    return p.parse_args(argv)


def missing_results(workdir):
    print(
        f"quality.py: no results in {os.path.join(workdir, 'results.json')}.\n"
        "Run the paper's comparison first (it writes that file), e.g.\n"
        "    python -m recipes.build_corpus && python -m recipes.plan_early "
        f"--workdir={workdir}\n"
        "then run this script again with the same --workdir.",
        file=sys.stderr,
    )
    return 2


def macro_ratio(nll, a, b):
    shared = sorted(set(nll[a]) & set(nll[b]))
    if not shared:
        return None, shared
    mean = lambda m: sum(nll[m][d] for d in shared) / len(shared)  # noqa: E731
    return math.exp(mean(a) - mean(b)), shared


def perplexity_ratios(results, label=""):
    """Yields ``(name, value)`` for every comparison whose methods both ran."""
    nll = results["nll"]
    for name, a, b in COMPARISONS:
        if a not in nll or b not in nll:
            print(f"# {name}: the run has no {a if a not in nll else b!r} results; skipped")
            continue
        value, shared = macro_ratio(nll, a, b)
        if value is None:
            continue
        for domain in shared:
            yield f"quality_{name}{label}_{domain}", math.exp(nll[a][domain] - nll[b][domain])
        yield f"quality_{name}{label}_macro", value


def report_run(workdir):
    from keras_pn.evaluation.results import load_results

    results = load_results(workdir, source="json")
    budgets = results.get("budgets", {})
    print(f"# {machine()}; run {os.path.abspath(workdir)}")
    pretraining = budgets.get("pretraining_tokens")
    is_tokens = budgets.get("is_pretraining_tokens", pretraining)
    print(
        f"# budgets: generic pretraining {pretraining} tokens per model, SLM-is "
        f"{is_tokens} tokens per domain, specialization "
        f"{budgets.get('primary_specialization_tokens', budgets.get('specialization_tokens'))} "
        f"tokens; presets {budgets.get('presets')}; backend {budgets.get('backend')}"
    )
    if pretraining is not None and is_tokens is not None and pretraining != is_tokens:
        print(f"# WARNING: unequal budgets (generic {pretraining} vs SLM-is {is_tokens}).")
    print("\n| method | " + " | ".join(results["domains"]) + " | macro |")
    print("|---|" + "---|" * (len(results["domains"]) + 1))
    for method in results["methods"]:
        if method not in results["perplexity"]:
            continue
        row = [f"{results['perplexity'][method].get(d, float('nan')):.2f}" for d in results["domains"]]
        print(f"| {method} | " + " | ".join(row) + f" | {results['macro'].get(method, float('nan')):.2f} |")
    print()
    lines = list(perplexity_ratios(results))
    primary = budgets.get("primary_specialization_tokens")
    for size, table in sorted(results.get("by_specialization_tokens", {}).items(), key=lambda kv: int(kv[0])):
        if primary is not None and int(size) == int(primary):
            continue
        lines += [(n, v) for n, v in perplexity_ratios(table, f"_at{size}") if n.endswith("_macro")]
    return results, lines


# --- The DSIR arm ----------------------------------------------------------------


def _generic_documents(data, path):
    """Writes the generic documents the run prepared (rebuilt from its windows) as JSONL."""
    import numpy as np

    from keras_pn.data.windows import WindowSet

    ws = WindowSet.load(data.path("windows", "generic"))
    if ws.texts is None:
        raise SystemExit(
            f"{data.path('windows', 'generic')} has no texts.jsonl: the DSIR arm needs the "
            "generic text. Rerun the data preparation of the run."
        )
    docs = {}
    for doc, text in zip(np.asarray(ws.doc_index), ws.texts):
        docs.setdefault(int(doc), []).append(text)
    with open(path, "w", encoding="utf-8") as f:
        for doc in sorted(docs):
            f.write(json.dumps({"text": " ".join(docs[doc])}) + "\n")
    return len(docs)


def _subset_text(data, domain, size, path):
    """Writes the texts of the specialization subset's windows as JSONL (DSIR's target)."""
    import numpy as np

    from keras_pn.data.windows import WindowSet

    ws = WindowSet.load(data.path("windows", "domains", domain, "train"))
    rows = np.arange(len(ws)) if size is None else data.subset_indices(domain, size)
    if ws.texts is None:
        raise SystemExit(f"The train windows of {domain!r} have no texts.")
    with open(path, "w", encoding="utf-8") as f:
        for i in rows:
            f.write(json.dumps({"text": ws.texts[int(i)]}) + "\n")
    return len(rows)


def dsir_arm(args, results):
    import keras

    from keras_pn.data.dsir import dsir_select
    from keras_pn.data.prepare import load_prepared
    from keras_pn.data.streams import domain_dataset
    from keras_pn.evaluation.perplexity import evaluate_nll
    from keras_pn.methods import RunConfig, pretrain, specialize
    from keras_pn.methods.common import build_model, without_clusters as _without_clusters
    from keras_pn.training.trainer import compile_for_training, train

    data_dir = os.path.join(args.workdir, "data")
    if not os.path.isfile(os.path.join(data_dir, "prepared.json")):
        raise SystemExit(f"--dsir needs the run's prepared data in {data_dir}.")
    data = load_prepared(data_dir)
    budgets = results.get("budgets", {})
    presets = budgets.get("presets") or {}
    config = RunConfig(verbose=0, checkpoints=1)
    if presets.get("slm"):
        config.slm_preset = presets["slm"]
    config.pn_clusters = int(budgets.get("pn_clusters", config.pn_clusters))
    config.is_clusters = int(budgets.get("is_clusters", config.is_clusters))
    if args.batch_size:
        config.batch_size = args.batch_size
    if args.learning_rate:
        config.learning_rate = args.learning_rate
        config.finetune_learning_rate = args.learning_rate / 3
    tokens_per_step = config.batch_size * data.context_length
    budget = args.dsir_tokens or (
        32 * tokens_per_step if args.quick else int(budgets.get("is_pretraining_tokens") or config.pretrain_tokens)
    )
    config.is_tokens = config.pretrain_tokens = budget
    config.finetune_max_steps = args.finetune_steps or (6 if args.quick else config.finetune_max_steps)
    if args.quick:
        config.test_windows, config.valid_windows, config.finetune_eval_every = 32, 32, 3
    size = budgets.get("primary_specialization_tokens") or data.specialization_tokens[0]
    domains = args.domains.split(",") if args.domains else list(data.domains)
    if args.quick and not args.domains:
        domains = domains[:1]
    root = os.path.abspath(args.dsir_dir or os.path.join(args.workdir, "bench_quality"))
    root = os.path.join(root, f"tokens{budget}_{keras.config.backend()}")
    os.makedirs(root, exist_ok=True)
    steps = max(1, budget // tokens_per_step)
    print(
        f"\n## DSIR vs cluster importance sampling: {budget:,} pretraining tokens "
        f"({steps} steps of {config.batch_size} x {data.context_length}) per arm, preset "
        f"{config.slm_preset}, k = {config.is_clusters}, specialization subset {size} tokens, "
        f"fine-tuning <= {config.finetune_max_steps} steps; backend {keras.config.backend()}; "
        f"in {root}"
    )
    generic = os.path.join(root, "generic_documents.jsonl")
    if not os.path.isfile(generic):
        n = _generic_documents(data, generic + ".tmp")
        os.replace(generic + ".tmp", generic)
        print(f"# {n} generic documents rebuilt from the run's generic windows")
    lines, per_arm = [], {"is": {}, "dsir": {}}
    for domain in domains:
        test = _without_clusters(
            data.domain_stream(domain, "test", config.batch_size, max_windows=config.test_windows)
        )
        # Arm 1: keras_pn's importance-resampled stream (SLM-is pretraining).
        start = time.perf_counter()
        is_model, _ = pretrain("is", data, os.path.join(root, "is", domain), config, domain=domain, size=size)
        is_s = time.perf_counter() - start
        # Arm 2: DSIR-selected generic documents, the same number of steps.
        target = os.path.join(root, "dsir", domain, "target.jsonl")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        _subset_text(data, domain, size, target)
        selection = os.path.join(root, "dsir", domain, "selection")
        start = time.perf_counter()
        if os.path.isfile(os.path.join(selection, "dsir.json")):
            with open(os.path.join(selection, "dsir.json")) as f:
                manifest = json.load(f)
        else:
            manifest = dsir_select(
                generic, target, num_tokens=budget, out_dir=selection, seed=config.seed,
                tokenizer=str(data.tokenizer_path), min_example_length=args.dsir_min_words,
            )
        select_s = time.perf_counter() - start
        keras.utils.set_random_seed(config.seed)
        dsir_model = build_model("is", data, config)
        compile_for_training(dsir_model, config.learning_rate, total_steps=steps)
        stream = domain_dataset(
            selection, "train", batch_size=config.batch_size, tokenizer=str(data.tokenizer_path),
            context_length=data.context_length, shuffle=True, repeat=True, seed=config.seed,
            drop_remainder=True,
        )
        start = time.perf_counter()
        train(dsir_model, stream, total_steps=steps, workdir=os.path.join(root, "dsir", domain, "train"),
              tokens_per_step=tokens_per_step, checkpoints=1, tensorboard=False, verbose=0)
        dsir_s = time.perf_counter() - start
        print(
            f"# {domain}: DSIR selected {manifest['selected_documents']} of "
            f"{manifest['eligible_documents']} eligible documents, {manifest['selected_tokens']:,} "
            f"tokens ({select_s:.0f} s); pretraining {is_s:.0f} s (IS), {dsir_s:.0f} s (DSIR)"
        )
        for arm, model in (("is", is_model), ("dsir", dsir_model)):
            before = evaluate_nll(model, test, verbose=False)["nll"]
            tuned, _, _ = specialize(
                "is", data, domain, size, os.path.join(root, arm, domain, "specialize"), config,
                pretrained=model,
            )
            after = evaluate_nll(tuned, test, verbose=False)["nll"]
            per_arm[arm][domain] = (before, after)
            print(f"# {domain} {arm:4s}: test perplexity {math.exp(before):8.2f} pretrained, "
                  f"{math.exp(after):8.2f} fine-tuned")
        keras.backend.clear_session()
        for i, stage in enumerate(("pretrained", "finetuned")):
            lines.append((f"quality_is_over_dsir_{stage}_{domain}",
                          math.exp(per_arm["is"][domain][i] - per_arm["dsir"][domain][i])))
    for i, stage in enumerate(("pretrained", "finetuned")):
        gap = sum(per_arm["is"][d][i] - per_arm["dsir"][d][i] for d in domains) / len(domains)
        lines.append((f"quality_is_over_dsir_{stage}_macro", math.exp(gap)))
    return lines


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isfile(os.path.join(args.workdir, "results.json")):
        return missing_results(args.workdir)
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    results, lines = report_run(args.workdir)
    if args.dsir:
        lines += dsir_arm(args, results)
    if not lines:
        print("# no comparison possible: the run lacks the methods (slm, pn, is, pn_histogram).")
        return 1
    for name, value in lines:
        ratio(name, value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
