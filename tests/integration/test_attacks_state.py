"""Attacks on the per-invocation state, on the bounds of what an origin can make the cache do,
and on what a hostile table item can make the session do.

Each test asserts the safe behaviour: nothing of one invocation reaches the next, no caller is
served (or sends) what was made for another, and no origin or item makes a request fail,
hang or take unbounded memory or time beyond what requests itself would."""

from __future__ import annotations

import itertools
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from lambda_http_cache import cached_http, decorator
from lambda_http_cache.item import iso_time
from lambda_http_cache.session import CachedHttpSession
from requests.adapters import HTTPAdapter

from scripts.local_servers import OriginServer, RawOrigin, Route, SeenRequest, canned
from tests.helpers import cached_session, echo, invoke, scan_all

CACHEABLE = {"Content-Type": "application/json", "Cache-Control": "max-age=600"}
PATIENT: dict[str, Any] = {"metrics": False, "connect_timeout": 10, "read_timeout": 10}
_paths = itertools.count(1)


@pytest.fixture(autouse=True)
def fresh_container(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is a new container: no session built yet."""
    monkeypatch.setattr(decorator, "_container_session", None)


# Per-invocation state ---------------------------------------------------------------------


def test_state_is_reset_after_a_handler_that_raised(table_name: str, origin: OriginServer) -> None:
    """A handler changes headers, cookies and auth, then raises. The next invocation must
    still start from init's state."""
    url = echo(origin)

    @cached_http(**PATIENT)
    def handler(event: Any, context: Any, session: CachedHttpSession) -> Any:
        if event.get("spoil"):
            session.headers["X-Caller"] = "alice"
            session.cookies.set("sid", "alice-sid")
            session.auth = ("alice", "pw")
            raise RuntimeError("handler failed")
        return session.get(url).json()["headers"]

    with pytest.raises(RuntimeError):
        invoke(handler, {"spoil": True})
    headers = invoke(handler)
    assert "X-Caller" not in headers
    assert "Cookie" not in headers
    assert "Authorization" not in headers


class Tampering(HTTPAdapter):
    pass


def test_an_http_adapter_patched_in_place_survives_no_invocation(
    table_name: str, origin: OriginServer
) -> None:
    """A handler patches the ``send`` of the session's own HTTPAdapter object (to add a
    caller's header), rather than mounting a new adapter. The adapter object is kept across
    invocations (its pool is warm), so what was done to it must not go with the next
    invocation's requests."""
    url = echo(origin)

    @cached_http(**PATIENT)
    def handler(event: Any, context: Any, session: CachedHttpSession) -> Any:
        if event.get("patch"):
            adapter = session.get_adapter(url)
            original = adapter.send

            def send(request: Any, **kwargs: Any) -> Any:
                request.headers["X-Caller"] = "alice"
                return original(request, **kwargs)

            adapter.send = send  # type: ignore[method-assign]
            return None
        return session.get(url).json()["headers"].get("X-Caller")

    invoke(handler, {"patch": True})
    assert invoke(handler) is None, "the previous invocation's adapter change went with this one"


def test_a_response_shaped_by_a_patched_adapter_is_not_served_to_others(
    table_name: str, origin: OriginServer
) -> None:
    """A handler mounts requests' own HTTPAdapter class (so not an adapter the cache refuses)
    whose ``send`` it patches on the instance to change the answer for its caller. The
    answer is shaped by something the key cannot see: it must not be served to the next
    invocation, which uses the session as init left it."""
    url = origin.route("/catalog", '{"price": 10}', CACHEABLE)

    @cached_http(**PATIENT)
    def handler(event: Any, context: Any, session: CachedHttpSession) -> Any:
        if event.get("tamper"):
            adapter = HTTPAdapter()
            original = adapter.send

            def send(request: Any, **kwargs: Any) -> Any:
                response = original(request, **kwargs)
                response._content = b'{"price": 0}'
                return response

            adapter.send = send  # type: ignore[method-assign]
            session.mount(origin.url("/"), adapter)
        return session.get(url).json()["price"]

    assert invoke(handler, {"tamper": True}) == 0
    assert invoke(handler) == 10, "a caller's adapter shaped what the next caller is served"


def test_a_refresh_that_follows_a_redirect_setting_a_cookie_leaves_it_to_nobody(
    table_name: str, origin: OriginServer
) -> None:
    """A stale-while-revalidate entry is refreshed after the response; the origin now answers
    the refresh with a redirect that sets a cookie, to a page that sets another. Neither
    cookie may reach the invocation's jar (nor the next invocation's requests)."""
    answers = itertools.count(1)

    def swr(seen: SeenRequest) -> Route:
        if next(answers) == 1:
            headers = {**CACHEABLE, "Cache-Control": "max-age=1, stale-while-revalidate=60"}
            return Route(b'{"v": 1}', headers)
        return Route(
            b"",
            {"Location": "/landing", "Set-Cookie": "hop=1; Path=/", "Cache-Control": "no-store"},
            302,
        )

    origin.respond("/swr", swr)
    origin.route("/landing", "{}", {"Set-Cookie": "landed=1; Path=/", "Cache-Control": "no-store"})
    url = origin.url("/swr")
    whoami = echo(origin)

    @cached_http(**PATIENT)
    def handler(event: Any, context: Any, session: CachedHttpSession) -> Any:
        if event.get("stale"):
            session.get(url)
        if event.get("wait"):
            deadline = time.monotonic() + 10
            while session.stats["refreshes"] == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
        return dict(session.cookies), session.get(whoami).json()["headers"].get("Cookie")

    assert invoke(handler, {"stale": True}) == ({}, None)
    time.sleep(1.1)
    assert invoke(handler, {"stale": True, "wait": True}) == ({}, None)
    assert origin.hits["/landing"] >= 1
    assert invoke(handler) == ({}, None)


# Hostile origins ---------------------------------------------------------------------------


def outcome(call: Callable[[], requests.Response]) -> Any:
    """What the caller sees: the status and body, or the type of the error."""
    try:
        response = call()
        return response.status_code, response.content
    except Exception as error:
        return type(error).__name__


HOSTILE_RAW: dict[str, bytes] = {
    # A Content-Length longer than the body, then the connection closes.
    "/short": b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: 100\r\n"
    b"Connection: close\r\n\r\nonly-this",
    # Two different lengths.
    "/two-lengths": b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: 5\r\n"
    b"Content-Length: 7\r\nConnection: close\r\n\r\nabcdefg",
    # Not a number.
    "/nan-length": b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: abc\r\n"
    b"Connection: close\r\n\r\nabc",
    # Negative.
    "/negative-length": b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\n"
    b"Content-Length: -1\r\nConnection: close\r\n\r\nabc",
    # Declares gzip, sends garbage.
    "/bad-gzip": b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Encoding: gzip\r\n"
    b"Content-Length: 10\r\nConnection: close\r\n\r\n0123456789",
    # A chunk size that is not hex.
    "/bad-chunk": b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\n"
    b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    # A 204 with a body and a length.
    "/no-content": b"HTTP/1.1 204 No Content\r\nCache-Control: max-age=600\r\n"
    b"Content-Length: 5\r\nConnection: close\r\n\r\nabcde",
    # Header values not in any encoding.
    "/binary-headers": b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nX-Bin: \xff\xfe\x00\r\n"
    b"Vary: \xff\xfe\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    # An Expires and Date from out of range.
    "/odd-dates": b"HTTP/1.1 200 OK\r\nDate: Mon, 01 Jan 0001 00:00:00 GMT\r\n"
    b"Expires: Fri, 31 Dec 9999 23:59:59 GMT\r\nLast-Modified: Sat, 01 Jan 10000 00:00:00 GMT\r\n"
    b"ETag: \r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    # Age huge, max-age huge.
    "/huge-age": b"HTTP/1.1 200 OK\r\nAge: 99999999999999999999999999\r\n"
    b"Cache-Control: max-age=99999999999999999999999999999, s-maxage=1e400\r\n"
    b"Content-Length: 2\r\nConnection: close\r\n\r\nok",
}


@pytest.mark.parametrize("stream", [False, True], ids=["read", "stream"])
@pytest.mark.parametrize("path", list(HOSTILE_RAW))
def test_a_broken_answer_reaches_the_caller_as_without_a_cache(
    table_name: str, raw_origin: RawOrigin, path: str, stream: bool
) -> None:
    """An origin answers with broken framing, encodings or values. The caller must see what
    requests alone shows it (the same body, or the same error), twice in a row (the second
    time perhaps from the cache), and never an error of the cache's own."""
    raw_origin.answers[path] = canned(HOSTILE_RAW[path])
    url = raw_origin.url(path)
    plain = requests.Session()
    expected = outcome(lambda: plain.get(url, stream=stream, timeout=5))
    if stream and isinstance(expected, tuple):
        expected = outcome(lambda: plain.get(url, stream=True, timeout=5))
    session = cached_session(table_name)
    for _ in range(2):
        seen = outcome(lambda: session.get(url, stream=stream, timeout=5))
        assert seen == expected


HOSTILE_RAW.update(
    {
        # More header lines than http.client takes.
        "/many-headers": b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\n"
        + b"".join(b"X-H%d: v\r\n" % i for i in range(150))
        + b"Content-Length: 2\r\nConnection: close\r\n\r\nok",
        # One header line longer than http.client takes.
        "/long-header": b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nX-Long: "
        + b"a" * 70000
        + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    }
)


@pytest.mark.parametrize("path", ["/many-headers", "/long-header"])
def test_oversized_headers_reach_the_caller_as_without_a_cache(
    table_name: str, raw_origin: RawOrigin, path: str
) -> None:
    """Too many header lines, or one too long: the caller sees what requests alone shows."""
    raw_origin.answers[path] = canned(HOSTILE_RAW[path])
    url = raw_origin.url(path)
    expected = outcome(lambda: requests.Session().get(url, timeout=5))
    session = cached_session(table_name)
    for _ in range(2):
        assert outcome(lambda: session.get(url, timeout=5)) == expected


def test_a_vary_of_thousands_of_names_costs_bounded_time_and_memory(
    table_name: str, origin: OriginServer
) -> None:
    """A cacheable response whose Vary names 8,000 headers (48 KB, within one header line):
    storing it and serving it must stay fast, and the per-container memos bounded."""
    names = ",".join(f"h{i:05d}" for i in range(8000))
    url = origin.route("/vary", "{}", {**CACHEABLE, "Vary": names})
    session = cached_session(table_name)
    started = time.monotonic()
    answers = [session.get(url, headers={"h00001": f"v{i % 2}"}) for i in range(20)]
    elapsed = time.monotonic() - started
    assert all(a.status_code == 200 for a in answers)
    assert any(a.from_cache for a in answers)
    assert elapsed < 5.0, f"20 requests took {elapsed:.1f} s"
    assert session.cache._key_memo.size <= session.cache._key_memo.max_bytes


def redirect_chain(origin: OriginServer, hops: int, pad: int) -> str:
    """``/hop/0`` -> ``/hop/1`` -> ... -> ``/hop/<hops>`` (a page): 301s, cacheable, each
    Location with ``pad`` bytes of query."""
    padding = "p=" + "x" * pad
    for i in range(hops):
        origin.routes[f"/hop/{i}"] = Route(
            b"", {"Location": f"/hop/{i + 1}?{padding}", "Cache-Control": "max-age=600"}, 301
        )
    origin.routes[f"/hop/{hops}"] = Route(b'{"end": true}', CACHEABLE)
    return origin.url("/hop/0")


def test_a_redirect_chain_past_the_limit_fails_as_without_a_cache(
    table_name: str, origin: OriginServer
) -> None:
    """35 hops, each Location 8 KB long: requests gives up after 30 with TooManyRedirects;
    the cache must do the same, from the origin and from its stored hops, in bounded time."""
    url = redirect_chain(origin, 35, 8000)
    with pytest.raises(requests.TooManyRedirects):
        requests.Session().get(url, timeout=5)
    session = cached_session(table_name)
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(requests.TooManyRedirects):
            session.get(url, timeout=5)
        assert time.monotonic() - started < 5.0


def test_a_long_redirect_chain_is_served_from_its_stored_hops(
    table_name: str, origin: OriginServer
) -> None:
    """30 hops (the limit), each Location 8 KB: served the same from the cache as from the
    origin, the caller's history included."""
    url = redirect_chain(origin, 30, 8000)
    session = cached_session(table_name)
    first = session.get(url, timeout=5)
    hits = sum(origin.hits.values())
    again = cached_session(table_name).get(url, timeout=5)
    assert again.json() == first.json() == {"end": True}
    assert [h.url for h in again.history] == [h.url for h in first.history]
    assert sum(origin.hits.values()) == hits


def test_a_gzip_bomb_read_by_requests_is_not_stored_and_reaches_the_caller(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    """stream=False: requests itself inflates a 24 MB gzip bomb (its own cost). The cache,
    bounded at 1 MB, must not store it, must give the caller every byte, and must not add
    more than a few MB to what requests alone holds."""
    import gzip

    size = 24 * 1024 * 1024
    origin.routes["/bomb"] = Route(
        gzip.compress(b"\0" * size), {**CACHEABLE, "Content-Encoding": "gzip"}
    )
    url = origin.url("/bomb")

    def peak(call: Callable[[], requests.Response]) -> tuple[int, int]:
        tracemalloc.start()
        try:
            length = len(call().content)
            return length, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    plain_length, plain_peak = peak(lambda: requests.Session().get(url, timeout=10))
    session = cached_session(table_name, max_body_bytes=1024 * 1024)
    length, cached_peak = peak(lambda: session.get(url, timeout=10))
    assert length == plain_length == size
    assert cached_peak < plain_peak + 4 * 1024 * 1024
    assert not [i for i in scan_all(ddb, table_name) if i["kind"]["S"] == "response"]


# Hostile table items ---------------------------------------------------------------------


def stored_item(ddb: Any, table_name: str, path: str) -> dict[str, Any]:
    """The one response item whose URL ends with ``path``."""
    found = [
        item
        for item in scan_all(ddb, table_name)
        if item["kind"]["S"] == "response" and item["url"]["S"].endswith(path)
    ]
    assert len(found) == 1, found
    return found[0]


def test_a_stored_request_url_that_lies_does_not_carry_credentials_to_another_host(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    """A caller sends ``Authorization`` to api (one origin); its stored, cacheable redirect
    points to another origin, so requests drops the credential on the way. A writer of the
    table then changes the stored item's request URL (and URL) to say the request was made
    to that other origin. Served the item, requests' redirect logic compares the other
    origin with itself and keeps the credential: the caller's Authorization must still never
    reach the other origin."""
    with OriginServer() as evil:
        elsewhere = echo(evil, "/steal")
        origin.routes["/api"] = Route(
            b"", {"Location": elsewhere, "Cache-Control": "max-age=600"}, 302
        )
        url = origin.url("/api")
        credential = {"Authorization": "Bearer alice-token"}
        first = cached_session(table_name).get(url, headers=credential, timeout=5)
        assert "Authorization" not in first.json()["headers"]
        item = stored_item(ddb, table_name, "/api")
        lie = evil.url("/api")
        item["url"] = {"S": lie}
        item["request"]["M"]["url"] = {"S": lie}
        ddb.put_item(TableName=table_name, Item=item)
        again = cached_session(table_name).get(url, headers=credential, timeout=5)
        assert again.history and again.history[0].from_cache
        assert "Authorization" not in again.json()["headers"], (
            "the caller's credential was sent to another origin"
        )


def bomb_alias(
    ddb: Any, session: CachedHttpSession, table_name: str, url: str, hops: int, headers: int
) -> None:
    """Under the key of a GET of ``url``: an alias (no credential partition, like the key)
    to a response item with ``hops`` redirect hops and ``headers`` stored request headers."""
    prepared = session.prepare_request(requests.Request("GET", url))
    key = session.cache.create_key(prepared, follow_redirects=False)
    prefix = session.cache.responses.prefix
    now = datetime.now(UTC)
    later = iso_time(now + timedelta(hours=1))
    hop = {
        "M": {
            "method": {"S": "GET"},
            "url": {"S": url},
            "status": {"N": "301"},
            "reason": {"S": ""},
            "headers": {"M": {}},
        }
    }
    ddb.put_item(
        TableName=table_name,
        Item={
            "key": {"S": prefix + "bomb"},
            "v": {"N": "1"},
            "kind": {"S": "response"},
            "namespace": {"S": prefix[:-1]},
            "method": {"S": "GET"},
            "url": {"S": url},
            "status": {"N": "200"},
            "reason": {"S": "OK"},
            "headers": {"M": {"Content-Type": {"S": "text/plain"}}},
            "created": {"S": iso_time(now)},
            "expires": {"S": later},
            "elapsed": {"N": "0.01"},
            "body_size": {"N": "2"},
            "body_encoding": {"S": "identity"},
            "body": {"B": b"ok"},
            "request": {
                "M": {
                    "method": {"S": "GET"},
                    "url": {"S": url},
                    "headers": {"M": {f"h{i}": {"S": ""} for i in range(headers)}},
                }
            },
            "history": {"L": [hop] * hops},
        },
    )
    ddb.put_item(
        TableName=table_name,
        Item={
            "key": {"S": prefix + key},
            "v": {"N": "1"},
            "kind": {"S": "redirect"},
            "namespace": {"S": prefix[:-1]},
            "target": {"S": "bomb"},
            "hop": {"N": "0"},
            "expires": {"S": later},
        },
    )


def test_an_item_of_many_hops_and_request_headers_costs_bounded_memory(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    """A writer of the table puts, under the key of a plain GET, a redirect alias to a
    response item (90 KB, far under DynamoDB's 400 KB) with 1,000 redirect hops and 1,000
    stored request headers. Each hop of the served history gets a copy of the request
    headers: serving it must still cost memory bounded like any other decode (a few MB), not
    hops times headers."""
    url = origin.route("/plain", "fresh", {"Content-Type": "text/plain"})
    session = cached_session(table_name, memory_cache_bytes=0)
    bomb_alias(ddb, session, table_name, url, hops=1000, headers=1000)
    tracemalloc.start()
    started = time.monotonic()
    try:
        response = session.get(url, timeout=5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert peak < 32 * 1024 * 1024, f"one request took {peak / 2**20:.0f} MB ({elapsed:.1f} s)"


def test_a_lease_item_under_a_response_key_is_a_miss_and_overwritten(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    """A writer of the table puts a lease item (or a lease-looking item with a far future
    end) under a response's own key: a miss, and the next response replaces it."""
    url = origin.route("/leased", '{"v": 1}', CACHEABLE)
    session = cached_session(table_name, memory_cache_bytes=0)
    assert session.get(url).from_cache is False
    item = stored_item(ddb, table_name, "/leased")
    now = datetime.now(UTC).timestamp()
    ddb.put_item(
        TableName=table_name,
        Item={
            "key": item["key"],
            "v": {"N": "1"},
            "kind": {"S": "lease"},
            "namespace": item["namespace"],
            "holder": {"S": "someone"},
            "since": {"N": str(now)},
            "until": {"N": str(now + 30)},
        },
    )
    first = session.get(url)
    assert (first.from_cache, first.json()) == (False, {"v": 1})
    assert session.get(url).from_cache is True


def test_an_alias_cannot_reach_another_namespace(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    """Namespace ``a`` stores a response; a writer puts, under namespace ``b``'s key of the
    same request, aliases whose targets try to name ``a``'s item (its table key, a path
    back, an empty prefix). ``b`` must never be served ``a``'s response."""
    url = origin.route("/ns", '{"owner": "a"}', CACHEABLE)
    a = cached_session(table_name, namespace="a")
    assert a.get(url).json() == {"owner": "a"}
    a_item = stored_item(ddb, table_name, "/ns")
    a_key = a_item["key"]["S"]
    b = cached_session(table_name, namespace="b", memory_cache_bytes=0)
    prepared = b.prepare_request(requests.Request("GET", url))
    b_key = b.cache.create_key(prepared, follow_redirects=False)
    origin.routes["/ns"] = Route(b'{"owner": "b"}', CACHEABLE)
    bare = a_key.removeprefix("a:")
    for target in (a_key, "../" + a_key, ":" + bare, "\x00a:" + bare, "a:" + bare):
        ddb.put_item(
            TableName=table_name,
            Item={
                "key": {"S": "b:" + b_key},
                "v": {"N": "1"},
                "kind": {"S": "redirect"},
                "namespace": {"S": "b"},
                "target": {"S": target},
                "hop": {"N": "0"},
            },
        )
        answer = b.get(url)
        assert answer.json() == {"owner": "b"}, target


# Session settings replaced wholesale ---------------------------------------------------------


def test_headers_replaced_by_a_non_mapping_are_undone(
    table_name: str, origin: OriginServer
) -> None:
    """A handler replaces ``session.headers``, ``params``, ``proxies`` and ``hooks`` with
    None or a list; the next invocation must start from init's state and work."""
    url = echo(origin)

    @cached_http(**PATIENT)
    def handler(event: Any, context: Any, session: CachedHttpSession) -> Any:
        if event.get("spoil"):
            session.headers = [("X-Caller", "alice")]  # type: ignore[assignment]
            session.params = None  # type: ignore[assignment]
            session.proxies = None  # type: ignore[assignment]
            session.hooks = None  # type: ignore[assignment]
            return None
        return session.get(url).json()["headers"]

    init = invoke(handler)
    invoke(handler, {"spoil": True})
    assert invoke(handler) == init
