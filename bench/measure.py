"""Small measuring helpers: percentiles, DynamoDB item sizes and read units."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
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


def _value_size(value: Mapping[str, Any]) -> int:
    """DynamoDB's size of one attribute value in the low-level (``{"S": ...}``) format, by the
    rules AWS documents: strings and binaries by length, numbers ~1 byte per two significant
    digits plus 1, maps and lists 3 bytes plus 1 per element, booleans and nulls 1 byte."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "B":
        return len(data)
    if kind == "N":
        digits = data.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _value_size(v) for k, v in data.items())
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in data)
    if kind == "SS":
        return sum(len(s.encode()) for s in data)
    if kind == "BS":
        return sum(len(b) for b in data)
    if kind == "NS":
        return sum(_value_size({"N": n}) for n in data)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """DynamoDB's size of an item (attribute names plus values), in bytes."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def read_units(size: int, *, consistent: bool = False) -> float:
    """Read units one GetItem of an item of ``size`` bytes costs."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return units if consistent else units / 2
