"""Small measuring helpers: percentiles and read units (item sizes: the library's own
``lambda_http_cache.item.item_size``, by DynamoDB's documented rules)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

READ_UNIT_BYTES = 4096


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (0..1) by linear interpolation between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary_ms(seconds: Sequence[float]) -> dict[str, Any] | None:
    """Median, p99, mean, min and count of durations given in seconds, in milliseconds."""
    if not seconds:
        return None
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 4),
        "p99_ms": round(percentile(ms, 0.99), 4),
        "mean_ms": round(statistics.fmean(ms), 4),
        "min_ms": round(min(ms), 4),
    }


def read_units(size: int, *, consistent: bool = False) -> float:
    """Read units one GetItem of an item of ``size`` bytes costs."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return units if consistent else units / 2
