"""ExpertEmbedding: codes and histograms, keras-hub's layer checks."""

import keras
import numpy as np

from keras_pn.layers import ExpertEmbedding
from keras_pn.testing import TestCase
from keras_pn.testing import to_numpy


def test_expert_embedding_histogram():
    experts = ExpertEmbedding(num_experts=3, expert_dim=2)
    experts.build()
    table = to_numpy(experts.embeddings)
    p = np.array([0.5, 0.25, 0.25], "float32")
    np.testing.assert_allclose(to_numpy(experts.from_histogram(p)), p @ table, atol=1e-6)
    np.testing.assert_allclose(to_numpy(experts(np.array([2, 0]))), table[[2, 0]])
    config = experts.get_config()
    assert ExpertEmbedding.from_config(config).get_config() == config


class ExpertEmbeddingTest(TestCase):
    def test_learned_codes(self):
        self.run_layer_test(
            cls=ExpertEmbedding,
            init_kwargs={"num_experts": 4, "expert_dim": 3},
            input_data=keras.ops.convert_to_tensor(np.array([0, 3, 1], "int32")),
            expected_output_shape=(3, 3),
            expected_num_trainable_weights=1,
        )

    def test_hard_mixture_codes_are_frozen(self):
        self.run_layer_test(
            cls=ExpertEmbedding,
            init_kwargs={"num_experts": 4, "expert_dim": 4, "hard_mixture": True},
            input_data=keras.ops.convert_to_tensor(np.array([0, 3, 1], "int32")),
            expected_output_shape=(3, 4),
            expected_output_data=np.eye(4, dtype="float32")[[0, 3, 1]],
            expected_num_non_trainable_weights=1,
            expected_num_non_trainable_variables=1,
        )
