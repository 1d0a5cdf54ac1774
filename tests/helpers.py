"""Small helpers shared by the tests."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from lambda_http_cache import DynamoDbCache
from lambda_http_cache.item import MARKER_KINDS, Item, encode_entry, key_fingerprint
from lambda_http_cache.session import CachedHttpSession
from lambda_http_cache.sharing import SharingPolicy
from lambda_http_cache.table import bounded_config
from requests_cache.models.response import CachedResponse

from scripts.local_servers import OriginServer, Route, SeenRequest

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


def stored_responses(client: Any, table_name: str) -> list[dict[str, Any]]:
    """The items of the table that hold a response: not the markers the cache writes to
    coordinate and to remember (leases, first-fill claims, hit-for-miss, tombstones)."""
    return [
        item
        for item in scan_all(client, table_name)
        if item.get("kind", {}).get("S") not in MARKER_KINDS
    ]


def encode_response(table_key: str, namespace: str, response: CachedResponse) -> Item:
    """The item the library would write for ``response`` under ``table_key`` (for tests that
    put items straight into the table)."""
    entry = SharingPolicy(secret=b"test-secret-0123456789").to_entry(
        response, key_fingerprint(table_key)
    )
    return encode_entry(table_key, namespace, entry)


# Invoking a decorated handler as Lambda does, against pages that show what a request carried.

PRIVATE = {"Content-Type": "application/json", "Cache-Control": "private, no-store"}
_request_ids = itertools.count(1)


def next_request_id() -> str:
    return f"request-{next(_request_ids)}"


def invoke(handler: Callable[..., Any], event: Any = None) -> Any:
    """One invocation, as Lambda makes it."""
    return handler(event or {}, SimpleNamespace(aws_request_id=next_request_id()))


def echo(origin: OriginServer, path: str = "/echo") -> str:
    """A private, never stored page that shows the request as the origin received it."""

    def respond(seen: SeenRequest) -> Route:
        body = json.dumps({"path": seen.path, "headers": seen.headers}).encode()
        return Route(body, PRIVATE)

    return origin.respond(path, respond)


def login_and_account(origin: OriginServer) -> tuple[str, str]:
    """A login that sets a session cookie, and an account page that shows whose cookie came
    with the request: private, no-store, so no cache ever holds it."""
    login = origin.respond(
        "/login",
        lambda seen: Route(
            b"{}", {"Set-Cookie": "sid=alice-sid; Path=/", "Cache-Control": "no-store"}
        ),
    )

    def account(seen: SeenRequest) -> Route:
        signed_in = "sid=alice-sid" in seen.headers.get("Cookie", "")
        return Route(json.dumps({"user": "alice" if signed_in else None}).encode(), PRIVATE)

    return login, origin.respond("/account", account)
