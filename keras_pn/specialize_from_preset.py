"""Specialize a trained preset to the user's own text: no generic corpus, no prepared run.

`specialize_from_preset` is what ``python -m recipes.specialize --preset=... --domain_dir=...
--workdir=...`` runs:

1. the domain directory becomes train/valid/test JSON Lines (`keras_pn.data.text_folder`:
   as given, or a ``.txt`` folder split by file);
2. `prepare_domain` cuts them into windows with the preset's tokenizer and, for a
   projected network or mixture, embeds the train windows with the embedder the preset
   records and assigns them to its centroids (`keras_pn.clustering_assets`) -- the
   stages of `prepare_data` for one domain, into ``<workdir>/data`` (a prepared workdir
   without generic data: nothing of the generic corpus is read);
3. the method's own hooks select and project the expert (``--select``, or the soft
   expert of the histogram) or take the plain GPT as is, fine-tune it with early
   stopping on valid and test it (`keras_pn.experiment.specialize_and_record`);
4. the specialized model is saved as a preset in ``<workdir>/preset``.

An existing non-empty workdir is refused unless ``overwrite``; then it is moved aside
and deleted only once the new run succeeded.

>>> result = specialize_from_preset(  # doctest: +SKIP
...     "pn_tiny_generic", "my_texts/", "out/", RunConfig())
>>> result["perplexity"], result["preset"]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from keras_pn import file_io
from keras_pn import methods

logger = logging.getLogger(__name__)

DATA_DIR = "data"  # the domain's prepared workdir, inside the run's workdir
SPLITS_DIR = "domain"  # the train/valid/test JSON Lines of a .txt folder
PRESET_DIR = "preset"


class SpecializeError(ValueError):
    """Bad input to `specialize_from_preset`; the message names the problem and the fix."""


# --- The method a preset is specialized with -----------------------------------------


def _selects_expert(method) -> bool:
    return "expert_selection" in method.flags


def _is_projected(method) -> bool:
    base = methods.get(method.pretraining) if method.pretraining else method
    return _selects_expert(base)


def preset_method(projected: bool, select: str, recorded: str | None = None, method: str | None = None):
    """The `Method` that specializes a preset (metadata of the registry, no id written).

    A projected network or mixture is specialized by the generic pretraining that
    made it (recorded in its clustering, else the one the zoo publishes); with
    ``select="histogram"`` by the method that projects that pretraining's histogram
    when the registry has one. A plain GPT is fine-tuned by the first generic
    pretraining without expert selection. An explicit ``method`` wins, if it fits.
    """
    if method is not None:
        chosen = methods.get(method)
        if chosen.pretraining is None or chosen.pretrains_per_domain or chosen.needs_teacher:
            raise SpecializeError(
                f"--method={method} does not start from a pretrained preset. Fix: pick "
                "one that fine-tunes a pretrained model, or leave --method out."
            )
        if _is_projected(chosen) != projected:
            kind = "projected network" if projected else "plain GPT"
            raise SpecializeError(
                f"--method={method} does not specialize a {kind} preset. Fix: leave "
                "--method out (it follows from the preset)."
            )
        return chosen
    generic = [m for m in methods.all_methods() if m.is_generic_pretraining]
    if not projected:
        return next(m for m in generic if not _selects_expert(m) and not m.lora_targets)
    candidates = [m for m in generic if _selects_expert(m)]
    published = [m for m in candidates if any(
        p.pretraining == m.id for p in methods.all_methods() if p.publish_to_zoo)]
    base = methods.get(recorded) if recorded else (published or candidates)[0]
    if select == "histogram":
        soft = [
            m for m in methods.all_methods()
            if m.pretraining == base.id and not m.is_generic_pretraining
            and not _selects_expert(m) and not m.needs_teacher and not m.lora_targets
        ]
        if soft:
            return soft[0]
    return base


# --- The domain, prepared from the preset alone -------------------------------------


def prepare_domain(
    domain_dir, data_dir, *, name, proto, vocabulary_size, context_length,
    clustering=None, size=None, seed=0, progress=True,
):
    """The `PreparedData` of one domain cut with the preset's tokenizer (no generic data).

    Args:
        domain_dir: a directory with train/valid/test JSON Lines.
        data_dir: the prepared workdir to write.
        name: the domain's name.
        proto: the preset's SentencePiece model (bytes).
        vocabulary_size, context_length: the preset's.
        clustering: the preset's `PresetClustering` (projected networks), or None.
        size: specialization-set size in tokens (None: the whole train split).
        seed: the subsets' seed.
        progress: progress bars (windows, embeddings).
    """
    from keras_pn.data.embedding import embed_texts
    from keras_pn.data.prepare import PrepareConfig
    from keras_pn.data.prepare import WorkdirLayout
    from keras_pn.data.prepare import clustering as cluster_stages
    from keras_pn.data.prepare import subsets as subset_stages
    from keras_pn.data.prepare import tokenizing
    from keras_pn.data.prepare.context import StageContext
    from keras_pn.data.prepare.reader import FORMAT, FORMAT_VERSION, from_info
    from keras_pn.data.prepare.validation import Inputs
    from keras_pn.data.prepare.windowsets import load_windowset
    from keras_pn.data.tokenizer_training import tokenizer_sha256

    layout = WorkdirLayout(Path(data_dir).absolute())
    ks = () if clustering is None else (clustering.num_clusters,)
    config = PrepareConfig(
        vocabulary_size=int(vocabulary_size),
        context_length=int(context_length),
        embedder=clustering.embedder_name if clustering else PrepareConfig().embedder,
        cluster_counts=ks,
        specialization_tokens=() if size is None else (int(size),),
        seed=int(seed),
        progress=bool(progress),
    )
    ctx = StageContext(Inputs(layout, config, None, (), {name: Path(domain_dir)}))
    file_io.atomic_write_bytes(layout.tokenizer, proto)
    windows = tokenizing.run_domain_windows(ctx, name)
    subsets = subset_stages.run_subsets(ctx, name) if size is not None else {}
    if clustering is not None:
        k = clustering.num_clusters
        with file_io.staging_directory(layout.clusters_dir(k)) as tmp:
            for file in clustering.directory.glob("*"):
                file_io.atomic_write_bytes(tmp / file.name, file.read_bytes())
        train = load_windowset(layout.split_windows(name, "train"), with_text=True)
        embed_texts(
            train.texts, embedder=clustering.embedder,
            cache_path=layout.domain_embeddings(name, "train"), verbose=progress,
        )
        cluster_stages.run_assign(ctx, k, name)
        subset_stages.run_histograms(ctx, k, name)
    params = config.params()
    info = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "params": params,
        "inputs": {"generic_dir": None, "domain_dirs": {name: str(domain_dir)}},
        "domains": [name],
        "vocabulary_size": int(vocabulary_size),
        "tokenizer_sha256": tokenizer_sha256(proto),
        "windows": {
            "generic": {"windows": 0, "tokens": 0},
            "domains": {name: windows},
            "subsets": {name: subsets},
        },
        "clusters": {},
        "units": {},
    }
    file_io.atomic_write_json(layout.prepared_file, info)
    data = from_info(layout.root, info)
    if clustering is not None:  # valid/test ids, on demand, with the checked embedder
        data = dataclasses.replace(data, embedder=clustering.embedder)
    return data


# --- The run --------------------------------------------------------------------------


@contextlib.contextmanager
def _fresh_workdir(workdir: Path, overwrite: bool):
    """A workdir to fill; an old one is kept aside until the run succeeds (then deleted)."""
    existed = workdir.exists()
    if existed and not workdir.is_dir():
        raise SpecializeError(f"--workdir {workdir} is a file. Fix: pass a directory.")
    if existed and any(workdir.iterdir()):
        if not overwrite:
            raise SpecializeError(
                f"--workdir {workdir} exists and is not empty. Fix: pass a new "
                "--workdir, or --overwrite to replace it (the old one is deleted only "
                "once the new run succeeded)."
            )
        aside = workdir.parent / f".{workdir.name}.old-{os.getpid()}"
        file_io.remove(aside)
        os.replace(workdir, aside)
    else:
        aside = None
    try:
        yield workdir
    except BaseException:
        file_io.remove(workdir)  # what this run wrote
        if aside is not None:
            os.replace(aside, workdir)
        elif existed:
            workdir.mkdir()
        raise
    if aside is not None:
        file_io.remove(aside)


def _load_preset(preset):
    from keras_pn.models import GPTCausalLM
    from keras_pn.models import ProjectedGPT
    from keras_pn.presets import load_config
    from keras_pn.presets import resolve_preset

    path = resolve_preset(preset)
    backbone = load_config(path).get("class_name")
    cls = ProjectedGPT if backbone == ProjectedGPT.backbone_cls.__name__ else GPTCausalLM
    model = cls.from_preset(path)  # checked, safe mode; an architecture preset is refused
    tokenizer = getattr(model.preprocessor, "tokenizer", None)
    proto = getattr(tokenizer, "proto", None)
    if not isinstance(proto, bytes):
        raise SpecializeError(
            f"Preset '{preset}' has no SentencePiece tokenizer "
            f"({type(tokenizer).__name__ if tokenizer else 'none'}), so your text "
            "cannot be tokenized as the model was. Fix: specialize a preset saved "
            "with its SentencePiece tokenizer (zoo presets and `plan_early` presets are)."
        )
    sequence_length = int(model.preprocessor.sequence_length or model.backbone.max_sequence_length)
    model.preprocessor = None  # training and evaluation feed token ids
    return path, model, proto, sequence_length


def specialize_from_preset(
    preset,
    domain_dir,
    workdir,
    config,
    *,
    method: str | None = None,
    size: int | None = None,
    domain: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Specialize a trained preset on a directory of the user's text (see the module doc).

    Args:
        preset: a trained preset (directory or built-in name): a projected network or
            mixture carrying its clustering, or a plain GPT (fine-tuned as is).
        domain_dir: train/valid/test JSON Lines, or a folder of ``.txt`` files.
        workdir: the run directory (``data/``, ``results/``, ``preset/``).
        config: `RunConfig` (``expert_selection``: most_frequent, best_pretrained,
            finetune_all or histogram; the fine-tuning knobs).
        method: a method id to record instead of the one the preset implies.
        size: specialization-set size in tokens (None: the whole train split).
        domain: the domain's name (default: the directory's name).
        overwrite: replace a non-empty ``workdir``.

    Returns:
        The test `nll`, `perplexity`, `tokens`, the fine-tuning summary, the
        ``method`` and the ``preset`` directory.
    """
    from keras_pn.clustering_assets import load_clustering
    from keras_pn.data.text_folder import domain_splits
    from keras_pn.experiment import specialize_and_record
    from keras_pn.models import ProjectedGPT

    workdir = Path(workdir).expanduser().absolute()
    domain_path = Path(domain_dir).expanduser().absolute()
    if workdir == domain_path or domain_path in workdir.parents:
        raise SpecializeError(
            f"--workdir {workdir} is inside --domain_dir {domain_path}. Fix: put the "
            "run directory elsewhere."
        )
    name = domain or domain_path.name
    path, model, proto, sequence_length = _load_preset(preset)
    projected = isinstance(model, ProjectedGPT)
    clustering = None
    if projected:
        clustering = load_clustering(path)
        if clustering.num_clusters != model.backbone.num_experts:
            raise SpecializeError(
                f"Preset '{preset}' has {model.backbone.num_experts} experts but its "
                f"clustering {clustering.num_clusters} clusters. Fix: re-export it."
            )
        if clustering.context_length > model.backbone.max_sequence_length:
            raise SpecializeError(
                f"Preset '{preset}': windows of {clustering.context_length} tokens "
                f"exceed the model's context of {model.backbone.max_sequence_length}."
            )
        sequence_length = clustering.context_length
        config = dataclasses.replace(config, pn_clusters=clustering.num_clusters)
    recorded = clustering.info.get("pretraining_method") if clustering else None
    chosen = preset_method(projected, config.expert_selection, recorded, method)
    with _fresh_workdir(workdir, overwrite):
        splits = domain_splits(domain_path, workdir / SPLITS_DIR, seed=config.seed)
        data = prepare_domain(
            splits, workdir / DATA_DIR, name=name, proto=proto,
            vocabulary_size=model.backbone.vocabulary_size, context_length=sequence_length,
            clustering=clustering, size=size, seed=config.seed,
            progress=bool(config.verbose),
        )
        outcome = specialize_and_record(
            chosen.id, data, name, size,
            spec_dir=str(workdir), results_dir=str(workdir), config=config,
            pretrained_model=model, preset_dir=str(workdir / PRESET_DIR),
        )
    outcome.pop("model")
    outcome.update(method=chosen.id, domain=name, preset=str(workdir / PRESET_DIR))
    return outcome
