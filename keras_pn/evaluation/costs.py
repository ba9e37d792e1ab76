"""Cost accounting: FLOPs by formula, measured time, generic vs. specialization.

The paper (Grangier et al., 2024) compares methods by four costs; two of them
are accounted here, per method: the **generic** cost (pretraining, paid once
before any domain is known and shared by all domains) and the
**specialization** cost (paid per domain). For `N` domains,

    C_total(N) = C_generic + N * C_specialization,

with `C_specialization` the mean over the domains measured. Each cost holds
tokens processed, FLOPs (by the formulas below) and measured wall seconds,
with the device they ran on.

FLOPs formulas (per token; `L` layers, `H` heads of size `Q`, `D = H * Q`,
`T` the training/evaluation sequence length, counted in full as nanoGPT
counts it although attention is causal):

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
  training formula.
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

Cost conventions (from the paper; see `COST_CONVENTIONS`): SLM-is's
importance-sampled pretraining is a specialization cost (per domain); SLM-d's
generic cost includes the teacher's (LLM) pretraining; LLM-LoRA's generic cost
is the LLM's pretraining. `CostLedger.inherit` links such shared costs without
copying them, so each run records only what it executed.

Example:
>>> slm = "slm_paper"  # an architecture preset name, a backbone or a model
>>> f"{training_flops_per_token(slm) / 1e9:.3f} GFLOP/token"
'0.814 GFLOP/token'
>>> ledger = CostLedger()
>>> ledger.add("slm", "generic", phase="pretrain", tokens=10**9,
...            flops_per_token=training_flops_per_token(slm), seconds=7920.0)
>>> ledger.add("slm", "specialization", domain="arxiv", phase="finetune",
...            tokens=10**6, flops_per_token=training_flops_per_token(slm),
...            seconds=8.0)
>>> ledger.total_cost("slm", num_domains=9, field="seconds")
7992.0
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import pathlib
import platform
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "COST_CONVENTIONS",
    "DEFAULT_INHERITANCE",
    "DEFAULT_LORA_LAYERS",
    "KINDS",
    "OPTIMIZER_FLOPS_PER_PARAMETER",
    "CostEntry",
    "CostLedger",
    "ModelDims",
    "apply_paper_conventions",
    "device_description",
    "distillation_flops_per_token",
    "inference_flops_per_token",
    "lora_parameter_count",
    "parameter_counts",
    "projection_flops_per_batch",
    "training_flops_per_token",
]

KINDS = ("generic", "specialization")

# Adam (first and second moments, bias correction, update: ~12 FLOPs) plus
# global-norm gradient clipping (square-accumulate and rescale: ~3 FLOPs).
OPTIMIZER_FLOPS_PER_PARAMETER = 15

# keras-hub's default LoRA targets for GPTBackbone (`default_lora_layer_names`).
DEFAULT_LORA_LAYERS = ("query_dense", "value_dense")

COST_CONVENTIONS = {
    "slm": "generic: SLM pretraining; specialization: fine-tuning on the domain.",
    "slm_nopt": "generic: none; specialization: training on the domain only.",
    "llm": "generic: LLM pretraining; specialization: fine-tuning on the domain.",
    "mix": (
        "generic: pretraining every expert of the hard mixture; specialization: "
        "expert selection and fine-tuning."
    ),
    "pn": (
        "generic: projected-network pretraining; specialization: expert "
        "selection, projection and fine-tuning."
    ),
    "is": (
        "generic: none; specialization: importance-sampled pretraining (per "
        "domain) and fine-tuning."
    ),
    "distill": (
        "generic: teacher (LLM) and student (SLM) pretraining; specialization: "
        "teacher fine-tuning and student distillation."
    ),
    "llm_lora": "generic: LLM pretraining; specialization: LoRA fine-tuning.",
    "pn_histogram": (
        "generic: projected-network pretraining; specialization: histogram "
        "projection and fine-tuning."
    ),
}

# Shared costs a method takes from others (`CostLedger.inherit`), per kind.
DEFAULT_INHERITANCE = {
    "distill": {"generic": ("llm", "slm"), "specialization": ("llm",)},
    "llm_lora": {"generic": ("llm",)},
    "pn_histogram": {"generic": ("pn",)},
}

_ATTENTION_MATRICES = ("query_dense", "key_dense", "value_dense", "output_dense")
_ARCHITECTURES_DIR = (
    pathlib.Path(__file__).resolve().parents[1] / "models" / ("architectures")
)


# --- Architecture -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ModelDims:
    """The sizes that determine parameters and FLOPs of a (projected) GPT.

    Build it with `ModelDims.of(...)` from a model, a backbone, a config dict
    or an architecture preset name.

    Example:
    >>> dims = ModelDims.of("pn_paper")
    >>> dims.num_experts, dims.projected_layers
    (32, (1, 2, 3, 4, 5))
    """

    vocabulary_size: int
    num_layers: int
    num_heads: int
    hidden_dim: int
    intermediate_dim: int
    max_sequence_length: int
    num_experts: int | None = None
    num_bases: int | None = None
    expert_dim: int | None = None
    projected_layers: tuple[int, ...] = ()
    projected_attention: bool = False
    hard_mixture: bool = False

    @property
    def is_projected(self) -> bool:
        return self.num_experts is not None

    @property
    def expert(self) -> ModelDims:
        """The plain GPT an expert exports to (same sizes, nothing projected)."""
        return ModelDims(
            vocabulary_size=self.vocabulary_size,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            hidden_dim=self.hidden_dim,
            intermediate_dim=self.intermediate_dim,
            max_sequence_length=self.max_sequence_length,
        )

    def projected_matrices(self) -> list[tuple[int, int]]:
        """`(d_in, d_out)` of every projected weight matrix."""
        if not self.is_projected:
            return []
        d, f = self.hidden_dim, self.intermediate_dim
        per_layer = [(d, f), (f, d)]
        if self.projected_attention:
            per_layer += [(d, d)] * 4
        return per_layer * len(self.projected_layers)

    @classmethod
    def of(cls, model: Any) -> ModelDims:
        """Dims of a CausalLM, a backbone, a config dict or a preset name.

        Args:
            model: a `GPTCausalLM` / `ProjectedGPT` (its `backbone` is read),
                a `GPTBackbone` / `ProjectedGPTBackbone`, a dict (a backbone's
                `get_config()`, or a keras-hub `config.json` with a `"config"`
                key), an architecture preset name (`"slm_tiny"`, ...) or a
                preset directory holding `config.json`.
        """
        if isinstance(model, ModelDims):
            return model
        if isinstance(model, (str, os.PathLike)):
            config = _load_preset_config(model)
        elif isinstance(model, Mapping):
            config = dict(model.get("config", model))
        else:
            backbone = getattr(model, "backbone", model)
            if not hasattr(backbone, "get_config"):
                raise ValueError(
                    "Expected a keras_pn model, backbone, config dict or preset "
                    f"name. Received a {type(model).__name__}."
                )
            config = backbone.get_config()
        required = (
            "vocabulary_size",
            "num_layers",
            "num_heads",
            "hidden_dim",
            "intermediate_dim",
        )
        missing = [key for key in required if key not in config]
        if missing:
            raise ValueError(f"The model config lacks {missing}: not a GPT config.")
        num_layers = int(config["num_layers"])
        num_experts = config.get("num_experts")
        projected = {}
        if num_experts is not None:
            num_experts = int(num_experts)
            layers = config.get("projected_layers")
            projected = dict(
                num_experts=num_experts,
                num_bases=int(config.get("num_bases") or num_experts),
                expert_dim=int(config.get("expert_dim") or num_experts),
                projected_layers=tuple(
                    range(num_layers) if layers is None else sorted(map(int, layers))
                ),
                projected_attention=bool(config.get("projected_attention", False)),
                hard_mixture=bool(config.get("hard_mixture", False)),
            )
        return cls(
            vocabulary_size=int(config["vocabulary_size"]),
            num_layers=num_layers,
            num_heads=int(config["num_heads"]),
            hidden_dim=int(config["hidden_dim"]),
            intermediate_dim=int(config["intermediate_dim"]),
            max_sequence_length=int(config.get("max_sequence_length", 1024)),
            **projected,
        )


def _load_preset_config(name) -> dict:
    path = pathlib.Path(name)
    candidates = [path / "config.json", _ARCHITECTURES_DIR / str(name) / "config.json"]
    for candidate in candidates:
        if candidate.is_file():
            return json.loads(candidate.read_text())["config"]
    known = sorted(p.name for p in _ARCHITECTURES_DIR.iterdir() if p.is_dir())
    raise ValueError(
        f"No preset {str(name)!r}: neither a directory with config.json nor one "
        f"of the architecture presets {known}."
    )


def parameter_counts(model: Any) -> dict[str, int]:
    """Parameter counts by formula (they match `backbone.count_params()`).

    Args:
        model: anything `ModelDims.of` accepts.

    Returns:
        A dict with `total` (every weight, trainable or not),
        `token_embedding`, `position_embedding`, `flops` (`N` of the FLOPs
        formulas: `total - position_embedding`) and, for a projected network,
        `expert` and `expert_flops`: the same two counts of one exported
        expert (a plain GPT).

    Example:
    >>> parameter_counts("slm_paper")["total"]
    121992192
    """
    dims = ModelDims.of(model)
    v, d, f = dims.vocabulary_size, dims.hidden_dim, dims.intermediate_dim
    token_embedding = v * d
    position_embedding = dims.max_sequence_length * d

    def dense(d_in, d_out, projected):
        if not projected:
            return d_in * d_out + d_out
        h, m = dims.num_bases, dims.expert_dim
        return d_in * d_out * h + m * h + d_out * h  # bases T, mixing M, bias B

    total = token_embedding + position_embedding + 2 * d  # + final norm
    for layer in range(dims.num_layers):
        projected = layer in dims.projected_layers
        total += 4 * d  # attention and MLP layer norms
        total += 4 * dense(d, d, projected and dims.projected_attention)
        total += dense(d, f, projected) + dense(f, d, projected)
    if dims.is_projected:
        total += dims.num_experts * dims.expert_dim  # expert embeddings E
    counts = {
        "total": total,
        "token_embedding": token_embedding,
        "position_embedding": position_embedding,
        "flops": total - position_embedding,
    }
    if dims.is_projected:
        expert = parameter_counts(dims.expert)
        counts["expert"] = expert["total"]
        counts["expert_flops"] = expert["flops"]
    return counts


def lora_parameter_count(model: Any, rank: int, layers=DEFAULT_LORA_LAYERS) -> int:
    """Trainable weights of Keras LoRA of rank `rank` on `layers` of every block.

    Each adapted `d_in x d_out` matrix gets `rank * (d_in + d_out)` adapter
    weights; Keras also leaves the adapted layers' biases (`d_out`)
    trainable (`backbone.enable_lora` freezes everything else), and they are
    counted too: this equals `backbone.trainable_weights` after
    `enable_lora(rank)`.

    Example:
    >>> lora_parameter_count("llm_paper", rank=64)
    5085696
    """
    dims = ModelDims.of(model)
    if rank < 1:
        raise ValueError(f"The LoRA rank must be >= 1. Received: {rank}.")
    d, f = dims.hidden_dim, dims.intermediate_dim
    shapes = {name: (d, d) for name in _ATTENTION_MATRICES}
    shapes.update({"mlp_intermediate_dense": (d, f), "mlp_output_dense": (f, d)})
    unknown = sorted(set(layers) - set(shapes))
    if unknown:
        raise ValueError(f"Unknown LoRA layer(s) {unknown}. Known: {sorted(shapes)}.")
    per_block = sum(rank * sum(shapes[name]) + shapes[name][1] for name in layers)
    return dims.num_layers * per_block


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
    lora_layers: Iterable[str] = DEFAULT_LORA_LAYERS,
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
        lora_layers: the layers LoRA adapts in every block.
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
        trainable = lora_parameter_count(dims, lora_rank, tuple(lora_layers))
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


# --- Device -------------------------------------------------------------------


def device_description() -> str:
    """The accelerator (or CPU) Keras runs on, with the backend, in words.

    The only backend-specific code of the cost accounting.

    Example:
    >>> device_description()  # doctest: +SKIP
    'CPU: AMD EPYC 7B13, 2 cores (jax)'
    """
    import keras

    backend = keras.config.backend()
    accelerator = None
    try:
        if backend == "jax":
            import jax

            devices = jax.devices()
            if devices and devices[0].platform != "cpu":
                accelerator = f"{len(devices)}x {devices[0].device_kind}"
        elif backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                accelerator = f"{len(gpus)}x {details.get('device_name', 'GPU')}"
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                count = torch.cuda.device_count()
                accelerator = f"{count}x {torch.cuda.get_device_name(0)}"
    except Exception:  # noqa: BLE001 -- a description must never fail a run
        accelerator = None
    if accelerator is None:
        accelerator = f"CPU: {cpu_name()}, {_cpu_count()} cores"
    return f"{accelerator} ({backend})"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# --- Ledger -------------------------------------------------------------------


@dataclasses.dataclass
class CostEntry:
    """One measured piece of work: a phase of a method's generic or per-domain cost.

    Attributes:
        phase: what ran (`"pretrain"`, `"finetune"`, `"pretrain_is"`, ...);
            phases starting with `"pretrain"` count as pretraining in plots.
        tokens: training tokens processed.
        flops: FLOPs by formula.
        seconds: measured wall-clock seconds.
        device: where it ran (`device_description()`).
    """

    phase: str
    tokens: float = 0
    flops: float = 0.0
    seconds: float = 0.0
    device: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> CostEntry:
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"Unknown cost entry field(s) {sorted(unknown)}.")
        if "phase" not in data:
            raise ValueError(f"A cost entry needs a 'phase'. Received: {dict(data)}.")
        return cls(**data)


def _sum_entries(entries: list[CostEntry], phase: str = "total") -> CostEntry:
    devices = sorted({e.device for e in entries if e.device})
    return CostEntry(
        phase=phase,
        tokens=sum(e.tokens for e in entries),
        flops=float(sum(e.flops for e in entries)),
        seconds=float(sum(e.seconds for e in entries)),
        device="; ".join(devices),
    )


def _mean_entries(entries: list[CostEntry], phase: str = "mean") -> CostEntry:
    if not entries:
        return CostEntry(phase=phase)
    total = _sum_entries(entries, phase)
    n = len(entries)
    return CostEntry(
        phase=phase,
        tokens=total.tokens / n,
        flops=total.flops / n,
        seconds=total.seconds / n,
        device=total.device,
    )


class CostLedger:
    """Per-method generic and per-domain specialization costs.

    Each run records what it executed with `add` (or `measure`, which times
    a block); shared costs are linked with `inherit` instead of copied. The
    ledger answers `generic`, `specialization`, `total_cost` (`C_total(N)`)
    and serializes to JSON (`to_dict` / `save`, `from_dict` / `load`).

    Example:
    >>> ledger = CostLedger()
    >>> ledger.add("llm", "generic", phase="pretrain", tokens=100, flops=6e4)
    >>> for domain in ("arxiv", "pubmed"):
    ...     ledger.add("llm_lora", "specialization", domain=domain,
    ...                phase="lora", tokens=10, flops=1e3)
    >>> ledger.inherit("llm_lora", "llm", kind="generic")
    >>> ledger.total_cost("llm_lora", num_domains=9)
    69000.0
    """

    FORMAT = "keras_pn.cost_ledger/1"

    def __init__(self):
        self._generic: dict[str, list[CostEntry]] = {}
        self._specialization: dict[str, dict[str, list[CostEntry]]] = {}
        self._inherit: dict[str, dict[str, list[str]]] = {}

    # --- Recording ---

    def add(
        self,
        method: str,
        kind: str,
        *,
        phase: str,
        domain: str | None = None,
        tokens: float = 0,
        flops: float | None = None,
        flops_per_token: float | None = None,
        seconds: float = 0.0,
        device: str | None = None,
    ) -> None:
        """Record one phase of `method`'s generic or specialization cost.

        Args:
            method: the method name (`"slm"`, `"pn"`, ...).
            kind: `"generic"` (shared by all domains) or `"specialization"`
                (paid for `domain`).
            phase: what ran, e.g. `"pretrain"`, `"finetune"`.
            domain: the domain, required for (and only for) specialization.
            tokens: training tokens processed.
            flops: FLOPs; or give `flops_per_token` (times `tokens`).
            seconds: measured wall seconds.
            device: where it ran (default: `device_description()`).
        """
        self._check(method, kind, domain)
        if flops is not None and flops_per_token is not None:
            raise ValueError("Pass `flops` or `flops_per_token`, not both.")
        if flops is None:
            flops = (flops_per_token or 0.0) * tokens
        for name, value in (("tokens", tokens), ("flops", flops), ("seconds", seconds)):
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(
                    f"`{name}` must be finite and >= 0. Received: {value}."
                )
        if device is None:
            device = device_description()
        self._append(
            method,
            kind,
            domain,
            CostEntry(
                phase=phase,
                tokens=tokens,
                flops=float(flops),
                seconds=float(seconds),
                device=device,
            ),
        )

    @contextlib.contextmanager
    def measure(
        self,
        method: str,
        kind: str,
        *,
        phase: str,
        domain: str | None = None,
        flops_per_token: float | None = None,
        device: str | None = None,
    ):
        """Time a block and record it; set `.tokens` (or `.flops`) inside.

        Example:
        >>> ledger = CostLedger()
        >>> with ledger.measure("slm", "generic", phase="pretrain",
        ...                     flops_per_token=6.0, device="cpu") as cost:
        ...     cost.tokens = 1000  # e.g. steps * batch_size * seq_len
        >>> ledger.generic("slm").flops
        6000.0
        """
        import time

        self._check(method, kind, domain)
        entry = CostEntry(phase=phase)
        start = time.perf_counter()
        yield entry
        seconds = time.perf_counter() - start
        flops = entry.flops if entry.flops else (flops_per_token or 0.0) * entry.tokens
        self.add(
            method,
            kind,
            phase=phase,
            domain=domain,
            tokens=entry.tokens,
            flops=flops,
            seconds=seconds,
            device=device,
        )

    def inherit(self, method: str, source: str, kind: str = "generic") -> None:
        """Count `source`'s `kind` cost in `method`'s (resolved when queried).

        For `kind="specialization"`, each domain of `method` includes
        `source`'s specialization cost for the same domain (e.g. SLM-d pays
        for fine-tuning its teacher on every domain).
        """
        self.declare_inheritance(method, kind, [source], replace=False)

    def declare_inheritance(self, method, kind, sources, replace=True):
        """Set (or extend) the methods whose `kind` cost `method` includes.

        An explicit empty list records "inherits nothing", which
        `apply_paper_conventions` then leaves alone.
        """
        self._check(method, kind, "" if kind == "specialization" else None)
        links = self._inherit.setdefault(method, {}).setdefault(kind, [])
        if replace:
            links.clear()
        for source in sources:
            if source == method:
                raise ValueError(f"Method {method!r} cannot inherit from itself.")
            if source not in links:
                links.append(source)
        self._entries(method, kind, domain=None, resolve=True)  # cycle check

    def merge(self, other: CostLedger) -> None:
        """Add every entry and link of `other` to this ledger."""
        data = other.to_dict()
        self._load(data)

    # --- Queries ---

    def methods(self) -> list[str]:
        """Methods with any entry or link, in insertion order."""
        names = list(self._generic) + list(self._specialization) + list(self._inherit)
        return list(dict.fromkeys(names))

    def domains(self, method: str) -> list[str]:
        """Domains with a specialization cost for `method` (own or inherited)."""
        own = list(self._specialization.get(method, {}))
        return sorted(own)

    def generic(self, method: str) -> CostEntry:
        """Total generic cost of `method`, inherited costs included."""
        return _sum_entries(self._entries(method, "generic", None, resolve=True))

    def specialization(self, method: str, domain: str | None = None) -> CostEntry:
        """Specialization cost for `domain`, or the mean over the domains."""
        if domain is not None:
            return _sum_entries(self._entries(method, "specialization", domain, True))
        per_domain = [self.specialization(method, d) for d in self.domains(method)]
        return _mean_entries(per_domain)

    def pretraining(self, method: str, field: str = "flops") -> float:
        """Pretraining cost: generic, plus per-domain phases named `pretrain*`.

        SLM-is pretrains per domain (a specialization cost); this is the cost
        the paper's perplexity-vs-pretraining-cost figures put on the x axis.
        """
        _check_field(field)
        generic = getattr(self.generic(method), field)
        per_domain = []
        for domain in self.domains(method):
            entries = self._entries(method, "specialization", domain, True)
            per_domain.append(
                sum(
                    getattr(e, field) for e in entries if e.phase.startswith("pretrain")
                )
            )
        return float(generic + (sum(per_domain) / len(per_domain) if per_domain else 0))

    def total_cost(self, method: str, num_domains: int, field: str = "flops") -> float:
        """`C_total(N) = C_generic + N * C_specialization` for `N` domains.

        Args:
            method: the method name.
            num_domains: `N >= 0`.
            field: `"flops"`, `"seconds"` or `"tokens"`.
        """
        _check_field(field)
        if num_domains < 0:
            raise ValueError(f"`num_domains` must be >= 0. Received: {num_domains}.")
        if method not in self.methods():
            raise KeyError(f"No cost recorded for method {method!r}.")
        generic = getattr(self.generic(method), field)
        specialization = getattr(self.specialization(method), field)
        return float(generic + num_domains * specialization)

    def summary(self, method: str) -> dict:
        """A JSON-ready summary (what `results.json` holds under `cost`)."""
        generic_entries = self._entries(method, "generic", None, resolve=True)
        per_domain = {
            d: self.specialization(method, d).to_dict() for d in self.domains(method)
        }
        return {
            "generic": self.generic(method).to_dict(),
            "generic_phases": [e.to_dict() for e in generic_entries],
            "specialization": self.specialization(method).to_dict(),
            "specialization_per_domain": per_domain,
            "pretraining_flops": self.pretraining(method, "flops"),
            "pretraining_seconds": self.pretraining(method, "seconds"),
            "inherits": {k: list(v) for k, v in self._inherit.get(method, {}).items()},
            "convention": COST_CONVENTIONS.get(method, ""),
        }

    # --- Serialization ---

    def to_dict(self) -> dict:
        methods = {}
        for method in self.methods():
            methods[method] = {
                "generic": [e.to_dict() for e in self._generic.get(method, [])],
                "specialization": {
                    d: [e.to_dict() for e in entries]
                    for d, entries in self._specialization.get(method, {}).items()
                },
                "inherit": {
                    k: list(v) for k, v in self._inherit.get(method, {}).items()
                },
            }
        return {"format": self.FORMAT, "methods": methods}

    @classmethod
    def from_dict(cls, data: Mapping) -> CostLedger:
        ledger = cls()
        ledger._load(data)
        return ledger

    def save(self, path) -> None:
        pathlib.Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path) -> CostLedger:
        return cls.from_dict(json.loads(pathlib.Path(path).read_text()))

    # --- Internals ---

    def _load(self, data: Mapping) -> None:
        if data.get("format") != self.FORMAT:
            raise ValueError(
                f"Not a cost ledger: format {data.get('format')!r}, expected "
                f"{self.FORMAT!r}."
            )
        for method, record in data.get("methods", {}).items():
            for entry in record.get("generic", []):
                self._append(method, "generic", None, CostEntry.from_dict(entry))
            for domain, entries in record.get("specialization", {}).items():
                for entry in entries:
                    self._append(
                        method, "specialization", domain, CostEntry.from_dict(entry)
                    )
            for kind, sources in record.get("inherit", {}).items():
                self.declare_inheritance(method, kind, sources, replace=False)

    def _append(self, method, kind, domain, entry):
        if kind == "generic":
            self._generic.setdefault(method, []).append(entry)
        else:
            by_domain = self._specialization.setdefault(method, {})
            by_domain.setdefault(domain, []).append(entry)

    def _entries(self, method, kind, domain, resolve, _seen=()):
        if method in _seen:
            chain = " -> ".join((*_seen, method))
            raise ValueError(f"Cyclic cost inheritance: {chain}.")
        if kind == "generic":
            entries = list(self._generic.get(method, []))
        else:
            by_domain = self._specialization.get(method, {})
            domains = [domain] if domain is not None else list(by_domain)
            entries = [e for d in domains for e in by_domain.get(d, [])]
        if resolve:
            for source in self._inherit.get(method, {}).get(kind, []):
                inherited = self._entries(source, kind, domain, True, (*_seen, method))
                entries += [
                    dataclasses.replace(e, phase=f"{source}:{e.phase}")
                    for e in inherited
                ]
        return entries

    @staticmethod
    def _check(method, kind, domain):
        if not isinstance(method, str) or not method:
            raise ValueError(
                f"`method` must be a non-empty string. Received: {method!r}."
            )
        if kind not in KINDS:
            raise ValueError(f"`kind` must be one of {KINDS}. Received: {kind!r}.")
        if kind == "specialization" and domain is None:
            raise ValueError("A specialization cost needs its `domain=`.")
        if kind == "generic" and domain is not None:
            raise ValueError(
                f"A generic cost is shared by all domains: do not pass "
                f"`domain={domain!r}` (use kind='specialization')."
            )


def _check_field(field):
    if field not in ("flops", "seconds", "tokens"):
        raise ValueError(
            f"`field` must be 'flops', 'seconds' or 'tokens'. Received: {field!r}."
        )


def apply_paper_conventions(ledger: CostLedger, inheritance=None) -> CostLedger:
    """Add the paper's shared-cost links (`DEFAULT_INHERITANCE`) to `ledger`.

    A link `method <- source` for `kind` is added when both methods are in
    the ledger and `method` declares no inheritance of that kind itself (an
    explicitly declared empty list counts as declared). Runs must
    then record only their own work (e.g. SLM-d's recipe records the student's
    distillation, not the teacher's pretraining).

    Example:
    >>> ledger = CostLedger()
    >>> ledger.add("llm", "generic", phase="pretrain", flops=10.0, device="")
    >>> ledger.add("llm_lora", "specialization", domain="arxiv", phase="lora",
    ...            flops=1.0, device="")
    >>> apply_paper_conventions(ledger).total_cost("llm_lora", 3)
    13.0
    """
    inheritance = DEFAULT_INHERITANCE if inheritance is None else inheritance
    methods = set(ledger.methods())
    for method, kinds in inheritance.items():
        if method not in methods:
            continue
        for kind, sources in kinds.items():
            if kind in ledger._inherit.get(method, {}):
                continue  # declared explicitly
            for source in sources:
                if source in methods:
                    ledger.inherit(method, source, kind)
    return ledger
