"""Per-op time of keras_pn vs keras-hub fwd+bwd on JAX CPU, from a jax.profiler perfetto trace.

Usage: python bench/profiles/jax_trace.py
"""
import os, sys, glob, gzip, json, re, collections, tempfile
os.environ["KERAS_BACKEND"] = "jax"
_HERE = os.path.dirname(os.path.abspath(__file__)); sys.path[:0] = [os.path.dirname(_HERE), os.path.dirname(os.path.dirname(_HERE))]
import jax, jax.numpy as jnp, numpy as np
from vs_keras_hub import keras_models, parse_args
models = keras_models(parse_args(["--backend=jax"]))
tok = np.random.default_rng(0).integers(4, 4096, (16, 129)).astype("int32")
x = {"token_ids": jnp.asarray(tok[:, :-1]), "padding_mask": jnp.ones((16, 128), "int32")}
y = jnp.asarray(tok[:, 1:])
totals = {}
for name, model in models.items():
    tv = [v.value for v in model.trainable_variables]; ntv = [v.value for v in model.non_trainable_variables]
    def loss_fn(tv, ntv, x, y):
        logits = model.stateless_call(tv, ntv, x)[0].astype("float32")
        return jnp.mean(jax.nn.logsumexp(logits, -1) - jnp.take_along_axis(logits, y[..., None], -1)[..., 0])
    grad = jax.jit(jax.value_and_grad(loss_fn))
    for _ in range(3): jax.block_until_ready(grad(tv, ntv, x, y))
    d = tempfile.mkdtemp()
    with jax.profiler.trace(d, create_perfetto_trace=True):
        for _ in range(10): jax.block_until_ready(grad(tv, ntv, x, y))
    path = glob.glob(f"{d}/**/*.trace.json.gz", recursive=True)[0]
    events = json.load(gzip.open(path))
    events = events["traceEvents"] if isinstance(events, dict) else events
    agg = collections.Counter()
    for e in events:
        if e.get("ph") == "X" and "dur" in e:
            n = e.get("name", "")
            if re.match(r"^(fusion|loop_|input_|dot|wrapped_|copy|transpose|convolution|reduce|custom|scatter|gather|concatenate|select|broadcast|add|multiply|bitcast|convert|[a-z_]+\.\d+)", n):
                key = re.sub(r"\.\d+$", "", n)
                agg[key] += e["dur"] / 10.0  # us per step
    totals[name] = agg
keys = set(totals["keras_pn"]) | set(totals["keras_hub"])
rows = sorted(keys, key=lambda k: -(totals["keras_pn"][k] + totals["keras_hub"][k]))
print(f"{'op (per step, us)':40s} {'keras_pn':>10s} {'keras_hub':>10s} {'diff':>9s}")
for k in rows[:25]:
    a, b = totals["keras_pn"][k], totals["keras_hub"][k]
    print(f"{k[:40]:40s} {a:10.0f} {b:10.0f} {a-b:9.0f}")
print(f"{'TOTAL listed':40s} {sum(totals['keras_pn'].values()):10.0f} {sum(totals['keras_hub'].values()):10.0f}")
