"""FLOPs per token by formula: training, LoRA fine-tuning, projection, inference.

Per token; `L` layers, `H` heads of size `Q`, `D = H * Q`, `T` the
training/evaluation sequence length, counted in full as nanoGPT counts it
although attention is causal:

- **`N`**, the parameters that cost FLOPs: every parameter except the learned
  position embeddings (a lookup). The token embedding counts once: it is tied
  to the output projection, a `D x V` matmul per token (its input lookup is
  free). Layer norms and biases count (as in nanoGPT's `get_num_params`).
- **Training** (nanoGPT's `estimate_mfu`, after PaLM appendix B):
  `6 N + 12 L H Q T`: the forward pass costs `2 N` (one multiply-add per
  weight) plus `4 L D T` (the `QK^T` and attention-weighted-value matmuls),
  and the backward pass twice the forward.
- **Inference** (a forward pass): `2 N + 4 L H Q T`, one third of training.
  (Kaplan et al.'s `2 N + 2 L T D` counts only the `QK^T` matmul.)
- **LoRA** fine-tuning with `N_lora` trainable weights (adapters, plus the
  adapted layers' biases that Keras leaves trainable): `4 N + 6 N_lora +
  12 L H Q T` (forward and activation gradients through everything, weight
  gradients for the adapters only); with all weights trainable this is the
  training formula. The adapted layers are always given: they are the ones
  the run trained (`keras_pn.methods.Method.lora_targets`).
- **Optimizer** (optional, when `tokens_per_batch` is given):
  `OPTIMIZER_FLOPS_PER_PARAMETER * P_trainable / tokens_per_batch`, Adam's
  update plus global-norm clipping over every trainable parameter once per
  batch. Negligible for dense models, kept for the projected network whose
  `P` is `k` times larger than what runs per token.
- **Projected network** (SLM-pn) training at `B_tok` tokens per batch: one
  expert, an SLM-sized network, runs per example, plus the expert's kernels
  are built once per batch (per distinct expert in the batch):

      6 N_expert + 12 L H Q T
        + 3 K sum_{projected W: d_in x d_out} 2 (m h + h d_in d_out + h d_out) / B_tok
        + OPTIMIZER_FLOPS_PER_PARAMETER * P_total / B_tok

  `N_expert` is `N` of the exported expert (a plain GPT of the same sizes),
  `K` the experts per batch (1 with single-cluster batches; the batch size
  with mixed batches), `h` bases and `m` the expert-code size: building a
  kernel is `alpha = code @ M` (`m h` multiply-adds), then
  `W = sum_r alpha[r] T[:, :, r]` (`h d_in d_out`) and the bias
  (`h d_out`); training is 3x that forward. A hard mixture (SLM-mix) selects
  its expert's kernels by index: no kernel FLOPs. Inference runs the exported
  expert: `2 N_expert + 4 L H Q T`.

Example:
>>> f"{training_flops_per_token('slm_paper') / 1e9:.3f} GFLOP/token"
'0.814 GFLOP/token'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from keras_pn.evaluation.architecture import ModelDims
from keras_pn.evaluation.architecture import lora_parameter_count
from keras_pn.evaluation.architecture import parameter_counts

__all__ = [
    "OPTIMIZER_FLOPS_PER_PARAMETER",
    "distillation_flops_per_token",
    "inference_flops_per_token",
    "projection_flops_per_batch",
    "training_flops_per_token",
]

# Adam (first and second moments, bias correction, update: ~12 FLOPs) plus
# global-norm gradient clipping (square-accumulate and rescale: ~3 FLOPs).
OPTIMIZER_FLOPS_PER_PARAMETER = 15


def _attention_flops(dims: ModelDims, sequence_length, passes: int) -> float:
    t = dims.max_sequence_length if sequence_length is None else sequence_length
    if t < 1:
        raise ValueError(f"`sequence_length` must be >= 1. Received: {t}.")
    # QK^T and attention @ V: 2 matmuls x 2 FLOPs x D x T per token and layer.
    return passes * 4 * dims.num_layers * dims.hidden_dim * t


def projection_flops_per_batch(model: Any, kernels_per_batch: int = 1) -> float:
    """FLOPs (training: forward + backward) to build the expert kernels once.

    `3 * K * sum over projected matrices of 2 * (m h + h d_in d_out + h d_out)`;
    zero for a dense model or a hard mixture (kernels selected by index).

    Args:
        model: anything `ModelDims.of` accepts.
        kernels_per_batch: distinct experts per batch `K` (1: single-cluster
            batches; the batch size for mixed batches built per example).

    Example:
    >>> f"{projection_flops_per_batch('pn_paper'):.3e}"
    '8.058e+09'
    """
    dims = ModelDims.of(model)
    if not dims.is_projected or dims.hard_mixture:
        return 0.0
    h, m = dims.num_bases, dims.expert_dim
    forward = sum(
        2 * (m * h + h * d_in * d_out + h * d_out)
        for d_in, d_out in dims.projected_matrices()
    )
    return 3.0 * kernels_per_batch * forward


def training_flops_per_token(
    model: Any,
    sequence_length: int | None = None,
    tokens_per_batch: int | None = None,
    kernels_per_batch: int = 1,
    lora_rank: int | None = None,
    lora_layers: Iterable[str] | None = None,
    optimizer_flops_per_parameter: float = OPTIMIZER_FLOPS_PER_PARAMETER,
) -> float:
    """Training FLOPs per token (pretraining or fine-tuning); see module doc.

    Dense: `6 N + 12 L H Q T` (+ `c_opt P / B_tok` with `tokens_per_batch`).
    LoRA: `4 N + 6 N_lora + 12 L H Q T` (+ `c_opt N_lora / B_tok`).
    Projected: `6 N_expert + 12 L H Q T + (projection_flops_per_batch +
    c_opt P_total) / B_tok`.

    Args:
        model: anything `ModelDims.of` accepts.
        sequence_length: `T` (default: the model's `max_sequence_length`).
        tokens_per_batch: `B_tok`, tokens per optimizer step; adds the
            optimizer term. Required for a projected network.
        kernels_per_batch: distinct experts per batch (projected networks).
        lora_rank: fine-tune LoRA adapters of this rank only (dense models).
        lora_layers: the layers LoRA adapts in every block, as trained;
            required with `lora_rank` (`keras_pn.methods.get(id).lora_targets`).
        optimizer_flops_per_parameter: `c_opt`.

    Example:
    >>> round(training_flops_per_token("slm_paper") / 1e6)
    814
    >>> slm = training_flops_per_token("slm_paper")
    >>> # By formula a PN step costs an SLM step (+0.03% at 128k tokens/batch,
    >>> # +3.5% at 1k): the paper's measured 1.6x is implementation overhead.
    >>> [round(training_flops_per_token("pn_paper", tokens_per_batch=b) / slm, 4)
    ...  for b in (128 * 1024, 1024)]
    [1.0003, 1.0353]
    """
    dims = ModelDims.of(model)
    counts = parameter_counts(dims)
    attention = _attention_flops(dims, sequence_length, passes=3)
    if tokens_per_batch is not None and tokens_per_batch < 1:
        raise ValueError(
            f"`tokens_per_batch` must be >= 1. Received: {tokens_per_batch}."
        )
    if lora_layers is not None and lora_rank is None:
        raise ValueError("`lora_layers` needs the `lora_rank` they were trained at.")
    if dims.is_projected:
        if lora_rank is not None:
            raise ValueError(
                "LoRA applies to dense models: export the expert with "
                "`ProjectedGPT.project()` and count the exported GPT."
            )
        if tokens_per_batch is None:
            raise ValueError(
                "A projected network builds its expert kernels once per batch: "
                "pass `tokens_per_batch` (batch size x sequence length)."
            )
        per_batch = projection_flops_per_batch(dims, kernels_per_batch)
        per_batch += optimizer_flops_per_parameter * counts["total"]
        return 6.0 * counts["expert_flops"] + attention + per_batch / tokens_per_batch
    n = counts["flops"]
    if lora_rank is None:
        trainable = counts["total"]
        flops = 6.0 * n + attention
    else:
        if lora_layers is None:
            raise ValueError(
                "`lora_rank` needs `lora_layers`: the layers LoRA adapted in "
                "training (a LoRA method's `keras_pn.methods.get(id).lora_targets`)."
            )
        trainable = lora_parameter_count(dims, lora_rank, lora_layers)
        flops = 4.0 * n + 6.0 * trainable + attention
    if tokens_per_batch is not None:
        flops += optimizer_flops_per_parameter * trainable / tokens_per_batch
    return flops


def inference_flops_per_token(model: Any, sequence_length: int | None = None) -> float:
    """Forward FLOPs per token: `2 N + 4 L H Q T`.

    A projected network serves its exported expert: `N = N_expert`. LoRA
    adapters are assumed merged (no extra inference cost).

    Example:
    >>> inference_flops_per_token("pn_paper") == inference_flops_per_token(
    ...     "slm_paper")
    True
    """
    dims = ModelDims.of(model)
    counts = parameter_counts(dims)
    n = counts["expert_flops"] if dims.is_projected else counts["flops"]
    return 2.0 * n + _attention_flops(dims, sequence_length, passes=1)


def distillation_flops_per_token(
    student: Any,
    teacher: Any,
    sequence_length: int | None = None,
    tokens_per_batch: int | None = None,
) -> float:
    """SLM-d fine-tuning FLOPs per token: student training + teacher forward.

    When the teacher's distributions are computed once and cached, count the
    teacher's `inference_flops_per_token` once per domain token instead.

    Example:
    >>> d = distillation_flops_per_token("slm_paper", "llm_paper")
    >>> d > training_flops_per_token("slm_paper")
    True
    """
    return training_flops_per_token(
        student, sequence_length, tokens_per_batch
    ) + inference_flops_per_token(teacher, sequence_length)
