"""Preprocessing for `ProjectedGPT`: text plus the expert (cluster) of each example."""

import keras
import numpy as np

from keras_pn.api_export import keras_pn_export
from keras_pn.models.gpt.gpt_causal_lm_preprocessor import GPTCausalLMPreprocessor
from keras_pn.models.projected_gpt.projected_gpt_backbone import ProjectedGPTBackbone


@keras_pn_export("keras_pn.models.ProjectedGPTCausalLMPreprocessor")
class ProjectedGPTCausalLMPreprocessor(GPTCausalLMPreprocessor):
    """Like `GPTCausalLMPreprocessor`, and passes `cluster_ids` through.

    Inputs are `{"prompts": strings, "cluster_ids": ints}` (a scalar cluster
    id applies to every prompt); outputs add `cluster_ids (batch,)` to `x`.

    Example:
    ```python
    preprocessor = keras_pn.models.ProjectedGPTCausalLMPreprocessor(
        keras_pn.models.GPTByteTokenizer(), sequence_length=16)
    x, y, sw = preprocessor({"prompts": ["some text"], "cluster_ids": [3]})
    ```
    """

    backbone_cls = ProjectedGPTBackbone

    def _split(self, x):
        if not isinstance(x, dict) or "prompts" not in x or "cluster_ids" not in x:
            raise ValueError(
                "ProjectedGPT preprocessing needs a dict "
                '{"prompts": strings, "cluster_ids": ints} (one expert per '
                f"prompt). Received: {type(x).__name__}."
            )
        return x["prompts"], x["cluster_ids"]

    def _with_clusters(self, features, cluster_ids):
        # Preprocessing runs inside tf.data (TensorFlow tensors) or eagerly
        # (NumPy / backend tensors); broadcast a scalar id to the batch.
        token_ids = features["token_ids"]
        features = dict(features)
        if _is_tf_tensor(token_ids) or _is_tf_tensor(cluster_ids):
            import tensorflow as tf

            cluster_ids = tf.cast(cluster_ids, "int32")
            if cluster_ids.shape.rank == 0:
                cluster_ids = tf.fill(tf.shape(token_ids)[:1], cluster_ids)
        else:
            cluster_ids = np.asarray(keras.ops.convert_to_numpy(cluster_ids), "int32")
            if cluster_ids.ndim == 0:
                batch_size = keras.ops.shape(token_ids)[0]
                cluster_ids = np.full((batch_size,), cluster_ids, "int32")
            cluster_ids = keras.ops.convert_to_tensor(cluster_ids)
        features["cluster_ids"] = cluster_ids
        return features

    def call(self, x, y=None, sample_weight=None, sequence_length=None):
        prompts, cluster_ids = self._split(x)
        outputs = super().call(
            prompts, y=y, sample_weight=sample_weight, sequence_length=sequence_length
        )
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(outputs)
        x = self._with_clusters(x, _to_array(cluster_ids))
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def generate_preprocess(self, x, sequence_length=None):
        prompts, cluster_ids = self._split(x)
        features = super().generate_preprocess(prompts, sequence_length=sequence_length)
        return self._with_clusters(features, _to_array(cluster_ids))


def _is_tf_tensor(value):
    return type(value).__module__.startswith("tensorflow")


def _to_array(cluster_ids):
    if isinstance(cluster_ids, (int, np.integer, list, tuple)):
        return np.asarray(cluster_ids, dtype="int32")
    return cluster_ids
