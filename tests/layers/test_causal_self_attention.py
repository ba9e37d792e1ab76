"""Causal self-attention: causality, the head check, keras-hub's layer checks."""

import keras
import numpy as np
import pytest

from keras_pn.layers import CausalSelfAttention
from keras_pn.testing import TestCase
from keras_pn.testing import to_numpy

PROJECTION = {"num_bases": 3, "expert_dim": 2, "hard_mixture": False}


def test_attention_is_causal():
    attention = CausalSelfAttention(num_heads=2)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 5, 8)).astype("float32")
    changed = x.copy()
    changed[:, 3:] += 10.0
    a, b = to_numpy(attention(x)), to_numpy(attention(changed))
    np.testing.assert_allclose(a[:, :3], b[:, :3], atol=1e-6)
    assert np.abs(a[:, 3:] - b[:, 3:]).max() > 1e-3


def test_width_must_divide_heads():
    with pytest.raises(ValueError, match="divisible by `num_heads`"):
        CausalSelfAttention(num_heads=3)(np.zeros((1, 2, 8), "float32"))


class CausalSelfAttentionTest(TestCase):
    def test_plain_attention(self):
        self.run_layer_test(
            cls=CausalSelfAttention,
            init_kwargs={"num_heads": 2},
            input_data=keras.random.normal((2, 4, 8)),
            expected_output_shape=(2, 4, 8),
            expected_num_trainable_weights=8,  # four kernels, four biases
        )

    def test_projected_attention(self):
        self.run_layer_test(
            cls=CausalSelfAttention,
            init_kwargs={"num_heads": 2, "projection": PROJECTION},
            input_data={
                "inputs": keras.random.normal((2, 4, 8)),
                "expert_code": keras.random.normal((2, 2)),
            },
            expected_output_shape=(2, 4, 8),
            # Four projected layers: kernel bases, mixing and bias bases each.
            expected_num_trainable_weights=12,
        )
