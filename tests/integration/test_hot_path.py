"""The hot path, pinned by counting DynamoDB calls at the server's door: one GetItem per
DynamoDB hit, none per memory hit, at most GetItem + PutItem per miss, none at import; and
SnapStart's restore gives the next request fresh connections."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

import pytest
import requests
from lambda_http_cache import cached_http, decorator

from scripts.local_servers import DynamoDbProxy, OriginServer
from tests.helpers import cached_session, scan_all


def test_dynamodb_hit_is_one_eventually_consistent_get_item(
    table_name: str, origin: OriginServer, proxy: DynamoDbProxy
) -> None:
    url = origin.route("/h", '{"a": 1}')
    cached_session(table_name, memory_cache_bytes=0).get(url)
    proxy.reset()
    session = cached_session(table_name, memory_cache_bytes=0)
    for expected in (1, 2, 3):
        assert session.get(url).from_cache
        assert proxy.count() == proxy.count("GetItem") == expected
    assert all(body["ConsistentRead"] is False for _, body in proxy.requests)


def test_memory_hit_makes_no_call(
    table_name: str, origin: OriginServer, proxy: DynamoDbProxy
) -> None:
    url = origin.route("/m", '{"a": 1}')
    session = cached_session(table_name)
    session.get(url)
    proxy.reset()
    responses = [session.get(url) for _ in range(5)]
    assert all(r.from_cache and r.content == b'{"a": 1}' for r in responses)
    assert proxy.count() == 0
    assert session.cache.stats["memory_hits"] == 5


def test_a_memory_hit_is_a_fresh_response_each_time(table_name: str, origin: OriginServer) -> None:
    url = origin.route("/fresh", '{"a": 1}')
    session = cached_session(table_name)
    session.get(url)
    first = session.get(url)
    first.headers["X-Changed"] = "1"
    first.raw.read()
    second = session.get(url)
    assert "X-Changed" not in second.headers
    assert second.raw.read() == b'{"a": 1}'


def test_a_first_fill_is_one_get_item_and_two_put_items(
    table_name: str, origin: OriginServer, proxy: DynamoDbProxy, ddb: Any
) -> None:
    """The read, the claim of the fill (under the key itself: the answer replaces it, so
    nothing is left behind), the write."""
    session = cached_session(table_name)
    for number in range(3):
        session.get(origin.route(f"/miss/{number}", "{}"))
    assert proxy.calls == {"GetItem": 3, "PutItem": 6}
    assert [item["kind"]["S"] for item in scan_all(ddb, table_name)] == ["response"] * 3


def test_without_leases_a_miss_is_one_get_item_and_one_put_item(
    table_name: str, origin: OriginServer, proxy: DynamoDbProxy
) -> None:
    session = cached_session(table_name, leases=False)
    for number in range(3):
        session.get(origin.route(f"/miss/{number}", "{}"))
    assert proxy.calls == {"GetItem": 3, "PutItem": 3}


def test_an_expired_item_costs_no_delete(
    table_name: str, origin: OriginServer, proxy: DynamoDbProxy
) -> None:
    import time

    url = origin.route("/exp", "{}")
    session = cached_session(table_name, expire_after=1, memory_cache_bytes=0)
    session.get(url)
    time.sleep(1.1)
    proxy.reset()
    assert not session.get(url).from_cache
    # the read, the lease that makes this container the fleet's one refresher, a strongly
    # consistent read (has another container replaced the entry meanwhile?), the write
    assert proxy.calls == {"GetItem": 2, "PutItem": 2}
    assert session.cache.stats["leases_won"] == 2  # the first fill's claim, the refresh's lease


@pytest.fixture
def runtime_hooks(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Stands in for the Lambda runtime's snapshot_restore_py."""
    hooks: dict[str, list[Any]] = {"before": [], "after": []}
    module = types.ModuleType("snapshot_restore_py")

    def register(kind: str) -> Callable[..., None]:
        return lambda func, *args, **kwargs: hooks[kind].append((func, args, kwargs))

    module.register_before_snapshot = register("before")  # type: ignore[attr-defined]
    module.register_after_restore = register("after")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    monkeypatch.setattr(decorator, "_container_session", None)
    return hooks


def test_snapstart_restore_uses_fresh_connections(
    table_name: str,
    origin: OriginServer,
    proxy: DynamoDbProxy,
    runtime_hooks: dict[str, list[Any]],
) -> None:
    urls = [origin.route(f"/s/{n}", '{"s": 1}') for n in range(2)]

    @cached_http(memory_cache_mb=0)
    def handler(event: Any, context: Any, session: requests.Session) -> Any:
        return [session.get(u).from_cache for u in event["urls"]]

    assert len(runtime_hooks["before"]) == len(runtime_hooks["after"]) == 1
    assert handler({"urls": urls[:1]}, None) == [False]
    dynamodb_connections, origin_connections = proxy.connections, origin.connections
    assert handler({"urls": urls[:1]}, None) == [True]  # warm: connections are reused
    assert (proxy.connections, origin.connections) == (dynamodb_connections, origin_connections)

    for func, args, kwargs in runtime_hooks["before"]:  # the snapshot ...
        func(*args, **kwargs)
    for func, args, kwargs in runtime_hooks["after"]:  # ... and a restore later
        func(*args, **kwargs)

    assert handler({"urls": urls}, None) == [True, False]
    assert proxy.connections > dynamodb_connections
    assert origin.connections > origin_connections


def test_deleting_an_entry_costs_one_batch_write_and_no_scan(
    table_name: str, origin: OriginServer, proxy: DynamoDbProxy
) -> None:
    url = origin.route("/del", "{}")
    session = cached_session(table_name)
    session.get(url)
    proxy.reset()
    session.cache.delete(urls=[url])
    # One batch: the URL's own entry (the decorator's) and the end of a chain followed from
    # it (requests-cache's own session's), whichever exists.
    assert proxy.calls == {"BatchWriteItem": 1}
    assert not session.get(url).from_cache  # gone from the memory tier too


def test_memoised_keys_still_follow_headers_and_settings(
    table_name: str, origin: OriginServer
) -> None:
    url = origin.route("/memo", "{}")
    session = cached_session(table_name)
    assert not session.get(url, headers={"Authorization": "Bearer a"}).from_cache
    assert not session.get(url, headers={"Authorization": "Bearer b"}).from_cache
    assert session.get(url, headers={"Authorization": "Bearer a"}).from_cache
    plain = requests.Request("GET", url, headers={"Accept": "text/html"}).prepare()
    before = session.cache.create_key(plain)
    session.settings.match_headers = ["Accept"]
    assert session.cache.create_key(plain) != before


def test_environment_proxies_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "skip.example.com")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/custom.pem")
    ours = cached_session("unused_table")
    plain = requests.Session()
    for url in ("https://api.example.com/x", "https://skip.example.com/y", "http://h/z"):
        for _ in range(2):  # the second answer comes from the memo
            assert ours.merge_environment_settings(
                url, {}, None, None, None
            ) == plain.merge_environment_settings(url, {}, None, None, None)


def test_keys_are_computed_once_per_distinct_request(
    table_name: str, origin: OriginServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = origin.route("/once", "{}")
    session = cached_session(table_name)
    computed: list[str] = []
    original = session.cache._create_key

    def counting(*args: Any, **kwargs: Any) -> str:
        computed.append("key")
        return original(*args, **kwargs)

    monkeypatch.setattr(session.cache, "_create_key", counting)
    for _ in range(3):
        session.get(url, timeout=5, proxies={"https": "http://proxy.internal:3128"})
    assert len(computed) == 1
    session.get(url + "?page=2")
    assert len(computed) == 2


@pytest.mark.parametrize("metrics", ["true", "false"])
def test_init_imports_what_every_invocation_needs_and_no_more(
    table_name: str, origin: OriginServer, metrics: str
) -> None:
    """The library imports no Powertools, with metrics or without (they are written with
    json), and the first invocation imports nothing; X-Ray only when the function itself
    uses it."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    origin.route("/products/1", json.dumps({"id": 1, "name": "one", "price": 1.5}))
    script = (
        "import json, sys; sys.path.insert(0, 'functions/catalog'); import handler; "
        "loaded = lambda: {m for m in sys.modules if m.startswith(('aws_lambda_powertools', "
        "'aws_xray_sdk'))}; at_init = loaded(); "
        "handler.handler({'product_ids': [1]}, None); "
        "print(json.dumps([sorted(at_init), sorted(loaded() - at_init)]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=root,
        env={
            **os.environ,
            "PYTHONPATH": str(root / "layer"),
            "HTTP_CACHE_METRICS": metrics,
            "CATALOG_API_URL": origin.url(""),
        },
        check=True,
    )
    at_init, at_first_invocation = json.loads(result.stdout.splitlines()[-1])
    # A function that does not trace loads no X-Ray, at init or when the cache is used.
    assert not any(m.startswith("aws_xray_sdk") for m in at_init + at_first_invocation)
    assert at_init == []
    assert at_first_invocation == []
