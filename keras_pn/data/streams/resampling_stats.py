"""Statistics of a resampled stream: effective sample size and repetition."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from keras_pn.data.streams.rows import _normalize_target, _take, resampled_rows


def effective_sample_size(target_histogram: Any, cluster_sizes: Any) -> float:
    """Kish effective sample size of the generic windows under importance weights.

    With ``N`` generic windows, ``n_c`` in cluster c and target probabilities ``p_c``,
    each window of cluster c has weight ``w_c = p_c / (n_c / N)``; Kish's
    ``(Σ w)² / Σ w²`` over the windows simplifies to ``1 / Σ_c p_c² / n_c``. It
    equals N when the target is the generic histogram and shrinks as the target
    concentrates on small clusters.

    Example:

    >>> effective_sample_size([0.5, 0.5], [10, 10])
    20.0
    >>> effective_sample_size([1.0, 0.0], [10, 10])
    10.0
    """
    p = np.asarray(target_histogram, np.float64).reshape(-1)
    n = np.asarray(cluster_sizes, np.float64).reshape(-1)
    if p.shape != n.shape:
        raise ValueError(
            f"target_histogram has {p.size} clusters, cluster_sizes {n.size}."
        )
    p = p / p.sum()
    support = p > 0
    if np.any(n[support] == 0):
        return 0.0
    return float(1.0 / np.sum(p[support] ** 2 / n[support]))


@dataclasses.dataclass
class ResamplingReport:
    """Repetition statistics of a resampled stream.

    Attributes:
        num_draws: windows drawn.
        unique_windows: distinct windows among them.
        repetition_rate: ``1 - unique_windows / num_draws`` (empirical).
        expected_repetition_rate: ``1 - E[unique] / num_draws`` with
            ``E[unique] = Σ_c n_c (1 - (1 - p_c / n_c)^num_draws)``.
        effective_sample_size: Kish ESS of the importance weights (windows).
        generic_windows: ``N``, the generic windows available.
        ess_fraction: ``effective_sample_size / generic_windows``.
        clusters_used: clusters with target mass.
    """

    num_draws: int
    unique_windows: int
    repetition_rate: float
    expected_repetition_rate: float
    effective_sample_size: float
    generic_windows: int
    ess_fraction: float
    clusters_used: int


def resampling_report(
    target_histogram: Any,
    cluster_sizes: Any,
    num_draws: int,
    seed: int = 0,
    on_missing: str = "raise",
) -> ResamplingReport:
    """Effective size and repetition of a resampled stream over ``num_draws`` draws.

    Args:
        target_histogram: (k,) target cluster histogram (counts or probabilities).
        cluster_sizes: (k,) generic windows per cluster, or a shard directory.
        num_draws: number of windows drawn (e.g. training steps × batch size).
        seed: the stream's seed (the same draws as ``resampled_dataset`` with this
            seed).
        on_missing: as in ``resampled_dataset``.

    Example:

    >>> r = resampling_report([0.9, 0.1], [100, 1000], num_draws=1000)
    >>> round(r.effective_sample_size, 1), r.repetition_rate > 0.5
    (123.3, True)
    """
    if isinstance(cluster_sizes, (str, os.PathLike)):
        from keras_pn.data.shards import read_index

        cluster_sizes = read_index(cluster_sizes)["windows_per_cluster"]
    sizes = np.asarray(cluster_sizes, np.int64).reshape(-1)
    p = _normalize_target(target_histogram, sizes, on_missing)
    rows = np.concatenate(list(_take(resampled_rows(p, sizes, seed), num_draws)))
    unique = len(np.unique(rows))
    support = p > 0
    expected_unique = float(
        np.sum(
            sizes[support]
            * -np.expm1(num_draws * np.log1p(-p[support] / sizes[support]))
        )
    )
    ess = effective_sample_size(p, sizes)
    return ResamplingReport(
        num_draws=int(num_draws),
        unique_windows=int(unique),
        repetition_rate=1.0 - unique / num_draws,
        expected_repetition_rate=1.0 - expected_unique / num_draws,
        effective_sample_size=ess,
        generic_windows=int(sizes.sum()),
        ess_fraction=ess / max(int(sizes.sum()), 1),
        clusters_used=int(support.sum()),
    )
