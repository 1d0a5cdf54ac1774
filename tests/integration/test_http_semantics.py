"""The HTTP rules of a shared cache (RFC 9111, RFC 5861), against the local DynamoDB server:
s-maxage, Age, heuristic freshness and standards mode, Vary, never-stale directives,
invalidation after unsafe methods across containers, and cached redirects."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests
from lambda_http_cache.config import CacheConfig
from lambda_http_cache.session import build_session
from requests_cache.models.response import CachedResponse

from scripts.local_servers import DynamoDbProxy, OriginServer, Route, SeenRequest
from tests.helpers import cached_session, scan_all, stored_responses


def container(table: str, **settings: Any) -> Any:
    """A new container's session with the decorator's defaults (Cache-Control honoured)."""
    settings.setdefault("cache_control", True)
    settings.setdefault("key_secret", "test-key-secret-0123456789")
    return cached_session(table, **settings)


def counted(headers: dict[str, str], status: int = 200) -> Any:
    """A responder whose body counts the origin's answers, so a hit shows an old count."""
    answers = itertools.count(1)

    def respond(seen: SeenRequest) -> Route:
        body = json.dumps({"answer": next(answers)}).encode()
        return Route(body, {"Content-Type": "application/json", **headers}, status)

    return respond


def http_date(offset_seconds: float = 0) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=offset_seconds), usegmt=True)


def answers(session: Any, url: str, times: int = 2, **kwargs: Any) -> list[int]:
    return [session.get(url, **kwargs).json()["answer"] for _ in range(times)]


# Freshness ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cache_control", "fresh"),
    [
        ("max-age=600, s-maxage=0", False),  # s-maxage wins for a shared cache
        ("s-maxage=0, max-age=600", False),
        ("max-age=0, s-maxage=600", True),
        ("max-age=600, s-maxage=abc", False),  # invalid: stale
    ],
)
def test_s_maxage_wins_over_max_age(
    table_name: str, origin: OriginServer, cache_control: str, fresh: bool
) -> None:
    url = origin.respond("/s", counted({"Cache-Control": cache_control}))
    assert answers(container(table_name), url) == ([1, 1] if fresh else [1, 2])


@pytest.mark.parametrize(
    ("headers", "fresh"),
    [
        ({"Cache-Control": "max-age=60", "Age": "100"}, False),
        ({"Cache-Control": "max-age=60", "Age": "30"}, True),
        # RFC 9111, 5.1: of a list, the first member counts; an invalid value is ignored.
        ({"Cache-Control": "max-age=60", "Age": "100, 1"}, False),
        ({"Cache-Control": "max-age=60", "Age": "0, 100"}, True),
        ({"Cache-Control": "max-age=60", "Age": "abc"}, True),
        ({"Cache-Control": "max-age=60", "Age": "-5"}, True),
        ({"Cache-Control": "max-age=60", "Age": "1.5"}, True),
        # numbers: HTTP dates that many seconds from when the test runs
        ({"Cache-Control": "max-age=60", "Date": -100}, False),
        ({"Expires": 60, "Date": -100}, True),  # Expires - Date = 160 s
        ({"Expires": -40, "Date": -100}, False),  # 60 s of lifetime, 100 s old
        ({"Expires": 50, "Date": -10}, True),
        ({"Expires": 60, "Date": 100}, False),  # Expires before Date
    ],
)
def test_age_and_date_count_in_freshness(
    table_name: str, origin: OriginServer, headers: dict[str, str | int], fresh: bool
) -> None:
    sent = {k: http_date(v) if isinstance(v, int) else v for k, v in headers.items()}
    url = origin.respond("/age", counted(sent))
    assert answers(container(table_name), url) == ([1, 1] if fresh else [1, 2])


def test_hits_carry_their_current_age(table_name: str, origin: OriginServer) -> None:
    """The origin says nothing of age, but its Date is 100 s old: every hit says so."""
    url = origin.route("/aged", "{}", {"Cache-Control": "max-age=600", "Date": http_date(-100)})
    assert "Age" not in container(table_name).get(url).headers  # a miss: the origin's headers
    for session in (container(table_name), container(table_name, memory_cache_bytes=0)):
        hit = session.get(url)
        assert hit.from_cache and 100 <= int(hit.headers["Age"]) <= 103


def test_the_heuristic_applies_only_without_explicit_freshness(
    table_name: str, origin: OriginServer
) -> None:
    """The default heuristic (expire_after) caches responses that state no freshness;
    standards mode caches nothing but what the origin states."""
    silent = origin.respond("/silent", counted({}))
    explicit = origin.respond("/explicit", counted({"Cache-Control": "max-age=600"}))
    validated = origin.respond("/validated", counted({"ETag": '"v1"'}))
    assert answers(container(table_name), silent) == [1, 1]
    standards = container(table_name, namespace="standards", heuristic=False)
    assert answers(standards, silent) == [2, 3]
    assert answers(standards, explicit) == [1, 1]
    assert answers(standards, validated) == [1, 2]  # stored stale, revalidated (no 304 here)
    items = scan_all(standards.cache.table.client, table_name)
    assert sum(item["kind"]["S"] == "response" for item in items) == 3


def test_standards_mode_is_one_setting(table_name: str, origin: OriginServer) -> None:
    url = origin.respond("/mode", counted({}))
    session = build_session(CacheConfig.from_environment({"HTTP_CACHE_TABLE": table_name}))
    strict = build_session(
        CacheConfig.from_environment(
            {"HTTP_CACHE_TABLE": table_name, "HTTP_CACHE_STANDARDS_MODE": "true"},
            namespace="strict",
        )
    )
    assert answers(session, url) == [1, 1]
    assert answers(strict, url) == [2, 3]


def test_a_fresh_must_revalidate_response_is_served_without_revalidation(
    table_name: str, origin: OriginServer
) -> None:
    url = origin.respond("/mr", counted({"Cache-Control": "max-age=600, must-revalidate"}))
    assert answers(container(table_name), url) == [1, 1]


# Never stale ------------------------------------------------------------------------------------


@pytest.mark.parametrize("directive", ["must-revalidate", "proxy-revalidate", "s-maxage=1"])
def test_never_stale_directives_beat_stale_if_error(
    table_name: str, origin: OriginServer, directive: str
) -> None:
    """A stale response the origin marked so is not served when the origin fails: its 503
    reaches the caller (and never as an exception)."""
    stale = {"Cache-Control": f"max-age=1, {directive}", "Age": "5", "ETag": '"v1"'}
    url = origin.respond("/ns", counted(stale))
    session = container(table_name, stale_if_error=True)
    assert session.get(url).json() == {"answer": 1}
    origin.route("/ns", '{"down": true}', {"Content-Type": "application/json"}, status=503)
    response = session.get(url)
    assert (response.status_code, response.from_cache) == (503, False)


def test_stale_if_error_serves_a_plain_stale_response(
    table_name: str, origin: OriginServer
) -> None:
    stale = {"Cache-Control": "max-age=1", "Age": "5", "ETag": '"v1"'}
    url = origin.respond("/sie", counted(stale))
    session = container(table_name, stale_if_error=True)
    session.get(url)
    origin.route("/sie", "{}", {"Content-Type": "application/json"}, status=503)
    response = session.get(url)
    assert response.from_cache and response.json() == {"answer": 1}
    plain = container(table_name, stale_if_error=False)
    assert plain.get(url).status_code == 503  # returned, not raised


# Vary -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("vary", ["*", "Accept, *", "*, Accept", " * "])
def test_vary_star_is_never_stored(
    table_name: str, origin: OriginServer, ddb: Any, vary: str
) -> None:
    url = origin.respond("/star", counted({"Vary": vary, "Cache-Control": "max-age=600"}))
    assert answers(container(table_name), url) == [1, 2]
    assert stored_responses(ddb, table_name) == []


def test_credentials_and_vary_work_together(table_name: str, origin: OriginServer) -> None:
    """Four GETs with an API key to an origin that varies on Accept-Encoding: one origin call
    (the stored request keeps its credential fingerprint for the Vary check)."""
    url = origin.respond("/keyed", counted({"Vary": "Accept-Encoding"}))
    headers = {"X-API-Key": "key-0123456789"}
    assert answers(container(table_name), url, headers=headers) == [1, 1]
    assert answers(container(table_name, memory_cache_bytes=0), url, headers=headers) == [1, 1]
    assert origin.hits["/keyed"] == 1
    other = container(table_name).get(url, headers={"X-API-Key": "key-other-00000"})
    assert other.json() == {"answer": 2}


# Invalidation -----------------------------------------------------------------------------------


def test_a_successful_unsafe_request_invalidates_the_url_in_every_container(
    table_name: str, origin: OriginServer, proxy: DynamoDbProxy
) -> None:
    """Container A reads, container B changes the resource, container C (and A once its
    memory copy is due for a table read) reads the new state."""
    state = {"version": 1}

    def resource(seen: SeenRequest) -> Route:
        if seen.method in ("PUT", "POST", "DELETE", "PATCH"):
            state["version"] += 1
            return Route(b"", {}, 204)
        body = json.dumps(state).encode()
        return Route(body, {"Content-Type": "application/json", "Cache-Control": "max-age=600"})

    url = origin.respond("/items/1", resource)
    a = container(table_name, memory_max_age=0)
    assert a.get(url).json() == {"version": 1}
    assert a.get(url).from_cache
    for number, method in enumerate(("PUT", "POST", "PATCH", "DELETE"), start=2):
        changed = container(table_name).request(method, url)
        assert changed.status_code == 204
        c = container(table_name)
        assert (c.get(url).from_cache, c.get(url).from_cache) == (False, True)
        assert a.get(url).json() == {"version": number}  # C's new copy, from the table


def test_invalidation_reaches_location_and_content_location_on_the_same_origin(
    table_name: str, origin: OriginServer
) -> None:
    cacheable = {"Content-Type": "application/json", "Cache-Control": "max-age=600"}
    for path in ("/orders/7", "/orders/7/summary", "/elsewhere"):
        origin.respond(path, counted(cacheable))
    origin.route(
        "/orders",
        b"",
        {
            "Location": "/orders/7",
            "Content-Location": "/orders/7/summary",
            "Link": "</elsewhere>",
        },
        status=201,
    )
    session = container(table_name, memory_max_age=0)
    paths = ("/orders/7", "/orders/7/summary", "/elsewhere")
    assert [answers(session, origin.url(p)) for p in paths] == [[1, 1]] * 3
    session.post(origin.url("/orders"), json={"item": "book"})
    assert [answers(session, origin.url(p)) for p in paths] == [[2, 2], [2, 2], [1, 1]]


def test_no_invalidation_after_a_failed_unsafe_request_or_another_origin(
    table_name: str, origin: OriginServer
) -> None:
    cacheable = {"Content-Type": "application/json", "Cache-Control": "max-age=600"}
    url = origin.respond("/kept", counted(cacheable))
    origin.route("/fails", b"", {"Location": "/kept"}, status=500)
    origin.route("/away", b"", {"Location": "http://localhost:1/kept"}, status=303)
    session = container(table_name, memory_max_age=0)
    assert answers(session, url) == [1, 1]
    assert session.post(origin.url("/fails")).status_code == 500
    session.post(origin.url("/away"), allow_redirects=False)
    assert answers(session, url) == [1, 1]


def test_an_older_response_never_replaces_a_newer_one_or_a_tombstone(
    table_name: str, origin: OriginServer
) -> None:
    """A response fetched before an invalidation (or before another container's fresher
    copy) and written after it is refused."""
    url = origin.respond("/race", counted({"Cache-Control": "max-age=600"}))
    session = container(table_name, memory_cache_bytes=0)
    old = session.get(url)
    key = session.cache.create_key(requests.Request("GET", url).prepare())
    slow = CachedResponse.from_response(old)
    slow.created_at = datetime.now(UTC) - timedelta(seconds=30)
    session.cache.invalidate(requests.Request("DELETE", url).prepare(), old)
    assert session.cache.store(key, slow) is None
    assert answers(session, url) == [2, 2]
    assert session.cache.store(key, slow) is None  # older than answer 2 as well
    assert session.get(url).json() == {"answer": 2}


# Redirects --------------------------------------------------------------------------------------


def test_a_cached_redirect_keeps_its_next_request(table_name: str, origin: OriginServer) -> None:
    origin.route("/moved", b"", {"Location": "/new-home", "Cache-Control": "max-age=600"}, 301)
    session = container(table_name, allowable_codes=(200, 301))
    first = session.get(origin.url("/moved"), allow_redirects=False)
    hit = container(table_name, allowable_codes=(200, 301)).get(
        origin.url("/moved"), allow_redirects=False
    )
    assert hit.from_cache and hit.status_code == 301
    assert first.next is not None and hit.next is not None
    assert (hit.next.method, hit.next.url) == (first.next.method, first.next.url)


# Standards mode, conditional requests, 304 updates, hop-by-hop fields --------------------------


def test_standards_mode_stores_any_final_status_with_explicit_freshness(
    table_name: str, origin: OriginServer
) -> None:
    session = build_session(
        CacheConfig.from_environment(
            {"HTTP_CACHE_TABLE": table_name, "HTTP_CACHE_STANDARDS_MODE": "true"},
            namespace="strict",
            metrics=False,
        )
    )
    for status in (301, 404, 410, 500, 299, 499, 599):
        url = origin.respond(f"/status/{status}", counted({"Cache-Control": "max-age=600"}, status))
        assert answers(session, url) == [1, 1]
    # must-understand: stored only with a status this cache understands, and then even with
    # no-store (RFC 9111, 5.2.2.3).
    unknown = origin.respond(
        "/status/u599", counted({"Cache-Control": "max-age=600, no-store, must-understand"}, 599)
    )
    assert answers(session, unknown) == [1, 2]
    known = origin.respond(
        "/status/u200", counted({"Cache-Control": "max-age=600, no-store, must-understand"}, 200)
    )
    assert answers(session, known) == [1, 1]
    # No stated freshness: a tenth of the time since Last-Modified (here a day: 2.4 hours).
    modified = origin.respond(
        "/status/lm",
        counted({"Last-Modified": http_date(-86400)}, 200),
    )
    assert answers(session, modified) == [1, 1]
    unmodified = origin.respond("/status/none", counted({}, 200))
    assert answers(session, unmodified) == [1, 2]
    defaults = build_session(
        CacheConfig.from_environment({"HTTP_CACHE_TABLE": table_name}, metrics=False)
    )
    url = origin.respond("/status/default-404", counted({"Cache-Control": "max-age=600"}, 404))
    assert answers(defaults, url) == [1, 2]  # by default, only 200 is stored


@pytest.mark.parametrize(
    ("request_headers", "status"),
    [
        ({"If-None-Match": '"v1"'}, 304),
        ({"If-None-Match": 'W/"v1"'}, 304),  # weak comparison
        ({"If-None-Match": "v1"}, 304),  # unquoted
        ({"If-None-Match": '"v0", "v1"'}, 304),
        ({"If-None-Match": "*"}, 304),
        ({"If-None-Match": '"v2"'}, 200),
        ({"If-Modified-Since": http_date(0)}, 304),
        ({"If-Modified-Since": http_date(-7200)}, 200),
        ({"If-None-Match": '"v2"', "If-Modified-Since": http_date(0)}, 200),  # INM wins
    ],
)
def test_a_conditional_request_is_answered_from_a_fresh_stored_response(
    table_name: str, origin: OriginServer, request_headers: dict[str, str], status: int
) -> None:
    stored = {"Cache-Control": "max-age=600", "ETag": '"v1"', "Last-Modified": http_date(-3600)}
    url = origin.respond("/conditional", counted(stored))
    session = container(table_name)
    session.get(url)
    answer = session.get(url, headers=request_headers)
    assert (answer.status_code, answer.from_cache) == (status, True)
    assert origin.hits["/conditional"] == 1
    if status == 304:
        assert answer.content == b"" and answer.headers["ETag"] == '"v1"'


def test_a_304_updates_the_stored_headers_but_not_the_representations_own(
    table_name: str, origin: OriginServer
) -> None:
    stale = {"Cache-Control": "max-age=1", "Age": "5", "ETag": '"v1"', "X-Version": "1"}
    url = origin.respond("/revalidated", counted({**stale, "Content-Encoding": "identity"}))
    session = container(table_name)
    session.get(url)
    origin.route(
        "/revalidated",
        b"",
        {
            "Cache-Control": "max-age=600",
            "ETag": '"v2"',
            "Content-Encoding": "br",
            "X-Version": "2",
            "Connection": "X-Hop",
            "X-Hop": "1",
        },
        status=304,
    )
    again = session.get(url)
    assert (again.status_code, again.json()) == (200, {"answer": 1})
    hit = container(table_name).get(url)
    assert hit.from_cache and hit.headers["X-Version"] == "2"
    assert (hit.headers["ETag"], hit.headers["Content-Encoding"]) == ('"v1"', "identity")
    assert "X-Hop" not in hit.headers


def test_hop_by_hop_fields_are_not_stored(table_name: str, origin: OriginServer) -> None:
    headers = {"Cache-Control": "max-age=600", "Connection": "X-Private", "X-Private": "1"}
    url = origin.route("/hop-by-hop", "{}", {"Content-Type": "application/json", **headers})
    container(table_name).get(url)
    hit = container(table_name).get(url)
    assert hit.from_cache and "X-Private" not in hit.headers and "Connection" not in hit.headers
