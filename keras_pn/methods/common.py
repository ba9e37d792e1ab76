"""The machinery every method's hooks share: models from presets, streams, pretraining, fine-tuning.

A method module declares *what* differs (`Method` hooks); this module is the one
implementation of *how*: `pretrain` (a resumable token-budgeted run that saves a
preset) and `specialize` (fine-tuning with early stopping on the domain's valid
split, writing `specialize.json`). Keras, TensorFlow and the models load on first
use, so reading the registry stays cheap.

>>> from keras_pn import methods
>>> from keras_pn.methods import common
>>> [m.id for m in methods.all_methods() if m.has_pretraining][:2]
['slm', 'llm']
>>> first = methods.all_methods()[0]
>>> common.resolve(first.id) is first
True
"""

from __future__ import annotations

import logging
import os

from keras_pn import file_io

logger = logging.getLogger(__name__)


def resolve(method):
    """The `Method` of an id (a `Method` is returned as is)."""
    from keras_pn.methods import registry

    return registry.get(method) if isinstance(method, str) else method


# --- Models -------------------------------------------------------------------


def _sizes(data):
    return {"vocabulary_size": data.vocabulary_size, "max_sequence_length": data.context_length}


def gpt(preset, data):
    """An untrained `GPTCausalLM` of `preset`, sized to the prepared data."""
    from keras_pn.models import GPTCausalLM

    return GPTCausalLM.from_preset(preset, load_weights=False, **_sizes(data))


def projected_network(config, data, **overrides):
    """An untrained `ProjectedGPT` of `config.pn_preset` with `config.pn_clusters` experts."""
    from keras_pn.models import ProjectedGPT

    return ProjectedGPT.from_preset(
        config.pn_preset,
        load_weights=False,
        num_experts=config.pn_clusters,
        **overrides,
        **_sizes(data),
    )


def build_model(method, data, config):
    """An untrained model of the right architecture for `method` (an id or a `Method`)."""
    return resolve(method).build_model(data, config)


def load_pretrained(workdir):
    """The model saved by `pretrain` in `workdir/preset`, without preprocessor."""
    from keras_hub.models import CausalLM

    import keras_pn.models  # noqa: F401  (registers the classes)

    model = CausalLM.from_preset(os.path.join(workdir, "preset"))
    model.preprocessor = None
    return model


def save_preset(model, data, directory):
    """Save `model` with the run's tokenizer as a keras-hub preset (idempotent, atomic).

    Training and evaluation feed token ids: the preprocessor is attached for the
    save only.
    """
    from keras_pn import clustering_assets
    from keras_pn.models import GPTCausalLMPreprocessor
    from keras_pn.models import ProjectedGPT
    from keras_pn.models import ProjectedGPTCausalLMPreprocessor

    if os.path.exists(os.path.join(directory, "model.weights.h5")):
        return directory
    cls = (
        ProjectedGPTCausalLMPreprocessor
        if isinstance(model, ProjectedGPT)
        else GPTCausalLMPreprocessor
    )
    model.preprocessor = cls(data.tokenizer(), sequence_length=data.context_length)
    try:
        with file_io.staging_directory(directory) as staging:
            model.save_to_preset(str(staging))
            clustering_assets.write_model_clustering(model, data, staging)  # PN: centroids
    finally:
        model.preprocessor = None
    return directory


# --- Streams ------------------------------------------------------------------


def without_clusters(dataset):
    """Drop `cluster_ids` for plain GPT models."""

    def drop(x, y, sample_weight):
        return {"token_ids": x["token_ids"], "padding_mask": x["padding_mask"]}, y, sample_weight

    return dataset.map(drop)


def generic_stream(data, config):
    """The generic pretraining stream, without cluster ids (plain GPTs)."""
    return without_clusters(data.generic_stream(config.pn_clusters, config.batch_size, config.seed))


def projected_stream(data, config):
    """The generic stream with cluster ids under the PN's k, batched by
    `config.pn_batch_composition` (projected networks)."""
    return data.generic_stream(
        config.pn_clusters,
        config.batch_size,
        config.seed,
        batch_composition=config.pn_batch_composition,
    )


def resampled_stream(data, config, domain, size):
    """The generic stream resampled to the domain's cluster histogram, without cluster ids."""
    return without_clusters(
        data.resampled_stream(domain, size, config.is_clusters, config.batch_size, config.seed)
    )


def domain_streams(data, domain, size, config):
    """`(train, valid)`: the domain's repeated train subset and its capped valid split."""
    train = without_clusters(
        data.domain_stream(
            domain, "train", config.finetune_batch_size, size=size, shuffle=True, repeat=True
        )
    )
    valid = without_clusters(
        data.domain_stream(domain, "valid", config.batch_size, max_windows=config.valid_windows)
    )
    return train, valid


def domain_test_stream(data, domain, config):
    """The domain's test windows (the same capped sample for every method)."""
    return without_clusters(
        data.domain_stream(domain, "test", config.batch_size, max_windows=config.test_windows)
    )



# --- Pretraining and specialization -------------------------------------------------


def pretrain(method, data, workdir, config, domain=None, size=None):
    """Pretrain one model; resumable; saves a preset in `workdir/preset`.

    Args:
        method: a method with a pretraining stage (`Method.has_pretraining`), or its id;
            one that pretrains per domain needs `domain` and `size`.
        data: a `keras_pn.data.prepare.PreparedData`.
        workdir: run directory.
        config: `RunConfig`.

    Returns:
        `(model, TrainResult)`.
    """
    method = resolve(method)
    return method.pretrain(data, workdir, config, domain=domain, size=size)


def pretraining_flops_per_token(model, data, config):
    """Training FLOPs per token of `model` at the run's pretraining batch (the paper's formula).

    A projected network on mixed batches builds one kernel per example.
    """
    from keras_pn.evaluation.flops import training_flops_per_token

    backbone = getattr(model, "backbone", model)
    mixed = (
        hasattr(backbone, "num_experts") and config.pn_batch_composition == "mixed"
    )
    return training_flops_per_token(
        model,
        sequence_length=data.context_length,
        tokens_per_batch=config.batch_size * data.context_length,
        kernels_per_batch=config.batch_size if mixed else 1,
    )


def equal_cost_tokens(model, data, config):
    """The tokens `model` trains on for the SLM's pretraining FLOPs (`pretrain_tokens`).

    The paper compares the generic pretrainings at equal cost: the SLM trains on
    `config.pretrain_tokens`, a model costing `r` times more FLOPs per token on
    `pretrain_tokens / r`. With `config.equal_pretraining_cost` off, every
    generic pretraining trains on `pretrain_tokens`.
    """
    if not config.equal_pretraining_cost:
        return config.pretrain_tokens
    reference = pretraining_flops_per_token(gpt(config.slm_preset, data), data, config)
    ratio = pretraining_flops_per_token(model, data, config) / reference
    return int(config.pretrain_tokens / ratio)


def train_for_tokens(model, stream, tokens, workdir, data, config, preset_dir=None):
    """Train `model` on `stream` for `tokens` (resumable in `workdir`); save its preset.

    Returns:
        `TrainResult`; the preset is in `preset_dir` (default `workdir/preset`).
    """
    from keras_pn.training import model_pool
    from keras_pn.training.trainer import compile_for_training
    from keras_pn.training.trainer import train

    tokens_per_step = config.batch_size * data.context_length
    steps = max(1, int(tokens) // tokens_per_step)
    # Models of one architecture (SLM, the per-domain SLM-is runs, the mixture's
    # experts) share one compiled twin (model_pool).
    trainee = model_pool.POOL.borrow(
        model,
        ("pretrain", config.learning_rate, steps),
        lambda m: compile_for_training(m, config.learning_rate, total_steps=steps),
    )
    result = train(
        trainee,
        stream,
        total_steps=steps,
        workdir=workdir,
        tokens_per_step=tokens_per_step,
        checkpoints=config.checkpoints,
        verbose=config.verbose,
    )
    model_pool.POOL.give_back(trainee, model)
    save_preset(model, data, preset_dir or os.path.join(workdir, "preset"))
    return result


def run_pretraining(method, data, workdir, config, domain=None, size=None):
    """`Method.pretrain`: the method's model on the method's stream for its token budget."""
    import keras

    if not method.has_pretraining:
        raise ValueError(f"`{method.id}` has no pretraining stage.")
    keras.utils.set_random_seed(config.seed)
    model = method.build_model(data, config)
    result = train_for_tokens(
        model,
        method.pretraining_stream(data, config, domain=domain, size=size),
        method.pretraining_tokens(config, model=model, data=data),
        workdir,
        data,
        config,
    )
    return model, result


def specialize(method, data, domain, size, workdir, config, pretrained=None, teacher=None):
    """Fine-tune (or train from scratch) one method on one domain's train subset.

    Args:
        method: a `Method` or its id.
        data: `PreparedData`.
        domain: domain name; `size`: specialization-set size (tokens).
        workdir: where `specialize.json` is written.
        config: `RunConfig`.
        pretrained: the model the method starts from (its pretraining's).
        teacher: the specialized model of `method.needs_teacher`, for a method that
            learns from one.

    Returns:
        `(GPTCausalLM, FineTuneResult, info)`; the model is a plain GPT.
    """
    return resolve(method).specialize(
        data, domain, size, workdir, config, pretrained=pretrained, teacher=teacher
    )


def _fine_tune(model, train_data, valid_data, data, config, learning_rate, max_steps, verbose):
    from keras_pn.training.fine_tuning import fine_tune

    return fine_tune(
        model,
        train_data,
        valid_data,
        max_steps=max_steps,
        eval_every=config.finetune_eval_every,
        learning_rate=learning_rate,
        tokens_per_step=config.finetune_batch_size * data.context_length,
        patience=config.patience,
        verbose=verbose,
    )


def run_specialization(method, data, domain, size, workdir, config, pretrained, teacher):
    """`Method.specialize`: the method's starting model, fine-tuned; `specialize.json` written.

    `Method.specialization_model` gives the model to fine-tune, or a list of
    `(expert, model)` candidates: each is fine-tuned and the best on valid is kept
    (its steps, tokens and seconds are the candidates' sum).
    """
    import keras

    os.makedirs(workdir, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    info = {"method": method.id, "domain": domain, "size": size}
    train_data, valid_data = domain_streams(data, domain, size, config)
    model = method.specialization_model(
        pretrained, data, domain, size, config, teacher=teacher, info=info
    )
    learning_rate = method.specialization_learning_rate(config)
    max_steps = method.specialization_max_steps(config)
    if isinstance(model, list):
        best = None
        total_steps = total_tokens = total_seconds = 0
        for expert, candidate in model:
            result = _fine_tune(
                candidate, train_data, valid_data, data, config, learning_rate, max_steps, verbose=0
            )
            total_steps += result.steps
            total_tokens += result.tokens
            total_seconds += result.seconds
            if best is None or result.best_valid_loss < best[2].best_valid_loss:
                best = (expert, candidate, result)
        expert, model, result = best
        result.steps, result.tokens, result.seconds = total_steps, total_tokens, total_seconds
        info["selection"]["expert"] = expert
    else:
        result = _fine_tune(
            model, train_data, valid_data, data, config, learning_rate, max_steps,
            verbose=config.verbose,
        )
        model = method.trained_model(model)
    file_io.atomic_write_json(
        os.path.join(workdir, "specialize.json"),
        {**info, **result.to_json()},
        indent=2,
        default=str,
    )
    return model, result, info


def select_expert_model(pretrained, data, domain, size, config, strategy, info, *, k=None):
    """The projected network's (or mixture's) expert for the domain, by `strategy`.

    Args:
        pretrained: a `ProjectedGPT`, or the hard mixture's `ExpertSet`.
        k: the clustering the experts follow (default: `config.pn_clusters`).

    Returns a plain GPT, or the `(expert, model)` candidates of `finetune_all`;
    `info["selection"]` describes the choice.
    """
    from keras_pn.models.expert_set import ExpertSet
    from keras_pn.training.expert_selection import select_expert

    k = config.pn_clusters if k is None else k
    histogram = data.histogram(domain, size, k)
    projected = not isinstance(pretrained, ExpertSet)  # a mixture's experts are plain GPTs
    selection_data = data.domain_stream(
        domain, "train", config.finetune_batch_size, size=size,
        with_cluster_ids_k=k if projected else None,
    )
    model, choice = select_expert(
        pretrained, strategy, histogram, dataset=selection_data, max_batches=8
    )
    info["selection"] = choice
    return model
