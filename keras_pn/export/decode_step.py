"""The graph ONNX and LiteRT exports carry: one decode step over a fixed-size key/value cache.

A GPT generates one token at a time, so the exported graph is that step, batch 1,
every shape static (`S` = `max_sequence_length`, `N` heads of `H` dims, `L` layers).

Inputs:

- `token_id`, int32 `(1,)`: the token at `position`;
- `position`, int32 `(1,)`: `0 .. S - 1`;
- `key_cache_{i}`, `value_cache_{i}`, float32 `(N, S, H)`: layer `i`'s keys and
  values; the positions before `position` are read, the others masked.

Outputs:

- `logits`, `(1, V)`: the next token's logits;
- `new_key_values`, `(L, 2, N, H)`: this token's keys (`[:, 0]`) and values
  (`[:, 1]`), to write at `position` of the caches.

The graph only reads the caches: the caller writes `new_key_values` into its input
buffers in place (`keras_pn.export.runtimes`), so no step copies a cache. A prompt is
fed one step per token (its last step's logits give the first new token).

The step is the GPT-2 computation keras_pn's GPT is (`huggingface.gpt2_state_dict`,
the weight mapping the hf export is checked with), written in TensorFlow ops shaped for
the converters: fused query/key/value, `LayerNormalization` and `FastGelu` patterns
onnxruntime fuses, no transposes (about 125 onnxruntime nodes for 4 layers). Tracing
`CausalLM.call_with_cache` instead gave about 800 nodes (560 after fusion) and well
under half the speed (bench/RESULTS.md): its cache update (`ops.slice_update`, an
`XlaDynamicUpdateSlice` tf2onnx has no converter for) copies the whole cache in and
out of every step.

>>> from keras_pn.models import GPTBackbone
>>> from keras_pn.testing import TINY_GPT
>>> backbone = GPTBackbone(**TINY_GPT)
>>> input_names(backbone)[:4]
['token_id', 'position', 'key_cache_0', 'value_cache_0']
>>> cache_shape(backbone) == (backbone.num_heads, backbone.max_sequence_length,
...                           backbone.hidden_dim // backbone.num_heads)
True
"""

import numpy as np

OUTPUT_NAMES = ("logits", "new_key_values")
GRAPH = "decode_step"  # the manifest's name for this graph, and the LiteRT signature key
_MASKED = -1e9  # the score of a cache position at or after `position`


def cache_shape(backbone):
    """`(heads, max_sequence_length, head_dim)`: one layer's key (or value) cache."""
    heads = backbone.num_heads
    return (heads, backbone.max_sequence_length, backbone.hidden_dim // heads)


def input_names(backbone):
    """The graph's inputs, in order."""
    names = ["token_id", "position"]
    for i in range(backbone.num_layers):
        names += [f"key_cache_{i}", f"value_cache_{i}"]
    return names


def describe(backbone):
    """The graph's entry in `export.json`."""
    heads, length, head_dim = cache_shape(backbone)
    return {
        "graph": GRAPH,
        "inputs": input_names(backbone),
        "outputs": list(OUTPUT_NAMES),
        "cache_shape": [heads, length, head_dim],
        "new_key_values_shape": [backbone.num_layers, 2, heads, head_dim],
    }


def _step_weights(backbone):
    """GPT-2 weights of the backbone, the attention scale folded into the queries."""
    from keras_pn.export.huggingface import gpt2_state_dict

    weights = gpt2_state_dict(backbone)
    heads, _, head_dim = cache_shape(backbone)
    width = backbone.hidden_dim
    scale = np.ones(3 * width, "float32")
    scale[:width] = 1.0 / np.sqrt(head_dim)  # softmax(q k / sqrt(H)) with q pre-scaled
    for i in range(backbone.num_layers):
        for part in ("weight", "bias"):
            name = f"transformer.h.{i}.attn.c_attn.{part}"
            weights[name] = (weights[name] * scale).astype("float32")
    return weights


def decode_step_function(backbone, embeddings_by_feature=False):
    """`(module, input_signature)`: the decode step of a `GPTBackbone` as `module.step`.

    `module` (a `tf.Module`) holds the weights as `tf.Variable`s; the converters
    freeze them into the file. The tied token embedding is stored once, in the
    layout the logits' matrix product reads as is: `(vocabulary, hidden)` for
    TFLite's `FullyConnected` (the default), `(hidden, vocabulary)` with
    `embeddings_by_feature=True` for ONNX's `MatMul` (tokens are then gathered
    by column).
    """
    import tensorflow as tf

    heads, length, head_dim = cache_shape(backbone)
    width, num_layers = backbone.hidden_dim, backbone.num_layers
    epsilon = backbone.layer_norm_epsilon
    weights = _step_weights(backbone)
    if embeddings_by_feature:
        by_feature = weights["transformer.wte.weight"].T
        weights["transformer.wte.weight"] = np.ascontiguousarray(by_feature)
    module = tf.Module()
    module.weights = {
        name.replace(".", "/"): tf.Variable(value, trainable=False)
        for name, value in weights.items()
    }

    def weight(name):
        return module.weights[name.replace(".", "/")]

    def layer_norm(x, name):  # the pattern onnxruntime fuses to LayerNormalization
        centered = x - tf.reduce_mean(x, -1, keepdims=True)
        variance = tf.reduce_mean(tf.pow(centered, 2.0), -1, keepdims=True)
        normed = centered / tf.sqrt(variance + epsilon)
        return normed * weight(name + ".weight") + weight(name + ".bias")

    def dense(x, name):
        return tf.matmul(x, weight(name + ".weight")) + weight(name + ".bias")

    signature = [
        tf.TensorSpec((1,), tf.int32, name="token_id"),
        tf.TensorSpec((1,), tf.int32, name="position"),
    ]
    signature += [
        tf.TensorSpec((heads, length, head_dim), tf.float32, name=name)
        for name in input_names(backbone)[2:]
    ]

    @tf.function(input_signature=signature)
    def step(token_id, position, *caches):
        embeddings = weight("transformer.wte.weight")  # (V, D), or (D, V) by feature
        if embeddings_by_feature:
            token = tf.reshape(tf.gather(embeddings, token_id, axis=1), (1, width))
        else:
            token = tf.gather(embeddings, token_id)  # (1, D)
        x = token + tf.gather(weight("transformer.wpe.weight"), position)
        # Cache positions before `position` are visible; the current token comes last.
        visible = tf.range(length) < position  # (S,)
        mask = tf.where(visible, 0.0, _MASKED)
        new = []
        for i in range(num_layers):
            block = f"transformer.h.{i}."
            key_cache, value_cache = caches[2 * i], caches[2 * i + 1]  # (N, S, H)
            h = layer_norm(x, block + "ln_1")  # (1, D)
            qkv = tf.reshape(dense(h, block + "attn.c_attn"), (3 * heads, 1, head_dim))
            q, k, v = tf.split(qkv, 3, axis=0)  # (N, 1, H) each
            cached = tf.matmul(q, key_cache, transpose_b=True) + mask  # (N, 1, S)
            current = tf.matmul(q, k, transpose_b=True)  # (N, 1, 1)
            p = tf.nn.softmax(tf.concat([cached, current], axis=-1))  # (N, 1, S + 1)
            attended = tf.matmul(p[..., :length], value_cache) + p[..., length:] * v  # (N,1,H)
            x = x + dense(tf.reshape(attended, (1, width)), block + "attn.c_proj")
            h = dense(layer_norm(x, block + "ln_2"), block + "mlp.c_fc")
            h = tf.nn.gelu(h, approximate=True)
            x = x + dense(h, block + "mlp.c_proj")
            new += [k, v]
        x = layer_norm(x, "transformer.ln_f")
        logits = tf.matmul(x, embeddings, transpose_b=not embeddings_by_feature)  # (1, V)
        new_key_values = tf.reshape(tf.stack(new), (num_layers, 2, heads, head_dim))
        return {"logits": logits, "new_key_values": new_key_values}

    module.step = step
    return module, signature
