"""The conformance harness (bench/conformance.py): its reverse proxy forwards requests and
answers faithfully, and its tables count the suite's results right. No npm, no network."""

from __future__ import annotations

import gzip
import http.client
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from bench import conformance
from bench.conformance import (
    CacheProxy,
    RunContext,
    answer_from_response,
    group_rows,
    kind_rows,
    markdown,
    other_rows,
    outcomes,
    parse_export,
    plain_client,
    summary_rows,
)
from scripts.local_servers import MotoServer, OriginServer, Route, free_port


def send(
    proxy: CacheProxy,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes | None = None,
    connection: http.client.HTTPConnection | None = None,
) -> tuple[int, list[tuple[str, str]], bytes]:
    """One request to the proxy, with exactly these header lines (http.client adds Host, and
    Content-Length for a body)."""
    conn = connection or http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    conn.putrequest(method, path, skip_accept_encoding=True)
    for name, value in headers:
        conn.putheader(name, value)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    response = conn.getresponse()
    answer = (response.status, response.getheaders(), response.read())
    if connection is None:
        conn.close()
    return answer


def values(headers: list[tuple[str, str]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in headers:
        found.setdefault(name.lower(), []).append(value)
    return found


SUITE_HEADERS = [("User-Agent", "suite/1"), ("Accept", "*/*"), ("Accept-Encoding", "gzip")]


@pytest.fixture(scope="module")
def origin() -> Iterator[OriginServer]:
    """One origin for the module (each test has paths of its own): stopping one takes 0.5 s."""
    with OriginServer() as server:
        yield server


# --- the proxy ---------------------------------------------------------------------------------


def test_proxy_forwards_method_path_query_headers_and_body(origin: OriginServer) -> None:
    origin.respond("/echo", lambda seen: Route(b"ok", {"Content-Type": "text/plain"}))
    with CacheProxy(plain_client(requests.Session()), origin.url("")) as proxy:
        status, _, body = send(
            proxy,
            "PUT",
            "/echo?a=1&b=two",
            [*SUITE_HEADERS, ("X-Test", "yes"), ("X-Multi", "one"), ("X-Multi", "two")],
            b"payload",
        )
    assert (status, body) == (200, b"ok")
    seen = origin.seen[-1]
    assert (seen.method, seen.path, seen.body) == ("PUT", "/echo?a=1&b=two", b"payload")
    received = {name.lower(): value for name, value in seen.headers.items()}
    assert received["x-test"] == "yes"
    assert received["x-multi"] == "one, two"
    assert received["host"] == f"127.0.0.1:{origin.port}"
    assert received["content-length"] == "7"
    # Nothing the suite did not send: no python-requests User-Agent, no Connection, no Cookie.
    assert received["user-agent"] == "suite/1"
    assert received["accept-encoding"] == "gzip"
    assert set(received) == {
        "host",
        "user-agent",
        "accept",
        "accept-encoding",
        "x-test",
        "x-multi",
        "content-length",
    }


def test_proxy_forwards_every_method(origin: OriginServer) -> None:
    origin.respond("/m", lambda seen: Route(seen.method.encode(), {"Content-Type": "text/plain"}))
    with CacheProxy(plain_client(requests.Session()), origin.url("")) as proxy:
        for method in ("GET", "POST", "DELETE", "PATCH"):
            status, _, body = send(
                proxy, method, "/m", SUITE_HEADERS, b"x" if method != "GET" else None
            )
            assert (status, body) == (200, method.encode())
    methods = [seen.method for seen in origin.seen if seen.path == "/m"]
    assert methods == ["GET", "POST", "DELETE", "PATCH"]


def test_proxy_answers_status_headers_and_body_as_the_client_returns_them(
    origin: OriginServer,
) -> None:
    date = "Mon, 01 Jan 2024 00:00:00 GMT"
    origin.route(
        "/thing",
        b"hello world",
        {
            "Content-Type": "text/plain",
            "Cache-Control": "max-age=60",
            "X-Custom": "v1",
            "Date": date,
        },
        status=203,
    )
    with CacheProxy(plain_client(requests.Session()), origin.url("")) as proxy:
        status, headers, body = send(proxy, "GET", "/thing", SUITE_HEADERS)
    assert status == 203
    assert body == b"hello world"
    got = values(headers)
    assert got["x-custom"] == ["v1"]
    assert got["cache-control"] == ["max-age=60"]
    # The origin's Date and Server, not the proxy's own.
    assert got["date"] == [date]
    assert len(got["server"]) == 1 and got["server"][0].startswith("BaseHTTP/")
    assert got["content-length"] == ["11"]
    assert "transfer-encoding" not in got


def test_head_answers_have_no_body_and_keep_their_length(origin: OriginServer) -> None:
    origin.route("/h", b"0123456789", {"Content-Type": "text/plain"})
    with CacheProxy(plain_client(requests.Session()), origin.url("")) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        status, headers, body = send(proxy, "HEAD", "/h", SUITE_HEADERS, connection=conn)
        # A body after the HEAD answer would be read as the start of this one.
        again = send(proxy, "GET", "/h", SUITE_HEADERS, connection=conn)
        conn.close()
    assert (status, body) == (200, b"")
    assert values(headers)["content-length"] == ["10"]
    assert (again[0], again[2]) == (200, b"0123456789")


def test_the_connection_stays_open_when_the_suite_keeps_it_alive(origin: OriginServer) -> None:
    # The origin's own Connection and Keep-Alive are passed on; the proxy must then keep the
    # connection open, as the client expects.
    origin.route("/k", b"k", {"Connection": "keep-alive", "Keep-Alive": "timeout=5"})
    with CacheProxy(plain_client(requests.Session()), origin.url("")) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        first = send(proxy, "GET", "/k", [*SUITE_HEADERS, ("Connection", "keep-alive")], None, conn)
        sock = conn.sock
        second = send(
            proxy, "GET", "/k", [*SUITE_HEADERS, ("Connection", "keep-alive")], None, conn
        )
        assert conn.sock is sock  # the same connection, not a reconnect
        conn.close()
    assert values(first[1])["keep-alive"] == ["timeout=5"]
    assert (first[2], second[2]) == (b"k", b"k")


def test_a_body_the_client_decoded_loses_its_content_encoding(origin: OriginServer) -> None:
    plain = b"x" * 1000
    origin.route("/z", gzip.compress(plain), {"Content-Encoding": "gzip", "Content-Type": "a/b"})
    origin.route("/u", b"raw", {"Content-Encoding": "ABCDEF", "Content-Type": "a/b"})
    with CacheProxy(plain_client(requests.Session()), origin.url("")) as proxy:
        status, headers, body = send(proxy, "GET", "/z", SUITE_HEADERS)
        unknown = send(proxy, "GET", "/u", SUITE_HEADERS)
    assert (status, body) == (200, plain)
    assert "content-encoding" not in values(headers)
    assert values(headers)["content-length"] == ["1000"]
    # A coding the client does not decode stays, with the body as it came.
    assert values(unknown[1])["content-encoding"] == ["ABCDEF"]
    assert unknown[2] == b"raw"


def test_an_origin_that_fails_is_a_502() -> None:
    with CacheProxy(plain_client(requests.Session()), f"http://127.0.0.1:{free_port()}") as proxy:
        status, headers, body = send(proxy, "GET", "/x", SUITE_HEADERS)
    assert values(headers)["content-type"] == ["text/plain"]
    assert status == 502
    assert body == b"proxy: ConnectionError"
    assert proxy.errors == {"ConnectionError": 1}


def test_the_client_keeps_no_cookies(origin: OriginServer) -> None:
    origin.route("/c", b"c", {"Set-Cookie": "a=b; Path=/"})
    with CacheProxy(plain_client(requests.Session()), origin.url("")) as proxy:
        _, headers, _ = send(proxy, "GET", "/c", SUITE_HEADERS)
        send(proxy, "GET", "/c", SUITE_HEADERS)
    assert values(headers)["set-cookie"] == ["a=b; Path=/"]
    assert "Cookie" not in origin.seen[-1].headers
    assert "cookie" not in {name.lower() for name in origin.seen[-1].headers}


def test_requests_go_through_the_cache(origin: OriginServer) -> None:
    origin.route("/cached", b"once", {"Cache-Control": "max-age=60"})
    session, settings = conformance.requests_cache_session(RunContext(""))
    with CacheProxy(session, origin.url("")) as proxy:
        first = send(proxy, "GET", "/cached", SUITE_HEADERS)
        second = send(proxy, "GET", "/cached", SUITE_HEADERS)
    assert first[2] == second[2] == b"once"
    assert origin.hits["/cached"] == 1
    assert settings == {"backend": "memory", "cache_control": True, "expire_after": 0}


def test_this_projects_session_is_built_on_a_fresh_table(
    origin: OriginServer, moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_server.endpoint)
    origin.route("/ours", b"stored", {"Cache-Control": "max-age=60"})
    context = RunContext(moto_server.endpoint)
    build = conformance.ours(conformance.standards_settings)
    session, settings = build(context)
    other, other_settings = build(context)
    tables = {s["environment"]["HTTP_CACHE_TABLE"] for s in (settings, other_settings)}
    assert len(tables) == 2
    assert settings["metrics"] is False
    assert session.headers == {}
    with CacheProxy(session, origin.url("")) as proxy:
        first = send(proxy, "GET", "/ours", SUITE_HEADERS)
        second = send(proxy, "GET", "/ours", SUITE_HEADERS)
    assert first[2] == second[2] == b"stored"
    assert origin.hits["/ours"] == 1
    assert "age" in values(second[1])  # this project's hits carry their Age
    assert session.stats["errors"] == 0
    session.close()
    other.close()


def test_standards_mode_when_the_library_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import lambda_http_cache.config

    @dataclass(frozen=True)
    class WithIt:
        standards_mode: bool = False

    @dataclass(frozen=True)
    class Without:
        expire_after: int = 300

    monkeypatch.setattr(lambda_http_cache.config, "CacheConfig", WithIt)
    assert conformance.standards_settings() == {"standards_mode": True}
    monkeypatch.setattr(lambda_http_cache.config, "CacheConfig", Without)
    assert conformance.standards_settings() == {"expire_after": 0}


def test_answer_to_a_304_has_no_body_and_keeps_its_headers() -> None:
    response = requests.Response()
    response.status_code = 304
    response.reason = "Not Modified"
    response.headers = CaseInsensitiveDict(
        {"ETag": '"a"', "Content-Length": "42", "Transfer-Encoding": "chunked"}
    )
    response._content = b""
    answer = answer_from_response(response, "GET")
    assert (answer.status, answer.reason, answer.body) == (304, "Not Modified", b"")
    assert answer.headers == [("ETag", '"a"'), ("Content-Length", "42")]


# --- the results ---------------------------------------------------------------------------------

# A few tests as the suite exports them, and results as its command-line client prints them.
EXPORT: list[dict[str, Any]] = [
    {
        "id": "cc-freshness",
        "name": "Cache-Control Freshness",
        "tests": [
            {
                "id": "fresh",
                "name": "An optimal HTTP cache reuses a fresh response",
                "kind": "optimal",
            },
            {
                "id": "stale",
                "name": "HTTP cache must not reuse a stale response",
                "kind": "required",
                "depends_on": ["fresh"],
            },
            {"id": "check-1", "name": "Does HTTP cache ...?", "kind": "check"},
            {"id": "setup", "name": "HTTP cache must store it"},  # no kind: required
            {"id": "retry", "name": "HTTP cache must not retry", "kind": "required"},
            {"id": "fetch", "name": "HTTP cache must answer", "kind": "required"},
            {
                "id": "private-only",
                "name": "An optimal private HTTP cache reuses a `private` response",
                "kind": "optimal",
                "browser_only": True,
            },
        ],
    },
    {
        "id": "auth",
        "name": "Storing Respones to Authenticated Requests",
        "tests": [
            {
                "id": "shared-must",
                "name": "HTTP shared cache must not reuse a response to `Authorization`",
                "kind": "required",
                "browser_skip": True,
            },
            {
                # Not run against browsers, but not a shared-cache test.
                "id": "conditional",
                "name": "An optimal HTTP cache responds to `If-None-Match` with a `304`",
                "kind": "optimal",
                "browser_skip": True,
            },
        ],
    },
    {
        "id": "surrogate-control",
        "name": "Surrogate-Control",
        "tests": [
            {
                "id": "surrogate-opt",
                "name": "An optimal surrogate cache reuses a response",
                "kind": "optimal",
                "browser_skip": True,
            }
        ],
    },
]
RESULTS_A: dict[str, Any] = {
    "fresh": ["Assertion", "Response 2 does not come from cache"],
    "stale": True,  # but its dependency failed
    "check-1": True,
    "setup": ["Setup", "Response 2 does not come from cache"],
    "retry": ["Setup", "retry"],
    "fetch": ["FetchError", "request to http://127.0.0.1/test/x failed"],
    "shared-must": True,
    "conditional": ["Assertion", "Response 2 status is 200, not 304"],
    "surrogate-opt": True,
}
RESULTS_B: dict[str, Any] = {test: True for test in RESULTS_A}
TESTS = parse_export(EXPORT)
BY_CACHE = {"a": outcomes(TESTS, RESULTS_A), "b": outcomes(TESTS, RESULTS_B)}
LABELS = {"a": "cache A", "b": "cache B"}


def test_tests_are_read_with_their_kind_group_and_scope() -> None:
    by_id = {test.id: test for test in TESTS}
    assert by_id["setup"].kind == "required"
    assert by_id["stale"].depends_on == ("fresh",)
    assert by_id["stale"].group == "cc-freshness"
    assert by_id["private-only"].browser_only
    assert {test.id for test in TESTS if test.shared} == {"shared-must", "surrogate-opt"}


def test_outcomes_follow_the_suites_own_rules() -> None:
    assert BY_CACHE["a"] == {
        "fresh": "fail",
        "stale": "dependency failed",
        "check-1": "pass",
        "setup": "setup failed",
        "retry": "retried",
        "fetch": "harness error",
        "private-only": "not run",
        "shared-must": "pass",
        "conditional": "fail",
        "surrogate-opt": "pass",
    }
    assert set(BY_CACHE["b"].values()) == {"pass", "not run"}
    assert BY_CACHE["b"]["private-only"] == "not run"


def test_summary_counts_required_and_optimal_of_the_tests_run() -> None:
    assert summary_rows(TESTS, BY_CACHE, LABELS) == [
        ["cache A", "**2** of 8", "1 of 5", "1 of 3", "1 of 1", "2 of 2"],
        ["cache B", "**8** of 8", "5 of 5", "3 of 3", "1 of 1", "2 of 2"],
    ]


def test_kinds_are_counted_with_shared_cache_tests_apart() -> None:
    assert kind_rows(TESTS, BY_CACHE) == [
        ["any cache", "required", "4", "0 / 0 / 4", "4 / 0 / 0"],
        ["any cache", "optimal", "2", "0 / 2 / 0", "2 / 0 / 0"],
        ["any cache", "check", "1", "1 / 0 / 0", "1 / 0 / 0"],
        ["shared caches only", "required", "1", "1 / 0 / 0", "1 / 0 / 0"],
        ["shared caches only", "optimal", "1", "1 / 0 / 0", "1 / 0 / 0"],
        ["private (browser) caches only", "not run", "1", "", ""],
    ]


def test_groups_and_other_outcomes_are_counted() -> None:
    assert group_rows(TESTS, BY_CACHE) == [
        ["Cache-Control Freshness (`cc-freshness`)", "5", "0 / 1 / 4", "5 / 0 / 0"],
        ["Storing Respones to Authenticated Requests (`auth`)", "2", "1 / 1 / 0", "2 / 0 / 0"],
        ["Surrogate-Control (`surrogate-control`)", "1", "1 / 0 / 0", "1 / 0 / 0"],
    ]
    assert other_rows(TESTS, BY_CACHE, LABELS) == [
        ["cache A", "1", "1", "1", "1", "0"],
        ["cache B", "0", "0", "0", "0", "0"],
    ]


def test_the_markdown_holds_the_tables_the_machine_and_the_runs() -> None:
    runs = {
        "a": {
            "label": "cache A",
            "description": "A's setup",
            "settings": {"x": 1},
            "seconds": 12.0,
        },
        "b": {"label": "cache B", "description": "B's", "settings": None, "error": "it broke"},
    }
    facts = {
        "suite": "http-cache-tests",
        "suite_version": "0.4.5",
        "date": "2026-01-02T03:04:05+00:00",
        "nproc": 2,
        "cpu": "a CPU",
        "python": "3.11.7",
        "node": "v20.0.0",
        "system": "Linux 6",
        "git_commit": "abc1234",
        "versions": {"requests-cache": "1.3.3", "hishel": None},
    }
    text = markdown(TESTS, BY_CACHE, runs, facts)
    assert "| cache A | **2** of 8 | 1 of 5 | 1 of 3 | 1 of 1 | 2 of 2 |" in text
    assert "| any cache | required | 4 | 0 / 0 / 4 | 4 / 0 / 0 |" in text
    assert "| Surrogate-Control (`surrogate-control`) | 1 | 1 / 0 / 0 | 1 / 0 / 0 |" in text
    assert "http-cache-tests 0.4.5 (npm), run 2026-01-02 on 2 CPUs" in text
    assert "Python 3.11.7" in text and "requests-cache 1.3.3" in text and "hishel" not in text
    assert '- **cache A** (`a`): A\'s setup; settings `{"x": 1}`; 12 s.' in text
    assert "**The run failed**: it broke" in text
    assert "Of the suite's 10 tests, its command-line client runs 9" in text


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_the_suites_client_is_run_with_the_base_url(tmp_path: Path) -> None:
    # A stand-in for the suite's cli.mjs: it prints what npm would have told it.
    (tmp_path / "cli.mjs").write_text(
        "console.log(JSON.stringify({base: process.env.npm_config_base,"
        " id: process.env.npm_package_config_id}))\n"
    )
    assert conformance.run_suite(tmp_path, "http://127.0.0.1:1") == {
        "base": "http://127.0.0.1:1",
        "id": "",
    }
    (tmp_path / "cli.mjs").write_text("console.error('broken')\n")
    with pytest.raises(RuntimeError, match="broken"):
        conformance.run_suite(tmp_path, "http://127.0.0.1:1")


def test_a_cache_that_cannot_be_built_is_recorded_not_raised(tmp_path: Path) -> None:
    def broken(context: RunContext) -> Any:
        raise ImportError("no such package")

    cache = conformance.Cache("x", "cache X", "X's setup", broken)
    results, record = conformance.run_cache(
        cache, RunContext(""), "http://127.0.0.1:1", tmp_path, 5
    )
    assert results == {}
    assert record["error"] == "could not build the client: ImportError('no such package')"
    assert outcomes(TESTS, results)["fresh"] == "not run"
