"""The importance-resampled stream of a domain histogram: can it be drawn, and how well.

>>> import numpy as np
>>> check_resampling_target(np.array([1, 3, 0, 0]), np.array([10, 0, 5, 0]), "d")
'renormalize'
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from keras_pn.data.prepare.errors import PreparationError

logger = logging.getLogger(__name__)


def resampling_stats(
    counts: np.ndarray,
    generic_sizes: np.ndarray,
    num_draws: int,
    seed: int,
    what: str,
) -> dict[str, Any]:
    """ESS and repetition of the resampled stream of a domain histogram.

    Target mass on clusters without generic windows is dropped with a warning; when no
    mass is left, the stream is marked unavailable (``available: False``) instead of
    failing the whole preparation, and `PreparedData.resampled_stream` raises.
    """
    from keras_pn.data.streams import resampling_report

    counts = np.asarray(counts, np.float64)
    sizes = np.asarray(generic_sizes, np.int64)
    total = counts.sum()
    empty_mass = float(counts[sizes == 0].sum() / total) if total > 0 else 1.0
    out: dict[str, Any] = {"mass_on_empty_clusters": empty_mass}
    if total <= 0 or empty_mass >= 1.0 - 1e-12:
        logger.warning(
            "%s: every window falls in a cluster with no generic window, so the "
            "importance-resampled stream is unavailable. Use fewer clusters or more "
            "generic text (max_generic_tokens).",
            what,
        )
        return {
            **out,
            "available": False,
            "effective_sample_size": 0.0,
            "ess_fraction": 0.0,
            "repetition_rate": None,
            "expected_repetition_rate": None,
            "clusters_used": 0,
        }
    if empty_mass > 0:
        logger.warning(
            "%s: %.2f%% of the windows fall in clusters with no generic window; that "
            "mass is dropped from the resampled stream.",
            what,
            100 * empty_mass,
        )
    report = resampling_report(
        counts,
        sizes,
        num_draws=max(1, int(num_draws)),
        seed=seed,
        on_missing="renormalize",
    )
    return {
        **out,
        "available": True,
        "effective_sample_size": report.effective_sample_size,
        "ess_fraction": report.ess_fraction,
        "repetition_rate": report.repetition_rate,
        "expected_repetition_rate": report.expected_repetition_rate,
        "clusters_used": report.clusters_used,
        "num_draws": report.num_draws,
    }


def check_resampling_target(
    counts: np.ndarray, generic_sizes: np.ndarray, what: str
) -> str:
    """The ``on_missing`` mode of a resampled stream; raises if nothing can be drawn."""
    counts = np.asarray(counts, np.float64)
    sizes = np.asarray(generic_sizes)
    if counts.sum() <= 0 or counts[sizes > 0].sum() <= 0:
        raise PreparationError(
            f"{what}: every window falls in a cluster with no generic window, so there "
            "is nothing to resample. Fix: use fewer clusters (a smaller k) or more "
            "generic text (raise max_generic_tokens), then rerun prepare_data."
        )
    return "renormalize"
