"""Choosing the expert of a projected network (or hard mixture) for a domain."""

import logging

import keras
import numpy as np
import tensorflow as tf

logger = logging.getLogger(__name__)

STRATEGIES = ("most_frequent", "best_pretrained", "finetune_all", "histogram")


def with_expert(dataset, expert):
    """The same batches with every `cluster_ids` set to `expert`."""

    def assign(x, y, sample_weight):
        x = dict(x)
        x["cluster_ids"] = tf.fill(tf.shape(x["token_ids"])[:1], tf.constant(expert, tf.int32))
        return x, y, sample_weight

    return dataset.map(assign)


def expert_losses(pn, dataset, experts=None, max_batches=None):
    """Validation-style loss of each expert on `dataset` (lower is better).

    Args:
        pn: a `ProjectedGPT`, or a hard mixture's `ExpertSet` (then `dataset`
            has no `cluster_ids`: each expert is a plain GPT).
        dataset: finite batches `(x, y, sample_weight)` of the domain.
        experts: iterable of expert ids (default: all).
        max_batches: int. Batches per expert.

    Returns:
        dict expert -> mean masked cross-entropy.
    """
    from keras_pn.models.expert_set import ExpertSet

    if isinstance(pn, ExpertSet):  # each expert is a plain GPT of its own
        return pn.expert_losses(dataset, experts=experts, max_batches=max_batches)
    pn.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[],
    )
    experts = range(pn.backbone.num_experts) if experts is None else experts
    losses = {}
    for expert in experts:
        data = with_expert(dataset, int(expert))
        if max_batches:
            data = data.take(max_batches)
        losses[int(expert)] = float(pn.evaluate(data, verbose=0))
    return losses


def select_expert(pn, strategy, histogram, dataset=None, max_batches=None):
    """Instantiate the expert chosen by `strategy` as a plain `GPTCausalLM`.

    Strategies (Grangier et al. 2024, SLM-mix selection, and our extension):
    - `most_frequent`: the expert of the domain's most frequent cluster;
    - `best_pretrained`: the expert with the lowest loss on the domain's
      data before fine-tuning (costs one evaluation per expert);
    - `histogram`: the soft projection `alpha = sum_c p[c] E[c] M`;
    - `finetune_all`: handled by the caller (fine-tune every expert and keep
      the best); here it returns the candidates in order.

    Args:
        pn: a `ProjectedGPT`, or a hard mixture's `ExpertSet`.
        strategy: one of `STRATEGIES`.
        histogram: `(num_experts,)` cluster histogram of the domain's data.
        dataset: domain batches, needed by `best_pretrained`.
        max_batches: batches per expert for `best_pretrained`.

    Returns:
        `(model_or_list, info)`: a `GPTCausalLM` (a list of `(expert, model)`
        for `finetune_all`) and a dict describing the choice.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown expert selection {strategy!r}; use one of {STRATEGIES}.")
    histogram = np.asarray(histogram, "float64")
    if strategy == "most_frequent":
        expert = int(histogram.argmax())
        info = {"strategy": strategy, "expert": expert, "mass": float(histogram[expert])}
        return pn.project(expert=expert), info
    if strategy == "histogram":
        info = {"strategy": strategy, "top_mass": float(histogram.max())}
        return pn.project(histogram=histogram / histogram.sum()), info
    if strategy == "best_pretrained":
        if dataset is None:
            raise ValueError("`best_pretrained` needs the domain's data (`dataset=`).")
        losses = expert_losses(pn, dataset, max_batches=max_batches)
        expert = min(losses, key=losses.get)
        logger.info("Best pretrained expert %d (loss %.4f)", expert, losses[expert])
        info = {"strategy": strategy, "expert": expert, "losses": losses}
        return pn.project(expert=expert), info
    order = np.argsort(-histogram)
    candidates = [(int(e), pn.project(expert=int(e))) for e in order]
    return candidates, {"strategy": strategy, "experts": [int(e) for e in order]}
