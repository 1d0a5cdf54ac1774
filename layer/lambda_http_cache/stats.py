"""Counters of what the cache did, per container; the decorator reads them per invocation."""

from __future__ import annotations

import threading
from collections import Counter, deque

# The events counted. Metric names (see the site's observability page) come from these.
EVENTS = (
    "hits",  # responses served from the cache (either tier)
    "memory_hits",  # of which from this container's memory tier
    "misses",  # requests that went to the origin
    "errors",  # failed cache reads or writes (each a miss or a skipped write)
    "bypassed",  # cache calls skipped because the circuit breaker was open
    "unkeyed",  # requests sent around the cache: an option the key cannot account for
    "oversize",  # responses too large for an item, not cached
    "not_stored",  # responses a shared cache must not store (private, no-store, a cookie...)
    # of which: responses that set a cookie and are not marked public or s-maxage (see
    # share_set_cookie); counted apart, so a drop in the hit rate it causes shows its cause
    "not_stored_set_cookie",
    "unreadable",  # items that were corrupt, foreign or of another format
    "bytes_served",  # body bytes served from the cache
    "coalesced",  # requests served another's origin call (this container's or the fleet's)
    "leases_won",  # refreshes this container won the right to make
    "leases_lost",  # refreshes another container held the lease for
    "leases_expired",  # leases taken over from a holder that never wrote
    "stale_served",  # stale responses served while a refresh runs (stale-while-revalidate)
    "refreshes",  # refreshes made after the response
)


# Latencies kept between drains: the most recent ones, as many as one embedded-metric-format
# document may carry per metric. A session nobody drains (outside the decorator) stays bounded.
LATENCY_SAMPLES = 100


class CacheStats:
    """Thread-safe event counters and recent latencies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._latency_ms = self._empty_latencies()

    @staticmethod
    def _empty_latencies() -> dict[str, deque[float]]:
        return {kind: deque(maxlen=LATENCY_SAMPLES) for kind in ("cache", "origin")}

    def add(self, event: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[event] += amount

    def record_latency(self, kind: str, milliseconds: float) -> None:
        with self._lock:
            self._latency_ms[kind].append(milliseconds)

    def __getitem__(self, event: str) -> int:
        with self._lock:
            return self._counts[event]

    def drain(self) -> tuple[dict[str, int], dict[str, list[float]]]:
        """Counts and latencies since the last drain (one invocation's worth), and reset."""
        with self._lock:
            counts = {event: self._counts[event] for event in EVENTS}
            latencies = {kind: list(values) for kind, values in self._latency_ms.items()}
            self._counts = Counter()
            self._latency_ms = self._empty_latencies()
        return counts, latencies
