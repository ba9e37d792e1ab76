"""PN pretraining step vs SLM step at the same small dimensions (k = 32).

Measures `train_on_batch` of `slm_tiny` and `pn_tiny` (32 experts, the MLPs
of blocks 1-2 projected, h = m = 32) in one process, alternating repetitions,
medians. PN is timed on single-cluster batches (every example shares one
expert: the kernel is built once) and on mixed batches (one expert per
example). Goal: PN / SLM <= 1.25 (the paper's A100 ratio is 3.6 / 2.2 = 1.64).

    python bench/pn_overhead.py --backend=jax [--quick]
    python bench/pn_overhead.py --backend=all
"""

import sys

from common import alternate, machine, ratio, run_per_backend, select_backend

BACKEND = select_backend(sys.argv)


def main(quick, xla):
    import keras
    import numpy as np

    from keras_pn.models import GPTCausalLM, ProjectedGPT

    batch_size, seq_len, repeats = (8, 128, 5) if quick else (16, 128, 10)
    slm = GPTCausalLM.from_preset("slm_tiny", load_weights=False)
    pn = ProjectedGPT.from_preset("pn_tiny", load_weights=False)
    for model in (slm, pn):
        model.compile(
            optimizer=keras.optimizers.Adam(1e-4),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            weighted_metrics=[],
            jit_compile=True if xla and keras.config.backend() != "torch" else "auto",
        )
    rng = np.random.default_rng(0)
    vocab, k = slm.backbone.vocabulary_size, pn.backbone.num_experts
    tokens = rng.integers(4, vocab, (batch_size, seq_len + 1)).astype("int32")
    x = {"token_ids": tokens[:, :-1], "padding_mask": np.ones((batch_size, seq_len), "int32")}
    y = tokens[:, 1:]
    single = dict(x, cluster_ids=np.full((batch_size,), 7, "int32"))
    mixed = dict(x, cluster_ids=rng.permutation(k)[:batch_size].astype("int32") % k)
    steps = {
        "slm": lambda: slm.train_on_batch(x, y),
        "pn_single_cluster": lambda: pn.train_on_batch(single, y),
        "pn_mixed": lambda: pn.train_on_batch(mixed, y),
    }
    for fn in steps.values():  # compile and warm up
        fn()
        fn()
    medians = alternate(steps, repeats)
    tokens_per_step = batch_size * seq_len
    print(f"# {machine()}; backend {keras.config.backend()}; batch {batch_size} x {seq_len}; xla {xla}")
    print(f"# parameters: slm_tiny {slm.backbone.count_params():,}, pn_tiny {pn.backbone.count_params():,}")
    for name, seconds in medians.items():
        print(f"# {name}: {seconds * 1e3:.1f} ms/step, {tokens_per_step / seconds:,.0f} tokens/s")
    ratio(f"pn_single_cluster_over_slm_{BACKEND}", medians["pn_single_cluster"] / medians["slm"])
    ratio(f"pn_mixed_over_slm_{BACKEND}", medians["pn_mixed"] / medians["slm"])
    ratio(f"slm_tiny_tokens_per_s_{BACKEND}", tokens_per_step / medians["slm"])
    ratio(f"pn_tiny_tokens_per_s_{BACKEND}", tokens_per_step / medians["pn_single_cluster"])


if __name__ == "__main__":
    if BACKEND == "all":
        sys.exit(run_per_backend(__file__, sys.argv))
    main(quick="--quick" in sys.argv, xla="--no_xla" not in sys.argv)
