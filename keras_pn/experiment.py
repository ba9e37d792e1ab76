"""One pretraining or specialization run, measured and recorded as a result fragment.

Shared by the single-step recipes (`pretrain`, `specialize`, `distill`) and
by `plan_early`, so a result means the same thing however it was produced.
"""

import logging
import os
import time

import keras

from keras_pn.evaluation import costs as cost_formulas
from keras_pn.evaluation.perplexity import evaluate_nll
from keras_pn.evaluation.results import write_fragment
from keras_pn.evaluation.results import write_generic_fragment
from keras_pn.training.methods import _without_clusters
from keras_pn.training.methods import load_pretrained
from keras_pn.training.methods import pretrain
from keras_pn.training.methods import specialize

logger = logging.getLogger(__name__)


def _cost_entry(phase, model, tokens, seconds, tokens_per_batch, sequence_length, **kwargs):
    flops_per_token = cost_formulas.training_flops_per_token(
        model, sequence_length=sequence_length, tokens_per_batch=tokens_per_batch, **kwargs
    )
    return {
        "phase": phase,
        "tokens": int(tokens),
        "flops": float(flops_per_token * tokens),
        "seconds": float(seconds),
        "device": cost_formulas.device_description(),
    }


def pretrain_and_record(method, data, run_dir, results_dir, config):
    """Pretrain `method` on the generic stream; record its generic cost.

    Returns:
        `(model, TrainResult)`; the preset is in `run_dir/preset`.
    """
    model, result = pretrain(method, data, run_dir, config)
    write_generic_fragment(
        results_dir,
        method,
        pretraining_tokens=result.tokens,
        cost=[
            _cost_entry(
                "pretrain", model, result.tokens, result.seconds,
                config.batch_size * data.context_length, data.context_length,
            )
        ],
        info={"final_loss": result.final_loss, "steps": result.steps, "run_dir": str(run_dir)},
    )
    return model, result


def save_preset(model, data, directory):
    """Save a plain GPT with the run's tokenizer (idempotent)."""
    from keras_pn.models import GPTCausalLMPreprocessor

    if os.path.exists(os.path.join(directory, "model.weights.h5")):
        return directory
    model.preprocessor = GPTCausalLMPreprocessor(
        data.tokenizer(), sequence_length=data.context_length
    )
    model.save_to_preset(directory)
    model.preprocessor = None
    return directory


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
    is_dir=None,
    teacher=None,
    size_in_name=False,
    evaluate_before=True,
    preset_dir=None,
):
    """Specialize one method to one domain, test it, and write its fragment.

    Args:
        method: one of `keras_pn.training.methods.SPECIALIZED`.
        data: `PreparedData`.
        domain, size: the domain and its specialization-set size (tokens).
        spec_dir: working directory of this run.
        results_dir: where `results/<method>/<domain>.json` goes.
        config: `RunConfig`.
        pretrained_dir: workdir of the pretraining run (its `preset/`); for
            `distill`, the student's.
        is_dir: run directory of the SLM-is pretraining (`method="is"`).
        teacher: for `distill`, the fine-tuned LLM (model or preset path).
        size_in_name: name the fragment `<domain>@<size>.json`.
        evaluate_before: also test the model before fine-tuning.
        preset_dir: save the specialized model there (a keras-hub preset).

    Returns:
        dict: test `nll`, `perplexity`, `tokens`, the fine-tuning summary and
        the model under `"model"`.
    """
    start = time.time()
    tokens_per_batch = config.batch_size * data.context_length
    finetune_tokens_per_batch = config.finetune_batch_size * data.context_length
    cost, before, pretrained = [], None, None
    if method == "is":
        pretrained, result = pretrain("is", data, is_dir, config, domain=domain, size=size)
        cost.append(
            _cost_entry("pretrain_is", pretrained, result.tokens, result.seconds,
                        tokens_per_batch, data.context_length)
        )
    elif method != "slm_nopt":
        if pretrained_dir is None:
            raise ValueError(f"`{method}` needs a pretrained model (`pretrained_dir`).")
        pretrained = load_pretrained(pretrained_dir)
    if isinstance(teacher, (str, os.PathLike)):
        teacher = load_preset_model(teacher)
    test_data = _without_clusters(
        data.domain_stream(domain, "test", config.batch_size, max_windows=config.test_windows)
    )
    if evaluate_before and method in ("slm", "llm", "is"):
        before = evaluate_nll(pretrained, test_data, verbose=False)
    model, result, info = specialize(
        method, data, domain, size, spec_dir, config, pretrained=pretrained, teacher=teacher
    )
    if method == "distill":
        flops = cost_formulas.distillation_flops_per_token(
            model, teacher, data.context_length, finetune_tokens_per_batch
        )
        cost.append({
            "phase": "distill",
            "tokens": result.tokens,
            "flops": flops * result.tokens,
            "seconds": result.seconds,
            "device": cost_formulas.device_description(),
        })
    else:
        extra = {"lora_rank": config.lora_rank} if method == "llm_lora" else {}
        cost.append(
            _cost_entry("finetune", model, result.tokens, result.seconds,
                        finetune_tokens_per_batch, data.context_length, **extra)
        )
    test = evaluate_nll(model, test_data, verbose=False)
    if preset_dir is not None and method != "llm_lora":
        save_preset(model, data, preset_dir)
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
    from keras_pn.data.pipeline import load_prepared

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
        is_dir=os.path.join(workdir, "is_pretraining"),
        teacher=teacher_preset,
        preset_dir=os.path.join(workdir, "preset"),
    )
    outcome.pop("model")
    return outcome
