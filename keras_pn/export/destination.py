"""Where an export is written: a fresh directory, filled in a staging sibling, renamed last.

An existing output directory is refused unless `overwrite=True`; with it, the old
export is replaced only once the new one is complete, so an interrupted or failed
export never leaves a half-written directory, and never loses the old one.

>>> import pathlib, tempfile
>>> out = pathlib.Path(tempfile.mkdtemp()) / "export"
>>> with export_destination(out) as staging:
...     _ = (staging / "model.bin").write_bytes(b"1")
>>> sorted(p.name for p in out.iterdir())
['model.bin']
>>> with export_destination(out) as staging:  # doctest: +ELLIPSIS
...     pass
Traceback (most recent call last):
...
keras_pn.export.errors.ExportError: ...already exists...
"""

import contextlib
import os
from pathlib import Path

from keras_pn.export.errors import ExportError
from keras_pn.file_io import staging_directory


def check_destination(output_dir, overwrite=False, source_dir=None):
    """Refuses an output that exists (unless `overwrite`) or that holds the source."""
    output_dir = Path(output_dir)
    if source_dir is not None and "://" not in str(source_dir):
        source, target = Path(source_dir).resolve(), output_dir.resolve()
        if source == target or target in source.parents:
            raise ExportError(
                f"The output directory '{output_dir}' holds the model being exported "
                f"('{source_dir}'); writing there would delete it. Fix: choose another "
                "--output directory."
            )
    if output_dir.exists() and not output_dir.is_dir():
        raise ExportError(
            f"'{output_dir}' is a file, not a directory. Fix: choose another --output "
            "directory (it is created)."
        )
    if output_dir.is_dir() and any(output_dir.iterdir()) and not overwrite:
        raise ExportError(
            f"The output directory '{output_dir}' already exists and is not empty. "
            "Fix: pass --overwrite (overwrite=True) to replace it once the new export "
            "is complete, or choose another --output directory."
        )


@contextlib.contextmanager
def export_destination(output_dir, overwrite=False, source_dir=None):
    """Yields a staging directory that becomes `output_dir` when the block succeeds."""
    check_destination(output_dir, overwrite=overwrite, source_dir=source_dir)
    with staging_directory(os.fspath(output_dir)) as staging:
        yield Path(staging)
