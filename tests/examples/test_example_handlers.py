"""The function code on the site (examples/*.py), imported as Lambda's init imports a handler
module and invoked as Lambda invokes it, against the local DynamoDB server and a local origin:
each example does what its page says."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from lambda_http_cache import decorator
from lambda_http_cache.observability import logger as library_logger

from scripts.local_servers import (
    LOCAL_CREDENTIALS,
    MotoServer,
    OriginServer,
    Route,
    SeenRequest,
    create_cache_table,
)
from tests.examples.support import lambda_context, load_example

pytestmark = pytest.mark.integration
_requests = itertools.count(1)
_services = itertools.count(1)


@pytest.fixture(autouse=True)
def new_container(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test is a new container: no session built yet, the library's logger as it was."""
    monkeypatch.setattr(decorator, "_container_session", None)
    handlers, propagate, level = (
        list(library_logger.handlers),
        library_logger.propagate,
        library_logger.level,
    )
    yield
    library_logger.handlers[:] = handlers
    library_logger.propagate, library_logger.level = propagate, level


@pytest.fixture
def api(origin: OriginServer, monkeypatch: pytest.MonkeyPatch) -> OriginServer:
    """The examples' API (PRODUCTS_API) on the local origin: products, prices, rates."""

    def product(seen: SeenRequest) -> Route:
        number = int(seen.path.rstrip("/").rsplit("/", 1)[-1])
        body = {"id": number, "name": f"Product {number}", "price": 9.5 + number}
        return Route(json.dumps(body).encode())

    for n in range(1, 4):
        origin.respond(f"/products/{n}", product)
        origin.route(f"/prices/{n}", json.dumps({"id": n, "price": 9.5 + n}))
    origin.route("/prices", json.dumps({"currency": "EUR"}))
    origin.route("/rates/EUR", json.dumps({"USD": 1.08}))
    origin.route("/health", "{}")
    monkeypatch.setenv("PRODUCTS_API", origin.url(""))
    return origin


def invoke(handler: Any, event: dict[str, Any], tenant_id: str | None = None) -> Any:
    return handler(event, lambda_context(f"request-{next(_requests)}", tenant_id))


def _documents(output: str) -> list[dict[str, Any]]:
    found = []
    for line in output.splitlines():
        if line.startswith("{"):
            document = json.loads(line)
            if "_aws" in document:
                found.append(document)
    return found


def _value(document: dict[str, Any], name: str) -> float:
    value = document[name]
    return sum(value) if isinstance(value, list) else float(value)


def _namespace(document: dict[str, Any]) -> str:
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    return str(directive["Namespace"])


def test_the_basic_handler_serves_repeats_from_the_cache(
    table_name: str, api: OriginServer, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load_example("handler_basic")
    first = invoke(module.handler, {"product_ids": [1, 2]})
    second = invoke(module.handler, {"product_ids": [1, 2, 1]})
    assert [p["id"] for p in first["products"]] == [1, 2]
    assert second["products"] == [*first["products"], first["products"][0]]
    assert (api.hits["/products/1"], api.hits["/products/2"]) == (1, 1)
    # One metrics document per invocation, in the cache's own namespace.
    assert [_namespace(d) for d in _documents(capsys.readouterr().out)] == [
        "LambdaHttpCache",
        "LambdaHttpCache",
    ]


def test_get_session_is_the_decorators_session_and_init_settings_stay(
    table_name: str, api: OriginServer
) -> None:
    module = load_example("handler_get_session")
    assert invoke(module.handler, {"product_id": 1})["product"]["id"] == 1
    assert invoke(module.handler, {"product_id": 1})["product"]["id"] == 1
    assert api.hits["/products/1"] == 1
    assert api.seen[-1].headers["User-Agent"] == "pricing/1.0"


def test_the_session_api_of_requests_cache(table_name: str, api: OriginServer) -> None:
    module = load_example("handler_session_api")
    first = invoke(module.handler, {"product_id": 1})
    assert first["product"]["id"] == 1 and first["from_cache"] is False
    assert first["expires"] is not None and first["still_cached"] is True
    second = invoke(module.handler, {"product_id": 1, "invalidate": True})
    assert second["from_cache"] is True
    assert second["still_cached"] is False  # deleted
    assert api.hits["/products/1"] == 1
    assert api.hits["/prices"] == 1  # fresh for 60 s
    assert api.hits["/health"] == 2  # around the cache, every time


def test_settings_given_in_code(table_name: str, api: OriginServer) -> None:
    module = load_example("settings_in_code")
    session = decorator.get_session()
    assert session.settings.expire_after == 600
    assert tuple(session.settings.match_headers) == ("Accept-Language",)
    assert session.early_refresh == 1
    assert invoke(module.handler, {"product_id": 2})["price"]["id"] == 2
    again = session.get(api.url("/prices/2"))
    assert again.from_cache is True
    # "*/prices/*" expires after 30 s, not expire_after's 600.
    assert again.expires - again.created_at <= timedelta(seconds=31)


@pytest.mark.parametrize("example", ["powertools_cache_outermost", "powertools_cache_innermost"])
def test_powertools_decorators_stack_in_either_order(
    example: str,
    table_name: str,
    api: OriginServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = f"pricing-{next(_services)}"  # Powertools keeps one logger per service
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", service)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Pricing")
    module = load_example(example)
    first = invoke(module.handler, {"product_id": 3})
    second = invoke(module.handler, {"product_id": 3})
    assert (first["from_cache"], second["from_cache"]) == (False, True)
    assert first["product"] == second["product"] and api.hits["/products/3"] == 1

    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    # Powertools' Logger: the Lambda context keys, and what the cache said.
    logged = [line for line in lines if line.get("message") == "product fetched"]
    assert [line["from_cache"] for line in logged] == [False, True]
    assert {line["service"] for line in logged} == {service}
    assert {line["function_name"] for line in logged} == {"pricing"}
    # Two metrics documents per invocation: the function's (Powertools, its namespace) and
    # the cache's (its own namespace; POWERTOOLS_METRICS_NAMESPACE does not move it).
    documents = [line for line in lines if "_aws" in line]
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for document in documents:
        by_namespace.setdefault(_namespace(document), []).append(document)
    assert sorted(by_namespace) == ["LambdaHttpCache", "Pricing"]
    assert [_value(d, "ProductsFetched") for d in by_namespace["Pricing"]] == [1, 1]
    cache = by_namespace["LambdaHttpCache"]
    assert [(_value(d, "CacheMisses"), _value(d, "CacheHits")) for d in cache] == [(1, 0), (0, 1)]
    assert {d["service"] for d in cache} == {service}  # POWERTOOLS_SERVICE_NAME, by default


def test_the_cache_metrics_document_is_one_small_log_line(
    table_name: str, api: OriginServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The size the observability page states: 1.3 to 1.5 KB for an invocation of a few
    requests, growing with the latency values it carries (at most 100 per metric)."""
    module = load_example("handler_basic")
    capsys.readouterr()
    invoke(module.handler, {"product_ids": [1, 2, 3]})
    output = capsys.readouterr().out
    (line,) = [line for line in output.splitlines() if '"LambdaHttpCache"' in line]
    assert 1000 <= len(line.encode()) <= 1600, len(line.encode())


def test_the_tenant_partitions_the_cache_unless_shared_on_purpose(
    table_name: str, api: OriginServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load_example("tenant_shared")
    invoke(module.handler, {}, tenant_id="tenant-a")
    invoke(module.handler, {}, tenant_id="tenant-b")
    assert api.hits["/rates/EUR"] == 1  # shared across tenants
    monkeypatch.setattr(decorator, "_container_session", None)
    basic = load_example("handler_basic")
    invoke(basic.handler, {"product_ids": [1]}, tenant_id="tenant-a")
    invoke(basic.handler, {"product_ids": [1]}, tenant_id="tenant-b")
    invoke(basic.handler, {"product_ids": [1]}, tenant_id="tenant-a")
    assert api.hits["/products/1"] == 2  # one entry per tenant


def test_the_drop_in_backend_outside_lambda(
    moto_server: MotoServer, api: OriginServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    # The example's region: moto keeps a table per region.
    eu = boto3.client(
        "dynamodb",
        endpoint_url=moto_server.endpoint,
        region_name="eu-west-1",
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    if "http_cache" not in eu.list_tables()["TableNames"]:
        create_cache_table(eu)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_server.endpoint)
    module = load_example("drop_in_backend")
    url = api.url("/products/2")
    assert module.session.get(url).from_cache is False
    cached = module.session.get(url)
    assert cached.from_cache is True and cached.json()["id"] == 2
    assert api.hits["/products/2"] == 1
