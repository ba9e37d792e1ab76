"""PN vs SLM generic training loss at equal steps: which PN setting closes the gap?

Trains, on one prepared workdir (`recipes.prepare_data` output), the SLM and the
projected network of a regime of `bench/regime_sweep.py` for the same steps and
batch, and prints each one's epoch losses and its loss on 20 generic batches
(the PN's windows each scored by its cluster's expert). PN variants:
`pn_<mixed|single>_<orthogonal|normal>`: mixed or single-cluster batches, and
keras_pn's orthogonal expert codes and mixing (the default) or the earlier random
normal ones (`E ~ N(0, 1/m)`, `M ~ N(0, 1/h)`).

Usage::

    python -m recipes.prepare_data --workdir=runs/probe_data --vocabulary_size=1024 \\
        --embedder=hashed --max_generic_tokens=4000000 --cluster_counts=8,1024 \\
        --domains=python,religion
    KERAS_BACKEND=tensorflow python bench/pn_training_probe.py --data_dir=runs/probe_data \\
        --steps=800 --variants=slm,pn_single_normal,pn_mixed_normal,pn_mixed_orthogonal

Ends with ``RATIO pn_probe_<variant>_loss_over_slm <value>`` lines.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

try:  # python -m bench.<name>
    from bench.common import ratio
    from bench.regime_sweep import REGIMES, write_presets
except ImportError:  # python bench/<name>.py
    from common import ratio
    from regime_sweep import REGIMES, write_presets


def _normal_codes(model, seed=0):
    """Re-draw E and M as keras_pn drew them before its orthogonal codes."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for w in model.backbone.weights:
        if w.path.endswith("expert_embedding/embeddings") or w.path.endswith("/mixing"):
            rows, cols = w.shape  # E (k, m) ~ N(0, 1/m), M (m, h) ~ N(0, 1/h)
            w.assign(rng.normal(0.0, cols**-0.5, (rows, cols)).astype("float32"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_dir", required=True)
    p.add_argument("--regime", default="r2x64_4m")
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--learning_rate", type=float, default=3e-3)
    p.add_argument("--variants", default="slm,pn_mixed_orthogonal,pn_single_orthogonal")
    args = p.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import keras

    from keras_pn.data.prepare import load_prepared
    from keras_pn.methods import RunConfig
    from keras_pn.methods import common
    from keras_pn.training.trainer import compile_for_training

    architectures, flags = REGIMES[args.regime]
    presets = write_presets(tempfile.mkdtemp(), args.regime, architectures)
    data = load_prepared(args.data_dir)
    k = flags["pn_clusters"]
    config = RunConfig(slm_preset=presets["slm_preset"], pn_preset=presets["pn_preset"],
                       pn_clusters=k, batch_size=args.batch_size)
    losses = {}
    for variant in [v for v in args.variants.split(",") if v]:
        keras.utils.set_random_seed(0)
        if variant == "slm":
            model = common.gpt(config.slm_preset, data)
            stream = common.generic_stream(data, config)
            held = common.without_clusters(data.generic_stream(k, args.batch_size, seed=999))
        else:
            _, composition, init = variant.split("_")
            model = common.projected_network(config, data)
            if init == "normal":
                _normal_codes(model)
            stream = data.generic_stream(
                k, args.batch_size, config.seed,
                batch_composition="mixed" if composition == "mixed" else "single_cluster",
            )
            held = data.generic_stream(k, args.batch_size, seed=999)
        compile_for_training(model, args.learning_rate, total_steps=args.steps)
        start = time.time()
        history = model.fit(stream, steps_per_epoch=args.steps // 4, epochs=4, verbose=0)
        loss = float(model.evaluate(held.take(20), verbose=0))
        losses[variant] = loss
        print(json.dumps({
            "variant": variant, "steps": args.steps,
            "epoch_losses": [round(x, 4) for x in history.history["loss"]],
            "loss": round(loss, 4), "seconds": round(time.time() - start),
        }), flush=True)
    for variant, loss in losses.items():
        if variant != "slm" and "slm" in losses:
            ratio(f"pn_probe_{variant}_loss_over_slm", round(loss / losses["slm"], 4))


if __name__ == "__main__":
    main()
