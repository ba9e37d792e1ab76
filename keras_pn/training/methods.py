"""The paper's methods as pretraining and specialization procedures.

Method names (a fixed interface used by recipes and reports):

| method | pretraining (generic cost) | specialization (per-domain cost) |
|---|---|---|
| `slm` | small GPT on the generic stream | fine-tune |
| `slm_nopt` | none | train the small GPT on the domain only |
| `llm` | large GPT on the generic stream | fine-tune |
| `llm_lora` | the `llm` pretraining | LoRA fine-tuning |
| `mix` | hard mixture: one expert per cluster | pick an expert, fine-tune |
| `pn` | projected network on the generic stream | project an expert, fine-tune |
| `pn_histogram` | the `pn` pretraining | project the domain histogram, fine-tune |
| `is` | none shared | pretrain a small GPT on the importance-resampled stream, fine-tune |
| `distill` | the `slm` and `llm` pretrainings | fine-tune the LLM, distill it into the SLM |

The hard mixture is the projected network's special case `h = k, E = I,
M = I` with the attention projected too: every block's weights are one
expert's own, while the embeddings and norms stay shared (one model, one
compiled step; measured faster on CPU than `k` separate models).
"""

import dataclasses
import json
import logging
import os

import keras

from keras_pn.training import model_pool
from keras_pn.training.distillation import Distiller
from keras_pn.training.expert_selection import select_expert
from keras_pn.training.fine_tuning import fine_tune
from keras_pn.training.trainer import compile_for_training
from keras_pn.training.trainer import train

logger = logging.getLogger(__name__)

PRETRAINED = ("slm", "llm", "pn", "mix")
SPECIALIZED = ("slm", "slm_nopt", "llm", "llm_lora", "mix", "pn", "pn_histogram", "is", "distill")
DISPLAY_NAMES = {
    "slm": "SLM",
    "slm_nopt": "SLM-nopt",
    "llm": "LLM",
    "llm_lora": "LLM-LoRA",
    "mix": "SLM-mix",
    "pn": "SLM-pn",
    "pn_histogram": "SLM-pn (histogram)",
    "is": "SLM-is",
    "distill": "SLM-d",
}


@dataclasses.dataclass
class RunConfig:
    """Run-level knobs (architecture comes from presets only).

    Attributes:
        slm_preset, llm_preset, pn_preset: architecture presets.
        batch_size: windows per pretraining batch.
        finetune_batch_size: windows per fine-tuning batch (None: `batch_size`).
            Small: on 2 CPU cores, batch 8 reached the perplexity of batch 16
            after the same number of steps in half the time (SLM, religion).
        pretrain_tokens: generic pretraining budget per model (tokens).
        is_tokens: importance-sampled pretraining budget per domain.
        learning_rate: peak pretraining learning rate.
        finetune_learning_rate: defaults to `learning_rate / 3` (the paper).
        finetune_max_steps: upper bound on fine-tuning steps.
        finetune_eval_every: steps between validation checks.
        patience: validation checks without improvement before stopping. 5, not
            fewer: at the peak learning rate the validation loss of a freshly
            pretrained model often rises for a check or two before it falls
            (measured: patience 2 stopped an SLM at step 40, test perplexity
            118.3 on religion@25k; patience 5 let it reach 37.5 at step 190).
        valid_windows: cap on validation windows (a fixed seeded sample; None:
            the whole split). Early stopping only needs a stable estimate.
        test_windows: cap on test windows for the reported perplexities (the same
            sample for every method; None: the whole split).
        pn_clusters: k of the projected network and the mixture.
        is_clusters: k of importance sampling.
        expert_selection: `most_frequent` | `best_pretrained` | `finetune_all`.
        lora_rank: rank of LLM-LoRA (the paper: 64).
        distill_alpha: weight of the teacher term in SLM-d.
        checkpoints: checkpoint intervals per pretraining run.
        seed: random seed.
        verbose: Keras verbosity.
    """

    slm_preset: str = "slm_tiny"
    llm_preset: str = "llm_tiny"
    pn_preset: str = "pn_tiny"
    batch_size: int = 16
    finetune_batch_size: int = 8
    pretrain_tokens: int = 200_000
    is_tokens: int = None
    learning_rate: float = 3e-3
    finetune_learning_rate: float = None
    finetune_max_steps: int = 40
    finetune_eval_every: int = 10
    patience: int = 5
    valid_windows: int = 32
    test_windows: int = 128
    pn_clusters: int = 8
    is_clusters: int = 1024
    expert_selection: str = "most_frequent"
    lora_rank: int = 8
    distill_alpha: float = 0.5
    checkpoints: int = 4
    seed: int = 0
    verbose: int = 1

    def __post_init__(self):
        if self.is_tokens is None:
            self.is_tokens = self.pretrain_tokens
        if self.finetune_learning_rate is None:
            self.finetune_learning_rate = self.learning_rate / 3
        if self.finetune_batch_size is None:
            self.finetune_batch_size = self.batch_size


def _without_clusters(dataset):
    """Drop `cluster_ids` for plain GPT models."""

    def drop(x, y, sample_weight):
        return {"token_ids": x["token_ids"], "padding_mask": x["padding_mask"]}, y, sample_weight

    return dataset.map(drop)


def build_model(method, data, config, from_scratch=True):
    """An untrained model of the right architecture for `method`."""
    from keras_pn.models import GPTCausalLM
    from keras_pn.models import ProjectedGPT

    sizes = {
        "vocabulary_size": data.vocabulary_size,
        "max_sequence_length": data.context_length,
    }
    if method in ("slm", "slm_nopt", "is", "distill"):
        return GPTCausalLM.from_preset(config.slm_preset, load_weights=False, **sizes)
    if method in ("llm", "llm_lora"):
        return GPTCausalLM.from_preset(config.llm_preset, load_weights=False, **sizes)
    if method in ("pn", "pn_histogram"):
        return ProjectedGPT.from_preset(
            config.pn_preset, load_weights=False, num_experts=config.pn_clusters, **sizes
        )
    if method == "mix":
        from keras_pn.presets import load_config
        from keras_pn.presets import resolve_preset

        num_layers = load_config(resolve_preset(config.pn_preset))["config"]["num_layers"]
        layers = list(range(num_layers))
        return ProjectedGPT.from_preset(
            config.pn_preset,
            load_weights=False,
            num_experts=config.pn_clusters,
            num_bases=config.pn_clusters,
            expert_dim=config.pn_clusters,
            hard_mixture=True,
            projected_attention=True,
            projected_layers=layers,
            **sizes,
        )
    raise ValueError(f"Unknown method {method!r}. Known: {SPECIALIZED}.")


def _stream(method, data, config, domain=None, size=None):
    if method in ("pn", "mix"):
        return data.generic_stream(
            config.pn_clusters, config.batch_size, config.seed, batch_composition="single_cluster"
        )
    if method == "is":
        return _without_clusters(
            data.resampled_stream(domain, size, config.is_clusters, config.batch_size, config.seed)
        )
    return _without_clusters(
        data.generic_stream(config.pn_clusters, config.batch_size, config.seed)
    )


def pretrain(method, data, workdir, config, domain=None, size=None):
    """Pretrain one model; resumable; saves a preset in `workdir/preset`.

    Args:
        method: `slm`, `llm`, `pn`, `mix`, or `is` (needs `domain`, `size`).
        data: a `keras_pn.data.pipeline.PreparedData`.
        workdir: run directory.
        config: `RunConfig`.

    Returns:
        `(model, TrainResult)`.
    """
    if method not in ("slm", "llm", "pn", "mix", "is"):
        raise ValueError(f"`{method}` has no pretraining stage.")
    if method == "is" and (domain is None or size is None):
        raise ValueError("Importance-sampled pretraining needs `domain` and `size`.")
    keras.utils.set_random_seed(config.seed)
    model = build_model(method, data, config)
    tokens = config.is_tokens if method == "is" else config.pretrain_tokens
    tokens_per_step = config.batch_size * data.context_length
    steps = max(1, tokens // tokens_per_step)
    # SLM and the per-domain SLM-is runs share one compiled twin (model_pool).
    trainee = model_pool.POOL.borrow(
        model,
        ("pretrain", config.learning_rate, steps),
        lambda m: compile_for_training(m, config.learning_rate, total_steps=steps),
    )
    result = train(
        trainee,
        _stream(method, data, config, domain, size),
        total_steps=steps,
        workdir=workdir,
        tokens_per_step=tokens_per_step,
        checkpoints=config.checkpoints,
        verbose=config.verbose,
    )
    model_pool.POOL.give_back(trainee, model)
    preset = os.path.join(workdir, "preset")
    if not os.path.exists(os.path.join(preset, "model.weights.h5")):
        model.preprocessor = _preprocessor(model, data)
        model.save_to_preset(preset)
        model.preprocessor = None  # training and evaluation feed token ids
    return model, result


def _preprocessor(model, data):
    from keras_pn.models import GPTCausalLMPreprocessor
    from keras_pn.models import ProjectedGPT
    from keras_pn.models import ProjectedGPTCausalLMPreprocessor

    cls = (
        ProjectedGPTCausalLMPreprocessor
        if isinstance(model, ProjectedGPT)
        else GPTCausalLMPreprocessor
    )
    return cls(data.tokenizer(), sequence_length=data.context_length)


def load_pretrained(workdir):
    """The model saved by `pretrain` in `workdir/preset`, without preprocessor."""
    from keras_hub.models import CausalLM

    import keras_pn.models  # noqa: F401  (registers the classes)

    model = CausalLM.from_preset(os.path.join(workdir, "preset"))
    model.preprocessor = None
    return model


def specialize(
    method,
    data,
    domain,
    size,
    workdir,
    config,
    pretrained=None,
    teacher=None,
):
    """Fine-tune (or train from scratch) one method on one domain's train subset.

    Args:
        method: one of `SPECIALIZED`.
        data: `PreparedData`.
        domain: domain name; `size`: specialization-set size (tokens).
        workdir: where `specialize.json` is written.
        config: `RunConfig`.
        pretrained: the pretrained model (`slm`, `llm`, `pn`, `mix`, `is`;
            for `distill`, the pretrained SLM student).
        teacher: for `distill`, the LLM already fine-tuned on this domain.

    Returns:
        `(GPTCausalLM, FineTuneResult, info)`; the model is a plain GPT.
    """
    os.makedirs(workdir, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    info = {"method": method, "domain": domain, "size": size}
    k = config.pn_clusters
    train_data = _without_clusters(
        data.domain_stream(domain, "train", config.finetune_batch_size, size=size, shuffle=True, repeat=True)
    )
    valid_data = _without_clusters(
        data.domain_stream(domain, "valid", config.batch_size, max_windows=config.valid_windows)
    )
    if method == "slm_nopt":
        model = build_model("slm", data, config)
    elif method in ("slm", "llm", "is"):
        model = pretrained
    elif method == "llm_lora":
        model = pretrained
        model.backbone.enable_lora(
            config.lora_rank,
            target_layer_names=[
                "query_dense",
                "key_dense",
                "value_dense",
                "output_dense",
                "mlp_intermediate_dense",
                "mlp_output_dense",
            ],
        )
        info["lora_rank"] = config.lora_rank
    elif method in ("pn", "mix", "pn_histogram"):
        strategy = "histogram" if method == "pn_histogram" else config.expert_selection
        histogram = data.histogram(domain, size, k)
        selection_data = data.domain_stream(
            domain, "train", config.finetune_batch_size, size=size, with_cluster_ids_k=k
        )
        model, choice = select_expert(
            pretrained, strategy, histogram, dataset=selection_data, max_batches=8
        )
        info["selection"] = choice
        if strategy == "finetune_all":
            return _finetune_all(model, train_data, valid_data, data, config, info, workdir)
    elif method == "distill":
        if teacher is None:
            raise ValueError("`distill` needs the fine-tuned LLM (`teacher=`).")
        model = Distiller(pretrained, teacher, alpha=config.distill_alpha)
        info["alpha"] = config.distill_alpha
    else:
        raise ValueError(f"Unknown method {method!r}. Known: {SPECIALIZED}.")
    learning_rate = (
        config.learning_rate if method == "slm_nopt" else config.finetune_learning_rate
    )
    result = fine_tune(
        model,
        train_data,
        valid_data,
        max_steps=config.finetune_max_steps,
        eval_every=config.finetune_eval_every,
        learning_rate=learning_rate,
        tokens_per_step=config.finetune_batch_size * data.context_length,
        patience=config.patience,
        verbose=config.verbose,
    )
    if isinstance(model, Distiller):
        model = model.student
    _write_json(os.path.join(workdir, "specialize.json"), {**info, **result.to_json()})
    return model, result, info


def _finetune_all(candidates, train_data, valid_data, data, config, info, workdir):
    """`finetune_all`: fine-tune every expert, keep the best on valid."""
    best = None
    total_steps = total_tokens = total_seconds = 0
    for expert, model in candidates:
        result = fine_tune(
            model,
            train_data,
            valid_data,
            max_steps=config.finetune_max_steps,
            eval_every=config.finetune_eval_every,
            learning_rate=config.finetune_learning_rate,
            tokens_per_step=config.finetune_batch_size * data.context_length,
            patience=config.patience,
            verbose=0,
        )
        total_steps += result.steps
        total_tokens += result.tokens
        total_seconds += result.seconds
        if best is None or result.best_valid_loss < best[2].best_valid_loss:
            best = (expert, model, result)
    expert, model, result = best
    result.steps, result.tokens, result.seconds = total_steps, total_tokens, total_seconds
    info["selection"]["expert"] = expert
    _write_json(os.path.join(workdir, "specialize.json"), {**info, **result.to_json()})
    return model, result, info


def _write_json(path, payload):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2, default=str)
    os.replace(tmp, path)
