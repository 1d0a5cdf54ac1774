"""The per-container counters and latencies the decorator drains each invocation."""

from __future__ import annotations

from lambda_http_cache.stats import EVENTS, LATENCY_SAMPLES, CacheStats


def test_stats_keep_only_recent_latencies_between_drains() -> None:
    stats = CacheStats()
    for value in range(1000):
        stats.record_latency("cache", float(value))
    stats.add("hits", 3)
    counts, latencies = stats.drain()
    assert latencies["cache"] == [float(v) for v in range(1000 - LATENCY_SAMPLES, 1000)]
    assert counts["hits"] == 3
    assert stats.drain()[1] == {"cache": [], "origin": []}


def test_a_drain_reports_every_event_and_starts_the_next_invocation_at_zero() -> None:
    stats = CacheStats()
    stats.add("hits")
    stats.add("bytes_served", 1500)
    stats.record_latency("origin", 12.5)
    assert stats["hits"] == 1
    counts, latencies = stats.drain()
    assert set(counts) == set(EVENTS)
    assert counts["hits"] == 1 and counts["bytes_served"] == 1500 and counts["misses"] == 0
    assert latencies == {"cache": [], "origin": [12.5]}
    assert stats["hits"] == 0
    assert stats.drain()[0] == dict.fromkeys(EVENTS, 0)
