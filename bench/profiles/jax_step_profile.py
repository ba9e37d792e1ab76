"""Profile keras_pn GPTCausalLM vs keras-hub GPT2CausalLM train steps on JAX (CPU).

For each model: XLA cost analysis (FLOPs, bytes accessed) of the compiled forward and
forward+backward (stateless, jitted), measured medians, and the HLO op mix.


Usage: python bench/profiles/jax_step_profile.py
"""
import os, sys, time, statistics, collections, re
os.environ["KERAS_BACKEND"] = "jax"
_HERE = os.path.dirname(os.path.abspath(__file__)); sys.path[:0] = [os.path.dirname(_HERE), os.path.dirname(os.path.dirname(_HERE))]
import jax, jax.numpy as jnp, numpy as np, keras
import argparse
from vs_keras_hub import keras_models, parse_args

args = parse_args(["--backend=jax"])
models = keras_models(args)
rng = np.random.default_rng(0)
tok = rng.integers(4, 4096, (16, 129)).astype("int32")
x = {"token_ids": jnp.asarray(tok[:, :-1]), "padding_mask": jnp.ones((16, 128), "int32")}
y = jnp.asarray(tok[:, 1:])

def med(f, n=15):
    f(); ts = []
    for _ in range(n):
        t = time.perf_counter(); jax.block_until_ready(f()); ts.append(time.perf_counter() - t)
    return statistics.median(ts)

rows = {}
for name, model in models.items():
    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]
    def loss_fn(tv, ntv, x, y):
        logits, _ = model.stateless_call(tv, ntv, x)
        logits = logits.astype("float32")
        lse = jax.nn.logsumexp(logits, -1)
        picked = jnp.take_along_axis(logits, y[..., None], -1)[..., 0]
        return jnp.mean(lse - picked)
    fwd = jax.jit(loss_fn)
    grad = jax.jit(jax.value_and_grad(loss_fn))
    out = {}
    for kind, fn in (("forward", fwd), ("fwd+bwd", grad)):
        compiled = fn.lower(tv, ntv, x, y).compile()
        ca = compiled.cost_analysis()
        ca = ca[0] if isinstance(ca, (list, tuple)) else ca
        hlo = compiled.as_text()
        ops = collections.Counter(re.findall(r"= \S+ (\w+)\(", hlo))
        t = med(lambda: fn(tv, ntv, x, y))
        out[kind] = (ca.get("flops", 0), ca.get("bytes accessed", 0), t, ops)
    rows[name] = out
for kind in ("forward", "fwd+bwd"):
    print(f"\n== {kind}")
    for name, out in rows.items():
        f, b, t, ops = out[kind]
        print(f"{name:10s} {t*1e3:7.1f} ms  XLA flops {f/1e9:6.2f} G  bytes {b/1e6:8.1f} MB  "
              f"fusions {ops.get('fusion',0)} dots {ops.get('dot',0)} custom-calls {ops.get('custom-call',0)} "
              f"transposes {ops.get('transpose',0)} copies {ops.get('copy',0)}")
    a, b = rows["keras_pn"][kind], rows["keras_hub"][kind]
    print(f"ratio keras_pn/keras_hub: time {a[2]/b[2]:.3f}, flops {a[0]/max(b[0],1):.3f}, bytes {a[1]/max(b[1],1):.3f}")
    diff = {k: a[3][k] - b[3][k] for k in set(a[3]) | set(b[3]) if a[3][k] != b[3][k]}
    print("op-count differences (keras_pn - keras_hub):", dict(sorted(diff.items())))

# The dots of the forward pass, side by side (shapes and dimension numbers).
for name, model in models.items():
    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]
    def f(tv, ntv, x):
        return model.stateless_call(tv, ntv, x)[0]
    hlo = jax.jit(f).lower(tv, ntv, x).compile().as_text()
    dots = re.findall(r"(\S+\[[^\]]*\][^ ]*) dot\(([^)]*)\), (lhs[^\n]*)", hlo)
    print(f"\n## {name}: {len(dots)} dots")
    for (out, args_, dims), n in collections.Counter((o, re.sub(r'%\S+', '', a), d.split(', metadata')[0]) for o, a, d in dots).items():
        print(" ", n, "x", out, "<-", args_.strip()[:100], dims[:160])
