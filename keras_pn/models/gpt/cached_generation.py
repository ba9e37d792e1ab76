"""Cached autoregressive generation shared by `GPTCausalLM` and `ProjectedGPT`."""

from keras import ops
from keras_hub.src.utils.tensor_utils import any_equal


def causal_lm_graph(backbone):
    """`(inputs, logits)` of a CausalLM built on `backbone` (tied output head)."""
    inputs = backbone.input
    hidden_states = backbone(inputs)
    logits = backbone.token_embedding(hidden_states, reverse=True)  # (B, T, V)
    return inputs, logits


def call_with_cache(backbone, token_ids, cache, cache_update_index, expert_code=None):
    """One cached forward pass.

    Args:
        backbone: a `GPTBackbone` or `ProjectedGPTBackbone`.
        token_ids: `(batch, seq)` new tokens.
        cache: `(batch, layers, 2, max_length, heads, head_dim)`.
        cache_update_index: position of `token_ids[:, 0]`.
        expert_code: `(batch, m)` codes for a projected backbone.

    Returns:
        `(logits (B, T, V), hidden_states (B, T, D), cache)`.
    """
    x = backbone.embed(token_ids, start_index=cache_update_index)
    hidden_states, cache = backbone.decode(x, expert_code, cache, cache_update_index)
    logits = backbone.token_embedding(hidden_states, reverse=True)
    return logits, hidden_states, cache


def build_cache(task, token_ids, expert_code=None):
    """Seed an empty cache with one forward pass over `token_ids`."""
    batch_size, max_length = ops.shape(token_ids)[0], ops.shape(token_ids)[1]
    shape = task.backbone.cache_shape(batch_size, max_length)
    cache = ops.zeros(shape, dtype=task.compute_dtype)
    _, hidden_states, cache = call_with_cache(
        task.backbone, token_ids, cache, 0, expert_code
    )
    return hidden_states, cache


def generate_step(task, inputs, stop_token_ids=None, expert_code=None):
    """Generate one batch with the task's sampler (keras-hub's protocol).

    Args:
        task: the CausalLM (its `sampler` and `backbone` are used).
        inputs: dict with `token_ids` and `padding_mask` `(batch, max_length)`;
            the prompt is where `padding_mask` is true.
        stop_token_ids: ids that end a sequence, or `None`.
        expert_code: `(batch, m)` codes for a projected backbone.

    Returns:
        dict with the completed `token_ids` and their `padding_mask`.
    """
    token_ids, padding_mask = inputs["token_ids"], inputs["padding_mask"]
    hidden_states, cache = build_cache(task, token_ids, expert_code)
    row_lengths = ops.sum(ops.cast(padding_mask, "int32"), axis=-1)
    index = ops.min(row_lengths)  # first position with no prompt token

    def next(prompt, cache, index):
        cache_update_index = index - 1  # position of the previous token
        batch_size = ops.shape(prompt)[0]
        prompt = ops.slice(prompt, [0, cache_update_index], [batch_size, 1])
        logits, hidden_states, cache = call_with_cache(
            task.backbone, prompt, cache, cache_update_index, expert_code
        )
        return (
            ops.squeeze(logits, axis=1),
            ops.squeeze(hidden_states, axis=1),
            cache,
        )

    token_ids = task.sampler(
        next=next,
        prompt=token_ids,
        cache=cache,
        index=index,
        mask=padding_mask,
        stop_token_ids=stop_token_ids,
        hidden_states=hidden_states,
        model=task,
    )
    if stop_token_ids is not None:
        # Positions after the first generated stop token are padding.
        end_locations = any_equal(
            token_ids, stop_token_ids, ops.logical_not(padding_mask)
        )
        end_locations = ops.cast(end_locations, "int32")
        cumsum = ops.cast(ops.cumsum(end_locations, axis=-1), "int32")
        overflow = cumsum - end_locations
        padding_mask = ops.logical_not(ops.cast(overflow, "bool"))
    else:
        padding_mask = ops.ones_like(token_ids, dtype="bool")
    return {"token_ids": token_ids, "padding_mask": padding_mask}
