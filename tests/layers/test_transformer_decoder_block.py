"""Decoder block: cache consistency, projection, config, keras-hub's layer checks."""

import json

import keras
import numpy as np
import pytest

from keras_pn.layers import TransformerDecoderBlock
from keras_pn.testing import TestCase
from keras_pn.testing import to_numpy

PROJECTION = {"num_bases": 3, "expert_dim": 2, "hard_mixture": False}


@pytest.mark.parametrize(
    "mlp_projection, attention_projection",
    [(None, None), (PROJECTION, None), (PROJECTION, PROJECTION)],
)
def test_cached_forward_equals_full_forward(mlp_projection, attention_projection):
    block = TransformerDecoderBlock(
        num_heads=2,
        intermediate_dim=24,
        mlp_projection=mlp_projection,
        attention_projection=attention_projection,
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 8)).astype("float32")
    code = rng.normal(size=(2, 2)).astype("float32") if mlp_projection else None
    full = to_numpy(block(x, expert_code=code))
    assert full.shape == (2, 6, 8) and full.dtype == np.float32
    cache = np.zeros((2, 2, 6, 2, 4), "float32")
    outputs = []
    for t in range(6):
        out, cache = block(x[:, t : t + 1], expert_code=code, cache=cache, cache_update_index=t)
        outputs.append(to_numpy(out))
    np.testing.assert_allclose(np.concatenate(outputs, axis=1), full, atol=1e-5)


def test_projected_block_needs_a_code():
    block = TransformerDecoderBlock(num_heads=2, intermediate_dim=8, mlp_projection=PROJECTION)
    with pytest.raises(ValueError, match="needs an expert code"):
        block(np.zeros((1, 3, 8), "float32"))


def test_config_round_trip_and_lora_names():
    block = TransformerDecoderBlock(
        num_heads=2, intermediate_dim=8, mlp_projection=PROJECTION, name="block"
    )
    x = np.random.default_rng(0).normal(size=(1, 3, 8)).astype("float32")
    code = np.ones((1, 2), "float32")
    block(x, expert_code=code)
    config = json.loads(json.dumps(block.get_config()))
    clone = TransformerDecoderBlock.from_config(config)
    clone(x, expert_code=code)
    clone.set_weights(block.get_weights())
    np.testing.assert_allclose(
        to_numpy(clone(x, expert_code=code)), to_numpy(block(x, expert_code=code)), atol=1e-6
    )
    names = {layer.name for layer in block._flatten_layers()}
    assert {"query_dense", "value_dense", "mlp_intermediate_dense"} <= names


class TransformerDecoderBlockTest(TestCase):
    def test_plain_block(self):
        self.run_layer_test(
            cls=TransformerDecoderBlock,
            init_kwargs={"num_heads": 2, "intermediate_dim": 16},
            input_data=keras.random.normal((2, 4, 8)),
            expected_output_shape=(2, 4, 8),
            # Two norms (gamma, beta), four attention and two MLP dense layers.
            expected_num_trainable_weights=16,
        )

    def test_projected_block(self):
        self.run_layer_test(
            cls=TransformerDecoderBlock,
            init_kwargs={
                "num_heads": 2,
                "intermediate_dim": 16,
                "mlp_projection": PROJECTION,
                "attention_projection": PROJECTION,
            },
            input_data={
                "inputs": keras.random.normal((2, 4, 8)),
                "expert_code": keras.random.normal((2, 2)),
            },
            expected_output_shape=(2, 4, 8),
            # Two norms, and six projected layers (kernel and bias bases, mixing).
            expected_num_trainable_weights=22,
        )
