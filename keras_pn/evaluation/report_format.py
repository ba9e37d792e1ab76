"""How the report writes numbers: SI units, token counts, durations, perplexities.

Example:
>>> si(1.2e15, "FLOP"), tokens(1_600_000), duration(90.0), perplexity(18.414)
('1.20 PFLOP', '1.6M', '90.0 s', '18.41')
"""

from __future__ import annotations

import math

__all__ = ["duration", "perplexity", "si", "tokens"]


def si(value: float, unit: str) -> str:
    """`1.2e15, "FLOP"` -> `"1.20 PFLOP"`."""
    if value is None or not math.isfinite(value):
        return "–"
    if value == 0:
        return f"0 {unit}"
    prefixes = ["", "k", "M", "G", "T", "P", "E", "Z"]
    exponent = min(max(int(math.floor(math.log10(abs(value)) / 3)), 0), 7)
    scaled = value / 1000**exponent
    digits = 2 if scaled < 10 else 1 if scaled < 100 else 0
    return f"{scaled:.{digits}f} {prefixes[exponent]}{unit}"


def tokens(value) -> str:
    """`25000 -> "25k"`, `1600000 -> "1.6M"`."""
    if value is None:
        return "?"
    value = float(value)
    for factor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            text = f"{value / factor:.3g}"
            return f"{text}{suffix}"
    return f"{value:.0f}"


def duration(seconds) -> str:
    """Seconds, minutes or hours, whichever reads best."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def perplexity(value) -> str:
    """Two decimals below 1000, none above; "–" when missing."""
    if value is None:
        return "–"
    if not math.isfinite(value):
        return "inf"
    return f"{value:.2f}" if value < 1000 else f"{value:.0f}"
