"""The memory tier: a byte-bounded LRU in front of the table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lambda_http_cache.item import Entry
from lambda_http_cache.memory import MemoryTier


def _entry(size: int, expires: datetime | None = None) -> Entry:
    return Entry(
        content=b"x" * size,
        status=200,
        reason="OK",
        url="http://o/",
        headers=(),
        created=datetime.now(UTC),
        expires=expires,
        elapsed=0.0,
        encoding=None,
        request_method="GET",
        request_url="http://o/",
        request_headers=(),
    )


def test_memory_tier_evicts_least_recently_used_within_its_bound() -> None:
    tier = MemoryTier(max_bytes=10_000)
    for key in "abcd":
        tier.put(key, _entry(1_500))
    assert tier.get("a") is not None  # a is now the most recently used
    for key in "efg":
        tier.put(key, _entry(1_500))
    assert tier.size <= 10_000
    assert tier.get("b") is None  # evicted first
    assert tier.get("a") is not None


def test_memory_tier_never_serves_expired_entries_and_skips_huge_ones() -> None:
    tier = MemoryTier(max_bytes=10_000)
    past = datetime.now(UTC) - timedelta(seconds=1)
    tier.put("old", _entry(10, expires=past))
    assert tier.get("old") is None
    assert len(tier) == 0
    tier.put("huge", _entry(5_000))  # more than a quarter of the tier
    assert tier.get("huge") is None
