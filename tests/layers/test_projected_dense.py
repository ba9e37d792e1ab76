"""ProjectedDense: NumPy numerics, strategies, hard mixture, keras-hub's checks."""

import json

import keras
import numpy as np
import pytest

from keras_pn.layers import ExpertEmbedding
from keras_pn.layers import ProjectedDense
from keras_pn.testing import TestCase
from keras_pn.testing import to_numpy


def _reference(layer, x, codes):
    """Per-example NumPy reference: W_b = sum_r (code_b M)[r] T[:, :, r]."""
    bases = to_numpy(layer.kernel_bases).astype("float64")
    mixing = to_numpy(layer.mixing).astype("float64")
    bias = to_numpy(layer.bias_bases).astype("float64")
    out = []
    for b in range(x.shape[0]):
        alpha = codes[b] @ mixing
        out.append(x[b] @ (bases @ alpha) + bias @ alpha)
    return np.stack(out)


def _layer_and_inputs(seq_len=5, strategy="auto", batch=4):
    layer = ProjectedDense(
        units=6,
        num_bases=5,
        expert_dim=3,
        strategy=strategy,
        bias_initializer=keras.initializers.RandomNormal(stddev=0.1),
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, seq_len, 7)).astype("float32")
    codes = rng.normal(size=(batch, 3)).astype("float32")
    layer.build(x.shape, codes.shape)
    return layer, x, codes


@pytest.mark.parametrize("strategy", ["auto", "per_example"])
@pytest.mark.parametrize("seq_len", [1, 5])
def test_mixed_batch_matches_reference(strategy, seq_len):
    layer, x, codes = _layer_and_inputs(seq_len, strategy)
    got = to_numpy(layer(x, codes))
    np.testing.assert_allclose(got, _reference(layer, x, codes), atol=1e-5)


@pytest.mark.parametrize("strategy", ["auto", "shared"])
def test_one_expert_per_batch(strategy):
    layer, x, codes = _layer_and_inputs(strategy=strategy)
    shared = np.repeat(codes[:1], len(codes), axis=0)
    expected = _reference(layer, x, shared)
    np.testing.assert_allclose(to_numpy(layer(x, shared)), expected, atol=1e-5)
    # A rank-1 code is one expert for the whole batch.
    np.testing.assert_allclose(to_numpy(layer(x, codes[0])), expected, atol=1e-5)


def test_rank2_inputs():
    layer, x, codes = _layer_and_inputs()
    got = to_numpy(layer(x[:, 0, :], codes))
    np.testing.assert_allclose(got, _reference(layer, x[:, :1], codes)[:, 0], atol=1e-5)


def test_per_example_equals_each_example_alone():
    layer, x, codes = _layer_and_inputs(batch=5)
    together = to_numpy(layer(x, codes))
    for b in range(len(x)):
        alone = to_numpy(layer(x[b : b + 1], codes[b : b + 1]))
        np.testing.assert_allclose(together[b : b + 1], alone, atol=1e-5)


def test_soft_histogram_code_is_linear_in_experts():
    """alpha(p) = sum_c p[c] E[c] M: the soft kernel mixes the expert kernels."""
    experts = ExpertEmbedding(num_experts=4, expert_dim=3)
    experts.build()
    layer, x, _ = _layer_and_inputs()
    p = np.array([0.1, 0.2, 0.3, 0.4], "float32")
    soft_code = to_numpy(experts.from_histogram(p))
    kernels = [
        to_numpy(layer.expert_kernel(layer.coefficients(experts(np.array([c]))[0])))
        for c in range(4)
    ]
    soft_kernel = to_numpy(layer.expert_kernel(layer.coefficients(soft_code)))
    np.testing.assert_allclose(soft_kernel, sum(p[c] * kernels[c] for c in range(4)), atol=1e-6)


def test_hard_mixture_is_k_independent_dense_layers():
    k = 4
    experts = ExpertEmbedding(num_experts=k, expert_dim=k, hard_mixture=True)
    layer = ProjectedDense(
        units=6,
        num_bases=k,
        expert_dim=k,
        hard_mixture=True,
        bias_initializer=keras.initializers.RandomNormal(stddev=0.1),
    )
    rng = np.random.default_rng(1)
    x = rng.normal(size=(k, 5, 7)).astype("float32")
    ids = np.arange(k, dtype="int32")
    out = to_numpy(layer(x, experts(ids)))
    bases, bias = to_numpy(layer.kernel_bases), to_numpy(layer.bias_bases)
    for i in range(k):
        np.testing.assert_allclose(out[i], x[i] @ bases[:, :, i] + bias[:, i], atol=1e-5)
    # E and M are frozen identities: only T and the bias train.
    assert [w.name for w in layer.trainable_weights] == ["kernel_bases", "bias_bases"]
    assert experts.trainable_weights == []
    np.testing.assert_array_equal(to_numpy(layer.mixing), np.eye(k))


def test_hard_mixture_needs_square_projection():
    with pytest.raises(ValueError, match="num_bases` must equal"):
        ProjectedDense(units=2, num_bases=3, expert_dim=4, hard_mixture=True)
    with pytest.raises(ValueError, match="expert_dim` must equal"):
        ExpertEmbedding(num_experts=4, expert_dim=3, hard_mixture=True)


def test_unknown_strategy():
    with pytest.raises(ValueError, match="Unknown `strategy`"):
        ProjectedDense(units=2, num_bases=3, expert_dim=4, strategy="fast")


def test_config_round_trip():
    layer, x, codes = _layer_and_inputs()
    config = layer.get_config()
    clone = ProjectedDense.from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config
    clone.build(x.shape, codes.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(to_numpy(clone(x, codes)), to_numpy(layer(x, codes)), atol=1e-6)
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == "keras_pn>ProjectedDense"


def test_gradient_step_reduces_loss():
    layer, x, codes = _layer_and_inputs()
    x_in = keras.Input((5, 7))
    code_in = keras.Input((3,))
    model = keras.Model([x_in, code_in], layer(x_in, code_in))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    target = np.zeros((4, 5, 6), "float32")
    before = model.evaluate([x, codes], target, verbose=0)
    model.fit([x, codes], target, epochs=10, batch_size=4, verbose=0)
    assert model.evaluate([x, codes], target, verbose=0) < 0.5 * before


class ProjectedDenseTest(TestCase):
    def input_data(self, expert_dim=3):
        return {
            "inputs": keras.random.normal((2, 5, 7)),
            "expert_code": keras.random.normal((2, expert_dim)),
        }

    def test_projected_dense(self):
        for strategy in ("auto", "shared", "per_example"):
            with self.subTest(strategy=strategy):
                self.run_layer_test(
                    cls=ProjectedDense,
                    init_kwargs={
                        "units": 6,
                        "num_bases": 4,
                        "expert_dim": 3,
                        "strategy": strategy,
                    },
                    input_data=self.input_data(),
                    expected_output_shape=(2, 5, 6),
                    # The kernel bases, the mixing matrix and the bias bases.
                    expected_num_trainable_weights=3,
                )

    def test_hard_mixture(self):
        self.run_layer_test(
            cls=ProjectedDense,
            init_kwargs={
                "units": 6,
                "num_bases": 4,
                "expert_dim": 4,
                "hard_mixture": True,
                "use_bias": False,
            },
            input_data=self.input_data(expert_dim=4),
            expected_output_shape=(2, 5, 6),
            expected_num_trainable_weights=1,  # the kernel bases; M is frozen
            expected_num_non_trainable_weights=1,
            expected_num_non_trainable_variables=1,
        )
