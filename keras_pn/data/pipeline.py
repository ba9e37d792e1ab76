"""Deprecated: the old home of data preparation, now `keras_pn.data.prepare`.

To be removed once every caller imports `keras_pn.data.prepare`. It re-exports the
names imported from here today, and keeps the keyword form of `prepare_data`
(``prepare_data(workdir, generic_dir=..., domain_dirs=..., vocabulary_size=...)``),
whose keywords are the fields of `PrepareConfig` (and so are its defaults).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from keras_pn.data.prepare import (
    EMBEDDERS,
    STAGES,
    PrepareConfig,
    PreparationError,
    PreparedData,
    format_summary,
    load_prepared,
    resolve_corpus_dirs,
)
from keras_pn.data.prepare import prepare_data as _prepare_data
from keras_pn.data.prepare.resampling_stats import (
    check_resampling_target as _check_resampling_target,
)
from keras_pn.data.prepare.resampling_stats import resampling_stats as _resampling_stats

__all__ = [
    "EMBEDDERS",
    "STAGES",
    "PreparationError",
    "PreparedData",
    "format_summary",
    "load_prepared",
    "prepare_data",
    "resolve_corpus_dirs",
]


def prepare_data(
    workdir: str | os.PathLike,
    *,
    generic_dir: str | os.PathLike,
    domain_dirs: Mapping[str, str | os.PathLike] | Sequence[str | os.PathLike],
    **config: Any,
) -> PreparedData:
    """`keras_pn.data.prepare.prepare_data`, the `PrepareConfig` fields as keywords."""
    return _prepare_data(
        workdir,
        PrepareConfig(**config),
        generic_dir=generic_dir,
        domain_dirs=domain_dirs,
    )
