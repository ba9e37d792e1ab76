"""`prepare_data`: plan a workdir's units, run the stale ones, write prepared.json."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from keras_pn.data.prepare.config import PrepareConfig
from keras_pn.data.prepare.context import StageContext
from keras_pn.data.prepare.plan import plan_units
from keras_pn.data.prepare.reader import FORMAT, FORMAT_VERSION, PreparedData, from_info
from keras_pn.data.prepare.units import Unit, UnitName, UnitRunner, read_json
from keras_pn.data.prepare.validation import validate
from keras_pn.file_io import atomic_write_json

logger = logging.getLogger(__name__)


def prepared_info(ctx: StageContext, units: list[Unit]) -> dict[str, Any]:
    """The content of ``prepared.json``, from the units' manifests."""
    inputs, cfg = ctx.inputs, ctx.config
    domains = list(inputs.domain_dirs)
    tok = ctx.summary(UnitName.TOKENIZER)
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "params": cfg.params(),
        "inputs": {
            "generic_dir": str(inputs.generic_dir),
            "domain_dirs": {d: str(p) for d, p in inputs.domain_dirs.items()},
        },
        "domains": domains,
        "vocabulary_size": tok["vocabulary_size"],
        "tokenizer_sha256": tok["sha256"],
        "windows": {
            "generic": ctx.summary(UnitName.GENERIC_WINDOWS),
            "generic_valid": ctx.summary(UnitName.GENERIC_VALID),
            "domains": {d: ctx.summary(UnitName.domain_windows(d)) for d in domains},
            "subsets": {d: ctx.summary(UnitName.subsets(d)) for d in domains},
        },
        "clusters": {
            f"k{k}": ctx.summary(UnitName.clusters(k)) for k in cfg.cluster_counts
        },
        "units": {u.name: u.fingerprint for u in units},
    }


def prepare_data(
    workdir: str | os.PathLike,
    config: PrepareConfig = PrepareConfig(),
    *,
    generic_dir: str | os.PathLike,
    domain_dirs: Mapping[str, str | os.PathLike] | Sequence[str | os.PathLike],
) -> PreparedData:
    """Prepares (or reuses) everything the training recipes consume, in ``workdir``.

    Only the units whose inputs changed run; a call with unchanged inputs writes
    nothing. See `keras_pn.data.prepare` for the stages and `WorkdirLayout` for the
    files.

    Args:
        workdir: output directory (created).
        config: the knobs (`PrepareConfig`).
        generic_dir: the generic mix, a directory of ``*.jsonl`` files (records with
            a ``text`` field), e.g. ``~/.cache/keras_pn/generic``.
        domain_dirs: ``{name: directory}``, or directories (named by their basename),
            each holding ``train.jsonl``, ``valid.jsonl`` and ``test.jsonl``.

    Returns:
        The `PreparedData` of the workdir.

    Raises:
        PreparationError: bad input (an empty domain, a domain smaller than one
            window, k larger than the number of generic windows, ...), raised before
            the concerned unit writes anything.

    Example:

    >>> config = PrepareConfig(cluster_counts=(32, 1024))
    >>> data = prepare_data(  # doctest: +SKIP
    ...     "runs/data", config, generic_dir="corpus/generic",
    ...     domain_dirs=["corpus/religion", "corpus/licenses"])
    >>> data.token_counts["domains"]["religion"]["train"]  # doctest: +SKIP
    5012345
    """
    ctx = StageContext(validate(workdir, config, generic_dir, domain_dirs))
    layout = ctx.layout
    units = plan_units(ctx)
    t0 = time.perf_counter()
    stage_seconds, ran = UnitRunner(layout).execute(units)
    info = prepared_info(ctx, units)
    if read_json(layout.prepared_file) != json.loads(json.dumps(info)):
        atomic_write_json(layout.prepared_file, info)
    if ran:
        logger.info(
            "Prepared data in %s (%.1fs, %d units run).",
            layout.root,
            time.perf_counter() - t0,
            len(ran),
        )
    return from_info(layout.root, info, stage_seconds, ran)
