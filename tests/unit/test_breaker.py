"""The circuit breaker: opens after consecutive failures, one trial call after the cool-down."""

from __future__ import annotations

from lambda_http_cache.breaker import CircuitBreaker


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


def test_only_the_failure_that_opens_the_breaker_reports_it() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=5, clock=clock)
    assert breaker.failure() is True
    assert breaker.is_open
    assert breaker.failure() is False  # already open: extends the cool-down, says nothing new
    clock.now = 4.9
    assert not breaker.allow()
    clock.now = 5.0
    assert breaker.allow()


def test_a_closed_breaker_needs_the_full_threshold_again() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=2, cooldown=1, clock=clock)
    breaker.failure()
    breaker.failure()
    clock.now = 1.0
    assert breaker.allow()
    breaker.success()  # the trial succeeded: closed, the count starts over
    assert breaker.failure() is False
    assert breaker.allow()
    assert breaker.failure() is True
