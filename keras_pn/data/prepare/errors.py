"""The error of a bad data-preparation input."""


class PreparationError(ValueError):
    """Bad input to `prepare_data`; the message names the problem and the fix."""
