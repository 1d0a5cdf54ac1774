"""Small helpers shared by the tests."""

from __future__ import annotations

from typing import Any

from lambda_http_cache import DynamoDbCache
from lambda_http_cache.item import Item, encode_entry, key_fingerprint
from lambda_http_cache.session import CachedHttpSession
from lambda_http_cache.sharing import SharingPolicy
from lambda_http_cache.table import bounded_config
from requests_cache.models.response import CachedResponse

BACKEND_OPTIONS = (
    "namespace",
    "ttl",
    "create_table",
    "memory_cache_bytes",
    "store_private",
    "share_set_cookie",
    "key_secret",
    "breaker",
    "config",
    "large_objects",
    "max_body_bytes",
    "memory_max_age",
)

# The library's 0.5 s bounds are for Lambda; tests that pin calls and behaviour (not time
# bounds) use generous ones, so a loaded machine's slow answer is not a failed call. Tests
# of the bounds pass their own config (config=None: the library's default).
PATIENT = bounded_config(connect_timeout=10, read_timeout=10)


def cached_session(table_name: str, **settings: Any) -> CachedHttpSession:
    """A session as a user of the drop-in backend would build it; a new one is a new
    "container" (its own backend, client and connection pool)."""
    backend_kwargs = {k: settings.pop(k) for k in BACKEND_OPTIONS if k in settings}
    backend_kwargs.setdefault("create_table", False)
    backend_kwargs.setdefault("config", PATIENT)
    settings.setdefault("expire_after", 300)
    backend = DynamoDbCache(table_name, **backend_kwargs)
    return CachedHttpSession(backend=backend, stats=backend.stats, **settings)


def scan_all(client: Any, table_name: str) -> list[dict[str, Any]]:
    """Every item of the table, all pages."""
    pages = client.get_paginator("scan").paginate(TableName=table_name)
    return [item for page in pages for item in page["Items"]]


def encode_response(table_key: str, namespace: str, response: CachedResponse) -> Item:
    """The item the library would write for ``response`` under ``table_key`` (for tests that
    put items straight into the table)."""
    entry = SharingPolicy(secret=b"test-secret-0123456789").to_entry(
        response, key_fingerprint(table_key)
    )
    return encode_entry(table_key, namespace, entry)
