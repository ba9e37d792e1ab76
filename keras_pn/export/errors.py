"""The error of an export that cannot be done as asked; its message names the fix."""


class ExportError(ValueError):
    """A model, format or destination an export refuses; the message says how to fix it."""
