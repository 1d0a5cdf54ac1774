"""stale-while-revalidate that completes in Lambda: the stale entry is served at once and the
refresh runs after the handler has returned, before the cache's internal extension asks
Lambda for the next event (exercised against a local stand-in for the Extensions API)."""

from __future__ import annotations

import itertools
import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
from lambda_http_cache import cached_http, decorator
from lambda_http_cache.after_response import AfterResponse

from scripts.local_servers import OriginServer, Route, SeenRequest
from tests.helpers import cached_session


class ExtensionsApi:
    """Lambda's Extensions API as an internal extension sees it: register, then ``next``
    calls that each block until the test sends an event. Counts the ``next`` calls, each of
    which tells Lambda the extension is done with the previous invocation."""

    def __init__(self) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.registered: list[dict[str, Any]] = []
        self.next_calls = 0
        self.called = threading.Condition()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                api.registered.append(
                    {"name": self.headers["Lambda-Extension-Name"], **json.loads(body)}
                )
                self.send_response(200)
                self.send_header("Lambda-Extension-Identifier", "ext-1")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def do_GET(self) -> None:
                assert self.headers["Lambda-Extension-Identifier"] == "ext-1"
                with api.called:
                    api.next_calls += 1
                    api.called.notify_all()
                payload = json.dumps(api.events.get()).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, request_id: str) -> None:
        deadline = int((time.time() + 60) * 1000)
        self.events.put({"eventType": "INVOKE", "requestId": request_id, "deadlineMs": deadline})

    def wait_for_next_call(self, count: int) -> bool:
        with self.called:
            return self.called.wait_for(lambda: self.next_calls >= count, 10)

    def stop(self) -> None:
        self.events.put({"eventType": "SHUTDOWN"})
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def extensions_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ExtensionsApi]:
    api = ExtensionsApi()
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", api.address)
    monkeypatch.setattr(decorator, "_container_session", None)
    yield api
    api.stop()


def counted(origin: OriginServer, path: str, cache_control: str, delay: float = 0.0) -> str:
    answers = itertools.count(1)

    def respond(seen: SeenRequest) -> Route:
        time.sleep(delay)
        body = json.dumps({"answer": next(answers)}).encode()
        return Route(body, {"Content-Type": "application/json", "Cache-Control": cache_control})

    return origin.respond(path, respond)


def test_a_stale_entry_is_served_and_refreshed_after_the_response(
    table_name: str, origin: OriginServer, extensions_api: ExtensionsApi
) -> None:
    url = counted(origin, "/swr", "max-age=1, stale-while-revalidate=60", delay=0.2)
    seen: list[tuple[bool, int, int]] = []

    @cached_http(metrics=False)
    def handler(event: Any, context: Any, session: Any) -> None:
        response = session.get(url)
        seen.append((response.from_cache, response.json()["answer"], origin.hits["/swr"]))

    assert extensions_api.registered == [{"name": "lambda-http-cache", "events": ["INVOKE"]}]
    assert extensions_api.wait_for_next_call(1)  # init is over
    for number, pause in enumerate((0.0, 1.1, 0.0), start=1):
        time.sleep(pause)
        request_id = f"request-{number}"
        extensions_api.invoke(request_id)
        handler({}, SimpleNamespace(aws_request_id=request_id))
        # Lambda ends the invocation once the extension asks for the next event.
        assert extensions_api.wait_for_next_call(number + 1)
        if number == 2:
            # the stale answer went out before the origin was called again...
            assert seen[-1] == (True, 1, 1)
            # ...and the refresh was done before the invocation ended
            assert origin.hits["/swr"] == 2
    assert seen[2] == (True, 2, 2)


def test_outside_lambda_the_refresh_runs_on_a_thread(table_name: str, origin: OriginServer) -> None:
    url = counted(origin, "/thread", "max-age=1, stale-while-revalidate=60")
    session = cached_session(table_name, cache_control=True)
    assert not session.after_response.deferred
    session.get(url)
    time.sleep(1.1)
    stale = session.get(url)
    assert stale.from_cache and stale.json() == {"answer": 1}
    deadline = time.monotonic() + 5
    while session.cache.stats["refreshes"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert session.cache.stats["refreshes"] == 1
    assert session.get(url).json() == {"answer": 2}


def test_a_refresh_for_a_streaming_caller_is_stored(table_name: str, origin: OriginServer) -> None:
    """A streamed answer is never stored; the refresh of a stale entry served to a streaming
    caller reads its own answer whole, so the entry is refreshed all the same."""
    url = counted(origin, "/streamed", "max-age=1, stale-while-revalidate=60")
    session = cached_session(table_name, cache_control=True)
    session.get(url)
    time.sleep(1.1)
    stale = session.get(url, stream=True)
    assert stale.from_cache and stale.json() == {"answer": 1}
    deadline = time.monotonic() + 5
    while session.cache.stats["refreshes"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    fresh = cached_session(table_name, cache_control=True).get(url, stream=True)
    assert fresh.from_cache and fresh.json() == {"answer": 2}


@pytest.mark.parametrize(
    ("cache_control", "settings", "stale"),
    [
        ("max-age=1, stale-while-revalidate=60", {}, True),
        ("max-age=1, stale-while-revalidate=60", {"stale_while_revalidate": False}, False),
        ("max-age=1, stale-while-revalidate=60, must-revalidate", {}, False),
        ("max-age=1", {}, False),
        ("max-age=1", {"stale_window": 60}, True),  # the configured default window
        ("max-age=1, stale-while-revalidate=0", {"stale_window": 60}, False),
    ],
)
def test_when_a_stale_entry_may_be_served(
    table_name: str, origin: OriginServer, cache_control: str, settings: Any, stale: bool
) -> None:
    url = counted(origin, "/when", cache_control)
    session = cached_session(table_name, cache_control=True, **settings)
    session.get(url)
    time.sleep(1.1)
    response = session.get(url)
    assert (response.from_cache, response.json()["answer"] == 1) == (stale, stale)


def test_only_the_lease_winner_refreshes(table_name: str, origin: OriginServer) -> None:
    url = counted(origin, "/one-refresh", "max-age=1, stale-while-revalidate=60", delay=0.3)
    cached_session(table_name, cache_control=True).get(url)
    time.sleep(1.1)
    containers = [cached_session(table_name, cache_control=True) for _ in range(3)]
    assert all(c.get(url).from_cache for c in containers)
    time.sleep(1.0)
    assert origin.hits["/one-refresh"] == 2
    assert sum(c.cache.stats["refreshes"] for c in containers) == 1
    assert sum(c.cache.stats["leases_lost"] for c in containers) == 2


def test_work_waits_for_its_own_invocation() -> None:
    runner = AfterResponse()
    runner.extension = object()  # type: ignore[assignment]  # as when registered
    done: list[str] = []
    runner.submit(lambda: done.append("refresh"))
    runner.invocation_finished("request-0")  # another invocation's end releases nothing
    started = time.monotonic()
    assert runner.drain("request-1", timeout=0.05) == 1  # the handler never said it returned
    assert time.monotonic() - started >= 0.05  # so the whole wait went by first
    runner.submit(lambda: done.append("again"))
    runner.invocation_finished("request-2")
    started = time.monotonic()
    assert runner.drain("request-2", timeout=5) == 1
    assert time.monotonic() - started < 1  # its handler had returned: no wait
    assert done == ["refresh", "again"]


def test_early_refresh_refreshes_a_fresh_entry_before_it_expires(
    table_name: str, origin: OriginServer
) -> None:
    """With an enormous beta every hit refreshes early; with none, a fresh hit never does."""
    url = counted(origin, "/early", "max-age=600")
    never = cached_session(table_name, cache_control=True)
    never.get(url)
    assert never.get(url).from_cache and origin.hits["/early"] == 1
    eager = cached_session(table_name, cache_control=True, early_refresh=1e12)
    hit = eager.get(url)
    assert hit.from_cache and hit.json() == {"answer": 1}  # served fresh, refresh after
    deadline = time.monotonic() + 5
    while eager.cache.stats["refreshes"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert origin.hits["/early"] == 2
    assert cached_session(table_name, cache_control=True).get(url).json() == {"answer": 2}


def test_the_early_refresh_rule() -> None:
    from datetime import UTC, datetime, timedelta

    from lambda_http_cache.coordination import refresh_early
    from requests_cache.models.response import CachedResponse

    soon = CachedResponse(expires=datetime.now(UTC) + timedelta(seconds=0.001))
    soon.elapsed = timedelta(seconds=1)
    later = CachedResponse(expires=datetime.now(UTC) + timedelta(days=1))
    later.elapsed = timedelta(seconds=0.01)
    assert sum(refresh_early(soon, 1.0) for _ in range(200)) > 150
    assert sum(refresh_early(later, 1.0) for _ in range(200)) == 0
    assert not refresh_early(soon, 0.0)


def test_a_container_asks_for_a_lease_once_per_lease_period(
    table_name: str, origin: OriginServer, proxy: Any
) -> None:
    """Stale entries served again while this container's refresh is under way cost no more
    lease writes (nor their latency)."""
    url = counted(origin, "/asked-once", "max-age=1, stale-while-revalidate=60", delay=0.5)
    session = cached_session(table_name, cache_control=True, memory_cache_bytes=0)
    session.get(url)
    time.sleep(1.1)
    proxy.reset()
    served = [session.get(url) for _ in range(3)]  # while the refresh waits for the origin
    assert all(r.from_cache and r.json() == {"answer": 1} for r in served)
    lease_writes = [
        body
        for operation, body in proxy.requests
        if operation == "PutItem" and body["Item"]["key"]["S"].endswith("~lease")
    ]
    assert len(lease_writes) == 1


def test_early_refresh_alone_also_runs_its_refreshes_in_the_extension(
    table_name: str, extensions_api: ExtensionsApi
) -> None:
    @cached_http(metrics=False, stale_while_revalidate=False, early_refresh=1)
    def handler(event: Any, context: Any, session: Any) -> None:
        pass

    assert extensions_api.registered == [{"name": "lambda-http-cache", "events": ["INVOKE"]}]
    assert decorator.get_session().after_response.deferred


def test_on_managed_instances_refreshes_run_on_threads_without_a_warning(
    table_name: str,
    origin: OriginServer,
    extensions_api: ExtensionsApi,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Lambda Managed Instances set AWS_LAMBDA_MAX_CONCURRENCY and never freeze the
    environment: no extension is registered (Lambda would refuse it), and nothing is warned."""
    monkeypatch.setenv("AWS_LAMBDA_MAX_CONCURRENCY", "4")
    url = counted(origin, "/lmi", "max-age=1, stale-while-revalidate=60")

    @cached_http(metrics=False)
    def handler(event: Any, context: Any, session: Any) -> Any:
        return session.get(url)

    assert extensions_api.registered == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    handler({}, SimpleNamespace(aws_request_id="request-1"))
    time.sleep(1.1)
    assert handler({}, SimpleNamespace(aws_request_id="request-2")).from_cache  # stale, served
    deadline = time.monotonic() + 10
    while origin.hits["/lmi"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert origin.hits["/lmi"] == 2  # refreshed on a thread


def queued_after_response(session: Any) -> Any:
    """Makes ``session`` queue its after-response work, as the extension does, so that a test
    sees what the request did before it; returns a function that runs what was queued."""
    runner = session.after_response
    runner.extension = object()  # as when registered: work waits for the invocation's end

    def run() -> int:
        runner.invocation_finished(None)
        done: int = runner.drain(None, timeout=5)
        return done

    return run


def test_a_stale_entry_held_in_memory_is_served_without_a_table_call(
    table_name: str, origin: OriginServer, proxy: Any
) -> None:
    """A stale-while-revalidate serve answers from the memory tier at once, as a fresh memory
    hit does: the lease, the check that the entry is still the one seen stale, the origin
    call and the write all come after the response."""
    url = counted(origin, "/held", "max-age=1, stale-while-revalidate=60")
    session = cached_session(table_name, cache_control=True)
    session.get(url)
    time.sleep(1.1)
    run_queued = queued_after_response(session)
    proxy.reset()
    served = [session.get(url) for _ in range(3)]
    assert [(r.from_cache, r.json()) for r in served] == [(True, {"answer": 1})] * 3
    assert proxy.count() == 0 and origin.hits["/held"] == 1
    assert session.cache.stats["stale_served"] == 3
    assert run_queued() == 1  # one refresh queued: the other serves knew it was under way
    lease_writes = [
        body
        for operation, body in proxy.requests
        if operation == "PutItem" and body["Item"]["key"]["S"].endswith("~lease")
    ]
    consistent_reads = [
        body
        for operation, body in proxy.requests
        if operation == "GetItem" and body["ConsistentRead"]
    ]
    assert len(lease_writes) == 1 and len(consistent_reads) == 1
    assert origin.hits["/held"] == 2
    proxy.reset()
    assert session.get(url).json() == {"answer": 2}  # the refresh is in the memory tier too
    assert proxy.count() == 0


def test_a_refresh_another_container_made_is_not_made_again_from_memory(
    table_name: str, origin: OriginServer
) -> None:
    """Container A still holds the stale entry in its memory tier when container B has
    refreshed it: A serves its copy (within the window) but makes no origin call for it."""
    url = counted(origin, "/replaced", "max-age=1, stale-while-revalidate=60")
    a = cached_session(table_name, cache_control=True)
    a.get(url)
    time.sleep(1.1)
    b = cached_session(table_name, cache_control=True)
    assert b.get(url).json() == {"answer": 1}  # stale; B refreshes it on a thread
    deadline = time.monotonic() + 5
    while b.cache.stats["refreshes"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert origin.hits["/replaced"] == 2
    run_queued = queued_after_response(a)
    assert a.get(url).json() == {"answer": 1}  # its memory tier's copy, still in the window
    run_queued()
    assert origin.hits["/replaced"] == 2
    assert a.cache.stats["refreshes"] == 0


def test_without_a_stale_window_a_stale_memory_entry_is_read_again_from_the_table(
    table_name: str, origin: OriginServer, proxy: Any
) -> None:
    """The memory tier's stale copy is only for a stale serve: an entry that must be
    revalidated or fetched again is looked up in the table, where another container's newer
    answer would be."""
    url = counted(origin, "/plain", "max-age=1")
    session = cached_session(table_name, cache_control=True)
    session.get(url)
    time.sleep(1.1)
    proxy.reset()
    assert session.get(url).json() == {"answer": 2}
    assert proxy.requests[0][0] == "GetItem" and proxy.requests[0][1]["ConsistentRead"] is False
