"""The main job: every method of the paper, end to end, on real domains.

Stages (each cached in the workdir and skipped when already done, so an
interrupted run resumes where it stopped):

1. data: tokenizer, windows, embeddings, clusters, per-cluster shards,
   domain histograms and specialization subsets (`keras_pn.data.prepare`);
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

import dataclasses
import logging
import os
import time

import keras

from keras_pn import file_io
from keras_pn import methods as registry
from keras_pn.data.prepare import PrepareConfig
from keras_pn.data.prepare import prepare_data
from keras_pn.evaluation.report import evaluate_workdir
from keras_pn.evaluation.results import load_results
from keras_pn.evaluation.results import write_json
from keras_pn.experiment import load_preset_model
from keras_pn.experiment import pretrain_and_record
from keras_pn.experiment import specialize_and_record
from keras_pn.methods import RunConfig

logger = logging.getLogger(__name__)

DEFAULT_DOMAINS = ("religion", "licenses", "medicine", "python")


def _fragment_path(workdir, method, domain, size, size_in_name):
    name = f"{domain}@{size}" if size_in_name else domain
    return os.path.join(workdir, "results", method, f"{name}.json")


def run_plan_early(
    workdir,
    *,
    generic_dir,
    domain_dirs,
    methods=None,
    config=None,
    prepare=None,
    evaluate_before_finetuning=True,
    save_specialized=None,
):
    """Run the whole comparison; return the merged results.

    Args:
        workdir: where everything is written (resumable).
        generic_dir: the generic mix (`*.jsonl`).
        domain_dirs: `{name: directory}` in the domain format.
        methods: ids of the methods to run (default: every registered method);
            they run in run order (`Method.run_rank`: a teacher before its student).
        config: `RunConfig` (budgets, learning rates, presets, k).
        prepare: `PrepareConfig` of the data preparation (vocabulary, context,
            embedder, specialization-set sizes, ...); its k-means k's and seed are
            the run's (`config.cluster_counts()`, `config.seed`).
        evaluate_before_finetuning: also measure the test perplexity of the
            models the methods with `Method.evaluate_before_finetuning` start from.
        save_specialized: ids of the methods whose specialized models are saved
            as presets under `workdir/specialized/` (for the zoo; default: those
            declaring `Method.save_specialized`).

    Returns:
        The results dict (also `workdir/results.json`, `results.md`, plots).
    """
    config = config or RunConfig()
    prepare = dataclasses.replace(
        prepare or PrepareConfig(),
        cluster_counts=config.cluster_counts(),
        seed=config.seed,
    )
    specialization_tokens = list(prepare.specialization_tokens)
    declared = registry.all_methods()
    known = [m.id for m in declared]
    methods = known if methods is None else methods
    unknown = sorted(set(methods) - set(known))
    if unknown:
        raise ValueError(f"Unknown methods {unknown}. Known: {known}.")
    selected = [m for m in declared if m.id in methods]
    if save_specialized is None:
        save_specialized = [m.id for m in declared if m.save_specialized]
    # A teacher's specialized model is kept (and saved) for its students.
    teacher_ids = {m.needs_teacher for m in declared if m.needs_teacher}
    os.makedirs(workdir, exist_ok=True)
    t0 = time.time()
    data = prepare_data(
        os.path.join(workdir, "data"), prepare, generic_dir=generic_dir, domain_dirs=domain_dirs
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
        "context_length": prepare.context_length,
        "vocabulary_size": prepare.vocabulary_size,
        "presets": config.presets(),
        "pn_clusters": config.pn_clusters,
        "mix_clusters": config.mix_clusters,
        "equal_pretraining_cost": config.equal_pretraining_cost,
        "is_clusters": config.is_clusters,
        "backend": keras.config.backend(),
    }
    write_json(os.path.join(workdir, "results", "_budgets.json"), budgets)
    # --- Generic pretraining (shared by all domains) --------------------------
    needed = sorted({m.pretraining for m in selected if m.pretraining})
    for pretraining in needed:
        start = time.time()
        pretrain_and_record(
            pretraining, data, os.path.join(workdir, "pretrain", pretraining), workdir, config
        )
        timings[f"pretrain/{pretraining}"] = time.time() - start

    # --- Specialization per domain and size ------------------------------------
    size_in_name = len(specialization_tokens) > 1
    for domain in data.domains:
        for size in specialization_tokens:
            teachers = {}
            for method in selected:
                path = _fragment_path(workdir, method.id, domain, size, size_in_name)
                spec_dir = os.path.join(workdir, "specialize", method.id, f"{domain}@{size}")
                if os.path.exists(path):
                    continue
                start = time.time()
                teacher = None
                if method.needs_teacher:
                    if method.needs_teacher not in teachers:
                        teachers[method.needs_teacher] = load_preset_model(
                            _teacher_preset(workdir, method.needs_teacher, domain, size)
                        )
                    teacher = teachers[method.needs_teacher]
                preset_dir = None
                if method.id in teacher_ids:
                    preset_dir = _teacher_preset(workdir, method.id, domain, size)
                elif method.id in save_specialized:
                    preset_dir = os.path.join(workdir, "specialized", method.id, f"{domain}@{size}")
                outcome = specialize_and_record(
                    method.id,
                    data,
                    domain,
                    size,
                    spec_dir=spec_dir,
                    results_dir=workdir,
                    config=config,
                    pretrained_dir=(
                        os.path.join(workdir, "pretrain", method.pretraining)
                        if method.pretraining
                        else None
                    ),
                    domain_pretrain_dir=os.path.join(
                        workdir, "pretrain", method.id, f"{domain}@{size}"
                    ),
                    teacher=teacher,
                    size_in_name=size_in_name,
                    evaluate_before=evaluate_before_finetuning,
                    preset_dir=preset_dir,
                )
                if method.id in teacher_ids:
                    teachers[method.id] = outcome["model"]
                timings[f"{method.id}/{domain}@{size}"] = time.time() - start
    timings["total"] = time.time() - t0
    file_io.atomic_write_json(os.path.join(workdir, "timings.json"), timings, indent=2)
    evaluate_workdir(workdir)
    return load_results(workdir, source="json")


def _teacher_preset(workdir, method, domain, size):
    """Where a teacher's specialized model is saved for its students."""
    return os.path.join(workdir, "specialize", method, f"{domain}@{size}", "preset")
