"""The circuit breaker: opens after failures in a row, one trial call after a cool-down that
starts short and doubles while trials fail; calls that failed together count once."""

from __future__ import annotations

from lambda_http_cache.breaker import FIRST_COOLDOWN_SECONDS, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fail(breaker: CircuitBreaker, clock: Clock, seconds: float = 0.1) -> bool:
    """One call that starts now, takes ``seconds`` and fails."""
    started = clock.now
    clock.now += seconds
    return breaker.failure(started)


def test_breaker_opens_after_threshold_and_lets_one_trial_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown=10, clock=clock)
    assert breaker.allow()
    assert fail(breaker, clock) is False
    assert fail(breaker, clock) is False
    assert fail(breaker, clock) is True  # opened now, for the first (short) cool-down
    opened = clock.now
    assert not breaker.allow()
    clock.now = opened + FIRST_COOLDOWN_SECONDS - 0.01
    assert not breaker.allow()
    clock.now = opened + FIRST_COOLDOWN_SECONDS
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # only one at a time
    breaker.success()
    assert breaker.allow() and breaker.allow()
    assert not breaker.is_open


def test_each_failed_trial_doubles_the_cool_down_up_to_the_setting() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=5, clock=clock)
    assert fail(breaker, clock, 0) is True
    waits = []
    for _ in range(6):
        opened = clock.now
        while not breaker.allow():
            clock.now = round(clock.now + 0.25, 2)
        waits.append(clock.now - opened)
        assert fail(breaker, clock, 0) is False  # the trial failed: open again, longer
    assert waits == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    breaker.success()  # a good trial: the next opening starts short again
    assert fail(breaker, clock, 0) is True
    opened = clock.now
    clock.now = opened + 1.0
    assert breaker.allow()


def test_a_cool_down_setting_below_the_first_cool_down_is_kept() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=0.5, clock=clock)
    assert fail(breaker, clock, 0) is True
    clock.now = 0.49
    assert not breaker.allow()
    clock.now = 0.5
    assert breaker.allow()


def test_calls_in_flight_together_fail_once() -> None:
    """Four calls sent at once that all time out are one slow spell, not four failures: the
    breaker stays closed. Three that fail one after another open it."""
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown=30, clock=clock)
    clock.now = 0.5  # each took 0.5 s
    assert [breaker.failure(started=0.0) for _ in range(4)] == [False] * 4
    assert breaker.allow() and not breaker.is_open
    assert fail(breaker, clock, 0.5) is False
    assert fail(breaker, clock, 0.5) is True
    assert breaker.is_open


def test_breaker_success_resets_the_count() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=2, cooldown=10, clock=clock)
    fail(breaker, clock)
    breaker.success()
    fail(breaker, clock)
    assert breaker.allow()


def test_only_the_failure_that_opens_the_breaker_reports_it() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=5, clock=clock)
    assert fail(breaker, clock, 0) is True
    assert breaker.is_open
    assert breaker.failure() is False  # already open: a straggler changes nothing
    clock.now = 0.99
    assert not breaker.allow()
    clock.now = 1.0
    assert breaker.allow()


def test_a_straggler_failing_during_the_trial_is_not_the_trial() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=8, clock=clock)
    assert fail(breaker, clock, 0) is True
    clock.now = 1.0
    assert breaker.allow()  # the trial starts at 1.0
    assert breaker.failure(started=0.0) is False  # sent before the breaker opened
    breaker.success()  # the trial succeeded
    assert not breaker.is_open


def test_a_closed_breaker_needs_the_full_threshold_again() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=2, cooldown=1, clock=clock)
    fail(breaker, clock)
    fail(breaker, clock)
    clock.now += 1.0
    assert breaker.allow()
    breaker.success()  # the trial succeeded: closed, the count starts over
    assert fail(breaker, clock) is False
    assert breaker.allow()
    assert fail(breaker, clock) is True
