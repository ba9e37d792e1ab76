"""Errors raised by the corpus builders; each message names the problem and the fix."""


class CorpusError(RuntimeError):
    """A corpus could not be fetched, extracted, parsed or written."""


class ChecksumMismatchError(CorpusError):
    """A fetched archive does not have the sha256 pinned in the source table."""

    def __init__(self, source, path, expected, actual):
        self.source = source
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"sha256 mismatch for source '{source}' ({path}): expected {expected}, "
            f"got {actual}. The archive was not added to the cache. If the registry "
            "really republished this version, check the new archive and update the "
            "pinned sha256 in keras_pn/data/corpora/sources.py."
        )


class MissingToolError(CorpusError):
    """An external program the builder needs is not installed."""

    def __init__(self, tool, install_command, needed_for):
        self.tool = tool
        self.install_command = install_command
        super().__init__(
            f"'{tool}' is not installed; it is needed for {needed_for}. "
            f"Install it with: {install_command}"
        )


class DomainFormatError(CorpusError, ValueError):
    """A user-supplied domain directory or JSONL file is malformed."""
