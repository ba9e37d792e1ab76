"""PN/SLM train-step ratio on one backend at two batch sizes: is PN's overhead per step or per token?

Usage: KERAS_BACKEND=torch python bench/profiles/pn_batch.py [BATCH ...]   (default 16 64; on
tensorflow, before 1f1934c, a second size in one process raised: that bug is fixed)
Measured 2026-12-02, 2 Xeon cores, torch: PN/SLM 1.290 at 16 x 128, 1.006 at 64 x 128.
"""
import os, sys
_HERE = os.path.dirname(os.path.abspath(__file__)); sys.path[:0] = [os.path.dirname(_HERE), os.path.dirname(os.path.dirname(_HERE))]
import keras, numpy as np
from common import alternate
from keras_pn.models import GPTCausalLM, ProjectedGPT
slm = GPTCausalLM.from_preset("slm_tiny", load_weights=False)
pn = ProjectedGPT.from_preset("pn_tiny", load_weights=False)
for model in (slm, pn):
    model.compile(optimizer=keras.optimizers.Adam(1e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  weighted_metrics=[], jit_compile=True if keras.config.backend() != "torch" else "auto")
rng = np.random.default_rng(0)
for batch in [int(b) for b in (sys.argv[1:] or ["16", "64"])]:
    tokens = rng.integers(4, 4096, (batch, 129)).astype("int32")
    x = {"token_ids": tokens[:, :-1], "padding_mask": np.ones((batch, 128), "int32")}
    y = tokens[:, 1:]
    single = dict(x, cluster_ids=np.full((batch,), 7, "int32"))
    steps = {"slm": lambda: slm.train_on_batch(x, y), "pn": lambda: pn.train_on_batch(single, y)}
    for f in steps.values(): f(); f()
    med = alternate(steps, 7)
    print(f"{keras.config.backend()} batch {batch}x128: slm {med['slm']*1e3:.1f} ms, pn {med['pn']*1e3:.1f} ms, "
          f"pn - slm {1e3*(med['pn']-med['slm']):.1f} ms, ratio {med['pn']/med['slm']:.3f}", flush=True)
