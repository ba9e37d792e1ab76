"""Tiny model configurations (small enough to build and train on a CPU in a test)."""

import keras
import numpy as np

TINY_GPT = dict(
    vocabulary_size=256,
    num_layers=2,
    num_heads=2,
    hidden_dim=16,
    intermediate_dim=32,
    max_sequence_length=32,
)
TINY_PN = dict(TINY_GPT, num_experts=4, num_bases=3, expert_dim=2)


def random_batch(batch_size=3, seq_len=8, vocabulary_size=256, num_experts=None, seed=0):
    """A dict of `token_ids`, `padding_mask` (and `cluster_ids`) as NumPy."""
    rng = np.random.default_rng(seed)
    batch = {
        "token_ids": rng.integers(4, vocabulary_size, (batch_size, seq_len)).astype(
            "int32"
        ),
        "padding_mask": np.ones((batch_size, seq_len), "int32"),
    }
    if num_experts is not None:
        batch["cluster_ids"] = rng.integers(0, num_experts, (batch_size,)).astype(
            "int32"
        )
    return batch


def to_numpy(x):
    """Any backend tensor (or nested dict) to NumPy."""
    if isinstance(x, dict):
        return {k: to_numpy(v) for k, v in x.items()}
    return np.asarray(keras.ops.convert_to_numpy(x))
