"""Generic validation perplexity: a pretrained model on held-out generic windows.

The paper's Fig. 3 compares the generic pretrainings on generic text that none
of them saw: `keras_pn.data.prepare.PreparedData.generic_valid` holds such
windows (whole documents kept out of every training stream and every k-means
fit) with their cluster under each k. Three scorings, each the token-weighted
mean NLL of `evaluate_nll`:

- `evaluate_plain`: a plain model (SLM, LLM) scores every window;
- `evaluate_with_codes`: a `ProjectedGPT` scores each window with its cluster's
  expert code (per-window `cluster_ids` in mixed batches, as it pretrains);
- `evaluate_by_expert`: a hard mixture (`keras_pn.models.expert_set.ExpertSet`,
  or anything with `num_experts` and `project(expert=...)`) scores each window
  with its own cluster's expert, expert by expert, pooled over all tokens.

Each returns `{"nll", "tokens", "perplexity", "windows", "scoring"}` (and, by
expert, `"experts"`: `{expert: {"nll", "tokens", "windows"}}`).

>>> import numpy as np, keras_pn
>>> from keras_pn.data.windows import WindowSet
>>> lm = keras_pn.models.GPTCausalLM(keras_pn.models.GPTBackbone(
...     vocabulary_size=32, num_layers=1, num_heads=1, hidden_dim=8,
...     intermediate_dim=16, max_sequence_length=8))
>>> windows = WindowSet(values=np.array([1, 5, 6, 7, 1, 9, 2], "int32"),
...     row_splits=np.array([0, 4, 7]), doc_index=np.array([0, 1]),
...     window_index=np.array([0, 0], "int32"), texts=None, context_length=8)
>>> result = evaluate_plain(lm, windows, batch_size=2)
>>> result["windows"], result["tokens"], result["scoring"]
(2, 5, 'plain')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_pn.evaluation.perplexity import nll_sums
from keras_pn.evaluation.perplexity import nll_to_perplexity

__all__ = [
    "SCORINGS",
    "evaluate_by_expert",
    "evaluate_plain",
    "evaluate_with_codes",
]

# How each window is scored: by the model, by its cluster's expert code (PN), by
# its cluster's expert (hard mixture).
SCORINGS = ("plain", "code", "expert")


def _dataset(windows, batch_size, cluster_ids=None):
    from keras_pn.data.streams import domain_dataset

    return domain_dataset(
        windows, "valid", batch_size=batch_size, shuffle=False, cluster_ids=cluster_ids
    )


def _result(total_nll, total_weight, tokens, windows, scoring) -> dict[str, Any]:
    if total_weight <= 0:
        raise ValueError(
            "The held-out windows hold no target token: nothing to score."
        )
    nll = float(total_nll / total_weight)
    return {
        "nll": nll,
        "tokens": int(tokens),
        "perplexity": nll_to_perplexity(nll),
        "windows": int(windows),
        "scoring": scoring,
    }


def _check_ids(cluster_ids, windows, num_experts):
    ids = np.asarray(cluster_ids).reshape(-1)
    if len(ids) != len(windows):
        raise ValueError(
            f"{len(windows)} windows but {len(ids)} cluster ids: they must align "
            "(PreparedData.generic_valid(k) returns both)."
        )
    in_range = not len(ids) or 0 <= ids.min() <= ids.max() < (num_experts or np.inf)
    if not in_range:
        raise ValueError(
            f"Cluster ids span {ids.min()}..{ids.max()}, but the model has "
            f"{num_experts} experts: pass the labels of the clustering it was "
            "pretrained on (its k)."
        )
    return ids.astype(np.int32)


def evaluate_plain(model, windows, *, batch_size: int = 8) -> dict[str, Any]:
    """Generic validation NLL of a plain model (SLM, LLM): it scores every window.

    Args:
        model: a `GPTCausalLM` (or any model `evaluate_nll` takes without
            `cluster_ids`).
        windows: a `keras_pn.data.windows.WindowSet` (`PreparedData.generic_valid`).
        batch_size: windows per batch.
    """
    sums = nll_sums(model, _dataset(windows, batch_size))
    return _result(*sums, len(windows), "plain")


def evaluate_with_codes(
    model, windows, cluster_ids, *, batch_size: int = 8
) -> dict[str, Any]:
    """Generic validation NLL of a projected network, each window with its cluster's
    expert code (`x["cluster_ids"]` per window, mixed batches).

    Args:
        model: a `ProjectedGPT`.
        windows: a `WindowSet`.
        cluster_ids: (windows,) cluster of each window under the network's k.
        batch_size: windows per batch.
    """
    backbone = getattr(model, "backbone", model)
    ids = _check_ids(cluster_ids, windows, getattr(backbone, "num_experts", None))
    sums = nll_sums(model, _dataset(windows, batch_size, ids))
    return _result(*sums, len(windows), "code")


def evaluate_by_expert(
    experts, windows, cluster_ids, *, batch_size: int = 8
) -> dict[str, Any]:
    """Generic validation NLL of a hard mixture: each window by its cluster's expert.

    Every expert scores the windows of its cluster (`project(expert=c)`, a plain
    GPT); the NLL sums are pooled over every window's tokens.

    Args:
        experts: an `ExpertSet` (or any object with `num_experts` and
            `project(expert=...)` returning a model `evaluate_nll` takes).
        windows: a `WindowSet`.
        cluster_ids: (windows,) cluster of each window under the mixture's k.
        batch_size: windows per batch.
    """
    from keras_pn.data.prepare.windowsets import select_windows

    ids = _check_ids(cluster_ids, windows, getattr(experts, "num_experts", None))
    total_nll = total_weight = 0.0
    tokens = 0
    per_expert = {}
    for expert in np.unique(ids):
        rows = np.flatnonzero(ids == expert)
        model = experts.project(expert=int(expert))
        nll, weight, count = nll_sums(
            model, _dataset(select_windows(windows, rows), batch_size)
        )
        total_nll += nll
        total_weight += weight
        tokens += count
        per_expert[str(int(expert))] = {
            "nll": nll / weight if weight > 0 else None,
            "tokens": int(count),
            "windows": int(len(rows)),
        }
    result = _result(total_nll, total_weight, tokens, len(windows), "expert")
    result["experts"] = per_expert
    return result
