"""The causal LM task shared by `GPTCausalLM` and `ProjectedGPT`."""

import keras_hub
from keras import ops

from keras_pn.models import quantization
from keras_pn.presets import load_from_preset
from keras_pn.presets import resolve_preset


class CausalLM(keras_hub.models.CausalLM):
    """keras-hub's `CausalLM` on a keras_pn decoder-stack backbone.

    Logits come from the backbone's tied token embedding; `generate()` runs
    keras-hub's samplers over a key/value cache; `from_preset` resolves and
    checks the preset first (`keras_pn.presets.load_from_preset`). The class
    keeps keras-hub's name: keras-hub's preset metadata lists a task by the
    name of its first base class (`"tasks": ["CausalLM"]`).

    A subclass sets `backbone_cls` and `preprocessor_cls`; one whose backbone
    needs expert codes overrides `generation_expert_code`.

    Args:
        backbone: a `GPTBackbone` or `ProjectedGPTBackbone`.
        preprocessor: a matching preprocessor, or `None` to feed token ids.
    """

    def __init__(self, backbone, preprocessor=None, **kwargs):
        check_vocabulary(backbone, preprocessor)
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        # === Functional Model ===
        inputs = backbone.input
        hidden_states = backbone(inputs)
        logits = backbone.token_embedding(hidden_states, reverse=True)  # (B, T, V)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        path = resolve_preset(preset)
        if "://" not in path:
            quantization.check_preset_readable(path)
        model = load_from_preset(
            cls, super().from_preset, preset, load_weights=load_weights, **kwargs
        )
        # keras-hub loads the tokenizer's files after building the task.
        check_vocabulary(model.backbone, model.preprocessor)
        return model

    def quantize(self, mode=None, config=None, filters=None, **kwargs):
        """Quantize the model's weights in place (Keras' `Model.quantize`).

        `"int8"` stores the Dense kernels and the tied token embedding as int8
        with per-channel scales; layer norms and positions stay float. The
        preprocessor is left alone (its tokenizer has no weights). Save with
        `save_to_preset` and reload with `from_preset` as usual.

        Example:
        ```python
        causal_lm.quantize("int8")
        causal_lm.save_to_preset("my_model_int8")
        ```
        """
        preprocessor_layers = set()
        if self.preprocessor is not None:
            preprocessor_layers = {id(layer) for layer in self.preprocessor._flatten_layers()}

        def keep(layer):
            if id(layer) in preprocessor_layers:
                return False
            return True if filters is None else _matches(layer, filters)

        # Keras' own quantize visits the preprocessor too and fails on its
        # tokenizer, which is never "built".
        super().quantize(mode, config=config, filters=keep, **kwargs)

    def save_to_preset(self, preset_dir, max_shard_size=10):
        super().save_to_preset(preset_dir, max_shard_size=max_shard_size)
        mode = quantization.quantization_mode(self.backbone)
        if mode is not None:
            quantization.record_quantization(preset_dir, mode)

    def generation_expert_code(self, inputs):
        """The `(batch, m)` expert codes `generate` runs with; `None` here."""
        return None

    def call_with_cache(self, token_ids, cache, cache_update_index, expert_code=None):
        """One cached forward pass.

        Args:
            token_ids: `(batch, seq)` new tokens.
            cache: `(batch, layers, 2, max_length, heads, head_dim)`.
            cache_update_index: position of `token_ids[:, 0]`.
            expert_code: `(batch, m)` codes for a projected backbone.

        Returns:
            `(logits (B, T, V), hidden_states (B, T, D), cache)`.
        """
        x = self.backbone.embed(token_ids, start_index=cache_update_index)
        hidden_states, cache = self.backbone.decode(
            x, expert_code, cache, cache_update_index
        )
        logits = self.backbone.token_embedding(hidden_states, reverse=True)
        return logits, hidden_states, cache

    def _build_cache(self, token_ids, expert_code=None):
        """Seed an empty cache with one forward pass over `token_ids`."""
        batch_size, max_length = ops.shape(token_ids)[0], ops.shape(token_ids)[1]
        shape = self.backbone.cache_shape(batch_size, max_length)
        cache = ops.zeros(shape, dtype=self.compute_dtype)
        _, hidden_states, cache = self.call_with_cache(token_ids, cache, 0, expert_code)
        return hidden_states, cache

    def generate_step(self, inputs, stop_token_ids=None):
        """Generate one batch with the task's sampler (keras-hub's protocol).

        Args:
            inputs: dict with `token_ids` and `padding_mask` `(batch, max_length)`
                (the prompt is where `padding_mask` is true), and what
                `generation_expert_code` reads.
            stop_token_ids: ids that end a sequence, or `None`.

        Returns:
            dict with the completed `token_ids` and their `padding_mask`.
        """
        expert_code = self.generation_expert_code(inputs)
        token_ids, padding_mask = inputs["token_ids"], inputs["padding_mask"]
        hidden_states, cache = self._build_cache(token_ids, expert_code)
        row_lengths = ops.sum(ops.cast(padding_mask, "int32"), axis=-1)
        index = ops.min(row_lengths)  # first position with no prompt token

        def next(prompt, cache, index):
            cache_update_index = index - 1  # position of the previous token
            batch_size = ops.shape(prompt)[0]
            prompt = ops.slice(prompt, [0, cache_update_index], [batch_size, 1])
            logits, hidden_states, cache = self.call_with_cache(
                prompt, cache, cache_update_index, expert_code
            )
            return (
                ops.squeeze(logits, axis=1),
                ops.squeeze(hidden_states, axis=1),
                cache,
            )

        token_ids = self.sampler(
            next=next,
            prompt=token_ids,
            cache=cache,
            index=index,
            mask=padding_mask,
            stop_token_ids=stop_token_ids,
            hidden_states=hidden_states,
            model=self,
        )
        if stop_token_ids is not None:
            # Positions after the first generated stop token are padding.
            stop_ids = ops.convert_to_tensor(stop_token_ids, ops.dtype(token_ids))
            is_stop = ops.any(
                ops.equal(ops.expand_dims(token_ids, -1), stop_ids), axis=-1
            )  # (B, T)
            end_locations = ops.logical_and(is_stop, ops.logical_not(padding_mask))
            end_locations = ops.cast(end_locations, "int32")
            cumsum = ops.cast(ops.cumsum(end_locations, axis=-1), "int32")
            overflow = cumsum - end_locations
            padding_mask = ops.logical_not(ops.cast(overflow, "bool"))
        else:
            padding_mask = ops.ones_like(token_ids, dtype="bool")
        return {"token_ids": token_ids, "padding_mask": padding_mask}


def check_vocabulary(backbone, preprocessor):
    """Refuse a tokenizer with more token ids than the model has embeddings.

    Out-of-range ids do not fail everywhere: JAX's gather returns NaN for them,
    so the model would silently produce NaN logits and losses.
    """
    tokenizer = getattr(preprocessor, "tokenizer", None)
    if tokenizer is None:
        return
    try:
        size = int(tokenizer.vocabulary_size())
    except ValueError:  # A SentencePiece tokenizer whose proto is not loaded yet.
        return
    if size > backbone.vocabulary_size:
        raise ValueError(
            f"The tokenizer has {size} token ids but the model's vocabulary_size is "
            f"{backbone.vocabulary_size}: ids >= {backbone.vocabulary_size} have no "
            "embedding (JAX would return NaN logits for them). Fix: use the tokenizer "
            "the model was trained with, or build the model with "
            f"vocabulary_size={size} (e.g. `from_preset(..., vocabulary_size={size})`)."
        )


def _matches(layer, filters):
    from keras.src.quantizers.utils import should_quantize_layer

    return should_quantize_layer(layer, filters)
