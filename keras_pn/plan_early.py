"""The main job: every method of the paper, end to end, on real domains.

Stages (each cached in the workdir and skipped when already done, so an
interrupted run resumes where it stopped):

1. data: tokenizer, windows, embeddings, clusters, per-cluster shards,
   domain histograms and specialization subsets (`keras_pn.data.prepare`);
2. generic pretraining, shared by all domains: SLM, LLM, PN, hard mixture;
   each then scored once on the held-out generic windows (the generic
   validation perplexity, each window by its cluster's expert for PN and the
   mixture), cached in its `results/<method>/_generic.json`;
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
from keras_pn.evaluation.results import read_generic_fragment
from keras_pn.evaluation.results import record_generic_validation
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
        run_dir = os.path.join(workdir, "pretrain", pretraining)
        # pretrain_and_record rewrites the fragment: keep its generic validation.
        cached = (read_generic_fragment(workdir, pretraining) or {}).get("generic_validation")
        _, result = pretrain_and_record(pretraining, data, run_dir, workdir, config)
        timings[f"pretrain/{pretraining}"] = time.time() - start
        start = time.time()
        validation = generic_validation(
            pretraining, data, run_dir, workdir, config, result,
            cached=cached, max_windows=config.generic_eval_windows,
        )
        if validation is not None:
            timings[f"generic_validation/{pretraining}"] = time.time() - start

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


def _validation_key(data, result, max_windows):
    """What a generic validation result depends on: the held-out split and the
    clusterings (data fingerprints), the cap, and the pretraining's end."""
    from keras_pn.data.prepare.units import UnitName
    from keras_pn.data.prepare.units import sha256_of

    units = data.info["units"]
    split = {
        unit: fingerprint
        for unit, fingerprint in units.items()
        if unit == UnitName.GENERIC_VALID or unit.startswith("clusters/")
    }
    return {
        "data": sha256_of(split),
        "max_windows": max_windows,
        "steps": int(result.steps),
        "tokens": int(result.tokens),
        "final_loss": float(result.final_loss),
    }


def _trained_before_split(data, run_dir):
    """The pretraining in `run_dir` began before the held-out split was made (a run
    prepared by earlier code): it may have trained on the held-out windows."""
    import datetime

    from keras_pn.data.prepare.units import UnitName
    from keras_pn.data.prepare.units import read_json

    layout = getattr(data, "layout", None)
    manifest = read_json(layout.manifest(UnitName.GENERIC_VALID)) if layout else None
    if not manifest or "finished_at" not in manifest:
        return False
    made = datetime.datetime.fromisoformat(manifest["finished_at"]).timestamp()
    written = [
        os.path.getmtime(os.path.join(root, name))
        for root, _, names in os.walk(run_dir)
        for name in names
    ]
    return bool(written) and min(written) < made


def generic_validation(method, data, run_dir, workdir, config, result, cached=None,
                       max_windows=None):
    """Score a generic pretraining on the held-out generic windows; record it.

    The result (`Method.generic_validation`: each window by its cluster's expert
    for PN and the mixture) goes into `results/<method>/_generic.json`; it is
    computed once: `cached` (that fragment's earlier record) is reused when the
    data and the pretraining are unchanged.

    Args:
        method: the pretraining's id.
        data: `PreparedData`.
        run_dir: the pretraining's directory (its saved model).
        workdir: the run's work directory (holding `results/`).
        config: `RunConfig`.
        result: the pretraining's `TrainResult`.
        cached: the fragment's previous `generic_validation` record, if any.
        max_windows: cap on the windows scored (a fixed seeded sample).

    Returns:
        The record, or None when the data hold no held-out window. A pretraining
        that began before the split was made (a workdir of earlier code) is
        recorded with `"pretrained_before_split": True` and a warning: it may have
        trained on those windows (delete its `pretrain/<method>` to retrain it).
    """
    if not data.generic_valid_windows:
        logger.warning(
            "No held-out generic window in %s: no generic validation perplexity "
            "for %s (rerun the data preparation with generic_valid_windows > 0).",
            data.workdir, method,
        )
        return None
    key = _validation_key(data, result, max_windows)
    if cached and cached.get("key") == key:
        record = cached
    else:
        declared = registry.get(method)
        record = declared.generic_validation(
            declared.load_pretrained(run_dir), data, config, max_windows=max_windows
        )
        record["key"] = key
        if _trained_before_split(data, run_dir):
            record["pretrained_before_split"] = True
            logger.warning(
                "%s was pretrained before the held-out generic split of %s was made: "
                "it may have trained on those windows, and its generic validation is "
                "flagged. Fix: delete %s (and the results and specializations that "
                "start from it) to pretrain it again.",
                method, data.workdir, run_dir,
            )
        logger.info(
            "%s: generic validation perplexity %.2f on %d held-out windows (%s).",
            method, record["perplexity"], record["windows"], record["scoring"],
        )
    record_generic_validation(workdir, method, record)
    return record


def _teacher_preset(workdir, method, domain, size):
    """Where a teacher's specialized model is saved for its students."""
    return os.path.join(workdir, "specialize", method, f"{domain}@{size}", "preset")
