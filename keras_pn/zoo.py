"""Publish a `plan_early` run's models to the zoo: presets, model cards, results.

The zoo (`zoo/` in a checkout) holds trained tiny presets in keras-hub's
format that `from_preset(name)` finds by name on every backend:

    zoo/
      README.md                      # index of the entries (generated)
      results.md, results.json, *.png  # the run's evaluation (by `evaluate`)
      generic/pn_tiny_generic/       # the projected network, pretrained, with its
                                     # clustering (assets/clustering/: centroids, embedder)
      <domain>/pn_tiny_<domain>/     # its expert for <domain>, projected and
                                     # fine-tuned: a plain GPTCausalLM

Each entry directory is a preset plus `README.md` (the model card) and
`zoo.json`: the command that produced it, the data manifest, metrics and the
parameter count. Nothing is typed by hand: `export_zoo` reads it all from the
run's work directory.

Example:

>>> from keras_pn.zoo import export_zoo
>>> export_zoo("runs/plan_early", "zoo",  # doctest: +SKIP
...            command="python -m recipes.plan_early --workdir=runs/plan_early")
>>> from keras_pn.models import GPTCausalLM
>>> GPTCausalLM.from_preset("pn_tiny_religion")  # doctest: +SKIP
"""

import datetime
import json
import logging
import pathlib
import shutil

from keras_pn import file_io
from keras_pn import methods as registry

logger = logging.getLogger(__name__)

PRESET_FILES = ("config.json", "metadata.json", "model.weights.h5", "tokenizer.json",
                "preprocessor.json", "task.json")


def published_methods():
    """Ids of the methods the zoo publishes by default (`Method.publish_to_zoo`)."""
    return tuple(m.id for m in registry.all_methods() if m.publish_to_zoo)


class ZooError(ValueError):
    """The work directory lacks what an entry needs; the message says what to run."""


def _read_json(path):
    path = pathlib.Path(path)
    if not path.exists():
        raise ZooError(
            f"{path} is missing. Fix: run `python -m recipes.plan_early --workdir="
            f"{path.parents[1] if path.parent.name == 'results' else path.parent}` to "
            "completion first."
        )
    with open(path) as f:
        return json.load(f)


def _copy_preset(source, target, workdir=None, pretraining=None):
    """Copy a preset directory (files + assets) to `target`, atomically.

    A projected network (`pretraining` given) also gets the run's clustering
    (`keras_pn.clustering_assets`): its centroids and embedder, from `workdir/data`.
    """
    source, target = pathlib.Path(source), pathlib.Path(target)
    if not (source / "model.weights.h5").exists():
        raise ZooError(
            f"No trained preset in {source} (model.weights.h5 missing). Fix: finish the "
            "plan_early run that writes it."
        )
    with file_io.staging_directory(target) as tmp:
        for name in PRESET_FILES:
            if (source / name).exists():
                shutil.copy2(source / name, tmp / name)
        if (source / "assets").is_dir():
            shutil.copytree(source / "assets", tmp / "assets")
        if pretraining is not None:
            _write_clustering(tmp, pathlib.Path(workdir) / "data", pretraining)
    return target


def _write_clustering(preset_dir, data_dir, pretraining):
    """Store the run's k-means of the preset's k (centroids, embedder) in the preset."""
    from keras_pn.clustering_assets import write_prepared_clustering
    from keras_pn.data.prepare import load_prepared

    with open(pathlib.Path(preset_dir) / "config.json") as f:
        k = json.load(f)["config"].get("num_experts")
    try:
        data = load_prepared(data_dir)
    except (OSError, ValueError) as error:
        raise ZooError(
            f"The projected network's clustering is read from {data_dir}, which cannot "
            f"be loaded ({error}). Fix: export from a complete plan_early workdir."
        ) from None
    if k not in data.cluster_counts:
        raise ZooError(
            f"{data_dir} has no k-means with k={k} (prepared: {list(data.cluster_counts)}). "
            "Fix: export the run whose data the projected network was trained on."
        )
    write_prepared_clustering(preset_dir, data, k, pretraining_method=pretraining)


def _parameter_count(preset):
    with open(pathlib.Path(preset) / "metadata.json") as f:
        return int(json.load(f).get("parameter_count", 0))


def _data_manifest(workdir, domains):
    """What the models were trained on: the prepared data's summary."""
    prepared = pathlib.Path(workdir) / "data" / "prepared.json"
    info = _read_json(prepared) if prepared.exists() else {}
    keep = ("format", "vocabulary_size", "context_length", "embedder", "cluster_counts",
            "specialization_tokens", "token_counts", "generic_dir", "domain_dirs", "seed")
    manifest = {k: info[k] for k in keep if k in info}
    manifest["domains"] = list(domains)
    return manifest


def _format(value):
    return "—" if value is None else f"{value:.2f}"


def _card(name, title, description, entry):
    """The model card (markdown)."""
    lines = [
        f"# {name}",
        "",
        title,
        "",
        description,
        "",
        "```python",
        f'model = {entry["class_name"]}.from_preset("{name}")  # from keras_pn.models',
        "```",
        "",
        f"- Parameters: {entry['parameter_count']:,}",
        f"- Produced by: `{entry['command']}`",
        f"- Backend it was trained on: {entry['budgets'].get('backend', '?')}",
        f"- Pretraining: {entry['budgets'].get('pretraining_tokens', 0):,} generic tokens; "
        f"specialization sets: {entry['budgets'].get('specialization_tokens')} tokens; "
        f"context {entry['budgets'].get('context_length')}, vocabulary "
        f"{entry['budgets'].get('vocabulary_size')} (SentencePiece, in `assets/`).",
    ]
    metrics = entry.get("metrics") or {}
    if metrics:
        lines += ["", "## Test perplexity (from the run's `results.json`)", "",
                  "| method | " + " | ".join(metrics) + " |",
                  "|---|" + "---|" * len(metrics)]
        methods = sorted({m for per in metrics.values() for m in per})
        for method in methods:
            lines.append(f"| {method} | " + " | ".join(
                _format(metrics[d].get(method)) for d in metrics) + " |")
    lines += [
        "",
        "## Limitations",
        "",
        "A tiny CPU-scale model trained on a few hundred thousand tokens: it demonstrates the "
        "method and the tooling, it is not a useful language model. The perplexities compare "
        "methods at equal budgets within this run only.",
        "",
        f"Generated by `keras_pn.zoo.export_zoo` on {entry['exported']}.",
        "",
    ]
    return "\n".join(lines)


def export_zoo(workdir, zoo_dir="zoo", *, command, size=None, methods=None):
    """Publish the run in `workdir` to `zoo_dir`; return the entries written.

    Args:
        workdir: a finished `plan_early` work directory.
        zoo_dir: the zoo root (created if needed).
        command: the command line that produced `workdir` (goes into the cards).
        size: the specialization-set size whose models to publish (default: the
            largest of the run).
        methods: ids of the specialized methods to publish per domain (saved by
            `plan_early` under `workdir/specialized/<method>/<domain>@<size>`;
            default: `published_methods()`). The generic pretraining of the default
            ones is published too.

    Returns:
        `{name: entry directory}`.
    """
    from keras_pn.evaluation.report import evaluate_workdir

    workdir, zoo_dir = pathlib.Path(workdir), pathlib.Path(zoo_dir)
    results = _read_json(workdir / "results.json")
    budgets = _read_json(workdir / "results" / "_budgets.json")
    sizes = budgets.get("specialization_tokens") or []
    size = int(size or max(sizes))
    domains = sorted(next(iter(results["perplexity"].values())).keys())
    manifest = _data_manifest(workdir, domains)
    exported = datetime.date.today().isoformat()
    perplexity = results["perplexity"]
    by_domain = {d: {m: perplexity[m].get(d) for m in perplexity} for d in domains}
    written = {}

    def publish(name, source, subdir, class_name, title, description, metrics,
                pretraining=None):
        target = _copy_preset(source, zoo_dir / subdir / name, workdir, pretraining)
        entry = {
            "name": name,
            "class_name": class_name,
            "parameter_count": _parameter_count(target),
            "command": command,
            "budgets": budgets,
            "data_manifest": manifest,
            "metrics": metrics,
            "exported": exported,
        }
        file_io.atomic_write_text(
            target / "README.md", _card(name, title, description, entry)
        )
        file_io.atomic_write_text(
            target / "zoo.json", json.dumps(entry, indent=2, sort_keys=True)
        )
        written[name] = target
        logger.info("Zoo entry %s -> %s", name, target)

    # The projected network the published experts come from.
    for generic in sorted({registry.get(m).pretraining for m in published_methods()}):
        pn_preset = workdir / "pretrain" / generic / "preset"
        with open(pn_preset / "config.json") as f:
            k = json.load(f)["config"].get("num_experts")
        publish(
            f"{generic}_tiny_generic", pn_preset, "generic", "ProjectedGPT",
            f"The projected network pretrained on the generic mix: {k} experts, one per "
            "k-means cluster of the generic windows.",
            "Instantiate a plain small model for a domain with `model.project(expert=i)` or "
            "`model.project(histogram=p)`, then fine-tune it (`recipes.specialize "
            f"--method={generic}`). Its cluster ids come from the run's k-means "
            "(`<workdir>/data`); the preset carries their centroids and the embedder "
            "(`assets/clustering/`), so `recipes.specialize --preset=... "
            "--domain_dir=...` needs nothing else.",
            by_domain,
            pretraining=generic,
        )
    for method in published_methods() if methods is None else methods:
        for domain in domains:
            source = workdir / "specialized" / method / f"{domain}@{size}"
            publish(
                f"{method}_tiny_{domain}", source, domain, "GPTCausalLM",
                f"A small GPT specialized to **{domain}** "
                f"({size:,} specialization tokens).",
                registry.get(method).description + ".",
                {domain: by_domain[domain]},
            )
    evaluate_workdir(workdir, output_dir=zoo_dir, source="json")
    index = ["# keras_pn zoo", "",
             f"Produced by `{command}`; regenerate with `python -m recipes.export_zoo`. "
             "The results table is [results.md](results.md), written by `evaluate`.", "",
             "| preset | class | parameters | directory |", "|---|---|---|---|"]
    for name, target in sorted(written.items()):
        with open(target / "zoo.json") as f:
            entry = json.load(f)
        index.append(f"| `{name}` | {entry['class_name']} | {entry['parameter_count']:,} | "
                     f"[{target.relative_to(zoo_dir)}]({target.relative_to(zoo_dir)}/README.md) |")
    file_io.atomic_write_text(zoo_dir / "README.md", "\n".join(index) + "\n")
    return written
