"""Exact token-weighted negative log-likelihood and perplexity.

`evaluate_nll` runs a language model (`GPTCausalLM`, `ProjectedGPT`, or any
Keras model mapping an input dict to logits `(batch, seq, vocabulary)`) over
`(x, y, sample_weight)` batches and returns the mean per-token NLL, the token
count and the perplexity `exp(nll)`. `macro_perplexity` is the paper's macro
average over domains: `exp(mean over domains of the per-token NLL)`.

How it is computed: the model and the loss reduction run together in one
compiled Keras function (`NLLEvaluator` wraps the model in a functional model
whose output is, per example, `sum_t w[t] * nll[t]` and `sum_t w[t]`), so only
`(batch, 3)` numbers leave the device, never the `(batch, seq, vocabulary)`
logits. The per-token NLL is `logsumexp(logits) - logits[target]` (the
log-softmax of the target) in float32 whatever the model's compute dtype. Keras
compiles the function as it compiles `predict`: XLA on JAX and TensorFlow,
eager on PyTorch. Batches are accumulated on the host in float64.

On every backend this measured faster than `predict_on_batch` followed by a
NumPy log-softmax, as the logits never leave the device.
`tests/evaluation/test_perplexity.py` checks it against a NumPy reference.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import keras
import numpy as np
from keras import ops

__all__ = [
    "NLLEvaluator",
    "evaluate_domains",
    "evaluate_nll",
    "macro_nll",
    "macro_perplexity",
    "nll_sums",
    "nll_to_perplexity",
]


class TokenNLLSums(keras.layers.Layer):
    """Per-example weighted NLL sums from logits, targets and weights.

    Call arguments:
        logits: `(batch, seq, vocabulary)`, any float dtype.
        targets: `(batch, seq)` int, the next tokens.
        weights: `(batch, seq)` float, 0 on tokens that do not count.

    Returns:
        `(batch, 3)` float32: `[sum_t w * nll, sum_t w, count_t (w > 0)]`.

    Example:
    >>> layer = TokenNLLSums()
    >>> logits = np.zeros((1, 2, 4), "float32")  # uniform over 4 tokens
    >>> out = layer(logits, np.array([[1, 2]]), np.array([[1.0, 0.0]]))
    >>> [round(float(v), 4) for v in keras.ops.convert_to_numpy(out)[0]]
    [1.3863, 1.0, 1.0]
    """

    def call(self, logits, targets, weights):
        logits = ops.cast(logits, "float32")  # (B, T, V)
        log_normalizer = ops.logsumexp(logits, axis=-1)  # (B, T)
        targets = ops.expand_dims(ops.cast(targets, "int32"), -1)  # (B, T, 1)
        target_logits = ops.take_along_axis(logits, targets, axis=-1)  # (B, T, 1)
        nll = log_normalizer - ops.squeeze(target_logits, -1)  # (B, T)
        weights = ops.cast(weights, "float32")  # (B, T)
        counted = weights > 0  # (B, T)
        # `where`, not a product: a padded position may hold inf/NaN logits.
        weighted = ops.where(counted, nll * weights, ops.zeros_like(nll))
        return ops.stack(
            [
                ops.sum(weighted, axis=-1),
                ops.sum(ops.where(counted, weights, ops.zeros_like(weights)), -1),
                ops.sum(ops.cast(counted, "float32"), axis=-1),
            ],
            axis=-1,
        )  # (B, 3)

    def compute_output_shape(self, logits_shape, targets_shape, weights_shape):
        return (logits_shape[0], 3)


class NLLEvaluator:
    """Compiled per-batch NLL sums for one model; reuse it across datasets.

    Args:
        model: a Keras model mapping an input dict (`token_ids`,
            `padding_mask`, and for a `ProjectedGPT` `cluster_ids`) to logits
            `(batch, seq, vocabulary)`.

    Example:
    ```python
    evaluator = NLLEvaluator(causal_lm)
    for domain, ds in test_sets.items():
        print(domain, evaluator.evaluate(ds)["perplexity"])
    ```
    """

    def __init__(self, model):
        inputs = model.input
        if not isinstance(inputs, Mapping):
            raise ValueError(
                "evaluate_nll needs a model whose inputs are a dict "
                "(`token_ids`, `padding_mask`, ...), like GPTCausalLM and "
                f"ProjectedGPT. Received a model with inputs {inputs!r}."
            )
        self.model = model
        self.input_specs = {
            name: (tuple(tensor.shape[1:]), tensor.dtype)
            for name, tensor in inputs.items()
        }
        new_inputs = {
            name: keras.Input(shape=shape, dtype=dtype, name=name)
            for name, (shape, dtype) in self.input_specs.items()
        }
        logits = model(new_inputs)  # (B, T, V)
        targets = keras.Input(shape=(None,), dtype="int32", name="nll_targets")
        weights = keras.Input(shape=(None,), dtype="float32", name="nll_weights")
        sums = TokenNLLSums(name="token_nll_sums")(logits, targets, weights)
        self._wrapper = keras.Model(
            inputs={**new_inputs, "nll_targets": targets, "nll_weights": weights},
            outputs=sums,
            name="nll_evaluator",
        )
        self._batch_size = None

    def batch_sums(self, x, y, sample_weight=None):
        """`(weighted NLL sum, weight sum, token count)` of one batch, as floats.

        Args:
            x: dict of `(batch, seq)` inputs (and `(batch,)` `cluster_ids`).
            y: `(batch, seq)` int target tokens.
            sample_weight: `(batch, seq)` float weights, or `None` (every
                target token counts).
        """
        x = {name: _to_numpy(value) for name, value in x.items()}
        missing = sorted(set(self.input_specs) - set(x))
        if missing:
            hint = (
                " A ProjectedGPT needs `cluster_ids (batch,)`: build the dataset "
                "with `cluster_ids=` (e.g. the domain's expert)."
                if "cluster_ids" in missing
                else ""
            )
            raise ValueError(
                f"The batch has no input(s) {missing}; the model expects "
                f"{sorted(self.input_specs)}.{hint}"
            )
        y = _to_numpy(y).astype("int32")  # (B, T)
        if sample_weight is None:
            sample_weight = np.ones(y.shape, "float32")
        sample_weight = _to_numpy(sample_weight).astype("float32")  # (B, T)
        if y.shape != sample_weight.shape:
            raise ValueError(
                f"Targets {y.shape} and sample weights {sample_weight.shape} "
                "must have the same (batch, seq) shape."
            )
        data = {
            name: np.asarray(x[name]).astype(dtype, copy=False)
            for name, (_, dtype) in self.input_specs.items()
        }
        data["nll_targets"] = y
        data["nll_weights"] = sample_weight
        batch_size = y.shape[0]
        if self._batch_size is None:
            self._batch_size = batch_size
        if batch_size < self._batch_size:
            # Pad a short last batch with zero-weight copies of its first row:
            # one compiled shape for the whole dataset.
            data = _pad_rows(data, self._batch_size, zero=("nll_weights",))
        sums = self._wrapper.predict_on_batch(data)  # (B, 3)
        sums = np.asarray(_to_numpy(sums), "float64")[:batch_size]
        total_nll, total_weight, count = sums.sum(axis=0)
        return float(total_nll), float(total_weight), int(round(count))

    def evaluate(self, dataset, max_batches=None, verbose=True, description=None):
        """Mean per-token NLL over `dataset`; see `evaluate_nll`."""
        total_nll, total_weight, tokens = self.sums(
            dataset, max_batches, verbose, description
        )
        if total_weight <= 0:
            raise ValueError(
                "No target token with positive weight: the dataset is empty or every "
                "sample_weight is 0."
            )
        nll = total_nll / total_weight
        return {"nll": nll, "tokens": tokens, "perplexity": nll_to_perplexity(nll)}

    def sums(self, dataset, max_batches=None, verbose=False, description=None):
        """`(weighted NLL sum, weight sum, token count)` over `dataset`: what
        `evaluate` divides, for pooling several datasets exactly."""
        if max_batches is not None and max_batches < 1:
            raise ValueError(f"`max_batches` must be >= 1. Received: {max_batches}.")
        total_nll = total_weight = 0.0
        tokens = 0
        progress = _progress(dataset, max_batches, verbose, description)
        batches = 0
        try:
            for batch in _iterate(dataset):
                if max_batches is not None and batches >= max_batches:
                    break
                x, y, sample_weight = _unpack(batch)
                nll, weight, count = self.batch_sums(x, y, sample_weight)
                total_nll += nll
                total_weight += weight
                tokens += count
                batches += 1
                if progress is not None:
                    progress.update(1)
                    if total_weight > 0:
                        progress.set_postfix(
                            ppl=f"{math.exp(total_nll / total_weight):.3f}",
                            tokens=tokens,
                        )
        finally:
            if progress is not None:
                progress.close()
        return total_nll, total_weight, tokens


# Compiled evaluators of the last few models (weak references: a model that
# is gone is never matched by a recycled id).
_CACHE: list[tuple[weakref.ref, NLLEvaluator]] = []
_CACHE_SIZE = 4


def _evaluator(model) -> NLLEvaluator:
    # Models of one architecture share a compiled evaluator: a pooled twin
    # receives the model's weights (`keras_pn.training.model_pool`).
    from keras_pn.training import model_pool

    model = model_pool.POOL.borrow(model, compile_key="evaluate_nll")
    for ref, evaluator in _CACHE:
        if ref() is model:
            return evaluator
    evaluator = NLLEvaluator(model)
    _CACHE.insert(0, (weakref.ref(model), evaluator))
    del _CACHE[_CACHE_SIZE:]
    return evaluator


def evaluate_nll(model, dataset, max_batches=None, verbose=True, description=None):
    """Token-weighted mean negative log-likelihood of `model` on `dataset`.

    `nll = sum_{b,t} w[b,t] * -log p(y[b,t] | x[b,:t+1]) / sum_{b,t} w[b,t]`
    (natural log), exactly from the logits.

    Args:
        model: a `GPTCausalLM`, a `ProjectedGPT` (then batches carry
            `cluster_ids`), or any Keras model from an input dict to logits
            `(batch, seq, vocabulary)`.
        dataset: an iterable of `(x, y, sample_weight)` (or `(x, y)`) batches:
            a `tf.data.Dataset` such as `keras_pn.data.streams.domain_dataset`,
            or a list of NumPy / backend tensors.
        max_batches: stop after this many batches (`None`: all of them).
        verbose: show a progress bar (tqdm) with the running perplexity.
        description: label of the progress bar (e.g. the domain).

    Returns:
        `{"nll": float, "tokens": int, "perplexity": float}`: `tokens` counts
        the target positions with a positive weight.

    The compiled function is cached for the last few models: evaluating the
    same model on several domains compiles once (per batch shape; a short
    last batch is padded to the first batch's size).

    Example:
    >>> import keras_pn
    >>> lm = keras_pn.models.GPTCausalLM(keras_pn.models.GPTBackbone(
    ...     vocabulary_size=64, num_layers=1, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=16))
    >>> x = {"token_ids": np.ones((2, 8), "int32"),
    ...      "padding_mask": np.ones((2, 8), bool)}
    >>> y, w = np.ones((2, 8), "int32"), np.ones((2, 8), "float32")
    >>> result = evaluate_nll(lm, [(x, y, w)], verbose=False)
    >>> result["tokens"]
    16
    """
    evaluator = _evaluator(model)
    return evaluator.evaluate(
        dataset, max_batches=max_batches, verbose=verbose, description=description
    )


def nll_sums(model, dataset, max_batches=None):
    """`(weighted NLL sum, weight sum, token count)` of `model` on `dataset`.

    The parts `evaluate_nll` divides (`nll = sum / weight`), for pooling the
    NLL of several models on several datasets exactly (a hard mixture scoring
    each window with its own expert). Same arguments as `evaluate_nll`.
    """
    return _evaluator(model).sums(dataset, max_batches=max_batches)


def evaluate_domains(model, datasets, max_batches=None, verbose=True):
    """`evaluate_nll` on each domain, plus the macro average.

    Args:
        model: as `evaluate_nll`.
        datasets: `{domain: dataset}`, e.g. each domain's test split.
        max_batches: per domain.
        verbose: progress bars, labeled by domain.

    Returns:
        `{"domains": {domain: evaluate_nll result}, "macro_nll": float,
        "macro_perplexity": float}`.

    Example:
    ```python
    results = evaluate_domains(slm, {d: domain_dataset(f"domains/{d}", "test",
        batch_size=8, tokenizer=tok, context_length=256) for d in domains})
    print(results["macro_perplexity"])
    ```
    """
    per_domain = {
        domain: evaluate_nll(
            model, dataset, max_batches=max_batches, verbose=verbose, description=domain
        )
        for domain, dataset in datasets.items()
    }
    nll = macro_nll(per_domain)
    return {
        "domains": per_domain,
        "macro_nll": nll,
        "macro_perplexity": nll_to_perplexity(nll),
    }


def nll_to_perplexity(nll):
    """`exp(nll)`, or `inf` when it overflows.

    Example:
    >>> round(nll_to_perplexity(math.log(20.0)), 6)
    20.0
    """
    try:
        return math.exp(nll)
    except OverflowError:
        return math.inf


def macro_nll(per_domain_nll: Mapping[str, Any]) -> float:
    """Mean over domains of the per-token NLL (each domain weighs the same).

    Args:
        per_domain_nll: `{domain: nll}`, where each value is a float or an
            `evaluate_nll` result (its `"nll"` is used).

    Example:
    >>> macro_nll({"a": 1.0, "b": {"nll": 3.0, "tokens": 10}})
    2.0
    """
    if not per_domain_nll:
        raise ValueError("macro_nll needs at least one domain.")
    values = []
    for domain, value in per_domain_nll.items():
        nll = value["nll"] if isinstance(value, Mapping) else value
        nll = float(nll)
        if not math.isfinite(nll):
            raise ValueError(f"Domain {domain!r} has a non-finite NLL ({nll}).")
        values.append(nll)
    return float(np.mean(values))


def macro_perplexity(per_domain_nll: Mapping[str, Any]) -> float:
    """The paper's macro average: `exp(mean over domains of per-token NLL)`.

    It is the geometric mean of the per-domain perplexities, not their
    arithmetic mean, and it ignores how many test tokens each domain has.

    Args:
        per_domain_nll: `{domain: nll}` (floats or `evaluate_nll` results).

    Example:
    >>> round(macro_perplexity({"a": math.log(10.0), "b": math.log(40.0)}), 6)
    20.0
    """
    return nll_to_perplexity(macro_nll(per_domain_nll))


# --- Helpers ----------------------------------------------------------------


def _to_numpy(value):
    if isinstance(value, np.ndarray):
        return value
    return np.asarray(ops.convert_to_numpy(value))


def _pad_rows(data, batch_size, zero):
    padded = {}
    for name, value in data.items():
        extra = batch_size - value.shape[0]
        filler = np.repeat(value[:1], extra, axis=0)
        if name in zero:
            filler = np.zeros_like(filler)
        padded[name] = np.concatenate([value, filler], axis=0)
    return padded


def _iterate(dataset) -> Iterable:
    """NumPy batches from a `tf.data.Dataset`, or the iterable itself."""
    if hasattr(dataset, "as_numpy_iterator") and hasattr(dataset, "element_spec"):
        return dataset.as_numpy_iterator()
    return dataset


def _unpack(batch):
    if isinstance(batch, Mapping) or not isinstance(batch, (tuple, list)):
        raise ValueError(
            "Each batch must be a tuple `(x, y, sample_weight)` or `(x, y)` with "
            f"`x` a dict of inputs. Received a {type(batch).__name__}."
        )
    if len(batch) == 3:
        x, y, sample_weight = batch
    elif len(batch) == 2:
        (x, y), sample_weight = batch, None
    else:
        raise ValueError(
            f"Each batch must have 2 or 3 elements, not {len(batch)}: "
            "`(x, y, sample_weight)`."
        )
    if not isinstance(x, Mapping):
        raise ValueError(
            "`x` must be a dict with `token_ids` and `padding_mask` (and "
            f"`cluster_ids` for a ProjectedGPT). Received a {type(x).__name__}."
        )
    return x, y, sample_weight


def _progress(dataset, max_batches, verbose, description):
    if not verbose:
        return None
    from tqdm.auto import tqdm

    total = max_batches
    try:
        length = len(dataset)
    except TypeError:  # unknown length, e.g. a repeated or filtered tf.data
        length = None
    if length is not None and length >= 0:
        total = length if total is None else min(total, length)
    return tqdm(total=total, desc=description or "evaluate", unit="batch")
