"""Multi-head causal self-attention with a key/value cache for generation."""

import keras
from keras import ops

from keras_pn.api_export import keras_pn_export
from keras_pn.layers.projected_dense import apply_dense
from keras_pn.layers.projected_dense import make_dense


def causal_mask(query_positions, key_positions):
    """`(1, 1, T, S)` bool: query `t` sees keys at positions `<= t`."""
    mask = ops.expand_dims(key_positions, 0) <= ops.expand_dims(query_positions, 1)
    shape = ops.shape(mask)
    return ops.reshape(mask, (1, 1, shape[0], shape[1]))  # (1, 1, T, S)


@keras_pn_export("keras_pn.layers.CausalSelfAttention")
class CausalSelfAttention(keras.layers.Layer):
    """Causal multi-head self-attention, optionally with projected weights.

    The query, key, value and output projections are `keras.layers.Dense`
    layers named `query_dense`, `key_dense`, `value_dense`, `output_dense`
    (so Keras LoRA can target them), or `ProjectedDense` layers when a
    `projection` is given: the projected attention variant.

    Masking is causal only: padding must be on the right (as keras-hub's
    packers produce), so a real token never attends to a padded one.

    Args:
        num_heads: int. Number of attention heads; must divide the width.
        dropout: float. Dropout on the attention output.
        projection: `None`, or a dict (`num_bases`, `expert_dim`,
            `hard_mixture`) to project the four weight matrices.
        kernel_initializer: initializer of the query/key/value kernels.
        output_kernel_initializer: initializer of the output kernel.

    Call arguments:
        inputs: `(batch, seq, hidden)`.
        expert_code: `(batch, m)` expert codes, needed when projected.
        cache: `(batch, 2, max_length, num_heads, head_dim)` key/value
            cache, or `None`.
        cache_update_index: int or scalar tensor; where `inputs` start in the
            cache.

    Returns:
        `(batch, seq, hidden)`, and the updated cache when `cache` is given.

    Example:
    >>> attention = CausalSelfAttention(num_heads=2)
    >>> attention(keras.random.normal((1, 4, 8))).shape
    (1, 4, 8)
    """

    def __init__(
        self,
        num_heads,
        dropout=0.0,
        projection=None,
        kernel_initializer=None,
        output_kernel_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.dropout = dropout
        self.projection = projection
        if kernel_initializer is None:
            kernel_initializer = keras.initializers.RandomNormal(stddev=0.02)
        if output_kernel_initializer is None:
            output_kernel_initializer = kernel_initializer
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.output_kernel_initializer = keras.initializers.get(
            output_kernel_initializer
        )

    def build(self, inputs_shape, expert_code_shape=None):
        hidden_dim = inputs_shape[-1]
        if hidden_dim % self.num_heads != 0:
            raise ValueError(
                f"The width ({hidden_dim}) must be divisible by `num_heads` "
                f"({self.num_heads}). Fix: choose num_heads dividing "
                f"{hidden_dim}."
            )
        self.hidden_dim = hidden_dim
        self.head_dim = hidden_dim // self.num_heads
        names = ("query_dense", "key_dense", "value_dense", "output_dense")
        layers = []
        for name in names:
            initializer = (
                self.output_kernel_initializer
                if name == "output_dense"
                else self.kernel_initializer
            )
            layers.append(
                make_dense(
                    hidden_dim,
                    self.projection,
                    name=name,
                    kernel_initializer=keras.initializers.get(
                        keras.initializers.serialize(initializer)
                    ),
                    dtype=self.dtype_policy,
                )
            )
        (
            self.query_dense,
            self.key_dense,
            self.value_dense,
            self.output_dense,
        ) = layers
        for layer in layers:
            if self.projection is None:
                layer.build(inputs_shape)
            else:
                layer.build(inputs_shape, expert_code_shape)
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.built = True

    def call(
        self,
        inputs,
        expert_code=None,
        cache=None,
        cache_update_index=None,
        training=None,
    ):
        batch_size, seq_len = ops.shape(inputs)[0], ops.shape(inputs)[1]
        heads_shape = (batch_size, seq_len, self.num_heads, self.head_dim)
        query = ops.reshape(
            apply_dense(self.query_dense, inputs, expert_code), heads_shape
        )  # (B, T, N, H)
        key = ops.reshape(
            apply_dense(self.key_dense, inputs, expert_code), heads_shape
        )
        value = ops.reshape(
            apply_dense(self.value_dense, inputs, expert_code), heads_shape
        )
        if cache is None:
            attended = ops.dot_product_attention(
                query, key, value, is_causal=True
            )  # (B, T, N, H)
        else:
            start = [0, cache_update_index, 0, 0]
            key_cache = ops.slice_update(cache[:, 0], start, key)  # (B, S, N, H)
            value_cache = ops.slice_update(cache[:, 1], start, value)
            cache = ops.stack([key_cache, value_cache], axis=1)
            query_positions = cache_update_index + ops.arange(seq_len)  # (T,)
            key_positions = ops.arange(ops.shape(key_cache)[1])  # (S,)
            attended = ops.dot_product_attention(
                query,
                key_cache,
                value_cache,
                mask=causal_mask(query_positions, key_positions),
            )
        attended = ops.reshape(attended, (batch_size, seq_len, self.hidden_dim))
        outputs = apply_dense(self.output_dense, attended, expert_code)
        outputs = self.dropout_layer(outputs, training=training)
        if cache is not None:
            return outputs, cache
        return outputs

    def compute_output_shape(self, inputs_shape, expert_code_shape=None):
        return tuple(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "dropout": self.dropout,
                "projection": self.projection,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "output_kernel_initializer": keras.initializers.serialize(
                    self.output_kernel_initializer
                ),
            }
        )
        return config
