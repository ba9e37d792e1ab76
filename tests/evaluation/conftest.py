"""Tiny models shared by the evaluation tests (built once per session).

On JAX, building a model compiles one initializer per weight shape; sharing
the models (and their shapes) keeps the three test files fast.
"""

import keras
import pytest

from keras_pn.models import GPTBackbone
from keras_pn.models import GPTCausalLM
from keras_pn.models import ProjectedGPT
from keras_pn.models import ProjectedGPTBackbone

TINY = dict(
    vocabulary_size=64,
    num_layers=2,
    num_heads=2,
    hidden_dim=16,
    intermediate_dim=32,
    max_sequence_length=16,
)
TINY_PN = dict(TINY, num_experts=4, num_bases=3, expert_dim=2, projected_layers=[1])


@pytest.fixture(scope="session")
def tiny_gpt():
    """A `GPTCausalLM` (2 blocks, width 16, MLP 32, vocabulary 64)."""
    keras.utils.set_random_seed(0)
    return GPTCausalLM(GPTBackbone(**TINY))


@pytest.fixture(scope="session")
def tiny_pn():
    """A `ProjectedGPT` over the same sizes: 4 experts, h=3, m=2, block 1 projected."""
    keras.utils.set_random_seed(0)
    return ProjectedGPT(ProjectedGPTBackbone(**TINY_PN))
