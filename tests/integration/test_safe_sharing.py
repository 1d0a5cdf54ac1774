"""A shared cache that is safe by construction, tried as an attacker would: nobody is served a
response made for other credentials, no credential rests in the table, neither a hostile
origin nor a hostile writer of the table can poison an entry or fail a request.

Every test here writes to one table, and the last one scans all of it for every secret the
others sent."""

from __future__ import annotations

import itertools
import json
import logging
import os
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests
from lambda_http_cache import CacheConfig, ConfigError, DynamoDbCache
from lambda_http_cache.admin import main as admin
from lambda_http_cache.large_objects import LargeObjectStore
from lambda_http_cache.session import build_session
from requests.auth import AuthBase, HTTPDigestAuth
from requests_cache import CachedSession
from requests_cache.backends.base import BaseCache

from scripts.local_servers import MotoServer, OriginServer, Route, SeenRequest, dynamodb_client
from scripts.local_servers import create_cache_table as create_table
from tests.helpers import cached_session, encode_response, scan_all, stored_responses

# Every secret any test sends: none may ever be found in the table.
SENT: set[str] = set()
USERS = ("alice", "bob")
_numbers = itertools.count()


def secret(user: str, kind: str = "token") -> str:
    value = f"{user}-{kind}-Secret-{next(_numbers):04d}x7f3a9c"
    SENT.add(value)
    return value


def who(seen: SeenRequest, secrets: dict[str, str]) -> str:
    """Which user's secret the request carried, anywhere (path, headers, body)."""
    text = seen.path + json.dumps(seen.headers) + seen.body.decode("latin-1")
    return next((user for user, value in secrets.items() if value in text), "anonymous")


def personal(secrets: dict[str, str], headers: dict[str, str] | None = None) -> Any:
    """A responder whose page names the user whose secret came with the request."""

    def respond(seen: SeenRequest) -> Route:
        page = json.dumps({"page": who(seen, secrets)}).encode()
        return Route(page, {"Content-Type": "application/json", **(headers or {})})

    return respond


@pytest.fixture(scope="module")
def vault(moto_server: MotoServer) -> str:
    """The module's table."""
    name = "http_cache_safety"
    create_table(dynamodb_client(moto_server.endpoint), name)
    return name


@pytest.fixture(autouse=True)
def endpoint(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_server.endpoint)


def page(response: requests.Response) -> str:
    return str(response.json()["page"])


def container(table: str, **settings: Any) -> Any:
    """A new container's session (its own backend, memory tier and connection pool), with the
    decorator's defaults."""
    settings.setdefault("key_secret", "test-key-secret-0123456789")
    settings.setdefault("cache_control", True)
    return cached_session(table, **settings)


def assert_nothing_stored_of(values: Any, ddb: Any, table: str) -> None:
    dump = repr(scan_all(ddb, table))
    for value in values:
        assert value not in dump


# Cross-caller serving ------------------------------------------------------------------------


class TokenOn401(AuthBase):
    """An auth handler that adds a credential after a 401, in a response hook (as NTLM and
    Kerberos handlers do)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.register_hook("response", self.retry)
        return request

    def retry(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != 401:
            return response
        response.content  # noqa: B018 - release the connection, as requests' handlers do
        again = response.request.copy()
        again.headers["X-Session-Token"] = self.token
        answer = response.connection.send(again, **kwargs)
        answer.history.append(response)
        answer.request = again
        return answer


def challenge(secrets: dict[str, str]) -> Any:
    """401 with a Digest challenge unless the request carries credentials."""

    def respond(seen: SeenRequest) -> Route:
        user = who(seen, secrets)
        if "Digest" in seen.headers.get("Authorization", ""):
            user = seen.headers["Authorization"].split('username="')[1].split('"')[0]
        if user == "anonymous":
            return Route(
                b"{}",
                {"WWW-Authenticate": 'Digest realm="api", nonce="n0nce", qop="auth"'},
                status=401,
            )
        page = json.dumps({"page": user}).encode()
        return Route(page, {"Content-Type": "application/json", "Cache-Control": "max-age=600"})

    return respond


@pytest.mark.parametrize("handler", ["digest", "hook"])
def test_credentials_added_by_an_auth_handler_after_the_key_partition_the_response(
    vault: str, origin: OriginServer, ddb: Any, handler: str
) -> None:
    """Case 1: the key is made before the handler adds Authorization (Digest) or a token
    (a hook, as NTLM and Kerberos do): alice's page must never go to the anonymous key."""
    password = secret("alice", "password")
    token = secret("alice")
    url = origin.respond(f"/digest-{handler}", challenge({"alice": token}))
    auth = HTTPDigestAuth("alice", password) if handler == "digest" else TokenOn401(token)
    alice = container(vault)
    assert page(alice.get(url, auth=auth)) == "alice"
    # The handler's response hook runs on the origin's answer before a cache could store it:
    # the request goes around the cache (keys.py), so nothing of it is stored.
    assert alice.cache.stats["unkeyed"] == 1
    anonymous = container(vault).get(url)
    assert anonymous.status_code == 401 and not anonymous.from_cache
    assert "alice" not in anonymous.text
    assert_nothing_stored_of({password, token}, ddb, vault)


def test_a_cookie_set_during_a_redirect_partitions_the_final_page(
    vault: str, origin: OriginServer, ddb: Any
) -> None:
    """Case 2: /sso sets a session cookie on its redirect; /home is personalised."""
    users = itertools.count(1)
    cookies: list[str] = []

    def sso(seen: SeenRequest) -> Route:
        cookies.append(secret(f"user{next(users)}", "cookie"))
        return Route(b"", {"Location": "/home", "Set-Cookie": f"sid={cookies[-1]}"}, 302)

    def home(seen: SeenRequest) -> Route:
        cookie = seen.headers.get("Cookie", "")
        user = next((c.split("-")[0] for c in cookies if c in cookie), "anonymous")
        body = json.dumps({"page": user}).encode()
        return Route(body, {"Content-Type": "application/json", "Cache-Control": "max-age=600"})

    origin.respond("/sso", sso)
    origin.respond("/home", home)
    assert page(container(vault).get(origin.url("/sso"))) == "user1"
    bob = container(vault).get(origin.url("/sso"))
    assert page(bob) == "user2" and not bob.from_cache
    assert page(container(vault).get(origin.url("/home"))) == "anonymous"
    assert_nothing_stored_of(cookies, ddb, vault)


@pytest.mark.parametrize(
    ("encoding", "field"),
    [
        ("json", "access_token"),
        ("form", "api_key"),
        ("json", "client_secret"),
        ("form", "password"),
        ("json", "auth.token"),  # nested
        ("json", "apiKey"),
    ],
)
def test_credentials_in_a_request_body_partition_the_key(
    vault: str, origin: OriginServer, ddb: Any, encoding: str, field: str
) -> None:
    """Case 3: with POST caching on, a credential in the body keys the response."""
    secrets = {user: secret(user) for user in USERS}
    url = origin.respond(f"/search-{encoding}-{field}", personal(secrets))

    def search(user: str) -> requests.Response:
        value: Any = secrets[user]
        for part in reversed(field.split(".")[1:]):
            value = {part: value}
        body = {"q": "shoes", field.split(".")[0]: value}
        session = container(vault, allowable_methods=("GET", "POST"))
        if encoding == "json":
            return session.post(url, json=body)
        return session.post(url, data=body)

    assert [page(search(u)) for u in USERS] == ["alice", "bob"]
    again = [search(u) for u in USERS]
    assert [(r.from_cache, page(r)) for r in again] == [(True, "alice"), (True, "bob")]
    assert_nothing_stored_of(secrets.values(), ddb, vault)


API_KEY_HEADERS = [
    "Ocp-Apim-Subscription-Key",
    "X-Goog-Api-Key",
    "Api-Key",
    "X-RapidAPI-Key",
    "Private-Token",
    "X-Vault-Token",
    "apikey",
    "X-Access-Token",
    "X-Amz-Security-Token",
    "Authorization",
    "Cookie",
]


@pytest.mark.parametrize("name", API_KEY_HEADERS)
def test_api_key_headers_are_credentials_by_rule(
    vault: str, origin: OriginServer, ddb: Any, name: str
) -> None:
    """Case 4: widely used API-key headers outside any list, by the naming rule."""
    secrets = {user: secret(user) for user in USERS}
    url = origin.respond(f"/header/{name}", personal(secrets))

    def fetch(user: str | None) -> requests.Response:
        headers = {name: secrets[user]} if user else {}
        return container(vault).get(url, headers=headers)

    assert [page(fetch(u)) for u in (*USERS, None)] == ["alice", "bob", "anonymous"]
    assert [(r.from_cache, page(r)) for r in map(fetch, (*USERS, None))] == [
        (True, "alice"),
        (True, "bob"),
        (True, "anonymous"),
    ]
    assert_nothing_stored_of(secrets.values(), ddb, vault)


def test_vary_holds_for_a_response_reached_through_a_redirect(
    vault: str, origin: OriginServer
) -> None:
    """Case 5: the final response varies on X-Tenant; the chain's hops must not lose it."""

    def records(seen: SeenRequest) -> Route:
        tenant = seen.headers.get("X-Tenant", "none")
        body = json.dumps({"page": f"records of {tenant}"}).encode()
        headers = {"Content-Type": "application/json", "Vary": "X-Tenant"}
        return Route(body, {**headers, "Cache-Control": "max-age=600"})

    origin.respond("/records", records)
    start = origin.route("/tenant-start", b"", {"Location": "/records"}, status=302)
    origin.route("/tenant-hop", b"", {"Location": "/tenant-start"}, status=302)
    alice = container(vault).get(origin.url("/tenant-hop"), headers={"X-Tenant": "alice"})
    assert page(alice) == "records of alice"
    for url in (origin.url("/tenant-hop"), start, origin.url("/records")):
        nobody = container(vault).get(url)
        assert page(nobody) == "records of none"
        assert page(container(vault).get(url, headers={"X-Tenant": "bob"})) == "records of bob"
    again = container(vault).get(start, headers={"X-Tenant": "alice"})
    assert page(again) == "records of alice"


# Responses that set a cookie ----------------------------------------------------------------


def welcome(headers: dict[str, str]) -> Any:
    """A landing page that starts a session: it greets the visitor (known by a header that is no
    credential and not in the key, as a page may know them by their address or a form) and
    sets their session cookie, with a CSRF token in the page."""

    def respond(seen: SeenRequest) -> Route:
        user = seen.headers.get("X-Visitor", "anonymous")
        body = json.dumps({"page": user, "csrf": secret(user, "csrf")}).encode()
        cookie = f"sid={secret(user, 'cookie')}; Path=/; HttpOnly"
        return Route(body, {"Content-Type": "application/json", "Set-Cookie": cookie, **headers})

    return respond


@pytest.mark.parametrize("cache_control", [None, "max-age=600", "must-revalidate, max-age=600"])
def test_a_page_that_sets_a_session_cookie_is_not_served_to_others(
    vault: str, origin: OriginServer, ddb: Any, cache_control: str | None
) -> None:
    """alice's page sets her session cookie and greets her: bob is not served it, not even
    without the cookie (the page itself is hers)."""
    headers = {"Cache-Control": cache_control} if cache_control else {}
    url = origin.respond("/welcome", welcome(headers))
    alice = container(vault)
    assert page(alice.get(url, headers={"X-Visitor": "alice"})) == "alice"
    bob = container(vault).get(url, headers={"X-Visitor": "bob"})
    assert (bob.from_cache, page(bob)) == (False, "bob")
    again = alice.get(url, headers={"X-Visitor": "alice"})
    assert (again.from_cache, page(again)) == (False, "alice")
    assert origin.hits["/welcome"] == 3
    assert alice.cache.stats["not_stored"] == alice.cache.stats["not_stored_set_cookie"] == 2
    assert "/welcome" not in repr(scan_all(ddb, vault))


@pytest.mark.parametrize("cache_control", ["public", "public, max-age=600", "s-maxage=600"])
def test_a_response_the_origin_marks_shareable_is_shared_without_its_cookies(
    vault: str, origin: OriginServer, ddb: Any, cache_control: str
) -> None:
    cookie = secret("alice", "cookie")
    url = origin.route(
        "/banner",
        '{"page": "banner"}',
        {
            "Content-Type": "application/json",
            "Cache-Control": cache_control,
            "Set-Cookie": f"sid={cookie}; Path=/",
            "Set-Cookie2": f'sid2="{cookie}"; Version="1"',
        },
    )
    first = container(vault).get(url)
    assert cookie in first.headers["Set-Cookie"]  # the caller that made it gets its cookie
    hit = container(vault).get(url)
    assert (hit.from_cache, page(hit)) == (True, "banner")
    assert "Set-Cookie" not in hit.headers and "Set-Cookie2" not in hit.headers
    assert origin.hits["/banner"] == 1
    assert_nothing_stored_of({cookie}, ddb, vault)


@pytest.mark.parametrize("given", ["environment", "backend argument"])
def test_share_set_cookie_shares_load_balancer_responses_without_the_cookie(
    vault: str, origin: OriginServer, ddb: Any, given: str
) -> None:
    """Behind an ALB with stickiness every response sets AWSALB and AWSALBCORS: with the
    setting on, they are shared, and the cookies are stored nowhere."""

    def balanced(seen: SeenRequest) -> Route:
        value = secret("alb", "stickiness")
        return Route(
            b'{"page": "catalogue"}',
            {
                "Content-Type": "application/json",
                "Set-Cookie": f"AWSALB={value}; Expires=Tue, 01 Dec 2099 00:00:00 GMT; Path=/",
                # A second line (the origin's dict needs another letter case for it).
                "set-cookie": f"AWSALBCORS={value}; Path=/; SameSite=None; Secure",
            },
        )

    def sharing() -> Any:
        if given == "backend argument":
            return container(vault, share_set_cookie=True)
        environ = {
            "HTTP_CACHE_TABLE": vault,
            "HTTP_CACHE_SHARE_SET_COOKIE": "true",
            "HTTP_CACHE_KEY_SECRET": "test-key-secret-0123456789",
            "HTTP_CACHE_CONNECT_TIMEOUT": "10",
            "HTTP_CACHE_READ_TIMEOUT": "10",
        }
        return build_session(CacheConfig.from_environment(environ))

    url = origin.respond("/catalogue", balanced)
    default = container(vault)
    default.get(url)
    assert default.cache.stats["not_stored_set_cookie"] == 1  # off by default
    first = sharing().get(url)
    assert not first.from_cache and "AWSALB=" in first.headers["Set-Cookie"]
    hit = sharing().get(url)
    assert (hit.from_cache, page(hit)) == (True, "catalogue")
    assert "Set-Cookie" not in hit.headers
    assert origin.hits["/catalogue"] == 2
    assert "AWSALB" not in repr(scan_all(ddb, vault))


def test_cookie_refusals_are_counted_and_logged_once_per_url(
    table_name: str, origin: OriginServer, caplog: pytest.LogCaptureFixture
) -> None:
    cookie = secret("alice", "cookie")
    sets = {"Content-Type": "application/json", "Set-Cookie": f"sid={cookie}"}
    cart = origin.route("/cart", "{}", sets)
    wishlist = origin.route("/wishlist", "{}", sets)
    account = origin.route(
        "/account", "{}", {"Content-Type": "application/json", "Cache-Control": "private"}
    )
    session = container(table_name)
    with caplog.at_level(logging.WARNING, logger="lambda_http_cache"):
        for url in (cart, f"{cart}?page=2", f"{cart}?page=3", wishlist, account):
            assert not session.get(url).from_cache
    counts, _ = session.cache.stats.drain()
    assert (counts["not_stored"], counts["not_stored_set_cookie"]) == (5, 4)
    logged = [r for r in caplog.records if r.name.startswith("lambda_http_cache")]
    assert [r.levelno for r in logged] == [logging.WARNING, logging.WARNING]
    messages = [r.getMessage() for r in logged]
    assert messages[0].startswith(f"Responses of {cart} are not stored in the shared cache")
    assert messages[1].startswith(f"Responses of {wishlist} are not stored in the shared cache")
    assert all("HTTP_CACHE_SHARE_SET_COOKIE" in m for m in messages)
    assert not any(cookie in m or "page=" in m for m in messages)


# Secrets at rest ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "X-Amz-Security-Token",
        "apiKey",
        "API_KEY",
        "Access_Token",
        "Signature",
        "sig",
        "auth_token",
        "client_secret",
        "APIKEY",
        "session_id",
    ],
)
def test_credential_query_parameters_in_any_letter_case(
    vault: str, origin: OriginServer, ddb: Any, name: str
) -> None:
    """Case 6: names are matched case-insensitively for the key and for redaction alike."""
    secrets = {user: secret(user) for user in USERS}
    url = origin.respond(f"/query/{name}", personal(secrets))

    def fetch(user: str | None) -> requests.Response:
        params = {"page": "2", **({name: secrets[user]} if user else {})}
        return container(vault).get(url, params=params)

    assert [page(fetch(u)) for u in (*USERS, None)] == ["alice", "bob", "anonymous"]
    hit = fetch("alice")
    assert hit.from_cache and page(hit) == "alice"
    assert "page=2" in hit.url  # the rest of the URL is kept as sent
    assert_nothing_stored_of(secrets.values(), ddb, vault)


def test_a_redirect_to_a_presigned_url_leaves_no_credential(
    vault: str, origin: OriginServer, ddb: Any
) -> None:
    """Case 7: the signature, the session token and the credential of a presigned URL."""
    parts = {
        "X-Amz-Credential": secret("AKIA", "credential"),
        "X-Amz-Security-Token": secret("session"),
        "X-Amz-Signature": secret("sig", "signature"),
    }
    query = "&".join(f"{k}={v}" for k, v in parts.items())
    presigned = f"/bucket/report.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=300&{query}"
    origin.route("/bucket/report.csv", "a,b\n1,2\n", {"Content-Type": "text/csv"})
    download = origin.route("/download", b"", {"Location": presigned}, status=302)
    for _ in range(2):
        assert container(vault).get(download).text == "a,b\n1,2\n"
    # Asked for directly, the presigned URL is cached under its credentials' partition.
    assert container(vault).get(origin.url(presigned)).from_cache
    assert not container(vault).get(origin.url("/bucket/report.csv")).from_cache
    assert_nothing_stored_of(parts.values(), ddb, vault)


def test_credentials_in_urls_of_response_headers_are_not_stored(
    vault: str, origin: OriginServer, ddb: Any
) -> None:
    """Case 8: a hop's Location (and the final Content-Location and Link) keep a token. A
    response whose Location or Content-Location carries a credential is not stored (stored
    without it, the URL would not work); a Link is stored without the credential."""
    token = secret("alice")
    origin.route(
        "/b",
        '{"page": "b"}',
        {
            "Content-Type": "application/json",
            "Content-Location": f"/b?access_token={token}",
            "Link": f'</b?page=2&access_token={token}>; rel="next"',
        },
    )
    origin.route("/a", b"", {"Location": f"/b?access_token={token}"}, status=302)
    url = origin.url(f"/a?access_token={token}")
    for _ in range(2):
        response = container(vault).get(url)
        assert not response.from_cache and response.json() == {"page": "b"}
    origin.route(
        "/linked",
        '{"page": "linked"}',
        {
            "Content-Type": "application/json",
            "Link": f'</b?page=2&access_token={token}>; rel="next"',
        },
    )
    assert not container(vault).get(origin.url("/linked")).from_cache
    hit = container(vault).get(origin.url("/linked"))
    assert hit.from_cache and hit.headers["Link"] == '</b?page=2>; rel="next"'
    assert_nothing_stored_of({token}, ddb, vault)


def test_a_password_in_the_url_is_a_credential(vault: str, origin: OriginServer, ddb: Any) -> None:
    """Case 9: userinfo (requests sends it as Basic auth) partitions and is not stored."""
    password = secret("alice", "password")
    secrets = {"alice": requests.auth._basic_auth_str("alice", password).split()[1]}
    url = origin.respond("/userinfo", personal(secrets))
    with_userinfo = url.replace("http://", f"http://alice:{password}@")
    assert page(container(vault).get(with_userinfo)) == "alice"
    anonymous = container(vault).get(url)
    assert (anonymous.from_cache, page(anonymous)) == (False, "anonymous")
    assert container(vault).get(with_userinfo).from_cache
    assert_nothing_stored_of({password, *secrets.values()}, ddb, vault)


# Poisoning and boundaries -----------------------------------------------------------------


def test_an_attacker_redirect_cannot_take_over_a_victim_url(
    vault: str, origin: OriginServer
) -> None:
    """Case 10: /evil redirects through the victim's /victim (which redirects to its
    /landing); then /evil serves its own long-lived body. The victim's URL keeps leading to
    the victim's page, in every container."""
    cacheable = {"Content-Type": "application/json", "Cache-Control": "max-age=86400"}
    origin.route("/landing", '{"page": "genuine"}', cacheable)
    victim = origin.route("/victim", b"", {"Location": "/landing"}, status=302)
    evil = origin.route("/evil", b"", {"Location": "/victim"}, status=302)
    assert page(container(vault).get(evil)) == "genuine"
    origin.route("/evil", '{"page": "poison"}', cacheable)
    assert page(container(vault).get(evil, force_refresh=True)) == "poison"
    assert page(container(vault).get(evil)) == "poison"
    for session in (container(vault), container(vault, memory_cache_bytes=0)):
        hit = session.get(victim)
        assert hit.from_cache and page(hit) == "genuine"
        assert [h.url for h in hit.history] == [victim]  # not the attacker's hop


def test_aliases_are_checked_on_read(vault: str, origin: OriginServer, ddb: Any) -> None:
    """Case 10: an expired alias is not followed, nor one into another credential partition,
    whoever wrote it."""
    target = origin.route("/alias-target", '{"page": "target"}')
    session = container(vault, namespace="aliases")
    assert not session.get(target).from_cache
    cache = session.cache
    target_key = cache.create_key(requests.Request("GET", target).prepare())
    credentialed_key = cache.create_key(
        requests.Request("GET", target, headers={"X-Api-Key": secret("alice")}).prepare()
    )
    past = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    aliases = {
        "/expired": {"target": {"S": target_key}, "expires": {"S": past}},
        "/crossing": {"target": {"S": credentialed_key}},
    }
    for path, attributes in aliases.items():
        key = cache.create_key(requests.Request("GET", origin.url(path)).prepare())
        item = {"key": {"S": f"aliases:{key}"}, "v": {"N": "1"}, "kind": {"S": "redirect"}}
        ddb.put_item(TableName=vault, Item={**item, **attributes})
        origin.route(path, '{"page": "origin"}')
        # not listed either: iteration agrees with lookups
        assert key not in dict(container(vault, namespace="aliases").cache.redirects.items())
        # requests-cache's own session (through get_response) follows aliases: not these.
        backend = container(vault, namespace="aliases").cache
        assert backend.get_response(key) is None
        assert backend.stats["unreadable"] == (1 if path == "/crossing" else 0)
        # The decorator's session stores no alias, so it follows none.
        fresh = container(vault, namespace="aliases")
        response = fresh.get(origin.url(path))
        assert (response.from_cache, page(response)) == (False, "origin")


@pytest.mark.parametrize("namespace", ["orders:eu", "orders*", "", "a/b", "x" * 65, "ns eu"])
def test_unsafe_namespaces_are_refused(namespace: str) -> None:
    """Case 11: the separator or a wildcard in a namespace would let one namespace's scans
    and IAM prefix reach another's."""
    with pytest.raises(ConfigError, match="namespace"):
        DynamoDbCache("http_cache", namespace=namespace)
    with pytest.raises(ConfigError, match="HTTP_CACHE_NAMESPACE"):
        CacheConfig.from_environment({}, namespace=namespace)
    if namespace:
        with pytest.raises(ConfigError, match="HTTP_CACHE_NAMESPACE"):
            CacheConfig.from_environment({"HTTP_CACHE_NAMESPACE": namespace})


def test_a_namespace_lists_and_clears_only_its_own_items(vault: str, origin: OriginServer) -> None:
    url = origin.route("/listed", "{}")
    for namespace in ("orders", "orders-eu", "orders.eu", "ordersx"):
        container(vault, namespace=namespace).get(url)
    orders = container(vault, namespace="orders").cache
    assert len(orders.responses) == 1
    orders.clear()
    assert len(orders.responses) == 0
    for namespace in ("orders-eu", "orders.eu", "ordersx"):
        assert len(container(vault, namespace=namespace).cache.responses) == 1


def test_a_body_location_is_followed_only_to_this_keys_own_object(
    table_name: str,
    origin: OriginServer,
    ddb: Any,
    bucket: str,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Case 12: an item pointing at any other object (another bucket, another key of the
    configured bucket) is unreadable: that object is never read, served or printed."""
    monkeypatch.setenv("HTTP_CACHE_S3_BUCKET", bucket)  # for the admin command
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="private-bucket")
    s3.put_object(Bucket="private-bucket", Key="payroll.csv", Body=b"TOP SECRET payroll")
    s3.put_object(Bucket=bucket, Key="lambda-http-cache/other/abc", Body=b"TOP SECRET other")
    store = LargeObjectStore(s3, bucket)
    url = origin.route("/report", '{"page": "origin"}')
    session = container(table_name, large_objects=store, memory_cache_bytes=0)
    key = session.cache.responses.table_key(
        session.cache.create_key(requests.Request("GET", url).prepare())
    )
    for location in (
        "s3://private-bucket/payroll.csv",
        f"s3://{bucket}/lambda-http-cache/other/abc",
    ):
        item = encode_response(key, "default", session.get(url, force_refresh=True))
        item.pop("body", None)
        item.update(
            {
                "body_location": {"S": location},
                "body_encoding": {"S": "identity"},
                "body_size": {"N": "18"},
            }
        )
        ddb.put_item(TableName=table_name, Item=item)
        unreadable = session.cache.stats["unreadable"]
        response = session.get(url)
        assert (response.from_cache, page(response)) == (False, "origin")
        assert session.cache.stats["unreadable"] == unreadable + 1
        ddb.put_item(TableName=table_name, Item=item)
        capsys.readouterr()
        assert admin(["--table", table_name, "get", url]) == 1
        shown = capsys.readouterr().out
        assert "TOP SECRET" not in shown and "is not this key's location" in shown


def test_the_key_secret_is_a_configured_random_value(
    vault: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Case 13: keys depend on the secret; without one the library works and says, once, what
    that costs; a short secret is refused."""
    request = requests.Request("GET", "https://api.example.com/", headers={"X-Api-Key": "12345"})
    keys = {
        DynamoDbCache(vault, key_secret=value).create_key(request.prepare())
        for value in ("first-secret-0123456789", "other-secret-0123456789", None)
    }
    assert len(keys) == 3
    caplog.clear()
    default = DynamoDbCache(vault)
    default.create_key(request.prepare())
    default.create_key(requests.Request("GET", "https://x/", headers={"X-Api-Key": "2"}).prepare())
    warnings = [r for r in caplog.records if "HTTP_CACHE_KEY_SECRET is not set" in r.message]
    assert len(warnings) == 1
    with pytest.raises(ConfigError, match="HTTP_CACHE_KEY_SECRET"):
        CacheConfig.from_environment({"HTTP_CACHE_KEY_SECRET": "short"})


# Never worse than no cache ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "stored"),
    [
        ({"Expires": ""}, False),
        ({"Expires": "never"}, False),
        ({"Expires": "0"}, False),
        ({"Expires": "Thu, 01 Jan 10000 00:00:00 GMT"}, False),
        ({"Cache-Control": "max-age=999999999999"}, True),
        ({"Cache-Control": "max-age=99999999999999999999999999"}, True),
        ({"Cache-Control": "max-age=-1"}, False),  # case 17
        ({"Cache-Control": "max-age=abc"}, False),
        ({"Cache-Control": "max-age=60, max-age=-5"}, True),  # the first one counts
        ({"Cache-Control": 'max-age="60"'}, True),
        ({"Cache-Control": "max-age=60, stale-if-error=99999999999999"}, True),
        ({"Cache-Control": "max-age=60", "Age": "-5"}, True),  # invalid: ignored (RFC 9111, 5.1)
        ({"Cache-Control": "max-age=60", "Expires": "garbage"}, True),
        ({"Cache-Control": ",,=,max-age=60,,"}, True),
    ],
)
def test_bad_freshness_headers_never_fail_a_request(
    table_name: str, origin: OriginServer, ddb: Any, headers: dict[str, str], stored: bool
) -> None:
    """Cases 14 and 17: invalid means stale (not stored), too large means 2**31 seconds."""
    url = origin.route("/fresh", '{"page": "ok"}', {"Content-Type": "application/json", **headers})
    session = container(table_name, stale_if_error=True)
    responses = [session.get(url) for _ in range(2)]
    assert [page(r) for r in responses] == ["ok", "ok"]
    assert responses[1].from_cache is stored
    items = stored_responses(ddb, table_name)  # not counting a hit-for-miss mark
    assert len(items) == int(stored)
    for item in items:
        expires = datetime.fromisoformat(item["expires"]["S"])
        assert expires <= datetime.now(UTC) + timedelta(seconds=2**31 + 60)
        assert int(item["ttl"]["N"]) == int(expires.timestamp())


def test_request_cache_control_with_spaces_is_sent_as_given(
    table_name: str, origin: OriginServer
) -> None:
    url = origin.route("/cc", '{"page": "ok"}')
    session = container(table_name)
    for options in ({}, {"expire_after": 30}, {"refresh": True}):
        response = session.get(url, headers={"Cache-Control": "max-age=0, no-cache"}, **options)
        assert page(response) == "ok"
    sent = [seen.headers["Cache-Control"] for seen in origin.seen]
    assert sent == [
        "max-age=0, no-cache",
        "max-age=0, no-cache, max-age=30",
        "max-age=0, no-cache, must-revalidate",
    ]


def _bomb(size: int) -> bytes:
    """zlib of ``size`` zero bytes, made a megabyte at a time."""
    packer = zlib.compressobj(9)
    chunk = bytes(1024 * 1024)
    parts = [packer.compress(chunk) for _ in range(size // len(chunk))]
    return b"".join(parts) + packer.flush()


@pytest.mark.parametrize("declared", ["true size", "small size"])
def test_a_compression_bomb_costs_no_more_than_the_body_limit(
    table_name: str, origin: OriginServer, ddb: Any, declared: str
) -> None:
    """Case 15: any writer of the table can store a small item that inflates enormously: it
    is a miss that decodes at most the declared size, itself at most the body limit."""
    inflated = 256 * 1024 * 1024
    bomb = _bomb(inflated)
    assert len(bomb) < 300_000
    url = origin.route("/bomb", '{"page": "origin"}')
    session = container(table_name, memory_cache_bytes=0)
    item = encode_response(
        session.cache.responses.table_key(
            session.cache.create_key(requests.Request("GET", url).prepare())
        ),
        "default",
        session.get(url, force_refresh=True),
    )
    size = inflated if declared == "true size" else 1000
    item.update(
        {"body": {"B": bomb}, "body_encoding": {"S": "zlib"}, "body_size": {"N": str(size)}}
    )
    ddb.put_item(TableName=table_name, Item=item)
    tracemalloc.start()
    try:
        response = session.get(url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (response.from_cache, page(response)) == (False, "origin")
    assert session.cache.stats["unreadable"] == 1
    assert peak < 8 * 1024 * 1024


def test_the_key_memo_keeps_no_body_and_is_bounded_in_bytes(
    table_name: str, origin: OriginServer
) -> None:
    """Case 16: uncached 1 MB uploads leave nothing behind; many URLs stay within the bound."""
    from lambda_http_cache.cache import KEY_MEMO_BYTES

    url = origin.route("/upload", "{}")
    session = container(table_name)
    upload = bytes(1024 * 1024)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for number in range(40):
            session.post(url, data=upload + number.to_bytes(2, "big"))
        origin.seen.clear()  # the origin's own record of what it received
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 4 * 1024 * 1024
    long_query = "&".join(f"field{n}=value{n}" for n in range(100))
    cache = session.cache
    for number in range(1000):
        request = requests.Request("GET", f"https://api.example.com/{number}?{long_query}")
        cache.create_key(request.prepare())
    assert 0 < cache._key_memo.size <= KEY_MEMO_BYTES
    assert len(cache._key_memo) < 1000


def test_admin_shows_escape_sequences_instead_of_running_them(
    table_name: str, origin: OriginServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case 18: the origin's bytes reach the terminal as escapes, not as commands."""
    body = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\r\u202eevil\x9b"
    url = origin.route("/ansi", body, {"Content-Type": "text/plain", "X-Note": "\x1b[5mblink"})
    container(table_name).get(url)
    capsys.readouterr()
    assert admin(["--table", table_name, "get", url]) == 0
    shown = capsys.readouterr().out
    for raw in ("\x1b", "\x07", "\r", "\u202e", "\x9b"):
        assert raw not in shown
    assert "\\x1b]0;pwned\\x07" in shown and "\\x1b[5mblink" in shown and "\\u202eevil" in shown


# One write path ---------------------------------------------------------------------------


def test_reset_expiration_goes_through_the_one_write_path(
    table_name: str, origin: OriginServer, ddb: Any, bucket: str
) -> None:
    """requests-cache's own write paths apply every rule: a body too large for an item goes
    to the bucket again (no ValidationException), and the memory tier follows the table."""
    body = os.urandom(500_000)
    large = origin.route("/large.bin", body, {"Content-Type": "application/octet-stream"})
    small = origin.route("/small", '{"page": "small"}')
    store = LargeObjectStore(boto3.client("s3"), bucket)
    session = container(table_name, large_objects=store)
    session.get(small)
    session.get(large)
    session.cache.reset_expiration(-5)  # every entry expired 5 s ago
    assert session.cache.stats["errors"] == 0
    items = {item["url"]["S"]: item for item in scan_all(ddb, table_name)}
    assert "body_location" in items[large] and "body" not in items[large]
    assert not session.get(small).from_cache  # the memory tier does not serve it as fresh
    session.cache.reset_expiration(600)
    fresh = container(table_name, large_objects=store, memory_cache_bytes=0)
    hits = [fresh.get(url) for url in (large, small)]
    assert [r.from_cache for r in hits] == [True, True]
    assert hits[0].content == body


def test_direct_writes_apply_the_sharing_rules(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    """``responses[key] = response``, ``update`` and ``recreate_keys``: credentials are never
    stored, a response never lands in another partition than its request's."""
    token = secret("alice")
    url = origin.respond("/direct", personal({"alice": token}))
    session = container(table_name)
    alice = session.get(url, headers={"Authorization": f"Bearer {token}"})
    anonymous_key = session.cache.create_key(requests.Request("GET", url).prepare())
    session.cache.responses[anonymous_key] = alice  # the wrong partition: refused
    assert session.cache.stats["not_stored"] == 1
    session.cache.recreate_keys()
    assert page(container(table_name).get(url)) == "anonymous"
    again = container(table_name).get(url, headers={"Authorization": f"Bearer {token}"})
    assert (again.from_cache, page(again)) == (True, "alice")

    other = CachedSession(backend=BaseCache(), expire_after=300)
    other.get(url, headers={"X-Api-Key": token})
    other.get(origin.route("/plain", '{"page": "plain"}'))
    session.cache.update(other.cache)
    assert container(table_name).get(origin.url("/plain")).from_cache
    assert_nothing_stored_of({token}, ddb, table_name)


def test_deletes_leave_the_memory_tier_too(table_name: str, origin: OriginServer) -> None:
    """What this container removed from the table, directly or behind an alias, it no longer
    serves from memory."""
    plain = origin.route("/deleted", '{"page": "deleted"}')
    origin.route("/target", '{"page": "target"}')
    hop = origin.route("/to-target", b"", {"Location": "/target"}, status=302)
    session = container(table_name)
    for url in (plain, hop):
        session.get(url)
        assert session.get(url).from_cache
    session.cache.delete(urls=[plain, origin.url("/target")])
    assert [session.get(url).from_cache for url in (plain, hop)] == [False, False]


# The whole table ----------------------------------------------------------------------------


def test_no_secret_sent_by_this_module_rests_in_its_table(vault: str, ddb: Any) -> None:
    """Runs last: every item the tests above left, every attribute."""
    dump = repr(scan_all(ddb, vault))
    assert len(SENT) > 30
    found = [value for value in SENT if value in dump or value.split("-")[-1] in dump]
    assert found == []


def test_the_credential_rule(vault: str) -> None:
    from lambda_http_cache.sharing import is_credential_name

    for name in [*API_KEY_HEADERS, "oauth_signature", "XAPIKEY", "refreshToken", "jwt", "sid"]:
        assert is_credential_name(name), name
    for name in ["page", "Accept", "If-None-Match", "X-Tenant", "Keep-Alive"]:
        assert not is_credential_name(name), name
    assert is_credential_name("Tenant", frozenset({"tenant"}))
