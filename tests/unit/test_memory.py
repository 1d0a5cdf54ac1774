"""The memory tier: a byte-bounded LRU in front of the table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from lambda_http_cache import memory
from lambda_http_cache.bounded import footprint
from lambda_http_cache.item import Alias, Entry, Hop
from lambda_http_cache.memory import MemoryTier, _Held


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


def held(key: str, entry: Entry | Alias) -> int:
    """What the tier counts for ``entry`` under ``key``: both, as it holds them (with the
    time they were put), by the one rule."""
    return footprint(key) + footprint(_Held(entry, 0.0))


def test_memory_tier_evicts_least_recently_used_within_its_bound() -> None:
    tier = MemoryTier(max_bytes=20_000)
    for key in "abcd":
        tier.put(key, _entry(3_000))
    assert tier.get("a") is not None  # a is now the most recently used
    for key in "efg":
        tier.put(key, _entry(3_000))
    assert tier.size <= 20_000
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


class FakeTime:
    """Stands in for the ``time`` module the tier reads its monotonic clock from."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_an_entry_is_served_from_memory_for_max_age_seconds_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeTime()
    monkeypatch.setattr(memory, "time", clock)
    tier = MemoryTier(max_bytes=10_000, max_age=10.0)
    tier.put("k", _entry(10))
    clock.now += 10.0
    assert tier.get("k") is not None
    clock.now += 0.001
    assert tier.get("k") is None  # the table is read again: other containers' changes show
    assert (len(tier), tier.size) == (0, 0)


def test_replacing_discarding_and_clearing_keep_the_byte_count_exact() -> None:
    tier = MemoryTier(max_bytes=100_000)
    small, large = _entry(100), _entry(2_000)
    tier.put("a", small)
    tier.put("a", large)  # replaced, not counted twice
    assert (len(tier), tier.size) == (1, held("a", large))
    assert tier.get("a") is large
    tier.put("b", small)
    tier.discard("a")
    tier.discard("never-there")
    assert (len(tier), tier.size) == (1, held("b", small))
    tier.clear()
    assert (len(tier), tier.size, tier.get("b")) == (0, 0, None)


def test_putting_an_entry_too_large_for_the_tier_drops_the_older_one() -> None:
    tier = MemoryTier(max_bytes=10_000)
    tier.put("k", _entry(100))
    tier.put("k", _entry(5_000))
    assert tier.get("k") is None  # not the stale, smaller version either
    assert tier.size == 0


def test_aliases_are_kept_and_expire_like_entries() -> None:
    tier = MemoryTier(max_bytes=10_000)
    now = datetime.now(UTC)
    alias = Alias(target="GET http://o/final", expires=now + timedelta(seconds=60), hop=1)
    tier.put("alias", alias)
    assert tier.get("alias") == alias
    tier.put("gone", alias._replace(expires=now - timedelta(seconds=1)))
    assert tier.get("gone") is None
    tier.put("forever", alias._replace(expires=None))
    assert tier.get("forever") is not None
    # "gone" expired and was dropped on its get.
    assert tier.size == held("alias", alias) + held("forever", alias._replace(expires=None))


def test_a_memory_tier_of_zero_bytes_holds_nothing() -> None:
    tier = MemoryTier(max_bytes=0)
    tier.put("k", _entry(0))
    assert tier.get("k") is None and tier.size == 0


def test_the_tier_counts_every_part_of_an_entry_not_only_its_body() -> None:
    """A 42,000-name Vary, long hop headers, a long reason: all counted, so the tier stays
    within its bound whatever the origin sends."""
    names = tuple((f"x-name-{n:05d}", "v") for n in range(42_000))
    hop = Hop("GET", "http://o/" + "h" * 10_000, 301, "r" * 10_000, names[:1_000])
    entry = _entry(10)._replace(
        request_headers=names, history=(hop,) * 20, reason="r" * 50_000, next=("GET", "u" * 9)
    )
    held_bytes = held("k", entry)
    assert held_bytes > sum(len(a) + len(b) for a, b in names) + 20 * 10_000 + 50_000
    tier = MemoryTier(max_bytes=4 * held_bytes)
    tier.put("k", entry)
    assert tier.size == held_bytes  # counted once, when put
    small = MemoryTier(max_bytes=4 * held_bytes - 4)
    small.put("k", entry)
    assert (len(small), small.size) == (0, 0)  # over a quarter of the tier: not kept
    for number in range(10):
        tier.put(f"k{number}", entry)
        assert tier.size <= tier.max_bytes
