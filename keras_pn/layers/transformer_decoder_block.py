"""One pre-norm causal transformer decoder block, plain or projected."""

import keras
from keras import ops

from keras_pn.api_export import keras_pn_export
from keras_pn.layers.causal_self_attention import CausalSelfAttention
from keras_pn.layers.projected_dense import apply_dense
from keras_pn.layers.projected_dense import make_dense


@keras_pn_export("keras_pn.layers.TransformerDecoderBlock")
class TransformerDecoderBlock(keras.layers.Layer):
    """A pre-norm decoder block: `x + attn(ln(x))`, then `x + mlp(ln(x))`.

    The MLP (`mlp_intermediate_dense` -> GELU -> `mlp_output_dense`) is plain,
    or projected when `mlp_projection` is given (the paper's SLM-pn: only MLP
    weights are projected). `attention_projection` projects the attention
    weights too (an option the paper does not study).

    Args:
        num_heads: int. Attention heads.
        intermediate_dim: int. MLP width.
        dropout: float. Residual dropout.
        layer_norm_epsilon: float.
        mlp_projection: `None` or a dict (`num_bases`, `expert_dim`,
            `hard_mixture`) for projected MLP weights.
        attention_projection: same, for projected attention weights.
        kernel_initializer: initializer of the input-side kernels.
        output_kernel_initializer: initializer of the kernels that write to
            the residual stream (GPT-2 scales them by `1/sqrt(2 * layers)`).

    Call arguments:
        inputs: `(batch, seq, hidden)`.
        expert_code: `(batch, m)` codes (from `ExpertEmbedding`), or `None`
            for a plain block.
        cache, cache_update_index: see `CausalSelfAttention`.

    Example:
    >>> block = TransformerDecoderBlock(num_heads=2, intermediate_dim=16)
    >>> block(keras.random.normal((1, 4, 8))).shape
    (1, 4, 8)
    """

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        layer_norm_epsilon=1e-5,
        mlp_projection=None,
        attention_projection=None,
        kernel_initializer=None,
        output_kernel_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.mlp_projection = mlp_projection
        self.attention_projection = attention_projection
        if kernel_initializer is None:
            kernel_initializer = keras.initializers.RandomNormal(stddev=0.02)
        if output_kernel_initializer is None:
            output_kernel_initializer = kernel_initializer
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.output_kernel_initializer = keras.initializers.get(
            output_kernel_initializer
        )

    @property
    def is_projected(self):
        return self.mlp_projection is not None or self.attention_projection is not None

    def _initializer(self, initializer):
        # A fresh instance per weight, so seeded initializers do not repeat.
        return keras.initializers.get(keras.initializers.serialize(initializer))

    def build(self, inputs_shape, expert_code_shape=None):
        hidden_dim = inputs_shape[-1]
        self.hidden_dim = hidden_dim
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="attention_norm"
        )
        self.attention_norm.build(inputs_shape)
        self.attention = CausalSelfAttention(
            num_heads=self.num_heads,
            dropout=self.dropout,
            projection=self.attention_projection,
            kernel_initializer=self._initializer(self.kernel_initializer),
            output_kernel_initializer=self._initializer(
                self.output_kernel_initializer
            ),
            dtype=self.dtype_policy,
            name="attention",
        )
        self.attention.build(inputs_shape, expert_code_shape)
        self.mlp_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="mlp_norm"
        )
        self.mlp_norm.build(inputs_shape)
        self.mlp_intermediate_dense = make_dense(
            self.intermediate_dim,
            self.mlp_projection,
            name="mlp_intermediate_dense",
            kernel_initializer=self._initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
        )
        self.mlp_output_dense = make_dense(
            hidden_dim,
            self.mlp_projection,
            name="mlp_output_dense",
            kernel_initializer=self._initializer(self.output_kernel_initializer),
            dtype=self.dtype_policy,
        )
        intermediate_shape = tuple(inputs_shape[:-1]) + (self.intermediate_dim,)
        if self.mlp_projection is None:
            self.mlp_intermediate_dense.build(inputs_shape)
            self.mlp_output_dense.build(intermediate_shape)
        else:
            self.mlp_intermediate_dense.build(inputs_shape, expert_code_shape)
            self.mlp_output_dense.build(intermediate_shape, expert_code_shape)
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
        attended = self.attention(
            self.attention_norm(inputs),
            expert_code=expert_code,
            cache=cache,
            cache_update_index=cache_update_index,
            training=training,
        )
        if cache is not None:
            attended, cache = attended
        x = inputs + attended  # (B, T, D)
        hidden = self.mlp_norm(x)
        hidden = apply_dense(self.mlp_intermediate_dense, hidden, expert_code)
        hidden = ops.gelu(hidden, approximate=True)  # (B, T, F)
        hidden = apply_dense(self.mlp_output_dense, hidden, expert_code)
        x = x + self.dropout_layer(hidden, training=training)  # (B, T, D)
        if cache is not None:
            return x, cache
        return x

    def compute_output_shape(self, inputs_shape, expert_code_shape=None):
        return tuple(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "mlp_projection": self.mlp_projection,
                "attention_projection": self.attention_projection,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "output_kernel_initializer": keras.initializers.serialize(
                    self.output_kernel_initializer
                ),
            }
        )
        return config
