"""`StageContext`: what the stage bodies of one `prepare_data` call share."""

from __future__ import annotations

import logging
import time
from typing import Any

from keras_pn.data.prepare.jsonl_index import JsonlIndex
from keras_pn.data.prepare.units import manifest_summary
from keras_pn.data.prepare.validation import Inputs

logger = logging.getLogger(__name__)


class StageContext:
    """The validated inputs, the layout, and readers built once per call.

    Args:
        inputs: the call's `Inputs`.
    """

    def __init__(self, inputs: Inputs):
        self.inputs = inputs
        self.config = inputs.config
        self.layout = inputs.layout
        self._generic_index: JsonlIndex | None = None

    def summary(self, unit: str) -> dict[str, Any]:
        """The summary a finished unit recorded ({} if none)."""
        return manifest_summary(self.layout, unit)

    def generic_index(self) -> JsonlIndex:
        """The index of the generic mix's records (built on first use)."""
        if self._generic_index is None:
            t0 = time.perf_counter()
            files = self.inputs.generic_files
            self._generic_index = JsonlIndex(files)
            logger.info(
                "Indexed %d generic documents in %d files (%.1fs).",
                len(self._generic_index),
                len(files),
                time.perf_counter() - t0,
            )
        return self._generic_index

    def proto(self) -> bytes:
        """The trained SentencePiece model."""
        return self.layout.tokenizer.read_bytes()
