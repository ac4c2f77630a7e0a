"""What every benchmark reports the same way: a series' median, min and max, and its table row."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence


def stats(values: Sequence[float], digits: int) -> dict[str, float]:
    """``{"median", "min", "max"}`` of a series, rounded to ``digits``."""
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def row(label: str, series: Mapping[str, float], fmt: str, width: int = 40) -> str:
    """One table line: the label, then median, min and max right-aligned."""
    cells = "".join(f"{format(series[k], fmt):>12}" for k in ("median", "min", "max"))
    return f"  {label:<{width}}{cells}"
