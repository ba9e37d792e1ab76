"""One Lloyd chunk of keras_pn k-means on torch (CPU), op by op, vs alternatives.

Usage: python bench/profiles/kmeans_torch_profile.py
Measured 2026-12-02, 2 Xeon cores: GEMM 3.75 ms, one-hot 10.15 + 4.14 ms, index_add_ 0.23 ms.
"""
import os, time, statistics
os.environ["KERAS_BACKEND"] = "torch"
import numpy as np, torch, keras
from keras import ops
torch.set_grad_enabled(False)
rng = np.random.default_rng(0)
m, d, k = 2048, 384, 1024
x = ops.convert_to_tensor(rng.standard_normal((m, d)).astype("float32"))
c = ops.convert_to_tensor(rng.standard_normal((k, d)).astype("float32"))
w = ops.ones((m,))
def med(f, n=30):
    f(); ts = []
    for _ in range(n):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3
c_sq = ops.sum(c * c, axis=1)
g = ops.matmul(x, ops.transpose(c))
score = ops.expand_dims(c_sq, 0) - 2.0 * g
labels = ops.argmin(score, axis=1)
r = {}
r["matmul x c^T (m,k)"] = med(lambda: ops.matmul(x, ops.transpose(c)))
r["score = c_sq - 2 g"] = med(lambda: ops.expand_dims(c_sq, 0) - 2.0 * g)
r["argmin"] = med(lambda: ops.argmin(score, axis=1))
r["min"] = med(lambda: ops.min(score, axis=1))
r["take_along_axis (best)"] = med(lambda: ops.take_along_axis(score, ops.expand_dims(labels, 1), axis=1))
r["one_hot * w"] = med(lambda: ops.one_hot(labels, k, dtype="float32") * ops.expand_dims(w, 1))
hot = ops.one_hot(labels, k, dtype="float32")
r["one-hot GEMM sums (k,d)"] = med(lambda: ops.matmul(ops.transpose(hot), x))
r["segment_sum (keras torch)"] = med(lambda: ops.segment_sum(x, labels, num_segments=k))
r["scatter (index_put accumulate)"] = med(lambda: ops.scatter(ops.expand_dims(labels, 1), x, (k, d)))
r["torch index_add_"] = med(lambda: torch.zeros(k, d).index_add_(0, labels, x))
faiss_like = 2 * m * k * d / 1e9
for name, ms in r.items():
    print(f"{name:34s} {ms:7.2f} ms")
print(f"GEMM FLOPs per chunk {faiss_like:.2f} G -> matmul at {faiss_like / r['matmul x c^T (m,k)'] * 1e3:.0f} GFLOP/s")
