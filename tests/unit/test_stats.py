"""The per-container counters and latencies the decorator drains each invocation."""

from __future__ import annotations

from lambda_http_cache.stats import LATENCY_SAMPLES, CacheStats


def test_stats_keep_only_recent_latencies_between_drains() -> None:
    stats = CacheStats()
    for value in range(1000):
        stats.record_latency("cache", float(value))
    stats.add("hits", 3)
    counts, latencies = stats.drain()
    assert latencies["cache"] == [float(v) for v in range(1000 - LATENCY_SAMPLES, 1000)]
    assert counts["hits"] == 3
    assert stats.drain()[1] == {"cache": [], "origin": []}
