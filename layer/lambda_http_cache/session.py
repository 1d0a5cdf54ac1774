"""The container's cached session: a requests-cache ``CachedSession`` on the DynamoDB backend,
built once from a :class:`~lambda_http_cache.config.CacheConfig`."""

from __future__ import annotations

from botocore.config import Config
from botocore.exceptions import NoRegionError
from requests_cache.backends.base import BaseCache
from requests_cache.session import CachedSession

from .backend import DynamoDbCache
from .config import CacheConfig, ConfigError
from .table import make_client


def client_config(config: CacheConfig) -> Config:
    """Short timeouts and few retries: a slow table must cost a bounded delay, not minutes."""
    return Config(
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        retries={"max_attempts": config.max_attempts, "mode": "standard"},
    )


def build_session(config: CacheConfig) -> CachedSession:
    """A cached session for ``config``. Makes no network call."""
    backend: BaseCache
    if config.enabled:
        try:
            client = make_client(config=client_config(config))
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
        )
    else:
        backend = BaseCache()
    session = CachedSession(
        backend=backend,
        expire_after=config.expire_after,
        urls_expire_after=config.urls_expire_after,  # type: ignore[arg-type]
        cache_control=config.cache_control,
        allowable_methods=config.allowable_methods,
        allowable_codes=config.allowable_codes,
        stale_if_error=config.stale_if_error,
        match_headers=config.match_headers,
        ignored_parameters=config.ignored_parameters,
    )
    session.settings.disabled = not config.enabled
    return session
