"""Logs, metrics and traces of the cache, the way Lambda functions already have them.

- Logs: one DEBUG record per cache decision on the ``lambda_http_cache`` logger, with
  structured fields (decision, key, method, status, latency), WARNING for failures. If the
  function has a Powertools ``Logger``, the library's records go through its handler, so
  they come out in the same JSON with the same service and Lambda context keys.
- Metrics: CloudWatch's embedded metric format (its own metric set, never mixed with the
  function's), one document per invocation on stdout.
- Traces: subsegments for cache reads, cache writes and origin calls when the function
  traces with Powertools ``Tracer``; nothing otherwise.

Powertools is never imported by the library itself: only a function that has imported it
has its Logger joined and its Tracer used. Nothing here ever raises into the handler.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any

logger = logging.getLogger("lambda_http_cache")
decisions = logging.getLogger("lambda_http_cache.decisions")

# Event counter -> (metric name, unit). The observability page documents these names.
COUNT_METRICS = {
    "hits": ("CacheHits", "Count"),
    "misses": ("CacheMisses", "Count"),
    "memory_hits": ("CacheMemoryHits", "Count"),
    "errors": ("CacheErrors", "Count"),
    "oversize": ("CacheOversizeSkips", "Count"),
    "bypassed": ("CacheBypassed", "Count"),
    "unkeyed": ("CacheUnkeyed", "Count"),
    "not_stored": ("CacheNotStored", "Count"),
    "not_stored_set_cookie": ("CacheNotStoredSetCookie", "Count"),
    "unreadable": ("CacheUnreadableItems", "Count"),
    "bytes_served": ("CacheBytesServed", "Bytes"),
    "coalesced": ("CacheCoalesced", "Count"),
    "leases_won": ("CacheLeasesWon", "Count"),
    "leases_lost": ("CacheLeasesLost", "Count"),
    "leases_expired": ("CacheLeasesExpired", "Count"),
    "stale_served": ("CacheStaleServed", "Count"),
    "refreshes": ("CacheRefreshes", "Count"),
}
LATENCY_METRICS = {"cache": "CacheLatency", "origin": "OriginLatency"}


def log_decision(decision: str, **fields: Any) -> None:
    """One structured DEBUG record of a cache decision: hit, miss, stale or skipped."""
    if decisions.isEnabledFor(logging.DEBUG):
        decisions.debug("cache %s", decision, extra={"cache_decision": decision, **fields})


def join_powertools_logger() -> bool:
    """Route the library's records through the function's Powertools Logger handler, if the
    function has one. Imports nothing: a function using Powertools has imported it.

    Hand-written rather than Powertools' ``copy_config_to_registered_loggers``: that helper
    needs the function's ``Logger`` object (only its standard logger and handler can be found
    from here), sets the level of every logger it touches, and adds a ``name`` key to every
    record of the function's own logger; this keeps a level the library's logger was given and
    leaves the function's logger as it is."""
    if "aws_lambda_powertools.logging" not in sys.modules or logger.handlers:
        return False
    from aws_lambda_powertools.logging.formatter import BasePowertoolsFormatter

    for candidate in list(logging.Logger.manager.loggerDict.values()):
        if not isinstance(candidate, logging.Logger) or candidate.name.startswith(logger.name):
            continue
        for handler in candidate.handlers:
            if isinstance(handler.formatter, BasePowertoolsFormatter):
                logger.addHandler(handler)
                logger.propagate = False
                if logger.level == logging.NOTSET:
                    logger.setLevel(candidate.getEffectiveLevel())
                return True
    return False


class MetricsPublisher:
    """Writes one document in CloudWatch's embedded metric format per invocation to stdout:
    the cache's own metric set, under its namespace and ``service`` dimension, never mixed
    with the function's.

    Written with ``json`` rather than through Powertools' ``EphemeralMetrics``: importing
    Powertools' metrics costs about 14 ms of every cold start (measured beside
    ``import requests, boto3``), for a format this small (see the observability page). The
    format's limits are kept: at most 100 metrics in a document (19 here) and 100 values in a
    metric (stats.LATENCY_SAMPLES)."""

    def __init__(self, namespace: str, service: str) -> None:
        self.namespace = namespace
        self.service = service

    def publish(self, counts: Mapping[str, int], latencies: Mapping[str, list[float]]) -> None:
        if not any(counts.values()) and not any(latencies.values()):
            return  # an invocation that made no cacheable request publishes nothing
        units: list[dict[str, str]] = []
        values: dict[str, list[float]] = {}
        for event, (name, unit) in COUNT_METRICS.items():
            units.append({"Name": name, "Unit": unit})
            values[name] = [float(counts.get(event, 0))]
        for kind, name in LATENCY_METRICS.items():
            samples = [round(float(value), 3) for value in latencies.get(kind, [])]
            if samples:
                units.append({"Name": name, "Unit": "Milliseconds"})
                values[name] = samples
        document = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {"Namespace": self.namespace, "Dimensions": [["service"]], "Metrics": units}
                ],
            },
            "service": self.service,
            **values,
        }
        sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
        sys.stdout.flush()


class Tracing:
    """Subsegments on the function's Powertools Tracer, when it traces."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._provider: Any = None
        self._resolved = False

    def _resolve(self) -> Any:
        if not self._resolved:
            self._resolved = True
            # The function traces if the X-Ray SDK is loaded (its Powertools Tracer loads it).
            if self.enabled and "aws_xray_sdk.core" in sys.modules:
                from aws_lambda_powertools.tracing import Tracer

                tracer = Tracer()  # shares the function's configuration
                if not tracer.disabled:
                    self._provider = tracer.provider
        return self._provider

    @contextlib.contextmanager
    def segment(self, name: str) -> Iterator[None]:
        provider = self._resolve() if self.enabled else None
        if provider is None:
            yield
            return
        try:
            context = provider.in_subsegment(name=f"## lambda_http_cache.{name}")
            context.__enter__()
        except Exception:  # tracing must never break a request
            yield
            return
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                context.__exit__(*sys.exc_info())
