"""keras_pn.distribution: layouts, errors, and multi-device training vs one device.

The multi-device checks run `tests/distribution/dist_check.py` in a subprocess
that sets its own backend (and, for JAX, 8 virtual CPU devices through
XLA_FLAGS before JAX starts); each runs under its own KERAS_BACKEND only
(jax: DataParallel and ModelParallel on 8 devices; tensorflow: MirroredStrategy
on 2 logical CPUs; torch: 2 torchrun/gloo processes), so every backend's CI run
pays for one. Tolerances: per-step losses (about 5.0) within 1e-5 absolute and
final weights within 1e-4 (float32 sums in another order). Measured largest
differences from one device over 4 steps, loss / weights: JAX DataParallel 2.4e-6
/ 2.1e-7, ModelParallel 2x4 3.3e-6 / 2.9e-7; TensorFlow MirroredStrategy 4.8e-7 /
1.2e-7; torch 2 gloo processes 4.8e-7 / 1.2e-7 (print them with
`python -m tests.distribution.dist_check jax|tensorflow|torch`).
"""

import json
import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest

from keras_pn import distribution as kd
from keras_pn.distribution.layout import checked_layout

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOSS_ATOL = 1e-5
WEIGHT_ATOL = 1e-4
DIMS = dict(vocabulary_size=256, hidden_dim=64, num_heads=4, intermediate_dim=128)


def _mesh(shape=(2, 4)):
    n = int(np.prod(shape))
    return keras.distribution.DeviceMesh(
        shape, ["data", "model"], [f"cpu:{i}" for i in range(n)]
    )


def _device_count():
    """The devices `configure_distribution("data_parallel")` would use by default."""
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        for kind in ("GPU", "CPU"):
            found = tf.config.list_logical_devices(kind)
            if found:
                return len(found)
        return 0
    return len(keras.distribution.list_devices())


def _env(backend, **extra):
    env = dict(os.environ)
    env.update(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    env.pop("XLA_FLAGS", None)
    env.update(extra)
    return env


def _run(args, env, timeout=1500):
    proc = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-6000:]
    return proc


def _check(mode, out):
    """Run `dist_check` in a subprocess (it sets its backend and devices)."""
    proc = _run([sys.executable, "-m", "tests.distribution.dist_check", mode, str(out)],
                _env(mode))
    print(proc.stdout)  # the measured agreement (pytest -s shows it)
    with open(out) as f:
        return json.load(f)


# ---------------------------------------------------------------- layouts (fast)


def test_layout_map_shards_bases_mlp_attention_and_embeddings():
    layouts = kd.layout_map(DIMS, _mesh())
    expected = {
        "token_embedding/embeddings": ("model", None),
        "position_embedding/embeddings": (None, "model"),
        "transformer_layer_0/attention/query_dense/kernel": (None, "model"),
        "transformer_layer_0/attention/value_dense/bias": ("model",),
        "transformer_layer_0/attention/output_dense/kernel": ("model", None),
        "transformer_layer_3/mlp_intermediate_dense/kernel": (None, "model"),
        "transformer_layer_3/mlp_intermediate_dense/bias": ("model",),
        "transformer_layer_3/mlp_output_dense/kernel": ("model", None),
        "transformer_layer_1/mlp_intermediate_dense/kernel_bases": (None, "model", None),
        "transformer_layer_1/mlp_intermediate_dense/bias_bases": ("model", None),
        "transformer_layer_1/mlp_output_dense/kernel_bases": ("model", None, None),
        "transformer_layer_1/attention/key_dense/kernel_bases": (None, "model", None),
        "transformer_layer_1/attention/output_dense/kernel_bases": ("model", None, None),
    }
    for path, axes in expected.items():
        assert layouts[path].axes == axes, path
    for path in (
        "expert_embedding/embeddings",
        "transformer_layer_1/mlp_output_dense/mixing",
        "transformer_layer_1/mlp_output_dense/bias_bases",
        "transformer_layer_0/mlp_output_dense/bias",
        "transformer_layer_0/attention/output_dense/bias",
        "transformer_layer_0/mlp_norm/gamma",
        "final_norm/beta",
    ):
        assert layouts[path] is None, path  # replicated


def test_layout_map_never_shards_a_dimension_the_axis_does_not_divide():
    dims = dict(DIMS, vocabulary_size=250, num_heads=6, hidden_dim=96)
    with pytest.warns(UserWarning, match="num_heads=6 is not divisible by 4"):
        layouts = kd.layout_map(dims, _mesh())
    # Vocabulary 250: shard the width instead; 6 heads: replicate the attention.
    assert layouts["token_embedding/embeddings"].axes == (None, "model")
    assert layouts["transformer_layer_0/attention/query_dense/kernel"].axes == (None, None)
    assert layouts["transformer_layer_0/mlp_output_dense/kernel"].axes == ("model", None)
    with pytest.raises(kd.DistributionError, match="num_heads=6 is not divisible"):
        kd.layout_map(dims, _mesh(), strict=True)


def test_variable_level_check_replicates_non_divisible_shapes():
    mesh = _mesh()
    layout = keras.distribution.TensorLayout((None, "model"), mesh)
    with pytest.warns(UserWarning, match="not divisible by 4"):
        checked = checked_layout(layout, (8, 6), "x/kernel", strict=False)
    assert checked.axes == (None, None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert checked_layout(layout, (8, 12), "x/kernel", False) is layout
    with pytest.raises(kd.DistributionError, match="Fix"):
        checked_layout(layout, (8, 6), "x/kernel", strict=True)


def test_layout_map_reads_presets_and_models():
    layouts = kd.layout_map("pn_tiny", _mesh())
    assert layouts["transformer_layer_1/mlp_intermediate_dense/kernel_bases"].axes == (
        None, "model", None)
    with pytest.raises(kd.DistributionError, match="axes"):
        kd.layout_map(DIMS, _mesh(), model_axis="tensor")


def test_clear_errors():
    with pytest.raises(kd.DistributionError, match="Unknown distribution"):
        kd.configure_distribution("pipeline_parallel")
    with pytest.raises(kd.DistributionError, match="--mesh_shape=2,4"):
        kd.parse_mesh_shape("8")
    assert kd.parse_mesh_shape(["2", "4"]) == (2, 4)
    context = kd.configure_distribution("none")
    with context:
        pass
    assert context.num_replicas == 1
    context.num_replicas = 8
    with pytest.raises(kd.DistributionError, match="multiple of 8"):
        context.check_batch_size(12)
    if keras.config.backend() != "torch":
        with pytest.raises(kd.DistributionError, match="model_parallel to shard"):
            kd.configure_distribution("data_parallel", mesh_shape="2,4")
        # One device more than this process has (1, or 8 with XLA_FLAGS=...=8).
        n = _device_count()
        expected = f"asks for {n + 1} devices; {n} are available.*N <= {n}\\."
        with pytest.raises(kd.DistributionError, match=expected):
            kd.configure_distribution("data_parallel", mesh_shape=str(n + 1))
    if keras.config.backend() == "jax":
        with pytest.raises(kd.DistributionError, match="--num_processes and"):
            kd.configure_distribution("none", coordinator_address="10.0.0.1:1234")


def test_xla_compatible_outside_tf_distribute():
    assert kd.xla_compatible()


@pytest.mark.torch_only
def test_torch_keras_distribution_is_missing_and_says_so():
    with pytest.raises(AttributeError, match="'NoneType' object has no attribute"):
        keras.distribution.list_devices()
    with pytest.raises(kd.DistributionError, match="no torch implementation"):
        kd.configure_distribution("data_parallel")


@pytest.mark.tensorflow_only
def test_tensorflow_model_parallel_is_refused():
    with pytest.raises(kd.DistributionError, match="needs the JAX backend"):
        kd.configure_distribution("model_parallel", mesh_shape=(1, 1))


# ------------------------------------------------- multi-device training (slow)


def _assert_matches(entry, mode):
    single = entry["single"]["losses"]
    got = entry[mode]["losses"]
    assert len(got) == len(single) == 4
    np.testing.assert_allclose(got, single, rtol=0, atol=LOSS_ATOL, err_msg=mode)
    assert entry[mode]["max_weight_diff"] < WEIGHT_ATOL, (mode, entry[mode])


@pytest.mark.slow
@pytest.mark.jax_only
def test_jax_data_and_model_parallel_match_one_device(tmp_path):
    result = _check("jax", tmp_path / "jax.json")
    assert result["devices"] == 8
    for kind in ("gpt", "pn"):
        entry = result[kind]
        _assert_matches(entry, "data_parallel")
        _assert_matches(entry, "model_parallel")
        dp, mp = entry["data_parallel"], entry["model_parallel"]
        assert "mesh {'data': 8}" in dp["describe"]
        assert "mesh {'data': 2, 'model': 4}" in mp["describe"]
        # DataParallel replicates every variable.
        assert set(dp["num_shards"].values()) == {1}
        # ModelParallel really shards: 4 distinct shards of a quarter each.
        embedding = "token_embedding/embeddings"
        assert mp["sharding"][embedding] == ["model", None]
        assert mp["num_shards"][embedding] == 4
        assert mp["shard_shape"][embedding] == [256 // 4, 64]
        prefix = "transformer_layer_0/"
        if kind == "gpt":
            sharded = {
                "mlp_intermediate_dense/kernel": [64, 128 // 4],
                "mlp_output_dense/kernel": [128 // 4, 64],
                "attention/query_dense/kernel": [64, 64 // 4],
            }
        else:
            sharded = {
                "mlp_intermediate_dense/kernel_bases": [64, 128 // 4, 4],
                "mlp_output_dense/kernel_bases": [128 // 4, 64, 4],
                "attention/query_dense/kernel_bases": [64, 64 // 4, 4],
                "attention/output_dense/kernel_bases": [64 // 4, 64, 4],
            }
            assert mp["num_shards"][prefix + "mlp_output_dense/mixing"] == 1
            assert mp["num_shards"]["expert_embedding/embeddings"] == 1
        for name, shape in sharded.items():
            assert mp["num_shards"][prefix + name] == 4, name
            assert mp["shard_shape"][prefix + name] == shape, name
            assert "model" in mp["sharding"][prefix + name], name


@pytest.mark.slow
@pytest.mark.tensorflow_only
def test_tensorflow_mirrored_strategy_matches_one_device(tmp_path):
    result = _check("tensorflow", tmp_path / "tf.json")
    for kind in ("gpt", "pn"):
        assert result[kind]["data_parallel"]["replicas"] == 2
        assert "MirroredStrategy" in result[kind]["data_parallel"]["describe"]
        _assert_matches(result[kind], "data_parallel")


@pytest.mark.slow
@pytest.mark.torch_only
def test_torch_two_gloo_processes_match_one_process(tmp_path):
    result = _check("torch", tmp_path / "torch.json")
    assert result["devices"] == 2
    for kind in ("gpt", "pn"):
        entry = result[kind]["data_parallel"]
        # Each process saw a different half of every batch...
        assert entry["rank_losses"] != entry["losses"]
        # ...and together they took the one-process steps.
        _assert_matches(result[kind], "data_parallel")


# ------------------------------------------------------------ recipe (slow)


@pytest.mark.slow
def test_pretrain_recipe_data_parallel_on_8_virtual_devices(tmp_path):
    """`recipes.pretrain --distribution=data_parallel --cpu_devices=8` (JAX, TensorFlow)."""
    backend = keras.config.backend()
    if backend == "torch":
        pytest.skip("torch: keras.distribution is missing in Keras 3.15.1 (see above)")
    from keras_pn.data.prepare import prepare_data
    from keras_pn.models.architectures.definitions import serialized_config
    from tests.reliability.helpers import prepare_args

    rng = np.random.default_rng(0)
    words = "river boat engine piano gene cell valve chord lake wheel".split()

    def write(path, n):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            for _ in range(n):
                f.write(json.dumps({"text": " ".join(rng.choice(words, 40))}) + "\n")

    write(str(tmp_path / "generic" / "shard-00000.jsonl"), 80)
    for split in ("train", "valid", "test"):
        write(str(tmp_path / "rivers" / f"{split}.jsonl"), 8)
    config, dirs = prepare_args(tmp_path, specialization_tokens=(200,))
    prepare_data(tmp_path / "data", config, **dirs)
    preset = tmp_path / "preset"
    preset.mkdir()
    config = dict(vocabulary_size=300, num_layers=1, num_heads=2, hidden_dim=16,
                  intermediate_dim=32, max_sequence_length=32)
    (preset / "config.json").write_text(json.dumps(serialized_config("GPTBackbone", config)))
    (preset / "metadata.json").write_text(json.dumps({"parameter_count": 0}))
    proc = _run(
        [
            sys.executable, "-m", "recipes.pretrain", "--method=slm",
            f"--data_dir={tmp_path / 'data'}", f"--workdir={tmp_path / 'run'}",
            f"--slm_preset={preset}", "--pn_clusters=4", "--batch_size=8",
            "--pretrain_tokens=1024", "--checkpoints=1", "--verbose=0",
            "--distribution=data_parallel", "--cpu_devices=8",
        ],
        _env(backend, TF_ENABLE_ONEDNN_OPTS="0",
             XLA_FLAGS="--xla_backend_optimization_level=0"),
    )
    if backend == "jax":
        assert "DataParallel, mesh {'data': 8}" in proc.stderr
    else:
        assert "MirroredStrategy, 8 replicas" in proc.stderr
    assert "slm: 4 steps" in proc.stdout
    with open(tmp_path / "run" / "train.json") as f:
        assert np.isfinite(json.load(f)["final_loss"])
