"""Compile a model once per architecture and reuse it for many weight sets.

A fine-tuning campaign (`recipes.plan_early`: 9 methods x 4 domains) trains
dozens of models that share a handful of architectures. Compiling each one
(XLA on JAX and TensorFlow) costs more than a short fine-tuning itself
(bench/RESULTS.md). The pool keeps one private, compiled twin per (architecture,
compile arguments); `borrow` loads a model's weights into the twin and resets
its optimizer state, and `give_back` copies the trained weights out again. The
caller's model object is never compiled nor shared, so borrowing is invisible
to it except for the time saved.

Models whose clone would differ (subclassed models without a `from_config`
round trip, or whose clone has other variables) are not pooled: `borrow`
returns the model itself (compiling it every time if asked to). LoRA layers
and frozen layers are copied onto the clone; a `Distiller` clones whole.

Example:
>>> import numpy as np
>>> import keras_pn
>>> from keras_pn.training import model_pool
>>> def tiny():
...     return keras_pn.models.GPTCausalLM(keras_pn.models.GPTBackbone(
...         vocabulary_size=32, num_layers=1, num_heads=2, hidden_dim=8,
...         intermediate_dim=16, max_sequence_length=8))
>>> a, b = tiny(), tiny()
>>> pool = model_pool.ModelPool()
>>> twin_a = pool.borrow(a, compile_key="demo")
>>> twin_b = pool.borrow(b, compile_key="demo")
>>> twin_a is twin_b  # one twin for the architecture
True
>>> bool(np.allclose(twin_b.get_weights()[0], b.get_weights()[0]))
True
"""

import json
import logging

import numpy as np

logger = logging.getLogger(__name__)


def _signature(model):
    return [(tuple(v.shape), str(v.dtype), bool(v.trainable)) for v in model.weights]


def _without_names(config):
    # Two instances of one architecture differ only by their (unique) names.
    if isinstance(config, dict):
        return {k: _without_names(v) for k, v in config.items() if k != "name"}
    if isinstance(config, (list, tuple)):
        return [_without_names(v) for v in config]
    return config


def architecture_key(model):
    """A string identifying `model`'s class, config and variables, or None."""
    try:
        config = json.dumps(_without_names(model.get_config()), sort_keys=True, default=str)
    except Exception:  # noqa: BLE001 (subclassed models without get_config)
        return None
    return json.dumps([type(model).__module__, type(model).__qualname__, config, _signature(model)])


class ModelPool:
    """Private compiled twins of models, one per (architecture, compile key)."""

    def __init__(self, max_size=16):
        self.max_size = int(max_size)
        self._twins = {}  # key -> (twin, optimizer snapshot or None)
        self.hits = 0
        self.misses = 0

    def borrow(self, model, compile_key, compile_fn=None):
        """A model with `model`'s weights, ready to train.

        Args:
            model: a built Keras model.
            compile_key: anything with a stable `repr` describing the compile
                arguments (learning rate, steps, ...): one twin per key.
            compile_fn: `compile_fn(m)` compiles `m`; called once per new twin
                (then its optimizer's initial state is recorded and restored
                on every later borrow), or every time for a model that cannot
                be pooled. None: borrow for inference only.

        Returns:
            The twin, or `model` itself when it cannot be pooled.
        """
        arch = architecture_key(model)
        entry = None
        if arch is not None:
            key = (arch, repr(compile_key))
            entry = self._twins.get(key)
            if entry is None:
                twin = self._clone(model)
                if twin is not None:
                    self._twins[key] = entry = [twin, None]
                    while len(self._twins) > self.max_size:
                        self._twins.pop(next(iter(self._twins)))
                    self.misses += 1
            else:
                self.hits += 1
        if entry is None:
            if compile_fn is not None:
                compile_fn(model)
            return model
        twin, snapshot = entry
        twin.set_weights(model.get_weights())
        if snapshot is not None:
            for variable, value in zip(twin.optimizer.variables, snapshot):
                variable.assign(value)
        elif compile_fn is not None:
            compile_fn(twin)
            if not twin.optimizer.built:
                twin.optimizer.build(twin.trainable_variables)
            entry[1] = [np.array(v.numpy()) for v in twin.optimizer.variables]
        return twin

    @staticmethod
    def give_back(twin, model):
        """Copy the twin's (trained) weights into `model`."""
        if twin is not model:
            model.set_weights(twin.get_weights())

    def clear(self):
        """Forget every twin (frees their memory); the next `borrow` compiles anew."""
        self._twins.clear()

    @staticmethod
    def _clone(model):
        try:
            twin = type(model).from_config(model.get_config())
        except Exception as error:  # noqa: BLE001
            logger.debug("Not pooling %s: %s", model.name, error)
            return None
        _copy_lora_and_trainability(model, twin)
        if _signature(twin) != _signature(model):
            logger.debug("Not pooling %s: its clone has other variables.", model.name)
            return None
        return twin


def _copy_lora_and_trainability(model, twin):
    """LoRA and frozen layers are state outside `get_config`: copy them over."""
    pairs = list(zip(model._flatten_layers(), twin._flatten_layers()))
    for source, target in pairs:
        if target.trainable != source.trainable:
            target.trainable = source.trainable
    for source, target in pairs:  # after: enabling LoRA freezes the kernel
        if getattr(source, "lora_enabled", False) and not getattr(target, "lora_enabled", False):
            target.enable_lora(source.lora_rank, lora_alpha=getattr(source, "lora_alpha", None))


# The process-wide pool used by `fine_tune` and `pretrain`.
POOL = ModelPool()
