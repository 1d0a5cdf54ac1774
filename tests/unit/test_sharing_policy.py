"""The sharing rules, on requests and responses built in memory: what a credential is, that
credentials partition the key and never reach what is stored, what a shared cache refuses."""

from __future__ import annotations

import io
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import requests.adapters
import urllib3
from hypothesis import given
from hypothesis import strategies as st
from lambda_http_cache.item import FINGERPRINT_HEX, encode_entry
from lambda_http_cache.keys import Transport
from lambda_http_cache.response import StoredRequest
from lambda_http_cache.sharing import (
    REPORTED_COOKIE_URLS,
    SETS_COOKIE,
    SharingPolicy,
    is_credential_name,
    sets_cookie,
)
from requests.structures import CaseInsensitiveDict
from requests_cache.models.request import CachedRequest
from requests_cache.models.response import CachedResponse

SECRET = b"unit-test-secret-0123456789"
HEX = re.compile(rf"[0-9a-f]{{{FINGERPRINT_HEX}}}")


def policy(*ignored: str, **kwargs: Any) -> SharingPolicy:
    kwargs.setdefault("secret", SECRET)
    return SharingPolicy(ignored, **kwargs)


def prepared(
    url: str = "https://api.example.com/items?page=2",
    method: str = "GET",
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> requests.PreparedRequest:
    return requests.Request(method, url, headers=headers, **kwargs).prepare()


def everything(request: Any) -> str:
    """All a request holds, as text, to look for secrets in."""
    body = request.body or b""
    text = body.decode("latin-1") if isinstance(body, bytes) else str(body)
    return f"{request.method} {request.url} {dict(request.headers)!r} {text}"


# What a credential is ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "proxy-authorization",
        "Cookie",
        "X-Api-Key",
        "X-Goog-Api-Key",
        "apiKey",
        "XAPIKEY",  # no separators: caught by the stem
        "access_token",
        "refreshToken",
        "X-Amz-Security-Token",
        "X-CSRF-Token",
        "client_secret",
        "password",
        "passwd",
        "pwd",
        "sig",
        "X-Amz-Signature",
        "jwt",
        "sessionid",
        "JSESSIONID",
        "X-Auth-User",
    ],
)
def test_credential_names(name: str) -> None:
    assert is_credential_name(name)
    assert policy().is_credential(name)
    assert is_credential_name(name.upper()) and is_credential_name(name.lower())


@pytest.mark.parametrize("name", ["userSig", "mySid", "XSRFValue", "otpCode"])
def test_camel_case_names_are_split_into_words(name: str) -> None:
    assert is_credential_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "Accept",
        "Accept-Language",
        "User-Agent",
        "If-None-Match",
        "Content-Security-Policy",
        "page",
        "q",
        "Keep-Alive",
        "Content-Disposition",
        "X-Request-Id",
        "X-Tenant",
    ],
)
def test_names_that_are_not_credentials(name: str) -> None:
    assert not is_credential_name(name)
    assert not policy().is_credential(name)


@pytest.mark.parametrize("name", ["author", "keyword", "monkey", "passage", "usersig", "MYSID"])
def test_a_credential_word_that_begins_or_ends_a_word_counts_in_any_letter_case(
    name: str,
) -> None:
    """Header names are case-insensitive, so the rule reads the lower-case name: "userSig"
    and "USERSIG" alike. Words run together are caught by their ends; the false positives
    this makes ("author", "monkey") cost only a parameter hashed instead of kept plain."""
    assert is_credential_name(name)


@given(st.text(min_size=1, max_size=40))
def test_the_credential_rule_ignores_letter_case(name: str) -> None:
    judged = is_credential_name(name)
    assert is_credential_name(name.upper()) == judged
    assert is_credential_name(name.lower()) == judged
    assert is_credential_name(name.swapcase()) == judged


def test_the_user_adds_credential_names_in_any_letter_case() -> None:
    assert not policy().is_credential("X-Tenant")
    assert policy("x-TENANT").is_credential("X-Tenant")
    assert is_credential_name("Tenant", frozenset({"tenant"}))


# Keys of requests ------------------------------------------------------------------------


def key(request: Any, **transport: Any) -> str:
    return policy().key(request, Transport(**transport))


def base(request: Any) -> str:
    return key(request).partition("-")[0]


def test_a_request_without_credentials_or_body_has_no_fingerprint() -> None:
    request = prepared(
        "https://api.example.com/items?page=2&sort=-name&q=a%20b", headers={"Accept": "text/csv"}
    )
    assert policy().fingerprint(request) is None
    assert "-" not in key(request)


@pytest.mark.parametrize(
    ("kwargs", "secret"),
    [
        ({"headers": {"Authorization": "Bearer alice-Secret-7f3a"}}, "alice-Secret-7f3a"),
        ({"headers": {"X-Api-Key": "key-Secret-0d41"}}, "key-Secret-0d41"),
        ({"headers": {"Cookie": "sid=cookie-Secret-99"}}, "cookie-Secret-99"),
        ({"url": "https://api.example.com/x?api_key=q-Secret-1&page=2"}, "q-Secret-1"),
        ({"url": "https://api.example.com/x?page=2&ACCESS_TOKEN=q-Secret-2"}, "q-Secret-2"),
        ({"url": "https://alice:pw-Secret-4@api.example.com/x"}, "pw-Secret-4"),
        ({"method": "POST", "json": {"password": "body-Secret-5"}}, "body-Secret-5"),
        ({"method": "POST", "data": {"user": "body-Secret-6"}}, "body-Secret-6"),
    ],
    ids=[
        "authorization",
        "api-key-header",
        "cookie",
        "query",
        "query-upper-case",
        "userinfo",
        "json-body",
        "form-body",
    ],
)
def test_credentials_and_bodies_are_fingerprinted(kwargs: dict[str, Any], secret: str) -> None:
    request = prepared(**kwargs)
    assert secret in everything(request) or secret in str(request.url)
    fingerprint = policy().fingerprint(request)
    assert fingerprint is not None and HEX.fullmatch(fingerprint)
    assert secret not in key(request)
    # The same credentials always give the same fingerprint, so the same key.
    assert policy().fingerprint(prepared(**kwargs)) == fingerprint


def test_a_fragment_is_never_sent_so_never_keyed() -> None:
    with_fragment = prepared("https://api.example.com/cb#access_token=frag-Secret-3")
    assert key(with_fragment) == key(prepared("https://api.example.com/cb"))


def test_userinfo_alone_is_a_credential() -> None:
    """requests turns URL userinfo into an Authorization header, unless the request has its
    own auth; then only the URL carries it."""
    fingerprints = set()
    for url in ("https://alice:pw1@api.example.com/x", "https://alice:pw2@api.example.com/x"):
        request = CachedRequest(method="GET", url=url)
        fingerprints.add(policy().fingerprint(request))
    assert None not in fingerprints and len(fingerprints) == 2


def test_the_rest_of_the_url_reads_exactly_as_it_was_sent() -> None:
    url = "https://user:pw@api.example.com/v1/items?page=2&token=t-1&sort=-name&q=a%20b+c#top"
    assert (
        policy().clean_url(url)
        == "https://api.example.com/v1/items?page=2&sort=-name&q=a%20b+c#top"
    )


def test_credential_values_do_not_change_the_plain_part_of_the_key() -> None:
    alice = prepared(headers={"Authorization": "Bearer alice", "X-Trace": "1"})
    bob = prepared(headers={"Authorization": "Bearer bob", "X-Trace": "1"})
    assert base(alice) == base(bob) and key(alice) != key(bob)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            {"headers": {"Authorization": "Bearer alice"}},
            {"headers": {"Authorization": "Bearer bob"}},
        ),
        ({"headers": {"Authorization": "Bearer alice"}}, {}),
        ({"headers": {"X-Api-Key": "k1"}}, {"headers": {"X-Other-Key": "k1"}}),  # same value
        ({"headers": {"X-Api-Key": "k1"}}, {"params": {"api_key": "k1"}}),  # header or query
        ({"params": {"token": "a", "sig": "b"}}, {"params": {"token": "b", "sig": "a"}}),
        (
            {"url": "https://alice:pw1@api.example.com/"},
            {"url": "https://alice:pw2@api.example.com/"},
        ),
        ({"method": "POST", "data": b"a=1"}, {"method": "POST", "data": b"a=2"}),
        ({"method": "POST", "data": b"a=1"}, {"method": "POST", "data": b"a=1 "}),
        ({"url": "https://h/?token=caf%E9"}, {"url": "https://h/?token=caf%E8"}),
        ({"headers": {"XSID": "a"}}, {"headers": {"XSID": "b"}}),
    ],
    ids=[
        "other-token",
        "token-or-none",
        "other-header-name",
        "header-or-query",
        "values-swapped",
        "other-password",
        "other-body",
        "one-byte-more",
        "undecodable-bytes",
        "upper-case-name",
    ],
)
def test_different_credentials_give_different_fingerprints(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    one, other = policy().fingerprint(prepared(**first)), policy().fingerprint(prepared(**second))
    assert one != other


def test_the_fingerprint_depends_on_the_secret() -> None:
    request = prepared(headers={"X-Api-Key": "12345"})
    one = SharingPolicy(secret=b"first-secret-0123456789").fingerprint(request)
    other = SharingPolicy(secret=b"other-secret-0123456789").fingerprint(request)
    assert one is not None and other is not None and one != other
    assert one == SharingPolicy(secret=b"first-secret-0123456789").fingerprint(request)


def test_an_unprepared_request_is_keyed_like_the_prepared_one() -> None:
    request = requests.Request("GET", "https://api.example.com/", params={"api_key": "k"})
    assert key(request) == key(request.prepare())


def test_a_stored_request_stays_in_its_credential_partition() -> None:
    """A request rebuilt from the table carries no credential but the fingerprint of those it
    had: keys computed from it (Vary checks, recreate_keys) keep that partition."""
    marker = "0123456789abcdef" * 2
    stored = StoredRequest(
        method="GET", url="https://api.example.com/", credential_fingerprint=marker
    )
    assert policy().fingerprint(stored) == marker
    stored.headers["Authorization"] = "Bearer more"
    fingerprint = policy().fingerprint(stored)
    assert fingerprint not in (None, marker)
    plain = CachedRequest(method="GET", url="https://api.example.com/")
    plain.headers = CaseInsensitiveDict({"Authorization": "Bearer more"})
    assert policy().fingerprint(plain) != fingerprint


def test_a_body_that_cannot_be_read_twice_is_never_shared() -> None:
    def chunks() -> Any:
        yield b"part"

    request = prepared(method="POST", data=chunks())
    assert policy().fingerprint(request) != policy().fingerprint(request)


def test_matches_only_keys_of_the_requests_own_partition() -> None:
    alice = prepared(headers={"Authorization": "Bearer alice"})
    bob = prepared(headers={"Authorization": "Bearer bob"})
    anonymous = prepared()
    alice_key = f"ns:GET https://api.example.com/items-{policy().fingerprint(alice)}"
    plain_key = "ns:GET https://api.example.com/items"
    assert policy().matches(alice_key, alice)
    assert not policy().matches(alice_key, bob)
    assert not policy().matches(alice_key, anonymous)
    assert policy().matches(plain_key, anonymous)
    assert not policy().matches(plain_key, alice)


def test_the_default_secret_is_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    default = SharingPolicy(secret=b"public-default", secret_configured=False)
    with caplog.at_level(logging.WARNING, logger="lambda_http_cache.sharing"):
        default.fingerprint(prepared())  # no credential: no hash, no warning
        assert caplog.records == []
        default.fingerprint(prepared(headers={"X-Api-Key": "1"}))
        default.fingerprint(prepared(headers={"X-Api-Key": "2"}))
        policy().fingerprint(prepared(headers={"X-Api-Key": "3"}))  # a configured secret
    assert [r.message.startswith("HTTP_CACHE_KEY_SECRET is not set") for r in caplog.records] == [
        True
    ]


# Responses --------------------------------------------------------------------------------


def response(
    headers: dict[str, str] | None = None,
    status: int = 200,
    request_headers: dict[str, str] | None = None,
    url: str = "https://api.example.com/items",
) -> CachedResponse:
    request = CachedRequest(method="GET", url=url)
    request.headers = CaseInsensitiveDict(request_headers or {})
    return CachedResponse(
        content=b'{"items": []}',
        headers=CaseInsensitiveDict(headers or {}),
        status_code=status,
        reason="OK",
        url=url,
        request=request,
        created_at=datetime.now(UTC),
        expires=datetime.now(UTC) + timedelta(seconds=60),
    )


@pytest.mark.parametrize(
    ("headers", "request_headers", "store_private", "refusal"),
    [
        ({"Cache-Control": "max-age=60"}, {}, False, None),
        ({}, {}, False, None),
        ({"Cache-Control": "no-store"}, {}, False, "no-store"),
        ({"Cache-Control": "public, No-Store, max-age=60"}, {}, False, "no-store"),
        ({"Cache-Control": "max-age=60"}, {"Cache-Control": "no-store"}, False, "no-store"),
        ({"Cache-Control": "private, max-age=60"}, {}, False, "private"),
        ({"Cache-Control": "private, max-age=60"}, {}, True, None),
        ({"Cache-Control": "private, no-store"}, {}, True, "no-store"),
        ({"Vary": "Accept, *"}, {}, False, "Vary: *"),
        ({"Vary": "Accept"}, {}, False, None),
    ],
)
def test_what_a_shared_cache_refuses_to_store(
    headers: dict[str, str],
    request_headers: dict[str, str],
    store_private: bool,
    refusal: str | None,
) -> None:
    answer = response(headers, request_headers=request_headers)
    assert policy(store_private=store_private).refusal(answer) == refusal


def test_must_understand_refuses_only_statuses_the_cache_does_not_understand() -> None:
    must_understand = {"Cache-Control": "must-understand, max-age=60"}
    assert policy().refusal(response(must_understand, status=200)) is None
    assert policy().refusal(response(must_understand, status=299)) == "must-understand"
    assert policy().refusal(response({"Cache-Control": "max-age=60"}, status=299)) is None


COOKIE = "sid=session-Secret-41; Path=/; HttpOnly"


@pytest.mark.parametrize(
    ("headers", "share_set_cookie", "refusal"),
    [
        ({"Set-Cookie": COOKIE}, False, SETS_COOKIE),
        ({"Set-Cookie": COOKIE, "Cache-Control": "max-age=600"}, False, SETS_COOKIE),
        ({"Set-Cookie": COOKIE, "Cache-Control": "must-revalidate, max-age=6"}, False, SETS_COOKIE),
        ({"Set-Cookie": COOKIE, "Cache-Control": "public"}, False, None),
        ({"Set-Cookie": COOKIE, "Cache-Control": "Public, max-age=600"}, False, None),
        ({"Set-Cookie": COOKIE, "Cache-Control": "max-age=60, s-maxage=600"}, False, None),
        ({"Set-Cookie": COOKIE}, True, None),
        ({"Set-Cookie": "AWSALB=alb-Secret; Path=/"}, True, None),
        ({"Set-Cookie2": 'sid="1"; Version="1"'}, False, SETS_COOKIE),
        ({"set-cookie": COOKIE}, False, SETS_COOKIE),
        ({"SET-COOKIE2": COOKIE}, False, SETS_COOKIE),
        ({"Set-Cookie": ""}, False, SETS_COOKIE),
        # The other refusals come first, and the setting lifts none of them.
        ({"Set-Cookie": COOKIE, "Cache-Control": "private"}, True, "private"),
        ({"Set-Cookie": COOKIE, "Cache-Control": "public, no-store"}, False, "no-store"),
        ({"Cookie": "sid=1", "X-Set-Cookie-Hint": "later"}, False, None),
    ],
    ids=[
        "no-cache-control",
        "max-age",
        "must-revalidate",
        "public",
        "public-any-case",
        "s-maxage",
        "setting-on",
        "setting-on-alb",
        "set-cookie2",
        "lower-case-name",
        "upper-case-set-cookie2",
        "empty-value",
        "private-first",
        "no-store-first",
        "other-names",
    ],
)
def test_a_response_that_sets_a_cookie_is_not_stored_for_others(
    headers: dict[str, str], share_set_cookie: bool, refusal: str | None
) -> None:
    """Unless the origin marks it public or s-maxage, or the user opts in (share_set_cookie)."""
    assert policy(share_set_cookie=share_set_cookie).refusal(response(headers)) == refusal


def test_several_set_cookie_lines_are_refused_and_none_is_stored() -> None:
    """urllib3 keeps each Set-Cookie line; requests joins them into one field."""
    raw = urllib3.HTTPResponse(
        body=io.BytesIO(b"{}"),
        headers=urllib3.HTTPHeaderDict(
            [
                ("Content-Type", "application/json"),
                ("Set-Cookie", "AWSALB=alb-Secret-1; Path=/"),
                ("set-cookie", "AWSALBCORS=alb-Secret-2; Path=/; SameSite=None; Secure"),
            ]
        ),
        status=200,
        preload_content=False,
    )
    answer = requests.adapters.HTTPAdapter().build_response(prepared(), raw)
    assert policy().refusal(answer) == SETS_COOKIE
    cached = CachedResponse.from_response(answer)
    assert policy().refusal(cached) == SETS_COOKIE
    shared = policy(share_set_cookie=True)
    assert shared.refusal(cached) is None
    entry = shared.to_entry(cached, None)
    assert entry.headers == (("Content-Type", "application/json"),)
    assert "Secret" not in repr(encode_entry("ns:GET https://api.example.com/", "ns", entry))


def test_set_cookie_fields_are_found_by_name_in_any_letter_case() -> None:
    assert sets_cookie({"set-COOKIE": "a=1"}) and sets_cookie({"Set-Cookie2": "a=1"})
    assert not sets_cookie({"Cookie": "a=1", "Set-Cookies": "a=1", "Content-Type": "text/plain"})


def test_cookie_refusals_are_reported_once_per_url_and_for_boundedly_many() -> None:
    sharing = policy()
    first = sharing.first_cookie_refusal("https://user:pw@api.example.com/cart?sid=1#top")
    assert first == "https://api.example.com/cart"  # no userinfo, query or fragment
    assert sharing.first_cookie_refusal("https://api.example.com/cart?sid=2") is None
    assert sharing.first_cookie_refusal("https://api.example.com/other") is not None
    assert policy().first_cookie_refusal("https://api.example.com/cart") is not None
    for number in range(REPORTED_COOKIE_URLS):
        sharing.first_cookie_refusal(f"https://api.example.com/{number}")
    assert sharing.first_cookie_refusal("https://api.example.com/late") is None
    assert policy().first_cookie_refusal("http://[::1") is None  # not a URL


def test_stored_headers_keep_no_credential() -> None:
    stored = dict(
        policy().stored_headers(
            CaseInsensitiveDict(
                {
                    "Content-Type": "application/json",
                    "Set-Cookie": "sid=cookie-Secret",
                    "Authorization": "Bearer echoed-Secret",
                    "X-Session-Id": "session-Secret",
                    "WWW-Authenticate": 'Bearer realm="api"',
                    "Access-Control-Allow-Credentials": "true",
                    "Location": "https://cdn.example.com/f?X-Amz-Signature=sig-Secret&v=2",
                    "Link": '<https://api.example.com/p2?access_token=link-Secret>; rel="next"',
                    "Age": "30",
                    "Connection": "X-Hop",
                    "X-Hop": "per-connection",
                    "Keep-Alive": "timeout=5",
                }
            )
        )
    )
    assert "Secret" not in repr(stored)
    assert stored == {
        "Content-Type": "application/json",
        "WWW-Authenticate": 'Bearer realm="api"',
        "Access-Control-Allow-Credentials": "true",
        "Location": "https://cdn.example.com/f?v=2",
        "Link": '<https://api.example.com/p2>; rel="next"',
    }


def test_no_credential_reaches_the_stored_item() -> None:
    """The whole path from a response to the item written: request credentials, cookies,
    credential query parameters and credential response headers are all left out, and of the
    request only the headers Vary names are kept."""
    url = "https://api.example.com/items?page=2&api_key=query-Secret"
    answer = response(
        {"Vary": "Accept, Authorization, Cookie", "Set-Cookie": "sid=set-Secret"},
        request_headers={
            "Accept": "application/json",
            "Accept-Language": "fr",
            "Authorization": "Bearer header-Secret",
            "Cookie": "sid=cookie-Secret",
        },
        url=url,
    )
    sharing = policy()
    entry = sharing.to_entry(answer, "0123456789abcdef" * 2)
    assert entry.request_headers == (("Accept", "application/json"),)
    assert entry.request_url == entry.url == "https://api.example.com/items?page=2"
    item = encode_entry("ns:GET https://api.example.com/items?page=2", "ns", entry)
    assert "Secret" not in repr(item)
