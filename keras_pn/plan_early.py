"""The main job: every method of the paper, end to end, on real domains.

Stages (each cached in the workdir and skipped when already done, so an
interrupted run resumes where it stopped):

1. data: tokenizer, windows, embeddings, clusters, per-cluster shards,
   domain histograms and specialization subsets (`keras_pn.data.pipeline`);
2. generic pretraining, shared by all domains: SLM, LLM, PN, hard mixture;
3. per domain and specialization-set size: SLM-is pretraining on the
   importance-resampled stream, then specialization of every method
   (fine-tuning with early stopping; PN/mixture expert selection and
   projection; LoRA; distillation from the fine-tuned LLM);
4. evaluation: test perplexity per domain, macro average, costs; a results
   table and plots (`keras_pn.evaluation`).

Usage (tiny defaults, CPU):
    python -m recipes.plan_early --workdir=runs/plan_early
"""

import json
import logging
import os
import time

import keras

from keras_pn.evaluation.report import evaluate_workdir
from keras_pn.evaluation.results import load_results
from keras_pn.evaluation.results import write_json
from keras_pn.experiment import load_preset_model
from keras_pn.experiment import pretrain_and_record
from keras_pn.experiment import specialize_and_record
from keras_pn.training.methods import SPECIALIZED
from keras_pn.training.methods import RunConfig

logger = logging.getLogger(__name__)

DEFAULT_DOMAINS = ("religion", "licenses", "medicine", "python")
# Specialization runs in this order: the LLM before SLM-d (its teacher).
METHOD_ORDER = ("slm", "slm_nopt", "llm", "llm_lora", "mix", "pn", "pn_histogram", "is", "distill")
NEEDS_PRETRAINING = {
    "slm": "slm",
    "llm": "llm",
    "llm_lora": "llm",
    "mix": "mix",
    "pn": "pn",
    "pn_histogram": "pn",
    "distill": "slm",
}


def _fragment_path(workdir, method, domain, size, size_in_name):
    name = f"{domain}@{size}" if size_in_name else domain
    return os.path.join(workdir, "results", method, f"{name}.json")


def run_plan_early(
    workdir,
    *,
    generic_dir,
    domain_dirs,
    methods=METHOD_ORDER,
    specialization_tokens=(10_000,),
    config=None,
    vocabulary_size=4096,
    context_length=128,
    embedder="hashed",
    max_generic_tokens=None,
    tokenizer_sentences=10_000,
    evaluate_before_finetuning=True,
    save_specialized=("pn", "slm", "is"),
):
    """Run the whole comparison; return the merged results.

    Args:
        workdir: where everything is written (resumable).
        generic_dir: the generic mix (`*.jsonl`).
        domain_dirs: `{name: directory}` in the domain format.
        methods: subset of `SPECIALIZED` to run.
        specialization_tokens: specialization-set sizes (tokens).
        config: `RunConfig` (budgets, learning rates, presets, k).
        vocabulary_size, context_length, embedder, max_generic_tokens,
            tokenizer_sentences: data
            preparation (see `keras_pn.data.pipeline.prepare_data`).
        evaluate_before_finetuning: also measure test perplexity of the
            pretrained models before fine-tuning.
        save_specialized: methods whose specialized models are saved as
            presets under `workdir/specialized/` (for the zoo).

    Returns:
        The results dict (also `workdir/results.json`, `results.md`, plots).
    """
    from keras_pn.data.pipeline import prepare_data

    config = config or RunConfig()
    unknown = sorted(set(methods) - set(SPECIALIZED))
    if unknown:
        raise ValueError(f"Unknown methods {unknown}. Known: {list(SPECIALIZED)}.")
    methods = [m for m in METHOD_ORDER if m in methods]
    os.makedirs(workdir, exist_ok=True)
    t0 = time.time()
    data = prepare_data(
        os.path.join(workdir, "data"),
        generic_dir=generic_dir,
        domain_dirs=domain_dirs,
        vocabulary_size=vocabulary_size,
        context_length=context_length,
        embedder=embedder,
        cluster_counts=sorted({config.pn_clusters, config.is_clusters}),
        specialization_tokens=specialization_tokens,
        max_generic_tokens=max_generic_tokens,
        tokenizer_sentences=tokenizer_sentences,
        seed=config.seed,
    )
    timings = {"data": time.time() - t0}
    budgets = {
        "pretraining_tokens": config.pretrain_tokens,
        "is_pretraining_tokens": config.is_tokens,
        "specialization_tokens": list(specialization_tokens),
        "pretraining_over_largest_specialization": config.pretrain_tokens
        / max(specialization_tokens),
        "generic_tokens_available": int(data.token_counts.get("generic", 0))
        if isinstance(data.token_counts, dict)
        else None,
        "context_length": context_length,
        "vocabulary_size": vocabulary_size,
        "presets": {
            "slm": config.slm_preset,
            "llm": config.llm_preset,
            "pn": config.pn_preset,
        },
        "pn_clusters": config.pn_clusters,
        "is_clusters": config.is_clusters,
        "backend": keras.config.backend(),
    }
    write_json(os.path.join(workdir, "results", "_budgets.json"), budgets)
    # --- Generic pretraining (shared by all domains) --------------------------
    needed = sorted({NEEDS_PRETRAINING[m] for m in methods if m in NEEDS_PRETRAINING})
    for method in needed:
        start = time.time()
        pretrain_and_record(
            method, data, os.path.join(workdir, "pretrain", method), workdir, config
        )
        timings[f"pretrain/{method}"] = time.time() - start

    # --- Specialization per domain and size ------------------------------------
    size_in_name = len(specialization_tokens) > 1
    for domain in data.domains:
        for size in specialization_tokens:
            teacher = None
            for method in methods:
                path = _fragment_path(workdir, method, domain, size, size_in_name)
                spec_dir = os.path.join(workdir, "specialize", method, f"{domain}@{size}")
                teacher_preset = os.path.join(workdir, "specialize", "llm", f"{domain}@{size}", "preset")
                if os.path.exists(path):
                    continue
                start = time.time()
                if method == "distill" and teacher is None:
                    teacher = load_preset_model(teacher_preset)
                preset_dir = None
                if method == "llm":
                    preset_dir = teacher_preset
                elif method in save_specialized:
                    preset_dir = os.path.join(workdir, "specialized", method, f"{domain}@{size}")
                outcome = specialize_and_record(
                    method,
                    data,
                    domain,
                    size,
                    spec_dir=spec_dir,
                    results_dir=workdir,
                    config=config,
                    pretrained_dir=(
                        os.path.join(workdir, "pretrain", NEEDS_PRETRAINING[method])
                        if method in NEEDS_PRETRAINING
                        else None
                    ),
                    is_dir=os.path.join(workdir, "pretrain", "is", f"{domain}@{size}"),
                    teacher=teacher,
                    size_in_name=size_in_name,
                    evaluate_before=evaluate_before_finetuning,
                    preset_dir=preset_dir,
                )
                if method == "llm":
                    teacher = outcome["model"]
                timings[f"{method}/{domain}@{size}"] = time.time() - start
    timings["total"] = time.time() - t0
    with open(os.path.join(workdir, "timings.json"), "w") as f:
        json.dump(timings, f, indent=2)
    evaluate_workdir(workdir)
    return load_results(workdir, source="json")


