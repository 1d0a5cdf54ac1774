"""Is the cache paying off, is it hurting: the decisions it logs, the metrics it publishes
once per invocation, and the subsegments a traced function gets."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from lambda_http_cache import cached_http, decorator
from lambda_http_cache.observability import COUNT_METRICS, LATENCY_METRICS, logger

from scripts.local_servers import DynamoDbProxy, OriginServer

DOCUMENTED_METRICS = {
    "CacheHits",
    "CacheMisses",
    "CacheMemoryHits",
    "CacheErrors",
    "CacheOversizeSkips",
    "CacheBypassed",
    "CacheUnkeyed",
    "CacheNotStored",
    "CacheNotStoredSetCookie",
    "CacheUnreadableItems",
    "CacheBytesServed",
    "CacheCoalesced",
    "CacheLeasesWon",
    "CacheLeasesLost",
    "CacheLeasesExpired",
    "CacheStaleServed",
    "CacheRefreshes",
    "CacheLatency",
    "OriginLatency",
}


@pytest.fixture(autouse=True)
def fresh_container(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(decorator, "_container_session", None)
    handlers, propagate, level = list(logger.handlers), logger.propagate, logger.level
    yield
    logger.handlers[:] = handlers
    logger.propagate, logger.level = propagate, level


def _documents(output: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [doc for doc in lines if "_aws" in doc]


def test_metrics_are_published_once_per_invocation_and_count_what_happened(
    table_name: str,
    origin: OriginServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_CACHE_SERVICE", "pricing")
    urls = [origin.route(f"/p/{n}", json.dumps({"n": n, "pad": "x" * 100})) for n in range(3)]

    @cached_http
    def handler(event: dict[str, Any], context: Any, session: requests.Session) -> None:
        for index in event["fetch"]:
            session.get(urls[index])

    capsys.readouterr()
    handler({"fetch": [0, 1, 2]}, None)  # 3 misses
    handler({"fetch": [0, 0, 1]}, None)  # 3 memory hits
    handler({"fetch": []}, None)  # nothing cacheable happened: no document
    documents = _documents(capsys.readouterr().out)
    assert len(documents) == 2
    first, second = documents
    counts = {name for name, _ in COUNT_METRICS.values()}
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "LambdaHttpCache"
        assert directive["Dimensions"] == [["service"]]
        assert document["service"] == "pricing"
        assert counts <= {m["Name"] for m in directive["Metrics"]} <= DOCUMENTED_METRICS
    assert [_value(first, m) for m in ("CacheMisses", "CacheHits", "CacheMemoryHits")] == [3, 0, 0]
    assert len(_values(first, "OriginLatency")) == 3
    # Per miss: a GetItem, the first fill's claim (a conditional PutItem), the entry's PutItem.
    assert len(_values(first, "CacheLatency")) == 9
    assert [_value(second, m) for m in ("CacheMisses", "CacheHits", "CacheMemoryHits")] == [0, 3, 3]
    assert "CacheLatency" not in second  # memory hits do not touch the table
    served = sum(len(requests.get(urls[i]).content) for i in (0, 0, 1))
    assert _value(second, "CacheBytesServed") == served
    assert _value(second, "CacheErrors") == 0


def _values(document: dict[str, Any], name: str) -> list[float]:
    value = document[name]
    return value if isinstance(value, list) else [value]


def _value(document: dict[str, Any], name: str) -> float:
    return sum(_values(document, name))


def test_metrics_count_errors_and_can_be_turned_off(
    table_name: str,
    origin: OriginServer,
    proxy: DynamoDbProxy,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = origin.route("/err", "{}")

    @cached_http
    def handler(event: Any, context: Any, session: requests.Session) -> None:
        session.get(url)

    proxy.fault = lambda operation: (400, "ThrottlingException")
    capsys.readouterr()
    handler({}, None)
    (document,) = _documents(capsys.readouterr().out)
    assert (_value(document, "CacheErrors"), _value(document, "CacheMisses")) == (2, 1)

    monkeypatch.setenv("HTTP_CACHE_METRICS", "false")
    monkeypatch.setattr(decorator, "_container_session", None)

    @cached_http
    def quiet(event: Any, context: Any, session: requests.Session) -> None:
        session.get(url)

    quiet({}, None)
    assert _documents(capsys.readouterr().out) == []


def test_metric_names_match_the_documented_set() -> None:
    names = {name for name, _ in COUNT_METRICS.values()} | set(LATENCY_METRICS.values())
    assert names == DOCUMENTED_METRICS


def test_each_decision_is_one_structured_debug_record(
    table_name: str, origin: OriginServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = origin.route("/d", "{}")

    @cached_http
    def handler(event: Any, context: Any, session: requests.Session) -> None:
        session.get(url, params={"api_key": "k-Secret-1"})
        session.get(url, params={"api_key": "k-Secret-1"})
        session.post(url)

    with caplog.at_level(logging.DEBUG, logger="lambda_http_cache"):
        handler({}, None)
    records = [r for r in caplog.records if hasattr(r, "cache_decision")]
    assert [r.cache_decision for r in records] == ["miss", "hit", "skipped"]
    assert records[0].cache_key == records[1].cache_key
    assert all(isinstance(r.latency_ms, float) for r in records)
    assert "k-Secret-1" not in caplog.text


def test_records_join_the_functions_powertools_logger(
    table_name: str, origin: OriginServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from aws_lambda_powertools import Logger

    Logger(service="checkout", level="DEBUG")
    url = origin.route("/j", "{}")

    @cached_http(metrics=False)
    def handler(event: Any, context: Any, session: requests.Session) -> None:
        session.get(url)

    capsys.readouterr()
    try:
        handler({}, None)
    finally:
        logging.getLogger("checkout").handlers.clear()  # its stream is this test's capture
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    (decision,) = [line for line in lines if "cache_decision" in line]
    assert decision["service"] == "checkout"
    assert decision["cache_decision"] == "miss"
    assert decision["level"] == "DEBUG"


class Emitter:
    """Collects the names of what X-Ray would send to its daemon."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_entity(self, entity: Any) -> None:
        self.sent.append(entity.name)

    def set_daemon_address(self, address: Any) -> None:
        pass


def _traced_invocation(url: str, monkeypatch: pytest.MonkeyPatch, **settings: Any) -> list[str]:
    from aws_lambda_powertools import Tracer
    from aws_xray_sdk import global_sdk_config
    from aws_xray_sdk.core import xray_recorder

    # As in Lambda with active tracing: the runtime's trace header, the task root.
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv(
        "_X_AMZN_TRACE_ID",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    )
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    global_sdk_config.set_sdk_enabled(True)
    Tracer._reset_config()  # earlier tests ran outside "Lambda", where Tracer disables itself
    Tracer(service="traced", auto_patch=False)
    from aws_xray_sdk.core.lambda_launcher import LambdaContext

    emitter = Emitter()
    xray_recorder.configure(emitter=emitter, context=LambdaContext())

    @cached_http(metrics=False, **settings)
    def handler(event: Any, context: Any, session: requests.Session) -> None:
        session.get(url)

    handler({}, None)
    return emitter.sent


def test_a_traced_function_gets_cache_and_origin_subsegments(
    table_name: str, origin: OriginServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = origin.route("/t", "{}")
    names = _traced_invocation(url, monkeypatch)
    assert names == [
        "## lambda_http_cache.read",
        "## lambda_http_cache.write",  # the first fill's claim
        "## lambda_http_cache.origin",
        "## lambda_http_cache.write",
    ]


def test_no_subsegments_when_tracing_is_off(
    table_name: str, origin: OriginServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = origin.route("/t", "{}")
    assert _traced_invocation(url, monkeypatch, tracing=False) == []
