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
    # Without a flag: $KERAS_BACKEND, else jax -- set explicitly, so that
    # ~/.keras/keras.json cannot make Keras run another backend than the one
    # the RATIO names report.
    backend = backend or os.environ.get("KERAS_BACKEND", "jax")
    if backend != "all":
        os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return backend


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


def alternate(callables, repeats, rotate=False):
    """Time each callable `repeats` times, interleaved; return medians.

    Interleaving spreads machine noise over all sides equally; `rotate` also
    rotates the order every repetition, so no side always runs first.
    """
    times = {name: [] for name in callables}
    names = list(callables)
    for rep in range(repeats):
        shift = rep % len(names) if rotate else 0
        for name in names[shift:] + names[:shift]:
            times[name].append(timed(callables[name]))
    return {name: statistics.median(values) for name, values in times.items()}


def machine():
    """One line describing where the numbers were measured."""
    return f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}"


def ratio(name, value):
    """Print a headline ratio in the format RESULTS.md is generated from."""
    text = f"{value:.3f}" if abs(value) >= 0.1 or value == 0 else f"{value:.3g}"
    print(f"RATIO {name} {text}", flush=True)


# --- Shared by the training and inference speed benchmarks -------------------

# Dense peak TFLOP/s of accelerators, by a substring of their name, for MFU:
# bfloat16 tensor-core peaks, and TF32 tensor-core peaks for float32 (what
# XLA and cuBLAS use for float32 matmuls by default on these GPUs).
PEAK_TFLOPS = {
    "H200": {"bfloat16": 989.4, "float32": 494.7},
    "H100": {"bfloat16": 989.4, "float32": 494.7},
    "A100": {"bfloat16": 312.0, "float32": 156.0},
    "L4": {"bfloat16": 121.0, "float32": 60.0},
}
# A CPU's peak, when --peak_tflops is not given: cores x CPU_GHZ x
# cpu_flops_per_cycle() (two FMA units: 2 x 8 float32 lanes x 2 FLOPs with
# AVX2, 2 x 16 lanes x 2 with AVX-512).
CPU_GHZ = 2.5


def cpu_flops_per_cycle():
    """float32 FLOPs per cycle and core: 64 with AVX-512, else 32 (AVX2)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        flags = []
    return 64 if "avx512f" in flags else 32


def device_name():
    """The device Keras computes on, in words (keras_pn's cost accounting)."""
    from keras_pn.evaluation.device import device_description

    return device_description()


def default_peak_tflops(compute_dtype="float32"):
    """Peak TFLOP/s of the device Keras runs on, for MFU (see PEAK_TFLOPS)."""
    name = device_name()
    if not name.startswith("CPU"):
        for key, peaks in PEAK_TFLOPS.items():
            if key in name:
                return peaks.get(compute_dtype, peaks["float32"])
        return None  # an unknown accelerator: pass --peak_tflops
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return cores * CPU_GHZ * cpu_flops_per_cycle() / 1e3


def peak_help():
    return (
        "peak TFLOP/s for MFU; default: the device's dense peak (bfloat16 or TF32 "
        f"tensor cores: {', '.join(f'{k} {v}' for k, v in PEAK_TFLOPS.items())}), "
        f"on CPU cores x {CPU_GHZ} GHz x {cpu_flops_per_cycle()} float32 FLOPs/cycle "
        "(two FMA units, 8 lanes with AVX2, 16 with AVX-512) -- an estimate, pass "
        "the real figure"
    )


def cpu_model():
    """The CPU's model name, as the cost ledger records it."""
    from keras_pn.evaluation.device import cpu_name

    return cpu_name()


def hide_gpus_from_tensorflow():
    """Keep TensorFlow (tf.data, imported by Keras on every backend) off the GPUs.

    Otherwise its first GPU use reserves most of their memory, next to jax or torch.
    """
    try:
        import tensorflow as tf

        tf.config.set_visible_devices([], "GPU")
    except Exception:  # noqa: BLE001 -- no TF, or its devices are already initialised
        pass


def repeated_batch(x, y, sample_weight):
    """One batch repeated forever, as a dataset `model.fit` takes on every backend.

    tf.data where TensorFlow is installed; else grain (keras-hub's TensorFlow-free
    loader: an air-gapped accelerator machine may hold jax and torch only).
    """
    try:
        import tensorflow as tf
    except ImportError:
        import grain

        return grain.MapDataset.source([(x, y, sample_weight)]).repeat()
    return tf.data.Dataset.from_tensors((x, y, sample_weight)).repeat()


def add_backend_flag(parser, allow_all=True, help=None):
    """`--backend` (default: $KERAS_BACKEND or jax); `all` runs one process per backend."""
    choices = ["jax", "tensorflow", "torch"] + (["all"] if allow_all else [])
    parser.add_argument(
        "--backend",
        default=os.environ.get("KERAS_BACKEND", "jax"),
        choices=choices,
        help=help or ("Keras backend; 'all' runs one process per backend" if allow_all else "Keras backend"),
    )
