"""Shared helpers for the benchmark scripts: backend selection, timing, output."""

import os
import platform
import statistics
import subprocess
import sys
import time

BACKENDS = ("jax", "tensorflow", "torch")


def select_backend(argv):
    """Set KERAS_BACKEND from `--backend=X` before Keras is imported.

    Returns the backend, or "all" (the caller then re-runs itself per backend).
    """
    backend = None
    for arg in argv:
        if arg.startswith("--backend="):
            backend = arg.split("=", 1)[1]
    if backend and backend != "all":
        os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return backend or os.environ.get("KERAS_BACKEND", "jax")


def run_per_backend(script, argv):
    """Run `script` once per backend in fresh processes; relay its output."""
    args = [a for a in argv[1:] if not a.startswith("--backend=")]
    status = 0
    for backend in BACKENDS:
        print(f"# --- backend {backend} ---", flush=True)
        result = subprocess.run(
            [sys.executable, script, f"--backend={backend}", *args],
            env=dict(os.environ, KERAS_BACKEND=backend),
        )
        status |= result.returncode
    return status


def timed(fn):
    """Wall time of `fn()` in seconds (the result is discarded)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(callables, repeats):
    """Time each callable `repeats` times, interleaved; return medians.

    Interleaving spreads machine noise over all sides equally.
    """
    times = {name: [] for name in callables}
    for _ in range(repeats):
        for name, fn in callables.items():
            times[name].append(timed(fn))
    return {name: statistics.median(values) for name, values in times.items()}


def machine():
    """One line describing where the numbers were measured."""
    return f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}"


def ratio(name, value):
    """Print a headline ratio in the format RESULTS.md is generated from."""
    print(f"RATIO {name} {value:.3f}", flush=True)
