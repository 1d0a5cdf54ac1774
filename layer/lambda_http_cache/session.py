"""The container's cached session: a requests-cache ``CachedSession`` on the DynamoDB backend,
built once from a :class:`~lambda_http_cache.config.CacheConfig`, counting what it serves."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import NoRegionError
from requests import PreparedRequest, Response, Session
from requests.sessions import merge_setting as _merge_setting
from requests.utils import get_environ_proxies
from requests_cache.backends.base import BaseCache
from requests_cache.session import CachedSession

from .backend import DynamoDbCache
from .breaker import CircuitBreaker
from .config import CacheConfig, ConfigError
from .large_objects import LargeObjectStore
from .observability import Tracing, log_decision
from .stats import CacheStats
from .table import bounded_config, make_client

if TYPE_CHECKING:
    from requests.sessions import _Settings

merge_setting: Callable[[Any, Any], Any] = _merge_setting


class OriginSession(Session):
    """The origin side of the cached session: times, and traces, each request that really
    goes to the origin (requests-cache calls this for misses and revalidations only)."""

    stats: CacheStats
    tracing: Tracing

    def send(self, request: PreparedRequest, **kwargs: Any) -> Response:
        started = time.perf_counter()
        with self.tracing.segment("origin"):
            response = super().send(request, **kwargs)
        self.stats.record_latency("origin", (time.perf_counter() - started) * 1000)
        return response


class CachedHttpSession(CachedSession, OriginSession):
    """A requests-cache session that counts and logs each cache decision."""

    def __init__(
        self,
        *args: Any,
        stats: CacheStats | None = None,
        tracing: Tracing | None = None,
        **kwargs: Any,
    ) -> None:
        self.stats = stats or CacheStats()
        self.tracing = tracing or Tracing(enabled=False)
        self._depth = threading.local()
        self._proxy_memo: dict[tuple[str, str, Any], dict[str, str]] = {}
        self._ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        super().__init__(*args, **kwargs)

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> _Settings:
        """As requests does, but reading the proxy variables once per host: requests scans the
        whole environment on every request (about 0.15 ms, most of a memory-tier hit), and a
        function's environment does not change while its container lives."""
        if self.trust_env:
            no_proxy = proxies.get("no_proxy") if proxies is not None else None
            parts = urlsplit(url)
            memo = (parts.scheme, parts.netloc, no_proxy)
            env_proxies = self._proxy_memo.get(memo)
            if env_proxies is None:
                env_proxies = get_environ_proxies(url, no_proxy=no_proxy)
                if len(self._proxy_memo) >= 256:
                    self._proxy_memo.clear()
                self._proxy_memo[memo] = env_proxies
            if proxies is not None:
                for name, value in env_proxies.items():
                    proxies.setdefault(name, value)
            if verify is True or verify is None:
                verify = self._ca_bundle or verify
        return {
            "proxies": merge_setting(proxies, self.proxies),
            "stream": merge_setting(stream, self.stream),
            "verify": merge_setting(verify, self.verify),
            "cert": merge_setting(cert, self.cert),
        }

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
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        if self.settings.disabled or (request.method or "") not in self.settings.allowable_methods:
            decision = "skipped"
        elif getattr(response, "from_cache", False):
            decision = "stale" if getattr(response, "is_expired", False) else "hit"
            self.stats.add("hits")
            self.stats.add("bytes_served", len(response.content or b""))
        else:
            decision = "miss"
            self.stats.add("misses")
        log_decision(
            decision,
            cache_key=getattr(response, "cache_key", None) or None,
            method=request.method,
            status=response.status_code,
            latency_ms=latency_ms,
        )
        return response


def build_session(config: CacheConfig) -> CachedHttpSession:
    """A cached session for ``config``. Makes no network call."""
    stats = CacheStats()
    tracing = Tracing(enabled=config.tracing)
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
                "AWS_DEFAULT_REGION",
                "no AWS region is configured (AWS_DEFAULT_REGION or AWS_REGION; Lambda sets both)",
            ) from None
        large_objects = None
        if config.large_object_bucket:
            s3 = boto3.client(
                "s3",
                config=bounded_config(
                    config.connect_timeout, config.read_timeout, config.max_attempts
                ),
            )
            large_objects = LargeObjectStore(
                s3, config.large_object_bucket, config.large_object_prefix
            )
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
            tracing=tracing,
            large_objects=large_objects,
        )
    else:
        backend = BaseCache()
    session = CachedHttpSession(
        backend=backend,
        stats=stats,
        tracing=tracing,
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
