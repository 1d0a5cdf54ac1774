"""Small measuring helpers: duration summaries and read units (item sizes: the library's own
``lambda_http_cache.item.item_size``, by DynamoDB's documented rules)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

READ_UNIT_BYTES = 4096


def summary_ms(seconds: Sequence[float]) -> dict[str, Any] | None:
    """Median, p99, mean, min and count of durations given in seconds, in milliseconds."""
    if not seconds:
        return None
    ms = [s * 1000 for s in seconds]
    # p99 interpolated between closest ranks ("inclusive"); one value is its own p99.
    p99 = statistics.quantiles(ms, n=100, method="inclusive")[98] if len(ms) > 1 else ms[0]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 4),
        "p99_ms": round(p99, 4),
        "mean_ms": round(statistics.fmean(ms), 4),
        "min_ms": round(min(ms), 4),
    }


def read_units(size: int, *, consistent: bool = False) -> float:
    """Read units one GetItem of an item of ``size`` bytes costs."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return units if consistent else units / 2
