"""One pretraining or specialization run, measured and recorded as a result fragment.

Shared by the single-step recipes (`pretrain`, `specialize`, `distill`) and
by `plan_early`, so a result means the same thing however it was produced.
"""

import logging
import os
import time

from keras_pn import methods
from keras_pn.evaluation.device import device_description
from keras_pn.evaluation.flops import training_flops_per_token
from keras_pn.evaluation.perplexity import evaluate_nll
from keras_pn.evaluation.results import write_fragment
from keras_pn.evaluation.results import write_generic_fragment
from keras_pn.methods import common

logger = logging.getLogger(__name__)


def _cost_entry(phase, flops_per_token, tokens, seconds):
    return {
        "phase": phase,
        "tokens": int(tokens),
        "flops": float(flops_per_token * tokens),
        "seconds": float(seconds),
        "device": device_description(),
    }


def _training_cost(phase, model, result, tokens_per_batch, sequence_length):
    flops_per_token = training_flops_per_token(
        model, sequence_length=sequence_length, tokens_per_batch=tokens_per_batch
    )
    return _cost_entry(phase, flops_per_token, result.tokens, result.seconds)


def pretrain_and_record(method, data, run_dir, results_dir, config):
    """Pretrain `method` (an id) on the generic stream; record its generic cost.

    Returns:
        `(model, TrainResult)`; the preset is in `run_dir/preset`.
    """
    model, result = methods.get(method).pretrain(data, run_dir, config)
    write_generic_fragment(
        results_dir,
        method,
        pretraining_tokens=result.tokens,
        cost=[
            _cost_entry(
                "pretrain",
                common.pretraining_flops_per_token(model, data, config),
                result.tokens,
                result.seconds,
            )
        ],
        info={"final_loss": result.final_loss, "steps": result.steps, "run_dir": str(run_dir)},
    )
    return model, result


def load_preset_model(directory):
    """A GPTCausalLM from a preset directory, preprocessor detached."""
    from keras_pn.models import GPTCausalLM

    model = GPTCausalLM.from_preset(directory)
    model.preprocessor = None
    return model


def specialize_and_record(
    method,
    data,
    domain,
    size,
    *,
    spec_dir,
    results_dir,
    config,
    pretrained_dir=None,
    domain_pretrain_dir=None,
    teacher=None,
    size_in_name=False,
    evaluate_before=True,
    preset_dir=None,
    pretrained_model=None,
):
    """Specialize one method to one domain, test it, and write its fragment.

    Args:
        method: a method id (`keras_pn.methods.ids()`).
        data: `PreparedData`.
        domain, size: the domain and its specialization-set size (tokens).
        spec_dir: working directory of this run.
        results_dir: where `results/<method>/<domain>.json` goes.
        config: `RunConfig`.
        pretrained_dir: workdir of the method's pretraining run (its `preset/`).
        domain_pretrain_dir: run directory of the method's own per-domain
            pretraining (`Method.pretrains_per_domain`).
        teacher: the specialized model (or its preset path) of
            `Method.needs_teacher`, for a method that learns from one.
        size_in_name: name the fragment `<domain>@<size>.json`.
        evaluate_before: also test the model before fine-tuning (methods with
            `Method.evaluate_before_finetuning`).
        preset_dir: save the specialized model there (a keras-hub preset), when
            the method exports one (`Method.exports_preset`).
        pretrained_model: the pretrained model itself, instead of `pretrained_dir`
            (`keras_pn.specialize_from_preset`).

    Returns:
        dict: test `nll`, `perplexity`, `tokens`, the fine-tuning summary and
        the model under `"model"`.
    """
    start = time.time()
    declared = methods.get(method)
    tokens_per_batch = config.batch_size * data.context_length
    finetune_tokens_per_batch = config.finetune_batch_size * data.context_length
    cost, before, pretrained = [], None, pretrained_model
    if declared.pretrains_per_domain:
        pretrained, result = declared.pretrain(
            data, domain_pretrain_dir, config, domain=domain, size=size
        )
        cost.append(
            _training_cost(f"pretrain_{method}", pretrained, result, tokens_per_batch,
                           data.context_length)
        )
    elif declared.pretraining is not None and pretrained is None:
        if pretrained_dir is None:
            raise ValueError(f"`{method}` needs a pretrained model (`pretrained_dir`).")
        pretrained = methods.get(declared.pretraining).load_pretrained(pretrained_dir)
    if isinstance(teacher, (str, os.PathLike)):
        teacher = load_preset_model(teacher)
    test_data = common.domain_test_stream(data, domain, config)
    if evaluate_before and declared.evaluate_before_finetuning:
        before = evaluate_nll(pretrained, test_data, verbose=False)
    model, result, info = declared.specialize(
        data, domain, size, spec_dir, config, pretrained=pretrained, teacher=teacher
    )
    phase, flops_per_token = declared.specialization_cost(
        model,
        teacher=teacher,
        config=config,
        sequence_length=data.context_length,
        tokens_per_batch=finetune_tokens_per_batch,
    )
    cost.append(_cost_entry(phase, flops_per_token, result.tokens, result.seconds))
    test = evaluate_nll(model, test_data, verbose=False)
    if preset_dir is not None and declared.exports_preset:
        common.save_preset(model, data, preset_dir)
    info.update({
        "finetune_steps": result.steps,
        "best_step": result.best_step,
        "valid_loss": result.best_valid_loss,
        "initial_valid_loss": result.initial_valid_loss,
        "preset": str(preset_dir) if preset_dir else None,
    })
    write_fragment(
        results_dir,
        method,
        domain,
        nll=test["nll"],
        tokens=test["tokens"],
        specialization_tokens=size,
        size_in_name=size_in_name,
        before_finetuning=before,
        cost=cost,
        info=info,
    )
    logger.info("%s on %s@%s: test perplexity %.2f (%.0f s)",
                method, domain, size, test["perplexity"], time.time() - start)
    return {**test, **info, "model": model}


def run_specialization(method, *, data_dir, domain, size, workdir, config, pretrained_dir=None, teacher_preset=None):
    """The `specialize` / `distill` recipes: one method, one domain, in `workdir`."""
    from keras_pn.data.prepare import load_prepared

    data = load_prepared(data_dir)
    outcome = specialize_and_record(
        method,
        data,
        domain,
        size,
        spec_dir=workdir,
        results_dir=workdir,
        config=config,
        pretrained_dir=pretrained_dir,
        domain_pretrain_dir=os.path.join(workdir, f"{method}_pretraining"),
        teacher=teacher_preset,
        preset_dir=os.path.join(workdir, "preset"),
    )
    outcome.pop("model")
    return outcome
