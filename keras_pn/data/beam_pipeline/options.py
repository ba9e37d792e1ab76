"""Beam ``PipelineOptions`` for a runner."""

from __future__ import annotations

from collections.abc import Sequence


def pipeline_options(
    runner: str = "DirectRunner",
    direct_num_workers: int = 2,
    direct_running_mode: str = "multi_processing",
    pipeline_args: Sequence[str] = (),
):
    """``PipelineOptions`` for ``runner`` (``DirectRunner``, ``DataflowRunner``, ...).

    Args:
        runner: a Beam runner name.
        direct_num_workers: local workers of the DirectRunner.
        direct_running_mode: ``in_memory``, ``multi_threading`` or
            ``multi_processing`` (DirectRunner only).
        pipeline_args: more Beam options, e.g. ``["--project=p",
            "--region=us-central1", "--temp_location=gs://b/tmp",
            "--setup_file=./setup.py"]`` for Dataflow.

    Example:
    >>> pipeline_options("DirectRunner", 2).get_all_options()["direct_num_workers"]
    2
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    args = [f"--runner={runner}", *pipeline_args]
    if runner in ("DirectRunner", "direct"):
        args += [
            f"--direct_num_workers={int(direct_num_workers)}",
            f"--direct_running_mode={direct_running_mode}",
        ]
    return PipelineOptions(args)
