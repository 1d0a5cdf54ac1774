"""The cache core's decisions (core/rules.py), rule by rule, with no server and no clock: each
test gives the request, the stored response and the time, and reads the plan."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lambda_http_cache.core.expiration import DO_NOT_CACHE, EXPIRE_IMMEDIATELY, NEVER_EXPIRE
from lambda_http_cache.core.fields import cache_control
from lambda_http_cache.core.rules import (
    FINAL_STATUSES,
    Plan,
    forbids_storing,
    freshened_headers,
    invalidates,
    redirect_expires,
    satisfies_conditions,
)
from lambda_http_cache.core.settings import CacheSettings
from lambda_http_cache.core.sharing import refusal
from requests.structures import CaseInsensitiveDict

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


URL = "https://api.example/items"


def plan(
    headers: dict[str, str] | None = None,
    *,
    method: str = "GET",
    url: str = URL,
    heuristic: bool = True,
    stale_window: int = 0,
    **settings: Any,
) -> Plan:
    return Plan.for_request(
        "key",
        method,
        url,
        CaseInsensitiveDict(headers or {}),
        CacheSettings(**settings),
        NOW,
        heuristic=heuristic,
        stale_window=stale_window,
    )


def stored(expires_in: float | None, status: int = 200, **headers: str) -> Any:
    """A stored response that expires ``expires_in`` seconds from NOW (None: never)."""
    return SimpleNamespace(
        status_code=status,
        headers=CaseInsensitiveDict({k.replace("_", "-"): v for k, v in headers.items()}),
        expires=None if expires_in is None else NOW + timedelta(seconds=expires_in),
    )


def decision(p: Plan) -> str:
    if p.error_504:
        return "504"
    if p.resend_async:
        return "serve stale, refresh after"
    if p.resend_request:
        return "revalidate" if p.validation_headers else "refetch"
    if p.send_request:
        return "fetch"
    return "serve"


# Reading the cache -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "settings", "skip"),
    [
        ({}, {}, False),
        ({"Cache-Control": "no-cache"}, {}, True),
        ({"Cache-Control": "no-store"}, {}, True),
        ({"X-ACTUAL-NO-CACHE": "true"}, {}, True),
        ({}, {"disabled": True}, True),
        ({}, {"expire_after": DO_NOT_CACHE}, True),
    ],
)
def test_what_skips_the_read(headers: dict[str, str], settings: dict[str, Any], skip: bool) -> None:
    assert plan(headers, **settings).skip_read is skip


def test_a_method_the_cache_does_not_handle_skips_it_unless_overridden() -> None:
    assert plan(method="POST").skip_read
    assert not plan({"X-HTTP-Method-Override": "GET"}, method="POST").skip_read
    assert not plan(method="POST", allowable_methods=("GET", "POST")).skip_read


def test_expiry_precedence_request_then_url_pattern_then_session() -> None:
    patterns = {"api.example/items": 60}
    assert plan(expire_after=10).expire_after == 10
    assert plan(expire_after=10, urls_expire_after=patterns).expire_after == 60
    assert plan({"Cache-Control": "max-age=5"}, urls_expire_after=patterns).expire_after == 5
    assert plan(urls_expire_after={re.compile(r"/other$"): 1}, expire_after=7).expire_after == 7
    assert plan({"Cache-Control": "max-age=-1"}).expires is None  # requests-cache's "never"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (None, "fetch"),
        (stored(60), "serve"),
        (stored(None), "serve"),
        (stored(-1), "refetch"),
        (stored(-1, ETag='"v1"'), "revalidate"),
        (stored(-1, Last_Modified="Wed, 21 Oct 2015 07:28:00 GMT"), "revalidate"),
        # must-revalidate matters only once stale: a fresh one is served as it is.
        (stored(60, Cache_Control="must-revalidate", ETag='"v1"'), "serve"),
    ],
)
def test_fresh_is_served_stale_is_revalidated_or_refetched(entry: Any, expected: str) -> None:
    p = plan()
    p.read(entry)
    assert decision(p) == expected


def test_revalidation_sends_the_stored_validators() -> None:
    p = plan()
    p.read(stored(-1, ETag='"v1"', Last_Modified="Wed, 21 Oct 2015 07:28:00 GMT"))
    headers: dict[str, str] = {}
    p.update_request(headers)
    assert headers == {
        "If-None-Match": '"v1"',
        "If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 GMT",
    }


def test_a_variant_vary_does_not_select_is_absent() -> None:
    p = plan()
    p.read(stored(60, ETag='"v1"'), vary_matches=False)
    assert decision(p) == "fetch"
    assert p.validation_headers == {}  # nothing of another's variant is sent


def test_no_cache_in_a_stored_response_revalidates_even_when_fresh_with_cache_control() -> None:
    p = plan(cache_control=True)
    p.read(stored(60, Cache_Control="no-cache", ETag='"v1"'))
    assert decision(p) == "revalidate"
    p = plan(cache_control=False)
    p.read(stored(60, Cache_Control="no-cache", ETag='"v1"'))
    assert decision(p) == "serve"


def test_refresh_and_always_revalidate_revalidate_a_fresh_response() -> None:
    for p in (plan({"Cache-Control": "must-revalidate"}), plan(always_revalidate=True)):
        p.read(stored(60, ETag='"v1"'))
        assert decision(p) == "revalidate"


def test_only_if_cached() -> None:
    p = plan({"Cache-Control": "only-if-cached"})
    p.read(None)
    assert decision(p) == "504"
    p = plan({"Cache-Control": "only-if-cached"})
    p.read(stored(60))
    assert decision(p) == "serve"
    p = plan({"Cache-Control": "only-if-cached"})
    p.read(stored(-10))
    assert decision(p) == "504"
    p = plan({"Cache-Control": "only-if-cached"}, stale_if_error=True)
    p.read(stored(-10, ETag='"v1"'))
    assert decision(p) == "serve"  # stale, but usable on error: served, never revalidated


def test_max_stale_and_min_fresh() -> None:
    p = plan({"Cache-Control": "max-stale=30"})
    p.read(stored(-10))
    assert decision(p) == "serve"
    p = plan({"Cache-Control": "max-stale=5"})
    p.read(stored(-10))
    assert decision(p) == "refetch"
    p = plan({"Cache-Control": "min-fresh=30"})
    p.read(stored(10))
    assert decision(p) == "refetch"


# Serving stale (RFC 5861) and never stale (RFC 9111, 4.2.4) ---------------------------------


def test_stale_while_revalidate_from_the_response_then_the_default_window() -> None:
    p = plan()
    p.read(stored(-10, Cache_Control="max-age=1, stale-while-revalidate=60"))
    assert decision(p) == "serve stale, refresh after"
    p = plan()
    p.read(stored(-100, Cache_Control="max-age=1, stale-while-revalidate=60"))
    assert decision(p) == "refetch"
    p = plan(stale_window=30)
    p.read(stored(-10))
    assert decision(p) == "serve stale, refresh after"
    p = plan(stale_window=0)
    p.read(stored(-10))
    assert decision(p) == "refetch"


def test_a_window_taken_from_one_stored_response_does_not_carry_over_to_the_next() -> None:
    """A plan that reads a second stored response (another variant, or the table's copy
    after the memory tier's) judges it by its own headers: the first one's
    stale-while-revalidate window is forgotten with the rest of what read() decided."""
    p = plan(stale_window=0)
    p.read(stored(-10, Cache_Control="max-age=1, stale-while-revalidate=60"))
    assert decision(p) == "serve stale, refresh after"
    p.reset_read()
    p.read(stored(-10, Cache_Control="max-age=1"))
    assert decision(p) == "refetch"
    p = plan(stale_window=30)  # the settings' own window stays
    p.read(stored(-10, Cache_Control="max-age=1, must-revalidate"))
    p.reset_read()
    p.read(stored(-10))
    assert decision(p) == "serve stale, refresh after"


@pytest.mark.parametrize("directive", ["must-revalidate", "proxy-revalidate", "s-maxage=1"])
def test_a_response_that_forbids_stale_is_never_served_stale(directive: str) -> None:
    entry = stored(-10, Cache_Control=f"{directive}, stale-while-revalidate=60")
    p = plan(stale_window=60, stale_if_error=True)
    p.read(entry)
    assert decision(p) == "refetch"
    assert not p.is_usable(entry, error=True)
    p = plan({"Cache-Control": "max-stale=600"})
    p.read(entry)
    assert decision(p) == "refetch"


def test_stale_if_error_window() -> None:
    p = plan(stale_if_error=30)
    assert p.is_usable(stored(-10), error=True)
    assert not p.is_usable(stored(-60), error=True)
    assert not p.is_usable(stored(-10))
    p = plan({"Cache-Control": "stale-if-error=100"})
    assert p.is_usable(stored(-60), error=True)


# Judging the origin's answer -------------------------------------------------------------


def judged(
    status: int = 200,
    headers: dict[str, str] | None = None,
    *,
    request: dict[str, str] | None = None,
    method: str = "GET",
    elapsed: float = 0.0,
    **settings: Any,
) -> Plan:
    settings.setdefault("cache_control", True)
    p = plan(request, method=method, **settings)
    p.judge(
        status,
        CaseInsensitiveDict(headers or {}),
        method=method,
        request_headers=CaseInsensitiveDict(request or {}),
        now=NOW,
        elapsed=elapsed,
    )
    return p


def test_explicit_freshness_s_maxage_over_max_age_over_expires() -> None:
    assert judged(headers={"Cache-Control": "max-age=60"}).expires == NOW + timedelta(seconds=60)
    both = judged(headers={"Cache-Control": "max-age=60, s-maxage=5"})
    assert both.expires == NOW + timedelta(seconds=5)
    expires = judged(
        headers={
            "Expires": "Thu, 01 Jan 2026 12:10:00 GMT",
            "Date": "Thu, 01 Jan 2026 12:00:00 GMT",
        }
    )
    assert expires.expires == NOW + timedelta(minutes=10)
    assert not (both.skip_write or expires.skip_write)


def test_the_age_already_spent_is_subtracted() -> None:
    p = judged(headers={"Cache-Control": "max-age=60", "Age": "50"}, elapsed=2)
    assert p.expires == NOW + timedelta(seconds=8)
    # An invalid Age is ignored (RFC 9111, 5.1): the response is fresh for its whole lifetime.
    p = judged(headers={"Cache-Control": "max-age=60", "Age": "soon"})
    assert p.expires == NOW + timedelta(seconds=60)


def test_invalid_explicit_freshness_is_stale_and_kept_only_with_a_validator() -> None:
    p = judged(headers={"Cache-Control": "max-age=soon"})
    assert p.expire_after == EXPIRE_IMMEDIATELY and p.skip_write
    p = judged(headers={"Expires": "yesterday", "ETag": '"v1"'})
    assert p.expire_after == EXPIRE_IMMEDIATELY and not p.skip_write


def test_heuristic_freshness_only_where_allowed() -> None:
    assert judged(expire_after=300).expire_after == 300
    assert judged(302, expire_after=300, allowable_codes=(200, 302)).skip_write
    assert not judged(302, {"Cache-Control": "public"}, expire_after=300).skip_write
    standards = judged(expire_after=300, heuristic=False)
    assert standards.expire_after == EXPIRE_IMMEDIATELY and standards.skip_write


@pytest.mark.parametrize(
    ("last_modified", "lifetime"),
    [
        (timedelta(seconds=1000), 100.0),  # a tenth of the time since Last-Modified
        (timedelta(days=30), 24 * 3600.0),  # at most a day
        (timedelta(0), None),  # modified just now: nothing to go by
        (-timedelta(hours=1), None),  # in the future: nothing to go by
    ],
)
def test_standards_mode_heuristic_comes_from_last_modified(
    last_modified: timedelta, lifetime: float | None
) -> None:
    headers = {"Date": http_date(NOW), "Last-Modified": http_date(NOW - last_modified)}
    p = judged(headers=headers, expire_after=300, heuristic=False)
    if lifetime is None:
        # Stale at once, and kept only to be revalidated (Last-Modified is a validator).
        assert p.expire_after == EXPIRE_IMMEDIATELY and not p.skip_write
    else:
        assert p.expires == NOW + timedelta(seconds=lifetime) and not p.skip_write
    # The age the response already had counts against it, as for explicit freshness.
    if lifetime:
        aged = judged(headers={**headers, "Age": "40"}, expire_after=300, heuristic=False)
        assert aged.expires == NOW + timedelta(seconds=lifetime - 40)


def test_standards_mode_heuristic_only_for_heuristically_cacheable_or_public() -> None:
    headers = {"Date": http_date(NOW), "Last-Modified": http_date(NOW - timedelta(days=1))}
    codes = {"allowable_codes": FINAL_STATUSES, "heuristic": False}
    for status in (200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501):
        assert judged(status, headers, **codes).expires == NOW + timedelta(seconds=8640)
    for status in (201, 202, 302, 403, 500, 502, 503, 504, 599):
        assert judged(status, headers, **codes).expire_after == EXPIRE_IMMEDIATELY
    public = judged(599, {**headers, "Cache-Control": "public"}, **codes)
    assert public.expires == NOW + timedelta(seconds=8640)


def test_any_final_status_is_storable_in_standards_mode_with_explicit_freshness() -> None:
    for status in (200, 299, 404, 499, 500, 599):
        p = judged(status, {"Cache-Control": "max-age=60"}, allowable_codes=FINAL_STATUSES)
        assert not p.skip_write and p.expires == NOW + timedelta(seconds=60)
    for status in (206, 304):
        assert status not in FINAL_STATUSES


@pytest.mark.parametrize(
    ("status", "directives", "forbidden"),
    [
        (200, "no-store", True),
        (200, "max-age=60", False),
        # RFC 9111, 5.2.2.3: a cache that understands the status ignores no-store then.
        (200, "max-age=60, no-store, must-understand", False),
        (404, "max-age=60, no-store, must-understand", False),
        (599, "max-age=60, no-store, must-understand", True),
        (206, "max-age=60, no-store, must-understand", True),
    ],
)
def test_must_understand_overrides_no_store_only_for_an_understood_status(
    status: int, directives: str, forbidden: bool
) -> None:
    headers = {"Cache-Control": directives}
    assert forbids_storing(status, cache_control(headers)) is forbidden
    p = judged(status, headers, allowable_codes=FINAL_STATUSES)
    assert p.skip_write is forbidden
    # The sharing rules agree (the one rule, core/rules.py's, decides for both).
    reason = refusal(status, CaseInsensitiveDict(headers), CaseInsensitiveDict())
    assert (reason is not None) is forbidden


@pytest.mark.parametrize(
    ("status", "headers", "request_headers", "settings"),
    [
        (200, {"Cache-Control": "no-store, max-age=60"}, {}, {}),
        (200, {"Cache-Control": "max-age=60"}, {"Cache-Control": "no-store"}, {}),
        (500, {"Cache-Control": "max-age=60"}, {}, {}),
        (200, {"Cache-Control": "max-age=60"}, {}, {"read_only": True}),
        (200, {"Cache-Control": "max-age=60"}, {}, {"disabled": True}),
        (200, {}, {}, {"expire_after": DO_NOT_CACHE, "cache_control": False}),
    ],
)
def test_what_is_not_stored(
    status: int, headers: dict[str, str], request_headers: dict[str, str], settings: Any
) -> None:
    assert judged(status, headers, request=request_headers, **settings).skip_write


def test_a_redirect_is_judged_as_any_response_whatever_allowable_codes_says() -> None:
    p = judged(301, {"Cache-Control": "max-age=60", "Location": "/b"})
    assert not p.skip_write
    assert judged(307, {"Location": "/b"}, heuristic=False).skip_write


def test_a_filter_refuses() -> None:
    p = plan()
    p.judge(200, {}, method="GET", request_headers={}, now=NOW, filtered_out=True)
    assert p.skip_write


def test_redirect_expires() -> None:
    def hop(headers: dict[str, str], status: int = 301) -> Any:
        request = SimpleNamespace(method="GET", url=URL, headers=CaseInsensitiveDict())
        return SimpleNamespace(
            status_code=status, headers=CaseInsensitiveDict(headers), request=request, elapsed=0
        )

    settings = CacheSettings(cache_control=True, expire_after=NEVER_EXPIRE)
    fresh = redirect_expires(
        hop({"Cache-Control": "max-age=60"}), settings, heuristic=True, now=NOW
    )
    assert fresh == NOW + timedelta(seconds=60)
    assert redirect_expires(hop({}, 302), settings, heuristic=True, now=NOW) is False
    assert (
        redirect_expires(hop({"Cache-Control": "no-store"}), settings, heuristic=True, now=NOW)
        is False
    )


# A 304, conditions, invalidation ---------------------------------------------------------


def test_a_304_updates_what_it_may_and_nothing_else() -> None:
    merged, changed = freshened_headers(
        {"ETag": '"v1"', "Content-Length": "10", "Cache-Control": "max-age=1", "X-Kept": "a"},
        {
            "ETag": '"v2"',
            "Content-Length": "0",
            "Cache-Control": "max-age=60",
            "Connection": "x-hop",
            "X-Hop": "1",
            "Keep-Alive": "5",
        },
    )
    assert merged == {
        "ETag": '"v1"',
        "Content-Length": "10",
        "Cache-Control": "max-age=60",
        "X-Kept": "a",
    }
    assert changed
    _, changed = freshened_headers({"Cache-Control": "max-age=60"}, {"cache-control": "max-age=60"})
    assert not changed


def test_a_304_with_transfer_encoding_drops_content_length() -> None:
    merged, _ = freshened_headers({"Transfer-Encoding": "chunked", "Content-Length": "3"}, {})
    assert "Content-Length" not in merged


def test_freshen_writes_back_only_a_change() -> None:
    p = judged(304, {"Cache-Control": "max-age=60"})
    p.freshen({"Cache-Control": "max-age=60"}, p.expires, {"Cache-Control": "max-age=60"})
    assert p.skip_write
    p.freshen({"Cache-Control": "max-age=1"}, NOW, {"Cache-Control": "max-age=60"})
    assert not p.skip_write


@pytest.mark.parametrize(
    ("conditions", "headers", "status", "answer"),
    [
        ({"If-None-Match": '"a"'}, {"ETag": '"a"'}, 200, True),
        ({"If-None-Match": 'W/"a"'}, {"ETag": '"a"'}, 200, True),
        ({"If-None-Match": '"b", "a"'}, {"ETag": 'W/"a"'}, 200, True),
        ({"If-None-Match": "*"}, {"ETag": '"a"'}, 200, True),
        ({"If-None-Match": '"b"'}, {"ETag": '"a"'}, 200, False),
        ({"If-None-Match": '"a"'}, {}, 200, False),
        ({"If-None-Match": '"a"'}, {"ETag": '"a"'}, 404, False),
        (
            {"If-Modified-Since": "Thu, 01 Jan 2026 12:00:00 GMT"},
            {"Last-Modified": "Thu, 01 Jan 2026 11:00:00 GMT"},
            200,
            True,
        ),
        (
            {"If-Modified-Since": "Thu, 01 Jan 2026 10:00:00 GMT"},
            {"Last-Modified": "Thu, 01 Jan 2026 11:00:00 GMT"},
            200,
            False,
        ),
        ({"If-Modified-Since": "not a date"}, {"Last-Modified": "x"}, 200, False),
    ],
)
def test_a_callers_own_conditions(
    conditions: dict[str, str], headers: dict[str, str], status: int, answer: bool
) -> None:
    assert satisfies_conditions(conditions, status, CaseInsensitiveDict(headers)) is answer


@pytest.mark.parametrize(
    ("method", "status", "expected"),
    [
        *[("POST", 200, True), ("DELETE", 204, True), ("PUT", 302, True), ("POST", 500, False)],
        *[("GET", 200, False), ("HEAD", 200, False), ("OPTIONS", 200, False), ("POST", 404, False)],
    ],
)
def test_what_invalidates(method: str, status: int, expected: bool) -> None:
    assert invalidates(method, status) is expected


# Whatever the headers hold ---------------------------------------------------------------

header_text = st.text(max_size=60)


@given(
    request=st.dictionaries(st.sampled_from(["Cache-Control", "X-ACTUAL-NO-CACHE"]), header_text),
    response=st.dictionaries(
        st.sampled_from(["Cache-Control", "Expires", "Date", "Age", "ETag", "Vary"]), header_text
    ),
    expires_in=st.one_of(st.none(), st.floats(-1e6, 1e6)),
    status=st.integers(100, 599),
)
def test_no_headers_make_a_decision_raise(
    request: dict[str, str], response: dict[str, str], expires_in: float | None, status: int
) -> None:
    p = plan(request, stale_window=10, stale_if_error=5, cache_control=True)
    p.read(stored(expires_in, status, **{k.replace("-", "_"): v for k, v in response.items()}))
    p.judge(
        status,
        CaseInsensitiveDict(response),
        method="GET",
        request_headers=CaseInsensitiveDict(request),
        now=NOW,
    )
    assert p.expires is None or p.expires.tzinfo is not None


@given(
    directive=st.sampled_from(["must-revalidate", "proxy-revalidate", "s-maxage=0"]),
    others=st.lists(
        st.sampled_from(["max-stale=999", "stale-while-revalidate=999", "stale-if-error=999"])
    ),
    stale_by=st.floats(0.001, 1e5),
)
def test_never_stale_holds_whatever_else_allows_stale(
    directive: str, others: list[str], stale_by: float
) -> None:
    entry = stored(-stale_by, Cache_Control=", ".join([directive, *others]))
    p = plan({"Cache-Control": "max-stale=999999"}, stale_window=999, stale_if_error=True)
    p.read(entry)
    assert decision(p) in {"refetch", "revalidate"}
    assert not p.is_usable(entry, error=True)


def test_every_updated_field_replaces_its_stored_spelling() -> None:
    merged, changed = freshened_headers(
        {"Cache-Control": "max-age=1", "X-Kept": "a", "Expires": "x"},
        {"cache-control": "max-age=60", "x-kept": "b", "expires": "x"},
    )
    assert changed
    assert merged == {"cache-control": "max-age=60", "x-kept": "b", "expires": "x"}
