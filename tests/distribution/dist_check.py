"""Multi-device training vs one device: the numbers behind tests/distribution.

    python -m tests.distribution.dist_check jax [OUT.json]         # 8 virtual CPU devices
    python -m tests.distribution.dist_check tensorflow [OUT.json]  # 2 logical CPU devices
    python -m tests.distribution.dist_check torch [OUT.json]       # 2 gloo processes (torchrun)

Each mode sets its own `KERAS_BACKEND` (and, for JAX,
`XLA_FLAGS=--xla_force_host_platform_device_count=8` before JAX starts), trains
a tiny GPTCausalLM and a tiny ProjectedGPT for STEPS steps from the same
initial weights on the same global batches, once on one device and once
distributed, and prints per model and mode the largest difference of the
per-step losses and of the final weights from the one-device run. OUT.json
(optional) receives everything: losses, weight differences and, for JAX, the
sharding of every variable.

| mode | distributed run |
|---|---|
| jax | `data_parallel` (mesh data=8) and `model_parallel` (mesh data=2 x model=4) |
| tensorflow | `data_parallel` (MirroredStrategy over 2 logical CPUs), `jit_compile=False` (see `keras_pn.distribution.xla_compatible`), `TF_ENABLE_ONEDNN_OPTS=0` (see below) |
| torch | 2 torchrun processes, gloo, each fed half of every batch, gradients averaged by `torch_data_parallel` |
"""

import json
import os
import subprocess
import sys
import tempfile

STEPS = 4
BATCH = 16
SEQ = 16
VOCAB = 256
EXPERTS = 4
LEARNING_RATE = 3e-3
JAX_DEVICES = 8
TF_DEVICES = 2
TORCH_PROCESSES = 2
ARCH = dict(
    vocabulary_size=VOCAB,
    num_layers=1,
    num_heads=4,
    hidden_dim=64,
    intermediate_dim=128,
    max_sequence_length=SEQ,
)
KINDS = ("gpt", "pn")


def batches():
    """STEPS batches `(x, y, sample_weight)` as NumPy; some padding, mixed experts."""
    import numpy as np

    rng = np.random.default_rng(0)
    out = []
    for step in range(STEPS):
        ids = rng.integers(3, VOCAB, size=(BATCH, SEQ + 1)).astype("int32")
        lengths = np.full(BATCH, SEQ + 1)
        lengths[::5] = rng.integers(4, SEQ, size=len(lengths[::5]))
        positions = np.arange(SEQ + 1)[None, :]
        ids = np.where(positions < lengths[:, None], ids, 0).astype("int32")
        x = {
            "token_ids": ids[:, :-1],
            "padding_mask": (positions[:, :-1] < lengths[:, None]).astype("int32"),
        }
        y = ids[:, 1:]
        w = (positions[:, 1:] < lengths[:, None]).astype("float32")
        # Even steps: one expert per batch (PN pretraining); odd steps: mixed.
        cluster = (
            np.full(BATCH, step % EXPERTS)
            if step % 2 == 0
            else rng.integers(0, EXPERTS, size=BATCH)
        )
        x["cluster_ids"] = cluster.astype("int32")
        out.append((x, y, w))
    return out


def build(kind):
    from keras_pn.models import GPTBackbone
    from keras_pn.models import GPTCausalLM
    from keras_pn.models import ProjectedGPT
    from keras_pn.models import ProjectedGPTBackbone

    if kind == "gpt":
        return GPTCausalLM(backbone=GPTBackbone(**ARCH))
    return ProjectedGPT(
        backbone=ProjectedGPTBackbone(
            **ARCH, num_experts=EXPERTS, projected_attention=True
        )
    )


def dataset(kind, data, rows=None):
    import tensorflow as tf

    def select(batch):
        x, y, w = batch
        x = dict(x)
        if kind == "gpt":
            x.pop("cluster_ids")
        if rows is not None:
            x = {k: v[rows] for k, v in x.items()}
            y, w = y[rows], w[rows]
        return x, y, w

    parts = [select(b) for b in data]
    return tf.data.Dataset.from_generator(
        lambda: iter(parts),
        output_signature=tf.nest.map_structure(
            lambda a: tf.TensorSpec(a.shape, tf.as_dtype(a.dtype)), parts[0]
        ),
    )


def train(kind, initial, data, scope=None, rows=None, prepare=None, jit_compile="auto"):
    """Build (inside `scope`), load `initial`, train STEPS steps; losses, weights."""
    import contextlib
    import time

    import keras

    from keras_pn.training.trainer import compile_for_training

    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    with scope if scope is not None else contextlib.nullcontext():
        model = build(kind)
        model.set_weights(initial)
        if prepare is not None:
            prepare(model)
        compile_for_training(
            model, LEARNING_RATE, total_steps=STEPS, warmup_steps=1,
            jit_compile=jit_compile,
        )
        # One step per "epoch": history["loss"] is then each step's loss.
        history = model.fit(
            dataset(kind, data, rows).repeat(),
            epochs=STEPS,
            steps_per_epoch=1,
            verbose=0,
            shuffle=False,
        )
    weights = [keras.ops.convert_to_numpy(v.value) for v in model.weights]
    losses = [float(x) for x in history.history["loss"]]
    print(
        f"[dist_check] {kind}: losses {losses} ({time.perf_counter() - start:.1f} s)",
        file=sys.stderr,
    )
    return model, losses, weights


def max_diff(a, b):
    import numpy as np

    return float(max(np.max(np.abs(x - y)) if x.size else 0.0 for x, y in zip(a, b)))


def initial_weights(kind):
    import keras

    keras.utils.set_random_seed(1)
    return build(kind).get_weights()


def compare(single, single_w, losses, weights, **extra):
    import numpy as np

    return {
        "losses": losses,
        "max_loss_diff": float(np.max(np.abs(np.subtract(losses, single)))),
        "max_weight_diff": max_diff(weights, single_w),
        **extra,
    }


# --------------------------------------------------------------------------- modes


def run_jax():
    import jax
    import keras

    from keras_pn import distribution as kd

    if jax.device_count() != JAX_DEVICES:
        raise SystemExit(
            f"{jax.device_count()} JAX devices, not {JAX_DEVICES}: XLA_FLAGS was set "
            "after JAX started. Run this module as a script (python -m ...)."
        )
    data = batches()
    result = {"backend": "jax", "devices": jax.device_count()}
    for kind in KINDS:
        initial = initial_weights(kind)
        keras.distribution.set_distribution(None)
        _, single, single_w = train(kind, initial, data)
        entry = {"single": {"losses": single}}
        for mode, shape in (("data_parallel", None), ("model_parallel", (2, 4))):
            context = kd.configure_distribution(mode, mesh_shape=shape, batch_size=BATCH)
            model, losses, weights = train(kind, initial, data, scope=context)
            entry[mode] = compare(
                single,
                single_w,
                losses,
                weights,
                describe=context.describe(),
                # PartitionSpec as a list: ["model", null] (replicated: all null).
                sharding={
                    path: list(spec) for path, spec in kd.sharding_report(model).items()
                },
                shard_shape={
                    v.path: list(v.value.addressable_shards[0].data.shape)
                    for v in model.weights
                },
                num_shards={
                    v.path: len(
                        {tuple(map(str, s.index)) for s in v.value.addressable_shards}
                    )
                    for v in model.weights
                },
            )
        result[kind] = entry
    keras.distribution.set_distribution(None)
    return result


def run_tensorflow():
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * TF_DEVICES
    )
    from keras_pn import distribution as kd

    data = batches()
    result = {"backend": "tensorflow", "devices": TF_DEVICES}
    for kind in KINDS:
        initial = initial_weights(kind)
        # XLA off in both runs: Keras disables it under tf.distribute (see
        # kd.xla_compatible), and the one-device run must compute the same way.
        _, single, single_w = train(kind, initial, data, jit_compile=False)
        context = kd.configure_distribution("data_parallel", batch_size=BATCH)
        with context:
            assert not kd.xla_compatible()
        _, losses, weights = train(
            kind, initial, data, scope=context, jit_compile=False
        )
        result[kind] = {
            "single": {"losses": single},
            "data_parallel": compare(
                single,
                single_w,
                losses,
                weights,
                replicas=context.num_replicas,
                describe=context.describe(),
            ),
        }
    return result


def run_torch_ddp(out):
    """One of the torchrun processes: train on this rank's half of every batch."""
    import numpy as np
    import torch
    import torch.distributed as dist

    from keras_pn import distribution as kd
    from keras_pn.file_io import atomic_path

    rank, world = kd.initialize_multi_host()
    per = BATCH // world
    rows = slice(rank * per, (rank + 1) * per)
    data = batches()
    result = {"world": world}
    for kind in KINDS:
        initial = initial_weights(kind)
        _, losses, weights = train(
            kind, initial, data, rows=rows, prepare=kd.torch_data_parallel
        )
        # The global loss is the mean of the per-process losses: every process
        # holds BATCH // world rows of SEQ positions, and Keras divides the
        # weighted sum by the number of positions.
        t = torch.tensor(losses, dtype=torch.float64)
        dist.all_reduce(t)
        result[kind] = {"losses": (t / world).tolist(), "rank_losses": losses}
        if rank == 0:
            with atomic_path(f"{out}.{kind}.npz") as tmp, open(tmp, "wb") as f:
                np.savez(f, *weights)
    if rank == 0:
        _write(out, result)
    dist.destroy_process_group()


def run_torch():
    import numpy as np

    data = batches()
    with tempfile.TemporaryDirectory() as tmp:
        ddp_out = os.path.join(tmp, "ddp.json")
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.run(
            [
                sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={TORCH_PROCESSES}", "-m",
                "tests.distribution.dist_check", "torch_ddp", ddp_out,
            ],
            cwd=root, env=env, capture_output=True, text=True,
        )
        if proc.returncode:
            sys.stderr.write(proc.stderr[-6000:])
            raise SystemExit(f"torchrun failed with exit status {proc.returncode}")
        with open(ddp_out) as f:
            ddp = json.load(f)
        result = {"backend": "torch", "devices": ddp["world"]}
        for kind in KINDS:
            initial = initial_weights(kind)
            _, single, single_w = train(kind, initial, data)
            with np.load(f"{ddp_out}.{kind}.npz") as saved:
                weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]
            result[kind] = {
                "single": {"losses": single},
                "data_parallel": compare(
                    single,
                    single_w,
                    ddp[kind]["losses"],
                    weights,
                    replicas=ddp["world"],
                    rank_losses=ddp[kind]["rank_losses"],
                    describe=f"torch_data_parallel, {ddp['world']} gloo processes",
                ),
            }
    return result


def summary(result):
    """One line per model and mode: the measured agreement with one device."""
    lines = []
    for kind in KINDS:
        for mode, entry in result[kind].items():
            if mode == "single":
                continue
            lines.append(
                f"{result['backend']:10s} {kind:3s} {mode:14s} "
                f"max|loss - 1 device| over {STEPS} steps = {entry['max_loss_diff']:.1e}, "
                f"max|weights - 1 device| = {entry['max_weight_diff']:.1e}  "
                f"[{entry['describe']}]"
            )
    return "\n".join(lines)


def _write(path, payload):
    from keras_pn.file_io import atomic_write_json

    atomic_write_json(path, payload)


def main(argv):
    mode = argv[1] if len(argv) > 1 else ""
    out = argv[2] if len(argv) > 2 else None
    if mode == "torch_ddp":
        return run_torch_ddp(out)
    runners = {"jax": run_jax, "tensorflow": run_tensorflow, "torch": run_torch}
    if mode not in runners:
        raise SystemExit(f"usage: python -m tests.distribution.dist_check "
                         f"{{{'|'.join(runners)}}} [OUT.json]")
    result = runners[mode]()
    if out:
        _write(out, result)
    print(summary(result))


if __name__ == "__main__":
    _mode = sys.argv[1] if len(sys.argv) > 1 else ""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["KERAS_BACKEND"] = "torch" if _mode.startswith("torch") else _mode or "jax"
    if _mode == "tensorflow":
        # Without XLA (as under tf.distribute), TensorFlow 2.21's oneDNN CPU
        # kernels return wrong values for ProjectedGPT once other models ran in
        # the process (losses of 16 instead of 5, a different step each run;
        # cf. tensorflow/tensorflow#123109); the reference kernels are exact.
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    if _mode == "jax":
        # Before JAX starts. Optimization level 0 only shortens XLA's CPU
        # compilation (both runs compile alike).
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_force_host_platform_device_count" not in flags:
            flags += f" --xla_force_host_platform_device_count={JAX_DEVICES}"
        if "xla_backend_optimization_level" not in flags:
            flags += " --xla_backend_optimization_level=0"
        os.environ["XLA_FLAGS"] = flags.strip()
    main(sys.argv)
