"""Inference: an exported PN expert vs a plain SLM, and KV-cache generation vs keras-hub.

Two comparisons, each in one process with alternating repetitions (medians):

* **forward**: the expert exported from a projected network
  (``ProjectedGPT.from_preset("pn_tiny", load_weights=False).project(expert=3)``, a
  plain ``GPTCausalLM``) against the SLM of the same dimensions
  (``GPTCausalLM.from_preset("slm_tiny", load_weights=False)``): ``predict_on_batch``
  on a batch of 16 x 128 tokens. The export should cost nothing at inference.
  Goal: time(expert) / time(SLM) = 1.00 +- 0.05.
* **generation**: greedy ``generate`` with keras_pn's key/value cache against
  keras-hub's ``GPT2CausalLM.generate`` of the same dimensions (random weights, built
  from a config: nothing is downloaded), both fed token-id dicts without
  preprocessor: prompts of 16 tokens, generated to a length of 128 (no stop token),
  generated tokens/s. Reported as tokens/s(keras_pn) / tokens/s(keras-hub).

Models are compiled like keras_pn's training (XLA on jax and tensorflow, eager on
torch); the first call of each side (compilation) is reported, not timed.

Usage::

    python bench/inference.py --backend=all
    python bench/inference.py --backend=jax --quick      # < 2 minutes

Ends with ``RATIO <name> <value>`` lines.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

try:  # python -m bench.<name>
    from bench.common import add_backend_flag, alternate, device_name, hide_gpus_from_tensorflow, machine, ratio
    from bench.common import run_per_backend
except ImportError:  # python bench/<name>.py
    from common import add_backend_flag, alternate, device_name, hide_gpus_from_tensorflow, machine, ratio
    from common import run_per_backend


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_flag(p, help="'all' runs one process per backend")
    p.add_argument("--quick", action="store_true", help="< 2 minutes")
    p.add_argument("--slm_preset", default="slm_tiny")
    p.add_argument("--pn_preset", default="pn_tiny")
    p.add_argument("--expert", type=int, default=3)
    p.add_argument("--batch_size", type=int, default=16, help="forward batch")
    p.add_argument("--seq_len", type=int, default=128, help="forward sequence length")
    p.add_argument("--generate_batch", type=int, default=None, help="default 8 (quick: 2)")
    p.add_argument("--prompt_len", type=int, default=16)
    p.add_argument("--generate_len", type=int, default=None, help="total length; default 128 (quick: 32)")
    p.add_argument("--repeats", type=int, default=None, help="default 10 (quick: 5)")
    p.add_argument("--dtype_policy", default="float32", help="e.g. mixed_bfloat16")
    p.add_argument("--skip_generation", action="store_true")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (5 if args.quick else 10)
    args.generate_batch = args.generate_batch or (2 if args.quick else 8)
    args.generate_len = args.generate_len or (32 if args.quick else 128)
    return args


def jit_setting():
    """What `compile_for_training` uses: XLA on tensorflow too."""
    import keras

    if keras.config.backend() == "tensorflow":
        from keras_pn.distribution import xla_compatible

        return xla_compatible()
    return "auto"


def warm(fn, repeat=2):
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    for _ in range(repeat - 1):
        fn()
    return first


def main(argv=None):
    args = parse_args(argv)
    if args.backend == "all":
        return run_per_backend(os.path.abspath(__file__), sys.argv)
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.backend != "tensorflow":
        hide_gpus_from_tensorflow()
    import keras
    import keras_hub
    import numpy as np

    from keras_pn.models import GPTCausalLM, ProjectedGPT

    keras.utils.set_random_seed(0)
    jit = jit_setting()
    policy = args.dtype_policy
    slm = GPTCausalLM.from_preset(args.slm_preset, load_weights=False, dtype=policy)
    pn = ProjectedGPT.from_preset(args.pn_preset, load_weights=False, dtype=policy)
    expert = pn.project(expert=args.expert)
    del pn
    b = slm.backbone
    hub = keras_hub.models.GPT2CausalLM(
        backbone=keras_hub.models.GPT2Backbone(
            vocabulary_size=b.vocabulary_size,
            num_layers=b.num_layers,
            num_heads=b.num_heads,
            hidden_dim=b.hidden_dim,
            intermediate_dim=b.intermediate_dim,
            dropout=0.0,
            max_sequence_length=b.max_sequence_length,
            dtype=policy,
        ),
        preprocessor=None,
    )
    for model in (slm, expert, hub):
        model.compile(sampler="greedy", jit_compile=jit)
    print(f"# {machine()}; {device_name()}; load average {os.getloadavg()[0]:.1f}")
    print(
        f"# backend {keras.config.backend()}, jit {slm.jit_compile}, policy {policy}; "
        f"parameters: SLM {slm.count_params():,}, expert {expert.count_params():,}, "
        f"keras-hub GPT2 {hub.count_params():,}"
    )

    # --- Forward: exported expert vs SLM ---------------------------------------
    rng = np.random.default_rng(0)
    vocab = b.vocabulary_size
    x = {
        "token_ids": rng.integers(4, vocab, (args.batch_size, args.seq_len)).astype("int32"),
        "padding_mask": np.ones((args.batch_size, args.seq_len), "int32"),
    }
    forward_steps = 2 if args.quick else 5
    forward = {
        name: (lambda m=m: [m.predict_on_batch(x) for _ in range(forward_steps)])
        for name, m in (("slm", slm), ("expert", expert))
    }
    first = {name: warm(fn) for name, fn in forward.items()}
    medians = alternate(forward, args.repeats, rotate=True)
    tokens = args.batch_size * args.seq_len * forward_steps
    for name, seconds in medians.items():
        print(
            f"# forward {name:7s} {seconds / forward_steps * 1e3:8.1f} ms/batch "
            f"{tokens / seconds:12,.0f} tokens/s (first call {first[name]:.1f} s)"
        )
    bk = args.backend
    results = [(f"inference_expert_over_slm_{bk}", medians["expert"] / medians["slm"])]

    # --- Generation: keras_pn's cache vs keras-hub's ---------------------------
    if not args.skip_generation:
        n, p, total = args.generate_batch, args.prompt_len, args.generate_len
        token_ids = np.zeros((n, total), "int32")
        token_ids[:, :p] = rng.integers(4, vocab, (n, p))
        mask = np.zeros((n, total), bool)
        mask[:, :p] = True
        prompts = {"token_ids": token_ids, "padding_mask": mask}
        outputs = {}

        def generator(name, model):
            def run():
                outputs[name] = model.generate(prompts, stop_token_ids=None)

            return run

        gen = {"keras_pn": generator("keras_pn", slm), "keras_hub": generator("keras_hub", hub)}
        first = {name: warm(fn, repeat=1) for name, fn in gen.items()}
        medians = alternate(gen, 3 if args.quick else args.repeats, rotate=True)
        generated = n * (total - p)
        tps = {name: generated / seconds for name, seconds in medians.items()}
        for name in gen:
            ids = np.asarray(keras.ops.convert_to_numpy(outputs[name]["token_ids"]))
            assert ids.shape == (n, total) and (ids[:, :p] == token_ids[:, :p]).all()
            print(
                f"# generate {name:9s} {medians[name]:7.2f} s for {n} x {total - p} tokens "
                f"{tps[name]:10,.0f} tokens/s (first call {first[name]:.1f} s)"
            )
        results.append((f"generate_tokens_per_s_vs_keras_hub_{bk}", tps["keras_pn"] / tps["keras_hub"]))
        results.append((f"generate_tokens_per_s_keras_pn_{bk}", tps["keras_pn"]))
    for name, value in results:
        ratio(name, value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
