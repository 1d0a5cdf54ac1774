"""Attacks on the shared cache, tried as an attacker would: one caller's answer reaching
another through the table or a redirect chain, two requests that differ on the wire sharing
an entry, or a request option that changes what the origin returns without being in the key.

Each test asserts the SAFE behaviour: it fails when the attack works. Against the local
DynamoDB server and origin (fixtures of tests/conftest.py).
"""

from __future__ import annotations

import io
import itertools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from lambda_http_cache import DynamoDbCache
from requests.adapters import HTTPAdapter
from requests_cache import CachedSession

from scripts.local_servers import OriginServer, Route, SeenRequest
from tests.helpers import PATIENT, cached_session, scan_all

KEY_SECRET = "test-key-secret-0123456789"
FRESH = {"Content-Type": "application/json", "Cache-Control": "max-age=600"}
LAST_MODIFIED = "Wed, 01 Jan 2025 00:00:00 GMT"
_answers = itertools.count(1)


def counted(headers: dict[str, str] | None = None) -> Callable[[SeenRequest], Route]:
    """A responder whose every answer is numbered and names what the request carried."""

    def respond(seen: SeenRequest) -> Route:
        body = {
            "answer": next(_answers),
            "method": seen.method,
            "tenant": seen.headers.get("X-Tenant", ""),
            "auth": seen.headers.get("Authorization", ""),
            "host": seen.headers.get("Host", ""),
            "body": seen.body.decode("latin-1"),
        }
        return Route(json.dumps(body).encode(), {**FRESH, **(headers or {})})

    return respond


def container(table_name: str, **settings: Any) -> Any:
    """A new container's session, with the decorator's defaults."""
    settings.setdefault("key_secret", KEY_SECRET)
    settings.setdefault("cache_control", True)
    return cached_session(table_name, **settings)


def drop_in(table_name: str, **settings: Any) -> CachedSession:
    """requests-cache's own CachedSession over the drop-in backend, on the same table and
    namespace as the decorator's session."""
    backend = DynamoDbCache(table_name, create_table=False, config=PATIENT, key_secret=KEY_SECRET)
    settings.setdefault("expire_after", 300)
    settings.setdefault("cache_control", True)
    return CachedSession(backend=backend, **settings)


def of_kind(kind: str, table_name: str, **settings: Any) -> Any:
    return (
        container(table_name, **settings)
        if kind == "decorator"
        else drop_in(table_name, **settings)
    )


# Methods, targets, bodies -----------------------------------------------------------------


def test_a_head_response_is_never_served_to_a_get(table_name: str, origin: OriginServer) -> None:
    """HEAD and GET of one URL: the stored HEAD answer (no body) must not answer a GET, nor a
    GET's body a HEAD."""
    url = origin.respond("/doc", counted())
    head = container(table_name).head(url)
    assert head.status_code == 200 and head.content == b""
    got = container(table_name).get(url)
    assert not got.from_cache and got.json()["method"] == "GET"
    assert container(table_name).head(url).from_cache
    assert container(table_name).get(url).json() == got.json()


def test_the_letter_case_of_a_method_names_the_same_request(
    table_name: str, origin: OriginServer
) -> None:
    """requests sends "get" as GET: same on the wire, so the same entry."""
    url = origin.respond("/doc", counted())
    lower = container(table_name).request("get", url)
    upper = container(table_name).request("GET", url)
    assert upper.from_cache and upper.json() == lower.json()


def test_params_and_the_same_query_in_the_url_share_an_entry_but_reordered_ones_do_not(
    table_name: str, origin: OriginServer
) -> None:
    """params= is prepared into the URL; duplicate parameters keep their order on the wire."""
    origin.respond("/q", counted())
    first = container(table_name).get(origin.url("/q"), params=[("a", "1"), ("a", "2")])
    same = container(table_name).get(origin.url("/q?a=1&a=2"))
    assert same.from_cache and same.json() == first.json()
    reordered = container(table_name).get(origin.url("/q?a=2&a=1"))
    assert not reordered.from_cache


def test_a_request_body_that_cannot_be_read_again_is_never_shared(
    table_name: str, origin: OriginServer
) -> None:
    """A generator body (and a file body, consumed by the send) must not let one caller's
    POST answer be served to another's, even with POST cacheable."""
    url = origin.respond("/search", counted())

    def chunks(text: bytes) -> Iterator[bytes]:
        yield text

    allow_post = {"allowable_methods": ("GET", "HEAD", "POST")}
    alice = container(table_name, **allow_post).post(url, data=chunks(b"alice's query"))
    bob = container(table_name, **allow_post).post(url, data=chunks(b"bob's query"))
    # (The local origin reads no chunked body: the answers' numbers tell them apart.)
    assert not bob.from_cache and bob.json()["answer"] != alice.json()["answer"]
    carol = container(table_name, **allow_post).post(url, data=io.BytesIO(b"carol's query"))
    dave = container(table_name, **allow_post).post(url, data=io.BytesIO(b"dave's query"))
    assert not dave.from_cache and "dave" in dave.json()["body"] and "carol" in carol.text


def test_json_and_data_bodies_are_kept_apart_when_the_origin_varies_on_content_type(
    table_name: str, origin: OriginServer
) -> None:
    """Same bytes, another Content-Type: the origin says so with Vary."""
    url = origin.respond("/parse", counted({"Vary": "Content-Type"}))
    allow_post = {"allowable_methods": ("GET", "HEAD", "POST")}
    as_json = container(table_name, **allow_post).post(url, json={"a": 1})
    as_text = container(table_name, **allow_post).post(url, data=b'{"a": 1}')
    assert as_json.json()["body"] == as_text.json()["body"]
    assert not as_text.from_cache


# The transport ----------------------------------------------------------------------------


def test_verify_zero_is_not_keyed_as_verification(
    table_name: str, origin: OriginServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests' adapter verifies TLS only for a truthy verify: verify=0 (as read from a
    config flag) turns verification off, exactly as verify=False does. A response fetched so
    (which a man in the middle could have written) must not be served to callers who verify.
    (Without a CA bundle in the environment: with one, a verifying caller's key names the
    bundle, and only callers passing verify=True to send() itself meet the verify=0 key.)"""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    adapter = HTTPAdapter()
    pool = adapter.poolmanager.connection_from_url("https://example.test/")
    adapter.cert_verify(pool, "https://example.test/", 0, None)
    assert pool.cert_reqs == "CERT_NONE"  # requests: 0 means no verification
    url = origin.respond("/doc", counted())
    insecure = container(table_name).get(url, verify=0)
    verified = container(table_name).get(url)
    assert not verified.from_cache, "a response fetched with verify=0 was served to verify=True"
    assert verified.json() != insecure.json()


# What the backend cannot see of requests-cache's own session: its flow is requests-cache's.
SEND_WITHOUT_OPTIONS = (
    "limitation of requests-cache's own session: send() called directly with no transport"
    " options keys with requests' defaults (the backend never sees the session's verify, cert"
    " or redirect default); the decorator's session keys what it sends (docs/concepts/"
    "shared-cache.md)"
)


@pytest.mark.xfail(strict=True, reason=SEND_WITHOUT_OPTIONS)
@pytest.mark.parametrize("setting", ["cert", "verify"])
def test_requests_cache_send_keys_the_sessions_own_transport(
    table_name: str, origin: OriginServer, tmp_path: Path, setting: str
) -> None:
    """requests-cache's CachedSession.send(prepared), without send() options: requests'
    Session.send applies the session's cert and verify after the cache derived the key. A
    statement fetched with alice's client certificate (or without TLS verification) must not
    be served to a caller without it."""
    url = origin.respond("/statement", counted())
    session = drop_in(table_name)
    if setting == "cert":
        pem = tmp_path / "alice.pem"
        pem.write_text("-----BEGIN CERTIFICATE-----\nalice\n")
        session.cert = str(pem)
    else:
        session.verify = False
    prepared = session.prepare_request(requests.Request("GET", url))
    alice = session.send(prepared, allow_redirects=False)
    anonymous = container(table_name).get(url)
    assert not anonymous.from_cache, f"served what was fetched with the session's {setting}"
    assert anonymous.json() != alice.json()


@pytest.mark.parametrize(
    "guard_kind",
    [
        "decorator",
        pytest.param(
            "requests-cache", marks=pytest.mark.xfail(strict=True, reason=SEND_WITHOUT_OPTIONS)
        ),
    ],
)
def test_requests_cache_send_follows_redirects_and_keys_them_as_followed(
    table_name: str, origin: OriginServer, guard_kind: str
) -> None:
    """requests' Session.send follows redirects unless told not to; requests-cache keys a
    send() without allow_redirects as not following. Its alias then sits under the key a
    caller with allow_redirects=False (an SSRF guard) looks up, and hands it the end of the
    chain instead of the redirect."""
    origin.route("/go", b"", {"Location": "/internal", **FRESH}, status=302)
    origin.respond("/internal", counted())
    url = origin.url("/go")
    session = drop_in(table_name)
    followed = session.send(session.prepare_request(requests.Request("GET", url)))
    assert followed.json()["answer"] and followed.history
    guarded = of_kind(guard_kind, table_name).get(url, allow_redirects=False)
    assert guarded.status_code == 302, f"SSRF guard served the chain's end: {guarded.text}"
    assert "answer" not in guarded.text


def test_a_chain_followed_without_tls_verification_is_not_served_to_callers_who_verify(
    table_name: str, origin: OriginServer
) -> None:
    """requests-cache's own session stores a followed chain's end under a key derived from
    the final request; that request was sent with verify=False, and its key must say so."""
    origin.route("/go", b"", {"Location": "/page", **FRESH}, status=302)
    origin.respond("/page", counted())
    insecure = drop_in(table_name).get(origin.url("/go"), verify=False)
    assert insecure.history
    verified = drop_in(table_name).get(origin.url("/page"))
    assert not verified.from_cache, "the end of an unverified chain was served to verify=True"
    assert verified.json() != insecure.json()


def test_a_proxy_from_the_environment_is_part_of_the_key(
    table_name: str, origin: OriginServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY read by requests: what came through the proxy is not served to a direct
    caller. (The origin doubles as the proxy: it sees the absolute-form target.)"""
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    url = f"http://localhost:{origin.port}/doc"
    origin.route(url, '{"via": "proxy"}', FRESH)
    origin.route("/doc", '{"via": "direct"}', FRESH)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{origin.port}")
    assert container(table_name).get(url).json() == {"via": "proxy"}
    monkeypatch.delenv("HTTP_PROXY")
    direct = container(table_name).get(url)
    assert direct.json() == {"via": "direct"} and not direct.from_cache


def test_a_malformed_proxy_url_leaves_no_credential_in_the_table(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    """A proxy URL without a scheme but with userinfo: requests refuses it; nothing of its
    password may reach the table."""
    url = origin.respond("/doc", counted())
    with pytest.raises(requests.exceptions.InvalidProxyURL):
        container(table_name).get(url, proxies={"http": f"user:pr0xy-pw@127.0.0.1:{origin.port}"})
    assert "pr0xy-pw" not in json.dumps(scan_all(ddb, table_name))


# Bytes on the wire ------------------------------------------------------------------------


def test_a_credential_sent_as_text_and_one_sent_as_bytes_do_not_share_an_entry(
    table_name: str, origin: OriginServer
) -> None:
    """http.client sends a str header value as Latin-1 and bytes as they are: "é" goes out as
    0xE9, b"\\xc3\\xa9" as 0xC3 0xA9. Two different keys on the wire; a key that hashes the
    str as UTF-8 gives them one partition."""
    url = origin.respond("/account", counted())
    alice = container(table_name).get(url, headers={"X-Api-Key": "clé"})
    bob = container(table_name).get(url, headers={"X-Api-Key": "clé".encode()})
    seen = [s.headers.get("X-Api-Key") for s in origin.seen]
    assert not bob.from_cache, f"bob was served alice's account; the origin saw {seen}"
    assert bob.json() != alice.json()


def test_a_header_sent_as_bytes_is_keyed_by_its_value_not_its_repr(
    table_name: str, origin: OriginServer
) -> None:
    """A Host header given as bytes goes out as a.example; one given as the text "b'a.example'"
    goes out as that. The key must not read the first as the second."""
    url = origin.respond("/home", counted())
    one = container(table_name).get(url, headers={"Host": b"tenant-a.example"})
    other = container(table_name).get(url, headers={"Host": "b'tenant-a.example'"})
    assert one.json()["host"] == "tenant-a.example"
    assert not other.from_cache, f"Host {other.json()['host']!r} was served for b'tenant-a.example'"


# Redirects --------------------------------------------------------------------------------


def test_a_credentialed_redirect_to_another_host_gives_no_one_else_anything(
    table_name: str, origin: OriginServer
) -> None:
    """alice's request with Authorization is redirected to another host (requests strips the
    credential there). An anonymous caller must reach neither alice's redirect nor anything
    made with her credential."""
    other = f"http://localhost:{origin.port}/report"
    origin.route("/doc", b"", {"Location": other, **FRESH}, status=302)
    origin.respond("/report", counted())
    auth = {"Authorization": "Bearer alice-token"}
    alice = container(table_name).get(origin.url("/doc"), headers=auth)
    assert alice.json()["auth"] == "" and alice.history  # requests stripped it cross-host
    anonymous = container(table_name).get(origin.url("/doc"))
    assert origin.hits["/doc"] == 2  # alice's redirect is in her partition
    assert anonymous.json()["auth"] == ""
    again = container(table_name).get(origin.url("/doc"), headers=auth)
    assert again.history and again.history[0].from_cache


def test_a_redirect_varying_on_a_credential_header_is_partitioned(
    table_name: str, origin: OriginServer
) -> None:
    def respond(seen: SeenRequest) -> Route:
        user = seen.headers.get("X-Api-Key", "nobody")
        return Route(b"", {"Location": f"/files/{user}", "Vary": "X-Api-Key", **FRESH}, status=302)

    origin.respond("/files/latest", respond)
    for user in ("alice", "bob"):
        origin.route(f"/files/{user}", json.dumps({"file": user}), FRESH)
    url = origin.url("/files/latest")
    assert container(table_name).get(url, headers={"X-Api-Key": "alice"}).json() == {
        "file": "alice"
    }
    assert container(table_name).get(url, headers={"X-Api-Key": "bob"}).json() == {"file": "bob"}
    assert container(table_name).get(url).json() == {"error": "not found"}


def test_a_303_after_a_credentialed_post_is_not_served_to_others(
    table_name: str, origin: OriginServer
) -> None:
    """POST then 303 to a receipt: the receipt, fetched with alice's Authorization (same
    host), is not served to an anonymous GET."""
    origin.route("/orders", b"", {"Location": "/orders/receipt", **FRESH}, status=303)
    origin.respond("/orders/receipt", counted())
    auth = {"Authorization": "Bearer alice-token"}
    receipt = container(table_name).post(origin.url("/orders"), data=b"item=1", headers=auth)
    assert receipt.json()["method"] == "GET" and receipt.json()["auth"]
    anonymous = container(table_name).get(origin.url("/orders/receipt"))
    assert not anonymous.from_cache and anonymous.json()["auth"] == ""


def test_a_307_keeps_the_body_and_its_partition(table_name: str, origin: OriginServer) -> None:
    """307 re-sends the POST and its body: a stored 307 followed by bob reaches the target
    with bob's body, never alice's answer."""
    origin.route("/submit", b"", {"Location": "/echo", **FRESH}, status=307)
    origin.respond("/echo", counted())
    allow_post = {"allowable_methods": ("GET", "HEAD", "POST")}
    alice = container(table_name, **allow_post).post(origin.url("/submit"), data=b"who=alice")
    bob = container(table_name, **allow_post).post(origin.url("/submit"), data=b"who=bob")
    assert alice.json()["body"] == "who=alice" and bob.json()["body"] == "who=bob"
    again = container(table_name, **allow_post).post(origin.url("/submit"), data=b"who=alice")
    assert again.from_cache and again.json() == alice.json()


def test_a_stored_redirect_loop_fails_as_without_a_cache(
    table_name: str, origin: OriginServer
) -> None:
    origin.route("/loop", b"", {"Location": "/loop", **FRESH}, status=302)
    for _ in range(2):
        with pytest.raises(requests.TooManyRedirects):
            container(table_name).get(origin.url("/loop"))


def test_a_fresh_redirect_to_a_presigned_url_still_reaches_the_file(
    table_name: str, origin: OriginServer
) -> None:
    """The stored redirect loses its Location's signature (it is a credential), yet it is
    served as fresh: the next caller is sent to a URL without the signature. A redirect
    that cannot be stored as the origin sent it should not be stored at all."""

    def bucket(seen: SeenRequest) -> Route:
        if "X-Amz-Signature=sig-0123456789" in seen.path:
            return Route(b"a,b\n1,2\n", {"Content-Type": "text/csv"})
        return Route(b"<Error>AccessDenied</Error>", {"Content-Type": "text/xml"}, status=403)

    presigned = "/bucket/report.csv?X-Amz-Expires=300&X-Amz-Signature=sig-0123456789"
    origin.respond("/bucket/report.csv", bucket)
    download = origin.route("/download", b"", {"Location": presigned, **FRESH}, status=302)
    assert container(table_name).get(download).text == "a,b\n1,2\n"
    second = container(table_name).get(download)
    assert second.status_code == 200, f"served a redirect to {second.url}: {second.status_code}"


# Vary --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "session_kind",
    [
        "decorator",
        pytest.param(
            "requests-cache",
            marks=pytest.mark.xfail(
                strict=True,
                reason="limitation of requests-cache's own session: its flow revalidates a"
                " stored variant whose Vary does not match, and serves it on a 304 (the"
                " decorator's session treats it as absent)",
            ),
        ),
    ],
)
def test_a_variant_that_does_not_match_vary_is_not_revalidated_for_another_caller(
    table_name: str, origin: OriginServer, session_kind: str
) -> None:
    """alice's variant (Vary: X-Tenant) has a Last-Modified. bob's request does not match it,
    so it must be a miss: instead the cache sends bob's request as a revalidation of alice's
    variant (If-Modified-Since: alice's date); bob's variant was not modified since either,
    the origin says 304, and the cache serves alice's variant to bob."""
    headers = {
        "Content-Type": "application/json",
        "Cache-Control": "no-cache",
        "Vary": "X-Tenant",
        "Last-Modified": LAST_MODIFIED,
    }

    def respond(seen: SeenRequest) -> Route:
        if seen.headers.get("If-Modified-Since") == LAST_MODIFIED:
            return Route(b"", headers, status=304)
        return Route(json.dumps({"tenant": seen.headers.get("X-Tenant")}).encode(), headers)

    url = origin.respond("/profile", respond)
    alice = of_kind(session_kind, table_name).get(url, headers={"X-Tenant": "alice"})
    assert alice.json() == {"tenant": "alice"}
    bob = of_kind(session_kind, table_name).get(url, headers={"X-Tenant": "bob"})
    sent = [dict(s.headers) for s in origin.seen[1:]]
    assert bob.json() == {"tenant": "bob"}, f"bob was served alice's variant; origin saw {sent}"
    again = of_kind(session_kind, table_name).get(url, headers={"X-Tenant": "bob"})
    assert again.json() == {"tenant": "bob"}


def test_a_variant_that_does_not_match_vary_is_not_served_when_the_origin_fails(
    table_name: str, origin: OriginServer
) -> None:
    """stale_if_error: bob's request (not matching alice's variant) is sent as a revalidation
    of alice's; the origin fails, and the cache stands in with alice's variant."""
    headers = {
        "Content-Type": "application/json",
        "Cache-Control": "no-cache",
        "Vary": "X-Tenant",
        "ETag": '"alice-v1"',
    }
    failing = {"now": False}

    def respond(seen: SeenRequest) -> Route:
        if failing["now"]:
            return Route(b'{"error": "down"}', {"Content-Type": "application/json"}, status=503)
        return Route(json.dumps({"tenant": seen.headers.get("X-Tenant")}).encode(), headers)

    url = origin.respond("/profile", respond)
    alice = container(table_name, stale_if_error=True).get(url, headers={"X-Tenant": "alice"})
    assert alice.json() == {"tenant": "alice"}
    failing["now"] = True
    bob = container(table_name, stale_if_error=True).get(url, headers={"X-Tenant": "bob"})
    assert "alice" not in bob.text, "bob was served alice's variant in place of an error"


def test_only_if_cached_with_a_vary_mismatch_does_not_call_the_origin(
    table_name: str, origin: OriginServer
) -> None:
    """only-if-cached (RFC 9111, 5.2.1.7): a stored variant that does not match is no answer;
    the cache answers 504 and the origin is not called."""
    url = origin.respond("/profile", counted({"Vary": "X-Tenant"}))
    container(table_name).get(url, headers={"X-Tenant": "alice"})
    bob = container(table_name).get(url, headers={"X-Tenant": "bob"}, only_if_cached=True)
    assert "alice" not in bob.text
    assert bob.status_code == 504 and origin.hits["/profile"] == 1, "origin called"


@pytest.mark.parametrize("header", ["Cookie", "Authorization"])
def test_vary_on_a_credential_header_serves_no_one_else(
    table_name: str, origin: OriginServer, header: str
) -> None:
    url = origin.respond("/me", counted({"Vary": header}))
    value = {"Cookie": "sid={}", "Authorization": "Bearer {}"}[header]
    alice = container(table_name).get(url, headers={header: value.format("alice")})
    bob = container(table_name).get(url, headers={header: value.format("bob")})
    nobody = container(table_name).get(url)
    assert not bob.from_cache and not nobody.from_cache
    assert len({alice.json()["answer"], bob.json()["answer"], nobody.json()["answer"]}) == 3


def test_a_conditional_request_is_answered_only_from_the_callers_own_partition(
    table_name: str, origin: OriginServer
) -> None:
    """bob sends alice's ETag as If-None-Match: the cache must not confirm alice's version
    (a 304 from her entry) to him."""
    url = origin.respond("/statement", counted({"ETag": '"alice-v1"'}))
    container(table_name).get(url, headers={"Authorization": "Bearer alice"})
    bob = container(table_name).get(
        url, headers={"Authorization": "Bearer bob", "If-None-Match": '"alice-v1"'}
    )
    assert not bob.from_cache and origin.hits["/statement"] == 2


# 304s ----------------------------------------------------------------------------------------


def test_a_304_to_a_callers_own_conditions_does_not_freshen_the_shared_entry(
    table_name: str, origin: OriginServer
) -> None:
    """The stored v1 (no validator) is stale. An attacker sends the current version's tag as
    If-None-Match; the cache forwards it on its refresh, the origin answers 304 (about v2,
    the attacker's tag), and the cache takes that 304 as validating its v1: everyone is then
    served v1 as fresh for the 304's max-age, though the origin has v2."""
    version = {"now": 1}

    def respond(seen: SeenRequest) -> Route:
        tag = f'"v{version["now"]}"'
        if seen.headers.get("If-None-Match") == tag:
            return Route(b"", {"Cache-Control": "max-age=600", "ETag": tag}, status=304)
        body = json.dumps({"version": version["now"]}).encode()
        return Route(body, {"Content-Type": "application/json", "Cache-Control": "max-age=1"})

    url = origin.respond("/news", respond)
    assert container(table_name).get(url).json() == {"version": 1}
    version["now"] = 2
    time.sleep(1.6)
    container(table_name).get(url, headers={"If-None-Match": '"v2"'})
    victim = container(table_name).get(url)
    assert victim.json() == {"version": 2}, "a caller's own 304 kept a superseded entry fresh"


# Maintenance re-keying -----------------------------------------------------------------------


def test_recreate_keys_keeps_a_host_header_partition(table_name: str, origin: OriginServer) -> None:
    """The key covers a Host header the caller set (virtual hosts). recreate_keys() re-derives
    keys from the stored request, which keeps only Vary-named headers: tenant-a's page moves
    to the key of a plain request for the URL."""
    url = origin.respond("/home", counted())
    tenant_a = container(table_name).get(url, headers={"Host": "tenant-a.example"})
    container(table_name).cache.recreate_keys()
    plain = container(table_name).get(url)
    assert not plain.from_cache, "a plain request was served tenant-a's virtual host"
    assert plain.json() != tenant_a.json()


def test_recreate_keys_keeps_a_match_headers_partition(
    table_name: str, origin: OriginServer
) -> None:
    """match_headers=["X-Tenant"] keys entries by tenant; after recreate_keys() a request
    without the header is served alice's entry."""
    url = origin.respond("/home", counted())
    settings = {"match_headers": ["X-Tenant"]}
    alice = container(table_name, **settings).get(url, headers={"X-Tenant": "alice"})
    container(table_name, **settings).cache.recreate_keys()
    other = container(table_name, **settings).get(url)
    assert not other.from_cache, "a request without X-Tenant was served alice's entry"
    assert other.json() != alice.json()
