"""A per-container circuit breaker in front of the table.

After ``threshold`` consecutive failed calls the breaker opens and every cache call is
skipped (a miss, no write) for ``cooldown`` seconds; then one call is let through as a
trial: success closes the breaker, failure opens it again. A dead table so costs one bounded
delay per container and cool-down, not one per request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .config import DEFAULT_BREAKER_COOLDOWN, DEFAULT_BREAKER_THRESHOLD


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
        self._open_until: float | None = None
        self._trial_running = False

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._open_until is not None

    def allow(self) -> bool:
        """Whether a cache call may go to the table now."""
        with self._lock:
            if self._open_until is None:
                return True
            if self._clock() < self._open_until or self._trial_running:
                return False
            self._trial_running = True  # half-open: exactly one trial call
            return True

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._open_until = None
            self._trial_running = False

    def failure(self) -> bool:
        """Record a failed call; whether this opened the breaker."""
        with self._lock:
            self._failures += 1
            was_open = self._open_until is not None
            if was_open or self._failures >= self.threshold:
                self._open_until = self._clock() + self.cooldown
                self._trial_running = False
                return not was_open
            return False
