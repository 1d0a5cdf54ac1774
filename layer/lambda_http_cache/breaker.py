"""A per-container circuit breaker in front of the table.

After ``threshold`` failed calls in a row the breaker opens and every cache call is skipped (a
miss, no write) for a cool-down; then one call is let through as a trial: success closes the
breaker, failure opens it again for twice as long, up to ``cooldown``. A dead table so costs
one bounded delay per container and cool-down, not one per request.

Two rules keep a slow spell from passing for a dead table (a loaded machine, a table
answering slowly for a moment), which would send every request of the container to the
origin for the whole cool-down:

- Failures count in a row only when each call started after the previous counted failure
  ended: calls that were in flight together and timed out together are one failure, not
  ``threshold`` of them.
- The first cool-down is short (:data:`FIRST_COOLDOWN_SECONDS`); it grows only while trials
  keep failing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .config import DEFAULT_BREAKER_COOLDOWN, DEFAULT_BREAKER_THRESHOLD

# The first cool-down after the breaker opens (or ``cooldown``, if that is shorter); each
# failed trial doubles it, up to ``cooldown``.
FIRST_COOLDOWN_SECONDS = 1.0


class CircuitBreaker:
    def __init__(
        self,
        threshold: int = DEFAULT_BREAKER_THRESHOLD,
        cooldown: float = DEFAULT_BREAKER_COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._last_failure_at = float("-inf")
        self._open_until: float | None = None
        self._current_cooldown = min(FIRST_COOLDOWN_SECONDS, cooldown)
        self._trial_running = False
        self._trial_started = 0.0

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._open_until is not None

    def now(self) -> float:
        """The breaker's clock: what a caller passes back as ``started``."""
        return self._clock()

    def allow(self) -> bool:
        """Whether a cache call may go to the table now."""
        with self._lock:
            if self._open_until is None:
                return True
            if self._clock() < self._open_until or self._trial_running:
                return False
            self._trial_running = True  # half-open: exactly one trial call
            self._trial_started = self._clock()
            return True

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._open_until = None
            self._current_cooldown = min(FIRST_COOLDOWN_SECONDS, self.cooldown)
            self._trial_running = False

    def failure(self, started: float | None = None) -> bool:
        """Record a failed call that began at ``started`` (the breaker's clock; None: now);
        whether this opened the breaker."""
        with self._lock:
            now = self._clock()
            if self._open_until is not None:
                trial = started is None or started >= self._trial_started
                if self._trial_running and trial:  # the trial failed: open again, for longer
                    self._current_cooldown = min(2 * self._current_cooldown, self.cooldown)
                    self._open_until = now + self._current_cooldown
                    self._trial_running = False
                return False  # already open (a straggler's failure changes nothing)
            if started is not None and started < self._last_failure_at:
                return False  # in flight with a failure already counted: the same spell
            self._failures += 1
            self._last_failure_at = now
            if self._failures >= self.threshold:
                self._open_until = now + self._current_cooldown
                return True
            return False
