"""The decoder stack shared by `GPTBackbone` and `ProjectedGPTBackbone`."""

import math

import keras
from keras import ops
from keras_hub.layers import PositionEmbedding

from keras_pn.layers import TransformerDecoderBlock

# The decoder stack's architecture arguments, in config order.
DECODER_CONFIG_KEYS = (
    "vocabulary_size",
    "num_layers",
    "num_heads",
    "hidden_dim",
    "intermediate_dim",
    "max_sequence_length",
    "dropout",
    "layer_norm_epsilon",
)


def mask_padding(hidden_states, padding_mask):
    """Zero the hidden states of padded positions: `(B, T, D)` x `(B, T)`."""
    mask = ops.cast(padding_mask, hidden_states.dtype)
    return hidden_states * ops.expand_dims(mask, -1)


class DecoderStackMixin:
    """Embeddings, decoder blocks and the final norm of a GPT-style backbone.

    Both backbones create their layers with `_create_decoder_layers`, which
    also records the `DECODER_CONFIG_KEYS` attributes, and build their
    functional graph with `_decoder_inputs` and `_decoder_outputs`;
    `get_config` serializes `config_keys`. The CausalLM tasks reuse `embed`
    and `decode` for cached generation, so the forward pass exists once.
    """

    # Constructor arguments serialized by `get_config` (a backbone adds its own).
    config_keys = DECODER_CONFIG_KEYS

    def _create_decoder_layers(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        max_sequence_length,
        dropout,
        layer_norm_epsilon,
        dtype,
        block_projections=None,
    ):
        """Create the layers; `block_projections[i]` = (mlp, attention) dicts."""
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.max_sequence_length = max_sequence_length
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        initializer = keras.initializers.RandomNormal(stddev=0.02)
        # GPT-2: layers writing to the residual stream get 1/sqrt(2 * layers).
        output_initializer = keras.initializers.RandomNormal(
            stddev=0.02 / math.sqrt(2 * num_layers)
        )
        self.token_embedding = keras.layers.ReversibleEmbedding(
            input_dim=vocabulary_size,
            output_dim=hidden_dim,
            tie_weights=True,
            embeddings_initializer=initializer,
            dtype=dtype,
            name="token_embedding",
        )
        self.position_embedding = PositionEmbedding(
            sequence_length=max_sequence_length,
            initializer=keras.initializers.RandomNormal(stddev=0.01),
            dtype=dtype,
            name="position_embedding",
        )
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embeddings_dropout"
        )
        self.transformer_layers = []
        for i in range(num_layers):
            mlp_projection, attention_projection = (
                block_projections[i] if block_projections else (None, None)
            )
            self.transformer_layers.append(
                TransformerDecoderBlock(
                    num_heads=num_heads,
                    intermediate_dim=intermediate_dim,
                    dropout=dropout,
                    layer_norm_epsilon=layer_norm_epsilon,
                    mlp_projection=mlp_projection,
                    attention_projection=attention_projection,
                    kernel_initializer=initializer,
                    output_kernel_initializer=output_initializer,
                    dtype=dtype,
                    name=f"transformer_layer_{i}",
                )
            )
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="final_norm"
        )

    def _decoder_inputs(self):
        """The functional inputs `token_ids` and `padding_mask`, `(batch, seq)`."""
        return {
            "token_ids": keras.Input(shape=(None,), dtype="int32", name="token_ids"),
            "padding_mask": keras.Input(
                shape=(None,), dtype="int32", name="padding_mask"
            ),
        }

    def _decoder_outputs(self, inputs, expert_code=None):
        """Hidden states `(batch, seq, hidden)`, zero at padded positions."""
        hidden_states, _ = self.decode(self.embed(inputs["token_ids"]), expert_code)
        return mask_padding(hidden_states, inputs["padding_mask"])

    def embed(self, token_ids, start_index=0):
        """Token plus position embeddings: `(batch, seq)` -> `(batch, seq, hidden)`."""
        tokens = self.token_embedding(token_ids)  # (B, T, D)
        positions = self.position_embedding(tokens, start_index=start_index)
        return self.embeddings_dropout(tokens + positions)

    def decode(self, x, expert_code=None, cache=None, cache_update_index=None):
        """Run the blocks and the final norm.

        Args:
            x: `(batch, seq, hidden)` embeddings.
            expert_code: `(batch, m)` expert codes for projected blocks.
            cache: `(batch, layers, 2, max_length, heads, head_dim)` or `None`.
            cache_update_index: position of `x` in the cache.

        Returns:
            `(hidden_states, cache)`; `cache` is `None` without a cache.
        """
        caches = []
        for i, block in enumerate(self.transformer_layers):
            if cache is None:
                x = block(x, expert_code=expert_code)
            else:
                x, layer_cache = block(
                    x,
                    expert_code=expert_code,
                    cache=cache[:, i, ...],
                    cache_update_index=cache_update_index,
                )
                caches.append(layer_cache)
        x = self.layer_norm(x)  # (B, T, D)
        return x, (ops.stack(caches, axis=1) if cache is not None else None)

    def cache_shape(self, batch_size, max_length):
        """Shape of an empty key/value cache for `max_length` positions."""
        head_dim = self.hidden_dim // self.num_heads
        return (batch_size, self.num_layers, 2, max_length, self.num_heads, head_dim)

    def get_config(self):
        config = super().get_config()
        config.update({key: getattr(self, key) for key in self.config_keys})
        return config
