"""The guard around every call to a store (the table, the large-object bucket): its circuit
breaker, its trace segment, its latency, and the rule that a failed call is logged, counted
and turned into None, never raised into a request."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from .breaker import CircuitBreaker
from .observability import Tracing
from .stats import CacheStats

logger = logging.getLogger(__name__)
T = TypeVar("T")


class StoreGuard:
    def __init__(
        self,
        store: str,
        breaker: CircuitBreaker,
        stats: CacheStats,
        tracing: Tracing,
    ) -> None:
        self.store = store  # how the log names the store: "the table", "the bucket"
        self.breaker = breaker
        self.stats = stats
        self.tracing = tracing

    def call(self, operation: str, call: Callable[..., T], *args: Any) -> T | None:
        """Run one store call behind the breaker; None if skipped or failed."""
        if not self.breaker.allow():
            self.stats.add("bypassed")
            return None
        started = time.perf_counter()
        began = self.breaker.now()
        try:
            with self.tracing.segment(operation):
                result = call(*args)
        except Exception as error:
            opened = self.breaker.failure(began)
            self.stats.add("errors")
            outcome = "treated as a miss" if operation == "read" else "response not cached"
            logger.warning("Cache %s failed, %s: %r", operation, outcome, error)
            if opened:
                logger.warning(
                    "%d cache calls failed in a row: %s bypassed for a while (%.0f s at most)",
                    self.breaker.threshold,
                    self.store,
                    self.breaker.cooldown,
                )
            return None
        self.breaker.success()
        self.stats.record_latency("cache", (time.perf_counter() - started) * 1000)
        return result
