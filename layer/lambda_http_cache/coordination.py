"""One origin call per key per expiry: in this container and across the fleet.

- :class:`Flights`: threads of one container asking for the same missing or stale key make
  one origin call; the others wait for it (bounded) and read what it stored.
- Leases (:meth:`~lambda_http_cache.storage.ResponseStorage.acquire_lease`): across
  containers, a conditional PutItem picks the one that refreshes a key; the others poll the
  entry for its write, then fall through to the origin themselves. A lease expires on its
  own, so a holder that dies blocks nobody beyond it.

:func:`lease_seconds` and :func:`wait_plan` derive every bound from how long the origin took
last time, which each entry records.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

# A lease lasts four times the origin's last answer, within these bounds (seconds).
LEASE_MIN_SECONDS = 1.0
LEASE_MAX_SECONDS = 10.0
# When nothing says how long the origin takes (a first miss), assume this.
DEFAULT_ORIGIN_SECONDS = 1.0
# Waiting for another's answer: twice the origin's time plus this, never past the lease.
WAIT_SLACK_SECONDS = 0.5
POLL_MIN_SECONDS = 0.05
POLL_MAX_SECONDS = 0.5


def origin_seconds(cached_response: Any) -> float:
    """How long the origin took for the stored response, if there is one."""
    elapsed = getattr(cached_response, "elapsed", None)
    if isinstance(elapsed, timedelta) and elapsed.total_seconds() > 0:
        return elapsed.total_seconds()
    return DEFAULT_ORIGIN_SECONDS


def lease_seconds(cached_response: Any) -> float:
    return min(max(4 * origin_seconds(cached_response), LEASE_MIN_SECONDS), LEASE_MAX_SECONDS)


def follower_wait(cached_response: Any) -> float:
    """How long a thread waits for the thread of its container that leads the key's origin
    call: the leader's own wait for another container's write, plus its lease (four times
    the origin's time), so that followers do not give up just before the leader's call lands."""
    return wait_plan(cached_response)[0] + lease_seconds(cached_response)


def wait_plan(cached_response: Any) -> tuple[float, float]:
    """How long to wait at most for another's answer, and how often to look for it."""
    seconds = origin_seconds(cached_response)
    wait = min(2 * seconds + WAIT_SLACK_SECONDS, lease_seconds(cached_response))
    poll = min(max(seconds / 4, POLL_MIN_SECONDS), POLL_MAX_SECONDS)
    return wait, poll


def poll_intervals(poll: float) -> Iterator[float]:
    """The pauses between looks for another's write: from :data:`POLL_MIN_SECONDS`, doubling
    up to ``poll``. A first fill, whose origin time nobody knows yet, assumes a slow origin
    (a long ``poll``); starting short, a fast origin's answer is seen soon after it lands."""
    interval = min(POLL_MIN_SECONDS, poll)
    while True:
        yield interval
        interval = min(2 * interval, poll)


def refresh_early(cached_response: Any, beta: float) -> bool:
    """Whether to refresh a still fresh entry now (Vattani, Chierichetti and Lowenstein,
    "Optimal Probabilistic Cache Stampede Prevention", VLDB 2015): true when
    ``now - delta * beta * ln(random()) >= expiry``, ``delta`` being how long the origin took.
    The chance grows as expiry nears and with the origin's latency; for one container it
    is small, so across a fleet one refresh usually lands before the key expires."""
    expires = getattr(cached_response, "expires", None)
    if expires is None or beta <= 0:
        return False
    delta = origin_seconds(cached_response)
    now = datetime.now(UTC)
    early = -delta * beta * math.log(1.0 - random.random())  # 1 - random(): never log(0)
    return bool(now + timedelta(seconds=early) >= expires)


class Flights:
    """The origin calls in flight in this container, by cache key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._landed: dict[str, threading.Event] = {}

    @contextmanager
    def lead(self, key: str) -> Iterator[threading.Event | None]:
        """None if this thread leads the call for ``key`` (the others wait for it until the
        block ends), else the event that is set when the leader is done."""
        with self._lock:
            landed = self._landed.get(key)
            leader = landed is None
            if leader:
                landed = self._landed[key] = threading.Event()
        assert landed is not None
        if not leader:
            yield landed
            return
        try:
            yield None
        finally:
            with self._lock:
                self._landed.pop(key, None)
            landed.set()
