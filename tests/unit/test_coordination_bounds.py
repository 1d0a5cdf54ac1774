"""The bounds of waiting for another's origin call: derived from the origin's last time."""

from __future__ import annotations

from datetime import timedelta
from itertools import islice
from types import SimpleNamespace

from lambda_http_cache.coordination import (
    DEFAULT_ORIGIN_SECONDS,
    LEASE_MAX_SECONDS,
    LEASE_MIN_SECONDS,
    POLL_MAX_SECONDS,
    POLL_MIN_SECONDS,
    lease_seconds,
    poll_intervals,
    wait_plan,
)


def stored(seconds: float) -> SimpleNamespace:
    return SimpleNamespace(elapsed=timedelta(seconds=seconds))


def test_polls_start_short_and_double_up_to_the_plan() -> None:
    assert list(islice(poll_intervals(0.25), 6)) == [0.05, 0.1, 0.2, 0.25, 0.25, 0.25]
    assert list(islice(poll_intervals(0.02), 3)) == [0.02, 0.02, 0.02]


def test_a_first_fill_sees_a_fast_origins_answer_within_a_few_polls() -> None:
    """Nothing is known of the origin before the first fill: the plan assumes a slow one, but
    the polls start at the minimum, so an answer landing after 0.1 s is seen by 0.15 s."""
    wait, poll = wait_plan(None)
    assert wait >= 2 * DEFAULT_ORIGIN_SECONDS
    elapsed = 0.0
    for interval in poll_intervals(poll):
        elapsed += interval
        if elapsed >= 0.1:
            break
    assert elapsed <= 0.15 + 1e-9


def test_bounds_follow_the_origins_last_time_within_limits() -> None:
    assert lease_seconds(stored(0.01)) == LEASE_MIN_SECONDS
    assert lease_seconds(stored(0.5)) == 2.0
    assert lease_seconds(stored(60)) == LEASE_MAX_SECONDS
    wait, poll = wait_plan(stored(0.15))
    assert wait == 0.8 and poll == POLL_MIN_SECONDS
    wait, poll = wait_plan(stored(9))
    assert wait == LEASE_MAX_SECONDS and poll == POLL_MAX_SECONDS
