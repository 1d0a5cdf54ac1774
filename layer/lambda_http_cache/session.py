"""The container's cached session: a requests-cache ``CachedSession`` on the DynamoDB backend,
built once from a :class:`~lambda_http_cache.config.CacheConfig`, counting what it serves."""

from __future__ import annotations

import threading
import time
from typing import Any

from botocore.exceptions import NoRegionError
from requests import PreparedRequest
from requests_cache.backends.base import BaseCache
from requests_cache.session import CachedSession

from .backend import DynamoDbCache
from .breaker import CircuitBreaker
from .config import CacheConfig, ConfigError
from .stats import CacheStats
from .table import bounded_config, make_client


class CachedHttpSession(CachedSession):
    """A requests-cache session that counts hits, misses and time per request in ``stats``."""

    def __init__(self, *args: Any, stats: CacheStats | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stats = stats or CacheStats()
        self._depth = threading.local()

    def send(self, request: PreparedRequest, **kwargs: Any) -> Any:  # type: ignore[override]
        # requests sends each redirect hop through send() again: count the outermost only.
        depth = getattr(self._depth, "value", 0)
        self._depth.value = depth + 1
        started = time.perf_counter()
        try:
            response = super().send(request, **kwargs)
        finally:
            self._depth.value = depth
        if depth:
            return response
        if self.settings.disabled or (request.method or "") not in self.settings.allowable_methods:
            return response
        elapsed_ms = (time.perf_counter() - started) * 1000
        if getattr(response, "from_cache", False):
            self.stats.add("hits")
            self.stats.add("bytes_served", len(response.content or b""))
        else:
            self.stats.add("misses")
            self.stats.record_latency("origin", elapsed_ms)
        return response


def build_session(config: CacheConfig) -> CachedHttpSession:
    """A cached session for ``config``. Makes no network call."""
    stats = CacheStats()
    backend: BaseCache
    if config.enabled:
        try:
            client = make_client(
                config=bounded_config(
                    config.connect_timeout, config.read_timeout, config.max_attempts
                )
            )
        except NoRegionError:
            raise ConfigError(
                "AWS_REGION", "no AWS region is configured (Lambda sets AWS_REGION)"
            ) from None
        backend = DynamoDbCache(
            config.table_name,
            create_table=config.create_table,
            ttl=config.ttl,
            connection=client,
            namespace=config.namespace,
            consistent_read=config.consistent_read,
            memory_cache_bytes=int(config.memory_cache_mb * 1024 * 1024),
            store_private=config.store_private,
            key_secret=config.key_secret,
            breaker=CircuitBreaker(config.breaker_threshold, config.breaker_cooldown),
            stats=stats,
        )
    else:
        backend = BaseCache()
    session = CachedHttpSession(
        backend=backend,
        stats=stats,
        expire_after=config.expire_after,
        urls_expire_after=config.urls_expire_after,
        cache_control=config.cache_control,
        allowable_methods=config.allowable_methods,
        allowable_codes=config.allowable_codes,
        stale_if_error=config.stale_if_error,
        match_headers=config.match_headers,
        ignored_parameters=config.ignored_parameters,
    )
    session.settings.disabled = not config.enabled
    return session
