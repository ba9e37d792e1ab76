"""The expert embedding table `E` shared by every projected layer of a network."""

import keras
from keras import ops

from keras_pn.api_export import keras_pn_export
from keras_pn.backend_utils import concrete_value
from keras_pn.layers.orthogonal_codes import OrthogonalCodes


@keras_pn_export("keras_pn.layers.ExpertEmbedding")
class ExpertEmbedding(keras.layers.Layer):
    """Expert embeddings `E` of shape `(num_experts, expert_dim)`.

    In a projected network (Grangier et al., 2024) expert `i` is described by
    the row `E[i]`; each projected layer maps that code to its own mixing
    coefficients `alpha = E[i] @ M(l)`. One `ExpertEmbedding` is shared by all
    projected layers of a backbone.

    The layer turns cluster ids into expert codes, and a cluster histogram
    `p` into the soft code `p @ E` (projection from a whole domain).

    Args:
        num_experts: int. `k`, the number of experts (clusters).
        expert_dim: int. `m`, the size of an expert code.
        hard_mixture: bool. If `True`, `E` is the frozen identity (requires
            `expert_dim == num_experts`): the hard mixture of experts special
            case of the paper.
        embeddings_initializer: initializer of `E`. Defaults to
            `OrthogonalCodes()`: unit-norm, orthogonal
            codes, so that with an orthogonal `M` every expert's projected
            kernel starts with a plain layer's scale (random normal codes gave
            experts 0.2x-2.4x that variance at k = 8, and a projected network
            that trained far slower: bench/RESULTS.md, regime sweep).

    Example:
    >>> layer = ExpertEmbedding(num_experts=4, expert_dim=3)
    >>> layer(keras.ops.array([0, 3, 3])).shape
    (3, 3)
    """

    def __init__(
        self,
        num_experts,
        expert_dim,
        hard_mixture=False,
        embeddings_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_experts < 1 or expert_dim < 1:
            raise ValueError(
                "`num_experts` and `expert_dim` must be positive. Received: "
                f"num_experts={num_experts}, expert_dim={expert_dim}."
            )
        if hard_mixture and expert_dim != num_experts:
            raise ValueError(
                "A hard mixture uses E = identity, so `expert_dim` must equal "
                f"`num_experts`. Received: num_experts={num_experts}, "
                f"expert_dim={expert_dim}. Fix: pass expert_dim={num_experts}."
            )
        self.num_experts = num_experts
        self.expert_dim = expert_dim
        self.hard_mixture = hard_mixture
        if embeddings_initializer is None:
            embeddings_initializer = OrthogonalCodes()
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer
        )

    def build(self, input_shape=None):
        initializer = (
            keras.initializers.Identity()
            if self.hard_mixture
            else self.embeddings_initializer
        )
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.num_experts, self.expert_dim),
            initializer=initializer,
            trainable=not self.hard_mixture,
        )
        self.built = True

    def call(self, cluster_ids):
        self._check_cluster_ids(cluster_ids)
        cluster_ids = ops.cast(cluster_ids, "int32")
        # An out-of-range id gives a NaN code on every backend (a plain gather would
        # give NaN on JAX, clamp under XLA and fail on TensorFlow's CPU kernel), so
        # a traced training step reports a NaN loss instead of training silently.
        valid = ops.logical_and(cluster_ids >= 0, cluster_ids < self.num_experts)
        safe_ids = ops.clip(cluster_ids, 0, self.num_experts - 1)
        codes = ops.take(self.embeddings, safe_ids, axis=0)  # (batch, m)
        codes = ops.where(ops.expand_dims(valid, -1), codes, float("nan"))
        return ops.cast(codes, self.compute_dtype)

    def _check_cluster_ids(self, cluster_ids):
        """Eagerly refuse ids outside [0, num_experts).

        A gather out of range does not fail everywhere (JAX returns NaN codes), so
        concrete ids are checked here; traced ids (inside `fit`'s compiled step)
        cannot be, and the trainer reports the resulting NaN loss instead.
        """
        ids = concrete_value(cluster_ids)
        if ids is None or ids.size == 0:
            return
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= self.num_experts:
            bad = low if low < 0 else high
            raise ValueError(
                f"Cluster id {bad} is out of range: this model has "
                f"{self.num_experts} experts (cluster ids 0..{self.num_experts - 1}). "
                "Fix: use the cluster ids of the k-means model the network was "
                f"trained with (k={self.num_experts}), or build the model with "
                "num_experts=k of your clustering."
            )

    def from_histogram(self, histogram):
        """Soft codes `p @ E` from cluster histograms `(k,)` or `(batch, k)`."""
        histogram = ops.cast(histogram, self.variable_dtype)
        codes = ops.matmul(histogram, self.embeddings)  # (batch, m)
        return ops.cast(codes, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.expert_dim,)

    def compute_output_spec(self, cluster_ids):
        # From the ids' own shape: a functional model's `compute_output_spec`
        # passes its raw (NumPy) inputs here, whose shape Keras' shape
        # inference does not collect (it would call `compute_output_shape(None)`).
        shape = self.compute_output_shape(tuple(cluster_ids.shape))
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_experts": self.num_experts,
                "expert_dim": self.expert_dim,
                "hard_mixture": self.hard_mixture,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
            }
        )
        return config
