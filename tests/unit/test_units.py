"""Unit tests of the small pieces: circuit breaker, memory tier, configuration parsing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from lambda_http_cache.breaker import CircuitBreaker
from lambda_http_cache.config import CacheConfig, ConfigError
from lambda_http_cache.item import Entry
from lambda_http_cache.memory import MemoryTier


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_threshold_and_lets_one_trial_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown=10, clock=clock)
    assert breaker.allow()
    assert breaker.failure() is False
    assert breaker.failure() is False
    assert breaker.failure() is True  # opened now
    assert not breaker.allow()
    clock.now = 9.9
    assert not breaker.allow()
    clock.now = 10.0
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # only one at a time
    breaker.failure()  # the trial failed: open again for a full cool-down
    clock.now = 19.9
    assert not breaker.allow()
    clock.now = 20.0
    assert breaker.allow()
    breaker.success()
    assert breaker.allow() and breaker.allow()
    assert not breaker.is_open


def test_breaker_success_resets_the_count() -> None:
    breaker = CircuitBreaker(threshold=2, cooldown=10, clock=Clock())
    breaker.failure()
    breaker.success()
    breaker.failure()
    assert breaker.allow()


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


def test_config_defaults_and_environment() -> None:
    config = CacheConfig.from_environment({})
    assert (config.table_name, config.namespace, config.expire_after) == (
        "http_cache",
        "default",
        300,
    )
    config = CacheConfig.from_environment(
        {
            "HTTP_CACHE_TABLE": "my_table",
            "AWS_LAMBDA_FUNCTION_NAME": "fn",
            "HTTP_CACHE_MEMORY_MB": "0",
            "HTTP_CACHE_STALE_IF_ERROR": "600",
            "HTTP_CACHE_MATCH_HEADERS": "Accept, Accept-Language",
        }
    )
    assert config.table_name == "my_table"
    assert config.namespace == "fn"
    assert config.memory_cache_mb == 0
    assert config.stale_if_error == 600
    assert config.match_headers == ("Accept", "Accept-Language")
    assert "key_secret" not in repr(replace(config, key_secret="hidden-0123456789abcdef"))


@pytest.mark.parametrize(
    ("environ", "setting"),
    [
        ({"HTTP_CACHE_MEMORY_MB": "-1"}, "HTTP_CACHE_MEMORY_MB"),
        ({"HTTP_CACHE_BREAKER_THRESHOLD": "0"}, "HTTP_CACHE_BREAKER_THRESHOLD"),
        ({"HTTP_CACHE_CONNECT_TIMEOUT": "soon"}, "HTTP_CACHE_CONNECT_TIMEOUT"),
        ({"HTTP_CACHE_TABLE": "my table"}, "HTTP_CACHE_TABLE"),
    ],
)
def test_config_errors_name_the_setting(environ: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError, match=setting):
        CacheConfig.from_environment(environ)


def test_item_size_follows_dynamodbs_rules() -> None:
    from lambda_http_cache.item import item_size

    assert item_size({"key": {"S": "ab:c"}}) == 3 + 4
    assert item_size({"b": {"B": b"\x00" * 10}}) == 1 + 10
    assert item_size({"n": {"N": "-123.4500"}}) == 1 + 4  # 12345: 3 bytes, plus 1
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert item_size({"l": {"L": [{"N": "1"}, {"BOOL": True}]}}) == 1 + 3 + (1 + 2) + (1 + 1)


def test_stats_keep_only_recent_latencies_between_drains() -> None:
    from lambda_http_cache.stats import LATENCY_SAMPLES, CacheStats

    stats = CacheStats()
    for value in range(1000):
        stats.record_latency("cache", float(value))
    stats.add("hits", 3)
    counts, latencies = stats.drain()
    assert latencies["cache"] == [float(v) for v in range(1000 - LATENCY_SAMPLES, 1000)]
    assert counts["hits"] == 3
    assert stats.drain()[1] == {"cache": [], "origin": []}


def test_a_region_given_only_in_aws_region_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore reads AWS_DEFAULT_REGION only; the library falls back to AWS_REGION."""
    from lambda_http_cache.table import make_client

    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    assert make_client().meta.region_name == "eu-west-3"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert make_client().meta.region_name == "us-west-2"
