"""Training throughput and MFU of keras_pn models (paper sizes on an accelerator).

For each preset (default ``slm_paper,pn_paper``) on one backend: the model from its
architecture preset (random weights) under a dtype policy (default
``mixed_bfloat16``), compiled like keras_pn trains
(``keras_pn.training.trainer.compile_for_training``: Adam, warm-up + cosine,
clipping, XLA on jax and tensorflow), trained with ``model.fit`` on a repeated
in-memory batch (``steps_per_epoch``: the loop ``keras_pn.training.trainer.train``
runs, without checkpoints). A first ``fit`` of ``--warmup`` steps compiles; the next
``fit`` of ``--steps`` steps is timed, ``--repeats`` times (median).

MFU = tokens/s x model FLOPs per token / peak FLOP/s with nanoGPT's
``6 N + 12 L H Q T``; for a projected network ``N`` is its exported expert's (the
SLM-sized network that runs per token), so SLM and PN MFU are the same "useful"
work; the full PN formula (kernel construction and the optimizer over all ``k``
experts' parameters, ``keras_pn.evaluation.flops.training_flops_per_token``) is
printed too. PN batches are single-cluster (one expert per step, as in pretraining).

``--reference`` (torch backend) also times ``bench/torch_reference.py`` at the SLM's
dimensions, same batch and autocast dtype (``--torch_compile`` compiles it).

Usage::

    python bench/train_mfu.py --backend=jax                    # slm_paper, pn_paper, bf16
    python bench/train_mfu.py --backend=torch --reference --torch_compile
    python bench/train_mfu.py --backend=jax --presets=slm_tiny,pn_tiny --batch_size=2 \
        --seq_len=32 --steps=2 --warmup=1 --repeats=1          # a CPU smoke test

Ends with ``RATIO <name> <value>`` lines (MFU as a fraction, tokens/s).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time

try:  # python -m bench.<name>
    from bench.common import default_peak_tflops, device_name, hide_gpus_from_tensorflow, repeated_batch
    from bench.common import machine, peak_help, ratio
except ImportError:  # python bench/<name>.py
    from common import default_peak_tflops, device_name, hide_gpus_from_tensorflow, repeated_batch
    from common import machine, peak_help, ratio


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "jax"),
                   choices=["jax", "tensorflow", "torch"])
    p.add_argument("--presets", default="slm_paper,pn_paper")
    p.add_argument("--dtype_policy", default="mixed_bfloat16")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--seq_len", type=int, default=None, help="default: the preset's")
    p.add_argument("--steps", type=int, default=20, help="timed steps per repetition")
    p.add_argument("--warmup", type=int, default=3, help="steps of the compiling fit")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--peak_tflops", type=float, default=None, help=peak_help())
    p.add_argument("--torch_compile", action="store_true",
                   help="torch: jit_compile=True (torch.compile) for Keras and the reference")
    p.add_argument("--reference", action="store_true", help="torch: also the plain PyTorch GPT")
    p.add_argument("--quick", action="store_true", help="fewer steps (5 x 2)")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.repeats = min(args.steps, 5), min(args.repeats, 2)
    return args


def model_flops_per_token(model, seq):
    """``6 N + 12 L H Q T``, ``N`` of the (expert) GPT without position embeddings."""
    from keras_pn.evaluation.architecture import ModelDims, parameter_counts

    dims = ModelDims.of(model)
    counts = parameter_counts(dims)
    n = counts["expert_flops"] if dims.is_projected else counts["flops"]
    return 6.0 * n + 12.0 * dims.num_layers * dims.hidden_dim * seq


def measure(preset, args, peak):
    import keras
    import numpy as np

    from keras_pn.evaluation.flops import training_flops_per_token
    from keras_pn.models import GPTCausalLM, ProjectedGPT
    from keras_pn.training.trainer import compile_for_training

    keras.utils.set_random_seed(0)
    cls = ProjectedGPT if preset.startswith("pn") else GPTCausalLM
    model = cls.from_preset(preset, load_weights=False, dtype=args.dtype_policy)
    b = model.backbone
    seq = args.seq_len or b.max_sequence_length
    batch = args.batch_size
    jit = True if (args.torch_compile and args.backend == "torch") else "auto"
    compile_for_training(model, 1e-4, total_steps=10_000, jit_compile=jit)
    rng = np.random.default_rng(0)
    tokens = rng.integers(4, b.vocabulary_size, (batch, seq + 1)).astype("int32")
    x = {"token_ids": tokens[:, :-1], "padding_mask": np.ones((batch, seq), "int32")}
    if cls is ProjectedGPT:
        x["cluster_ids"] = np.full((batch,), 7 % b.num_experts, "int32")
    y = tokens[:, 1:]
    w = np.ones((batch, seq), "float32")
    data = repeated_batch(x, y, w)
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=args.warmup, epochs=1, verbose=0)
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        history = model.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
        times.append((time.perf_counter() - start) / args.steps)
    step_s = statistics.median(times)
    loss = history.history["loss"][-1]
    tps = batch * seq / step_s
    flops = model_flops_per_token(model, seq)
    full = training_flops_per_token(model, sequence_length=seq, tokens_per_batch=batch * seq)
    mfu = tps * flops / (peak * 1e12) if peak else float("nan")
    print(
        f"# {preset}: {model.count_params():,} parameters, batch {batch} x {seq}, "
        f"{step_s * 1e3:.1f} ms/step ({', '.join(f'{t * 1e3:.1f}' for t in times)}), "
        f"{tps:,.0f} tokens/s, model FLOPs/token {flops / 1e6:.1f}M (full formula "
        f"{full / 1e6:.1f}M), MFU {100 * mfu:.2f}%, first fit {compile_s:.1f} s, loss {loss:.3f}",
        flush=True,
    )
    dims = (b.vocabulary_size, b.num_layers, b.num_heads, b.hidden_dim, b.intermediate_dim,
            b.max_sequence_length)
    del model, data, history
    keras.backend.clear_session()
    gc.collect()
    return step_s, tps, mfu, flops, dims, seq


def reference(dims, seq, flops, args, peak):
    import torch

    try:
        from bench.torch_reference import build
    except ImportError:
        from torch_reference import build

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if "bfloat16" in args.dtype_policy else torch.float32
    model, trainer = build(*dims, device=device, dtype=dtype, compile=args.torch_compile)
    ids = torch.randint(4, dims[0], (args.batch_size, seq + 1), device=device)
    x, y = ids[:, :-1], ids[:, 1:]
    start = time.perf_counter()
    for _ in range(args.warmup):
        trainer.step(x, y)
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(args.steps):
            trainer.step(x, y)  # .item() syncs
        times.append((time.perf_counter() - start) / args.steps)
    step_s = statistics.median(times)
    tps = args.batch_size * seq / step_s
    mfu = tps * flops / (peak * 1e12) if peak else float("nan")
    print(f"# torch reference: {step_s * 1e3:.1f} ms/step, {tps:,.0f} tokens/s, MFU "
          f"{100 * mfu:.2f}%, warm-up {compile_s:.1f} s", flush=True)
    del model, trainer
    return step_s, tps, mfu


def main(argv=None):
    args = parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.backend != "tensorflow":
        hide_gpus_from_tensorflow()  # tf.data (where installed) only feeds batches here
    import keras

    compute = keras.DTypePolicy(args.dtype_policy).compute_dtype
    peak = args.peak_tflops or default_peak_tflops(compute)
    print(f"# {machine()}; {device_name()}; backend {args.backend}, policy {args.dtype_policy}, "
          f"peak {peak} TFLOP/s ({compute})", flush=True)
    slm = None
    for preset in args.presets.split(","):  # RATIO lines as soon as measured
        step_s, tps, mfu, flops, dims, seq = measure(preset, args, peak)
        ratio(f"mfu_{preset}_{args.backend}", mfu)
        ratio(f"tokens_per_s_{preset}_{args.backend}", tps)
        if not preset.startswith("pn") and slm is None:
            slm = (step_s, flops, dims, seq)
    if args.reference and args.backend == "torch" and slm is not None:
        step_s, flops, dims, seq = slm
        ref_s, ref_tps, ref_mfu = reference(dims, seq, flops, args, peak)
        ratio("mfu_torch_reference", ref_mfu)
        ratio("tokens_per_s_torch_reference", ref_tps)
        ratio("keras_pn_over_torch_reference_step_time", step_s / ref_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
