"""keras_pn's GPTCausalLM training step vs keras-hub's GPT2CausalLM (and plain PyTorch).

Both Keras models have the dimensions of ``slm_tiny`` (vocabulary 4,096, 4 layers,
4 heads, width 128, MLP 512; sequences of 128 tokens, batches of 16) and random
weights: keras_pn's from the ``slm_tiny`` architecture preset, keras-hub's a
``GPT2Backbone`` built from the same numbers (``dropout=0``; no preset is
downloaded) under a ``GPT2CausalLM`` without preprocessor. Both are compiled the
way keras_pn trains (``keras_pn.training.trainer.compile_for_training``: Adam with
warm-up and cosine decay, global-norm clipping 5.0, XLA on jax and tensorflow,
eager on torch unless ``--torch_compile``) and timed with ``train_on_batch`` on one
fixed batch, in one process, alternating repetitions of ``--steps`` steps, medians.

On torch the same step is also timed for a plain PyTorch GPT of the same
dimensions (``bench/torch_reference.py``: pre-norm, ``scaled_dot_product_attention``,
GELU MLP, tied embeddings, the same Adam + clipping + schedule).

For every side: tokens/s and MFU = tokens/s x FLOPs per token / peak FLOP/s, FLOPs
per token by nanoGPT's formula ``6 N + 12 L H Q T`` (``N``: parameters without the
position embeddings, computed once from the shared dimensions, so all sides are
credited the same work; ``keras_pn.evaluation.flops.training_flops_per_token``).

Goal: step time(keras_pn) / step time(keras-hub) <= 1.0 on every backend.

Usage::

    python bench/vs_keras_hub.py --backend=all
    python bench/vs_keras_hub.py --backend=torch --quick          # < 2 minutes
    python bench/vs_keras_hub.py --backend=jax --preset=slm_paper --seq_len=1024 \
        --dtype_policy=mixed_bfloat16                             # on an accelerator

Ends with ``RATIO <name> <value>`` lines.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

try:  # python -m bench.<name>
    from bench.common import add_backend_flag, alternate, default_peak_tflops, device_name, machine
    from bench.common import hide_gpus_from_tensorflow, peak_help, ratio, run_per_backend
except ImportError:  # python bench/<name>.py
    from common import add_backend_flag, alternate, default_peak_tflops, device_name, machine
    from common import hide_gpus_from_tensorflow, peak_help, ratio, run_per_backend


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_flag(p, help="'all' runs one process per backend")
    p.add_argument("--quick", action="store_true", help="fewer repetitions: < 2 minutes")
    p.add_argument("--preset", default="slm_tiny", help="keras_pn architecture preset")
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--seq_len", type=int, default=128)
    p.add_argument("--repeats", type=int, default=None, help="default 10 (quick: 3)")
    p.add_argument("--steps", type=int, default=None, help="steps per repetition; default 3 (quick: 1)")
    p.add_argument("--dtype_policy", default="float32", help="e.g. mixed_bfloat16")
    p.add_argument("--peak_tflops", type=float, default=None, help=peak_help())
    p.add_argument(
        "--torch_compile",
        action="store_true",
        help="torch: jit_compile=True for the Keras models, torch.compile for the reference",
    )
    p.add_argument("--no_reference", action="store_true", help="torch: skip the plain PyTorch GPT")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 10)
    args.steps = args.steps or (1 if args.quick else 3)
    return args


def keras_models(args):
    """Returns ``{"keras_pn": model, "keras_hub": model}``, compiled for training."""
    import keras
    import keras_hub

    from keras_pn.models import GPTCausalLM
    from keras_pn.training.trainer import compile_for_training

    keras.utils.set_random_seed(0)
    ours = GPTCausalLM.from_preset(args.preset, load_weights=False, dtype=args.dtype_policy)
    b = ours.backbone
    if args.seq_len > b.max_sequence_length:
        raise SystemExit(f"--seq_len {args.seq_len} > the preset's {b.max_sequence_length}.")
    hub_backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=b.vocabulary_size,
        num_layers=b.num_layers,
        num_heads=b.num_heads,
        hidden_dim=b.hidden_dim,
        intermediate_dim=b.intermediate_dim,
        dropout=0.0,
        max_sequence_length=b.max_sequence_length,
        dtype=args.dtype_policy,
    )
    hub = keras_hub.models.GPT2CausalLM(backbone=hub_backbone, preprocessor=None)
    jit = True if (args.torch_compile and keras.config.backend() == "torch") else "auto"
    for model in (ours, hub):
        compile_for_training(model, learning_rate=1e-4, total_steps=10_000, jit_compile=jit)
    return {"keras_pn": ours, "keras_hub": hub}


def main(argv=None):
    args = parse_args(argv)
    if args.backend == "all":
        return run_per_backend(os.path.abspath(__file__), sys.argv)
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.backend != "tensorflow":
        hide_gpus_from_tensorflow()
    import keras
    import numpy as np

    from keras_pn.evaluation.flops import training_flops_per_token

    models = keras_models(args)
    ours = models["keras_pn"]
    batch, seq, vocab = args.batch_size, args.seq_len, ours.backbone.vocabulary_size
    rng = np.random.default_rng(0)
    tokens = rng.integers(4, vocab, (batch, seq + 1)).astype("int32")
    x = {"token_ids": tokens[:, :-1], "padding_mask": np.ones((batch, seq), "int32")}
    y = tokens[:, 1:]

    def keras_step(model):
        def run():
            for _ in range(args.steps):
                model.train_on_batch(x, y)  # returns NumPy: waits for the step

        return run

    sides = {name: keras_step(model) for name, model in models.items()}
    compile_s = {}
    if args.backend == "torch" and not args.no_reference:
        import torch

        try:
            from bench.torch_reference import build, count_parameters
        except ImportError:
            from torch_reference import build, count_parameters

        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if "bfloat16" in args.dtype_policy else torch.float32
        b = ours.backbone
        ref, trainer = build(
            vocab, b.num_layers, b.num_heads, b.hidden_dim, b.intermediate_dim,
            b.max_sequence_length, device=device, dtype=dtype, compile=args.torch_compile,
        )
        ids = torch.as_tensor(tokens, dtype=torch.long, device=device)
        tx, ty = ids[:, :-1], ids[:, 1:]

        def reference():
            for _ in range(args.steps):
                trainer.step(tx, ty)  # .item(): waits for the step

        sides["torch_reference"] = reference
    for name, fn in sides.items():  # compile and warm up
        start = time.perf_counter()
        fn()
        compile_s[name] = time.perf_counter() - start
        fn()

    medians = alternate(sides, args.repeats, rotate=True)
    step_s = {name: seconds / args.steps for name, seconds in medians.items()}
    flops = training_flops_per_token(ours, sequence_length=seq)
    compute = keras.DTypePolicy(args.dtype_policy).compute_dtype
    peak = args.peak_tflops or default_peak_tflops(compute)
    b = args.backend
    print(f"# {machine()}; {device_name()}; load average {os.getloadavg()[0]:.1f}")
    print(
        f"# backend {keras.config.backend()}, {args.preset} dimensions, batch {batch} x {seq}, "
        f"policy {args.dtype_policy}, jit {ours.jit_compile}, {args.repeats} x {args.steps} steps"
    )
    print(
        f"# parameters: keras_pn {ours.count_params():,}, keras-hub "
        f"{models['keras_hub'].count_params():,}"
        + (f", torch reference {count_parameters(ref):,}" if "torch_reference" in sides else "")
    )
    print(f"# FLOPs per token (6N + 12LHQT): {flops / 1e6:.2f}M; peak {peak} TFLOP/s")
    mfu = {}
    for name, seconds in step_s.items():
        tps = batch * seq / seconds
        mfu[name] = tps * flops / (peak * 1e12) if peak else float("nan")
        print(
            f"# {name:16s} {seconds * 1e3:8.1f} ms/step  {tps:12,.0f} tokens/s  "
            f"MFU {100 * mfu[name]:6.2f}%  (first call {compile_s[name]:.1f} s)"
        )
    ratio(f"vs_keras_hub_step_time_{b}", step_s["keras_pn"] / step_s["keras_hub"])
    ratio(f"mfu_keras_pn_{b}", mfu["keras_pn"])
    ratio(f"mfu_keras_hub_{b}", mfu["keras_hub"])
    if "torch_reference" in step_s:
        ratio("vs_torch_reference_step_time", step_s["keras_pn"] / step_s["torch_reference"])
        ratio("mfu_torch_reference", mfu["torch_reference"])
        ratio("torch_reference_tokens_per_s", batch * seq / step_s["torch_reference"])
    ratio(f"keras_pn_tokens_per_s_{b}", batch * seq / step_s["keras_pn"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
