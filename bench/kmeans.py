"""Benchmark: keras_pn k-means vs faiss-cpu and scikit-learn (issue 5, item 4).

k-means with k = 1,024 on 100k x 384 unit-norm vectors (a Gaussian mixture on the
sphere, like Sentence-BERT embeddings), the same number of Lloyd iterations for
every method, no early stopping. Two comparisons, each timing "fit + labels of every
vector", methods in a rotating order within one process, medians over repetitions:

* ``same init`` (the headline): all three start from the same centroids (one
  keras_pn k-means++ run, outside the timings), so time and inertia compare the
  Lloyd implementations alone.
* ``end to end``: each library with its own default initialisation -- keras_pn's
  greedy k-means++ on a subsample, faiss's random init (scikit-learn's full-data
  k-means++ only with ``--sklearn-e2e``: it is very slow on a loaded 2-core machine).

keras_pn is compiled first by a short warm-up fit of the same shapes; that time is
reported separately. The inertia of every method's final centroids is evaluated
the same way (exact search with a faiss ``IndexFlatL2``).

Goals: time(keras_pn) / time(faiss) <= 2.0, inertia(keras_pn) / inertia(faiss) <= 1.01.

Usage::

    python -m bench.kmeans --backend=jax          # 100k x 384, k = 1024, 20 iterations
    python -m bench.kmeans --backend=jax --quick  # 25k x 384, k = 256, < 2 minutes

Ends with ``RATIO <name> <value>`` lines.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

try:  # python -m bench.<name>
    from bench.common import add_backend_flag, machine, ratio, run_per_backend
except ImportError:  # python bench/<name>.py
    from common import add_backend_flag, machine, ratio, run_per_backend


def _parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_flag(p, help="Keras backend of keras_pn's side; 'all' runs one process per backend")
    p.add_argument("--n", type=int, default=100_000, help="number of vectors")
    p.add_argument("--d", type=int, default=384, help="dimension")
    p.add_argument("--k", type=int, default=1024, help="clusters")
    p.add_argument(
        "--iters", type=int, default=20, help="Lloyd iterations for every method"
    )
    p.add_argument("--reps", type=int, default=3, help="timed repetitions per method")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--sklearn-e2e",
        action="store_true",
        help="also time scikit-learn with its own full-data k-means++ init",
    )
    p.add_argument(
        "--quick", action="store_true", help="25k x 384, k=256, 10 iterations, 2 reps"
    )
    args = p.parse_args()
    if args.quick:
        args.n, args.k, args.iters, args.reps = 25_000, 256, 10, 2
    return args


def make_data(n, d, seed, n_components=None, noise=0.35):
    """Unit vectors from a Gaussian mixture on the sphere ``(n, d)`` float32."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_components = n_components or max(2, n // 50)
    mu = rng.standard_normal((n_components, d)).astype("float32")
    mu /= np.linalg.norm(mu, axis=1, keepdims=True)
    weights = rng.dirichlet(np.full(n_components, 2.0))
    z = rng.choice(n_components, size=n, p=weights)
    x = mu[z] + (noise / np.sqrt(d)) * rng.standard_normal((n, d)).astype("float32")
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x, dtype="float32")


def main():
    args = _parse()
    if args.backend == "all":
        return run_per_backend(os.path.abspath(__file__), sys.argv)
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import faiss
    import keras
    import numpy as np
    from sklearn.cluster import KMeans as SkKMeans

    from keras_pn.data.kmeans import KMeans

    x = make_data(args.n, args.d, args.seed)
    n, d, k, iters = args.n, args.d, args.k, args.iters
    print(
        f"# k-means bench: n={n} d={d} k={k} iters={iters} reps={args.reps} "
        f"backend={keras.config.backend()} faiss={faiss.__version__}; {machine()}, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    t0 = time.perf_counter()
    init = KMeans(k, n_iter=1, tol=0.0, seed=args.seed, verbose=False).fit(
        x
    )  # compiles all
    compile_s = time.perf_counter() - t0
    print(
        f"# keras_pn warm-up (compile + k-means++ + 1 iteration): {compile_s:.1f}s",
        flush=True,
    )
    t0 = time.perf_counter()
    c0 = (
        KMeans(k, n_iter=0, seed=args.seed, verbose=False).fit(x).centroids_
    )  # shared init
    print(
        f"# keras_pn k-means++ + labels (compiled): {time.perf_counter() - t0:.1f}s",
        flush=True,
    )
    del init

    def keras_pn(same_init):
        init = c0 if same_init else "k-means++"
        km = KMeans(
            k, n_iter=iters, tol=0.0, seed=args.seed, init=init, verbose=False
        ).fit(x)
        return km.centroids_

    def faiss_(same_init):
        km = faiss.Kmeans(
            d,
            k,
            niter=iters,
            seed=args.seed + 1,
            verbose=False,
            max_points_per_centroid=n,
        )  # no subsampling: all n points
        km.train(x, init_centroids=c0 if same_init else None)
        km.index.search(x, 1)  # labels of every vector, like the others
        return km.centroids

    def sklearn(same_init):
        km = SkKMeans(
            k,
            n_init=1,
            max_iter=iters,
            tol=0.0,
            random_state=args.seed,
            init=c0 if same_init else "k-means++",
            algorithm="lloyd",
        ).fit(x)
        return km.cluster_centers_.astype("float32")

    def inertia(c):
        index = faiss.IndexFlatL2(d)
        index.add(np.ascontiguousarray(c, dtype="float32"))
        dist, _ = index.search(x, 1)
        return float(dist.sum(dtype="float64"))

    def compare(title, methods, same_init):
        names = list(methods)
        times = {m: [] for m in names}
        cents = {}
        print(f"\n## {title}", flush=True)
        for rep in range(args.reps):
            order = names[rep % len(names) :] + names[: rep % len(names)]  # rotate
            for m in order:
                t = time.perf_counter()
                cents[m] = methods[m](same_init)
                times[m].append(time.perf_counter() - t)
                print(f"  rep {rep} {m:9s} {times[m][-1]:7.2f}s", flush=True)
        med = {m: statistics.median(times[m]) for m in names}
        ine = {m: inertia(cents[m]) for m in names}
        print(
            f"\n| {title} | median s (fit + labels, {iters} iters) | s / iteration "
            "| inertia |"
        )
        print("|---|---|---|---|")
        for m in names:
            print(f"| {m} | {med[m]:.2f} | {med[m] / iters:.3f} | {ine[m]:.6g} |")
        return med, ine

    three = {"keras_pn": keras_pn, "faiss": faiss_, "sklearn": sklearn}
    med, ine = compare("same init", three, True)
    e2e = {"keras_pn": keras_pn, "faiss": faiss_}
    if args.sklearn_e2e:
        e2e["sklearn"] = sklearn
    med2, ine2 = compare("end to end (own init)", e2e, False)

    print(f"\n# keras_pn compile warm-up: {compile_s:.1f}s (not in the medians)")
    b = args.backend
    ratio(f"kmeans_time_vs_faiss_{b}", med["keras_pn"] / med["faiss"])
    ratio(f"kmeans_inertia_vs_faiss_{b}", ine["keras_pn"] / ine["faiss"])
    ratio(f"kmeans_time_vs_sklearn_{b}", med["keras_pn"] / med["sklearn"])
    ratio(f"kmeans_inertia_vs_sklearn_{b}", ine["keras_pn"] / ine["sklearn"])
    ratio(f"kmeans_e2e_time_vs_faiss_{b}", med2["keras_pn"] / med2["faiss"])
    ratio(f"kmeans_e2e_inertia_vs_faiss_{b}", ine2["keras_pn"] / ine2["faiss"])
    if "sklearn" in med2:
        ratio(f"kmeans_e2e_time_vs_sklearn_{b}", med2["keras_pn"] / med2["sklearn"])
        ratio(f"kmeans_e2e_inertia_vs_sklearn_{b}", ine2["keras_pn"] / ine2["sklearn"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
