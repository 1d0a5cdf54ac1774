"""Never worse than no cache: every cache failure is a miss or an uncached response, bounded
in time, and a dead table is skipped by the circuit breaker."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from lambda_http_cache.breaker import CircuitBreaker
from requests_cache.backends.dynamodb import DynamoDbDict
from requests_cache.models.response import CachedResponse

from scripts.local_servers import (
    DynamoDbProxy,
    MotoServer,
    OriginServer,
    create_cache_table,
    dynamodb_client,
)
from tests.helpers import cached_session, scan_all

FAST = Config(connect_timeout=0.3, read_timeout=0.3, retries={"total_max_attempts": 1})


def test_server_stopped_mid_run_then_restarted(
    origin: OriginServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = MotoServer().start()
    try:
        create_cache_table(dynamodb_client(server.endpoint), "t")
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", server.endpoint)
        breaker = CircuitBreaker(threshold=3, cooldown=0.5)
        session = cached_session("t", config=FAST, breaker=breaker, memory_cache_bytes=0)
        url = origin.route("/r", '{"a": 1}')
        assert [session.get(url).from_cache for _ in range(2)] == [False, True]

        server.stop()
        answers = [session.get(url) for _ in range(5)]
        assert all(r.status_code == 200 and r.content == b'{"a": 1}' for r in answers)
        assert not any(r.from_cache for r in answers)
        assert breaker.is_open
        assert session.cache.stats["errors"] == 3
        assert session.cache.stats["bypassed"] >= 5

        server = MotoServer(port=server.port).start()  # moto starts empty
        create_cache_table(dynamodb_client(server.endpoint), "t")
        time.sleep(0.6)  # the cool-down passes
        assert [session.get(url).from_cache for _ in range(2)] == [False, True]
        assert not breaker.is_open
    finally:
        server.stop()


class SilentListener:
    """Accepts TCP connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[SilentListener]:
    listener = SilentListener()
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{listener.port}")
    yield listener
    listener.close()


def test_an_endpoint_that_never_answers_costs_a_bounded_delay(
    silent_endpoint: SilentListener, origin: OriginServer
) -> None:
    origin.delay = 0.05
    url = origin.route("/slow-table", '{"a": 1}')
    session = cached_session("t", config=FAST, memory_cache_bytes=0)
    # Documented bound while the breaker is closed: a GetItem and a PutItem, each at most
    # one read timeout (0.3 s here), on top of the origin's time.
    bound = 2 * 0.3 + 0.05
    for _ in range(2):  # GetItem, PutItem, GetItem: three failures open the breaker
        started = time.perf_counter()
        assert session.get(url).content == b'{"a": 1}'
        assert time.perf_counter() - started < bound + 0.25
    assert session.cache.breaker.is_open
    connections = len(silent_endpoint.accepted)
    started = time.perf_counter()
    assert session.get(url).content == b'{"a": 1}'
    elapsed = time.perf_counter() - started
    assert len(silent_endpoint.accepted) == connections  # the table was not touched
    assert elapsed < 0.05 + 0.1  # the origin's time plus a little


@pytest.mark.parametrize(
    "fault",
    [
        (400, "ProvisionedThroughputExceededException"),
        (400, "ThrottlingException"),
        (400, "AccessDeniedException"),
        (400, "ResourceNotFoundException"),
        (500, "InternalServerError"),
        (503, "ServiceUnavailable"),
        b"<html>",
        b'{"Item": "x"}',
        b'{"Item": {"key": {"S": 5}}}',
        b'{"Item": {"key": {"B": "!!!notbase64"}}}',
    ],
    ids=str,
)
def test_error_answers_are_misses(
    table_name: str, origin: OriginServer, proxy: DynamoDbProxy, fault: Any
) -> None:
    url = origin.route("/e", '{"a": 1}')
    session = cached_session(table_name, memory_cache_bytes=0)
    proxy.fault = lambda operation: fault
    for _ in range(2):
        response = session.get(url)
        assert response.status_code == 200
        assert response.content == b'{"a": 1}'
        assert not response.from_cache
    assert origin.hits["/e"] == 2
    if isinstance(fault, tuple):  # GetItem, PutItem, GetItem fail; then the breaker opens
        assert session.cache.stats["errors"] == 3
        assert session.cache.breaker.is_open
    proxy.fault = None


def test_missing_table_is_a_miss(
    origin: OriginServer, proxy: DynamoDbProxy, monkeypatch: Any
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.endpoint)
    url = origin.route("/m", "{}")
    session = cached_session("no_such_table")
    assert [session.get(url).status_code for _ in range(2)] == [200, 200]


def test_write_failure_still_returns_the_response(
    table_name: str, origin: OriginServer, proxy: DynamoDbProxy
) -> None:
    url = origin.route("/w", '{"w": 1}')
    session = cached_session(table_name, memory_cache_bytes=0)
    proxy.fault = lambda operation: (
        (400, "AccessDeniedException") if operation == "PutItem" else None
    )
    response = session.get(url)
    assert response.json() == {"w": 1}
    assert session.cache.stats["errors"] == 2  # the first fill's claim, then the write


def test_large_compressible_response_is_compressed_and_served_from_the_table(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    body = json.dumps([{"id": i, "name": f"item {i}", "price": i * 0.5} for i in range(12_000)])
    assert len(body) > 600_000
    url = origin.route("/big.json", body)
    first = cached_session(table_name).get(url)
    second = cached_session(table_name).get(url)  # a new container: from DynamoDB
    assert first.text == body
    assert second.from_cache
    assert second.content == body.encode()
    (item,) = scan_all(ddb, table_name)
    assert item["body_encoding"] == {"S": "zlib"}
    assert len(item["body"]["B"]) < 400 * 1024


def test_large_incompressible_response_is_served_not_cached_and_counted(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    body = os.urandom(600_000)
    url = origin.route("/big.bin", body, {"Content-Type": "application/octet-stream"})
    session = cached_session(table_name)
    responses = [session.get(url) for _ in range(2)]
    assert all(r.content == body and not r.from_cache for r in responses)
    assert session.cache.stats["oversize"] == 2
    assert session.cache.stats["errors"] == 0
    # Nothing of the response: only the mark that sends the key's callers straight to the
    # origin (hit-for-miss).
    assert [item["kind"]["S"] for item in scan_all(ddb, table_name)] == ["uncacheable"]


def _valid_item(session: Any, url: str) -> tuple[str, dict[str, Any]]:
    from requests import Request

    key = session.cache.create_key(Request("GET", url).prepare())
    table_key = session.cache.responses.table_key(key)
    return table_key, {"key": {"S": table_key}}


def _corrupt_items(table_key: str, good: dict[str, Any]) -> dict[str, dict[str, Any]]:
    compressed = zlib.compress(b'{"a": 1}' * 500)
    zlib_item = {**good, "body_encoding": {"S": "zlib"}, "body_size": {"N": "4000"}}
    return {
        "missing attributes": {k: v for k, v in good.items() if k not in ("status", "headers")},
        "mistyped status": {**good, "status": {"S": "two hundred"}},
        "mistyped headers": {**good, "headers": {"S": "Content-Type: text/plain"}},
        "mistyped body": {**good, "body": {"S": "not bytes"}},
        "truncated compressed body": {
            **zlib_item,
            "body": {"B": compressed[: len(compressed) // 2]},
        },
        "garbled compressed body": {**zlib_item, "body": {"B": os.urandom(200)}},
        "wrong body size": {**good, "body_size": {"N": "3"}},
        "newer format": {**good, "v": {"N": "2"}},
        "unknown kind": {**good, "kind": {"S": "thing"}},
        "bad time": {**good, "created": {"S": "yesterday"}},
        "redirect without target": {
            "key": {"S": table_key},
            "v": {"N": "1"},
            "kind": {"S": "redirect"},
        },
        "only a key": {"key": {"S": table_key}},
    }


CORRUPTIONS = list(_corrupt_items("k", {}).keys())


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_corrupt_items_are_misses_and_are_repaired(
    table_name: str, origin: OriginServer, ddb: Any, corruption: str
) -> None:
    url = origin.route("/c", '{"a": 1}')
    cached_session(table_name).get(url)
    (good,) = scan_all(ddb, table_name)
    table_key = good["key"]["S"]
    ddb.put_item(TableName=table_name, Item=_corrupt_items(table_key, good)[corruption])

    session = cached_session(table_name)
    response = session.get(url)
    assert response.status_code == 200 and response.content == b'{"a": 1}'
    assert not response.from_cache
    if corruption != "redirect without target":  # the decorator's session follows no alias
        assert session.cache.stats["unreadable"] + session.cache.stats["errors"] >= 1
    # the next response overwrote it: a new container hits
    assert cached_session(table_name).get(url).from_cache


def test_an_item_written_by_requests_cache_itself_is_a_miss_and_repaired(
    table_name: str, origin: OriginServer, proxy: DynamoDbProxy
) -> None:
    url = origin.route("/rc", '{"a": 1}')
    session = cached_session(table_name)
    original = session.get(url)
    # requests-cache's own DynamoDB storage writes its item under our key
    foreign = DynamoDbDict(table_name, create_table=False, ttl=False, endpoint_url=proxy.endpoint)
    table_key = session.cache.responses.table_key(original.cache_key)
    foreign[table_key] = CachedResponse.from_response(original)

    fresh = cached_session(table_name)
    response = fresh.get(url)
    assert response.content == b'{"a": 1}' and not response.from_cache
    assert fresh.cache.stats["unreadable"] == 1
    assert cached_session(table_name).get(url).from_cache


def test_threads_share_one_session(table_name: str, origin: OriginServer) -> None:
    bodies = _routes(origin, 20)
    session = cached_session(table_name)
    errors: list[BaseException] = []
    mismatches: list[str] = []

    def work(seed: int) -> None:
        try:
            mismatches.extend(_fetch_and_check(session, origin.url(""), bodies, 50, seed))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert mismatches == []
    assert session.cache.stats["errors"] == 0
    assert session.stats["hits"] + session.stats["misses"] == 400


def test_processes_share_the_table(table_name: str, origin: OriginServer) -> None:
    import concurrent.futures
    import multiprocessing

    bodies = _routes(origin, 20)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(4, mp_context=context) as pool:
        futures = [
            pool.submit(_process_worker, table_name, origin.url(""), bodies, seed)
            for seed in range(4)
        ]
        results = [future.result(timeout=120) for future in futures]
    assert all(mismatches == [] and errors == 0 for mismatches, errors in results)
    assert sum(origin.hits.values()) < 200  # the processes served each other


def _routes(origin: OriginServer, count: int) -> dict[str, str]:
    import hashlib

    bodies = {}
    for number in range(count):
        body = json.dumps({"n": number, "values": [number * 1.1] * (number * 50)})
        origin.route(f"/u/{number}", body)
        bodies[f"/u/{number}"] = hashlib.sha256(body.encode()).hexdigest()
    return bodies


def _fetch_and_check(
    session: Any, base: str, bodies: dict[str, str], count: int, seed: int
) -> list[str]:
    import hashlib
    import random

    rng = random.Random(seed)
    paths = sorted(bodies)
    mismatches = []
    for _ in range(count):
        path = rng.choice(paths)
        response = session.get(base + path)
        if (
            response.status_code != 200
            or hashlib.sha256(response.content).hexdigest() != bodies[path]
        ):
            mismatches.append(path)
    return mismatches


def _process_worker(
    table_name: str, base: str, bodies: dict[str, str], seed: int
) -> tuple[list[str], int]:
    session = cached_session(table_name)
    mismatches = _fetch_and_check(session, base, bodies, 50, seed)
    return mismatches, session.cache.stats["errors"]


def test_the_drop_in_backend_is_bounded_by_default(
    silent_endpoint: SilentListener, origin: OriginServer
) -> None:
    """Without a config, DynamoDbCache still uses 0.5 s timeouts and no retries (botocore's
    own defaults would stall a request for minutes)."""
    url = origin.route("/bounded", "{}")
    session = cached_session("t", memory_cache_bytes=0, config=None)
    started = time.perf_counter()
    assert session.get(url).status_code == 200
    assert time.perf_counter() - started < 2 * 0.5 + 0.5
    assert session.cache.stats["errors"] == 2


def test_large_bodies_go_to_s3_when_a_bucket_is_configured(
    table_name: str,
    origin: OriginServer,
    ddb: Any,
    proxy: DynamoDbProxy,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lambda_http_cache import cached_http, decorator

    monkeypatch.setattr(decorator, "_container_session", None)
    body = os.urandom(600_000)
    url = origin.route("/huge.bin", body, {"Content-Type": "application/octet-stream"})

    def handler(event: Any, context: Any, session: Any) -> Any:
        response = session.get(url)
        return response.from_cache, response.content

    first = cached_http(large_object_bucket=bucket, metrics=False)(handler)
    assert first({}, None) == (False, body)
    (item,) = scan_all(ddb, table_name)
    assert "body" not in item
    location = item["body_location"]["S"]
    assert location.startswith(f"s3://{bucket}/lambda-http-cache/")
    assert item["body_size"] == {"N": "600000"}
    assert "huge" not in location  # object keys are hashes, not URLs

    proxy.reset()
    second = cached_http(large_object_bucket=bucket, metrics=False, memory_cache_mb=0)(handler)
    assert second({}, None) == (True, body)  # a new container: GetItem + GetObject
    assert proxy.calls == {"GetItem": 1}


def test_an_item_whose_s3_body_is_gone_is_a_miss(
    table_name: str, origin: OriginServer, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from lambda_http_cache import cached_http, decorator

    monkeypatch.setattr(decorator, "_container_session", None)
    body = os.urandom(500_000)
    url = origin.route("/gone.bin", body, {"Content-Type": "application/octet-stream"})

    def handler(event: Any, context: Any, session: Any) -> Any:
        response = session.get(url)
        return response.from_cache, response.content == body

    settings = {"large_object_bucket": bucket, "metrics": False, "memory_cache_mb": 0}
    assert cached_http(**settings)(handler)({}, None) == (False, True)
    s3 = boto3.client("s3")
    for found in s3.list_objects_v2(Bucket=bucket)["Contents"]:
        s3.delete_object(Bucket=bucket, Key=found["Key"])
    assert cached_http(**settings)(handler)({}, None) == (False, True)


def test_items_with_an_s3_body_are_readable_entries_for_maintenance(
    table_name: str,
    origin: OriginServer,
    bucket: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Listing, filtering and the admin command read them as responses, not as corrupt."""
    from lambda_http_cache.__main__ import main
    from lambda_http_cache.large_objects import LargeObjectStore

    body = os.urandom(450_000)
    url = origin.route("/listed.bin", body, {"Content-Type": "application/octet-stream"})
    store = LargeObjectStore(boto3_s3(), bucket)
    session = cached_session(table_name, large_objects=store)
    session.get(url)
    assert [r.content == body for r in session.cache.responses.values()] == [True]
    assert [r.url for r in session.cache.filter()] == [url]

    capsys.readouterr()
    assert main(["--table", table_name, "--json", "--quiet", "stats"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["responses"], stats["unreadable"]) == (1, 0)

    monkeypatch.setenv("HTTP_CACHE_S3_BUCKET", bucket)
    assert main(["--table", table_name, "--json", "get", url]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == 200 and shown["body_size"] == 450_000


def boto3_s3() -> Any:
    import boto3

    return boto3.client("s3")
