"""A shared cache that leaks nothing: credentials partition entries and never reach the table;
private and no-store responses are not stored; namespaces keep functions apart."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from scripts.local_servers import OriginServer
from tests.helpers import cached_session, scan_all, stored_responses

SECRETS = {
    "alice": "Bearer alice-Secret-7f3a9c",
    "bob": "Bearer bob-Secret-0d41e2",
}


@pytest.mark.parametrize(
    ("where", "name"),
    [
        ("header", "Authorization"),
        ("header", "Proxy-Authorization"),
        ("header", "Cookie"),
        ("header", "X-API-Key"),
        ("query", "api_key"),
        ("query", "access_token"),
        ("header", "X-Tenant-Token"),  # a name the user adds to ignored_parameters
        ("query", "sig"),  # likewise
    ],
)
def test_responses_are_served_only_to_the_same_credentials(
    table_name: str, origin: OriginServer, ddb: Any, where: str, name: str
) -> None:
    origin.route("/me", '{"account": 1}')
    ignored = ["Authorization", "X-API-KEY", "access_token", "api_key", "X-Tenant-Token", "sig"]

    def fetch(secret: str | None) -> requests.Response:
        session = cached_session(table_name, ignored_parameters=ignored)
        if secret is None:
            return session.get(origin.url("/me"))
        if where == "header":
            return session.get(origin.url("/me"), headers={name: secret})
        return session.get(origin.url("/me"), params={name: secret})

    assert not fetch(SECRETS["alice"]).from_cache
    assert not fetch(SECRETS["bob"]).from_cache  # other credentials: not alice's response
    assert not fetch(None).from_cache  # no credentials: not theirs either
    assert fetch(SECRETS["alice"]).from_cache
    assert fetch(SECRETS["bob"]).from_cache
    assert fetch(None).from_cache
    assert sum(origin.hits.values()) == 3

    dump = repr(scan_all(ddb, table_name))
    for secret in SECRETS.values():
        for fragment in (secret, secret.split()[-1]):
            assert fragment not in dump
            assert fragment.replace(" ", "+") not in dump
            assert fragment.replace(" ", "%20") not in dump


def test_cookies_set_by_the_origin_are_not_stored(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    """A response that sets a cookie is not shared unless the origin marks it public; when it
    is, it is shared without its cookie."""
    cookie = {"Content-Type": "application/json", "Set-Cookie": "sid=s3cr3t"}
    login = origin.route("/login", '{"ok": true}', cookie)
    banner = origin.route("/banner", '{"ok": true}', {**cookie, "Cache-Control": "public"})
    cached_session(table_name).get(login)
    assert not cached_session(table_name).get(login).from_cache
    cached_session(table_name).get(banner)
    hit = cached_session(table_name).get(banner)
    assert hit.from_cache
    assert "Set-Cookie" not in hit.headers
    assert "s3cr3t" not in repr(scan_all(ddb, table_name))


def test_session_cookies_partition_like_credentials(table_name: str, origin: OriginServer) -> None:
    url = origin.route("/cart", '{"items": 2}')
    alice = cached_session(table_name)
    alice.cookies.set("session", "alice-cookie")
    bob = cached_session(table_name)
    bob.cookies.set("session", "bob-cookie")
    assert not alice.get(url).from_cache
    assert not bob.get(url).from_cache


@pytest.mark.parametrize("directive", ["private", "no-store", "private, max-age=600"])
def test_private_and_no_store_responses_are_not_stored(
    table_name: str, origin: OriginServer, ddb: Any, directive: str
) -> None:
    url = origin.route("/p", "{}", {"Content-Type": "application/json", "Cache-Control": directive})
    session = cached_session(table_name)
    assert [session.get(url).from_cache for _ in range(2)] == [False, False]
    assert stored_responses(ddb, table_name) == []  # at most a hit-for-miss mark
    assert session.cache.stats["not_stored"] == 2


def test_no_store_is_honoured_even_with_cache_control_off(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    url = origin.route(
        "/ns", "{}", {"Content-Type": "application/json", "Cache-Control": "no-store"}
    )
    cached_session(table_name, cache_control=False).get(url)
    assert stored_responses(ddb, table_name) == []  # at most a hit-for-miss mark


def test_private_responses_are_stored_when_the_user_opts_in(
    table_name: str, origin: OriginServer
) -> None:
    url = origin.route("/p", "{}", {"Content-Type": "application/json", "Cache-Control": "private"})
    cached_session(table_name, store_private=True).get(url)
    assert cached_session(table_name, store_private=True).get(url).from_cache


def test_namespaces_do_not_see_each_other(table_name: str, origin: OriginServer) -> None:
    url = origin.route("/ns", '{"n": 1}')
    assert not cached_session(table_name, namespace="orders").get(url).from_cache
    assert not cached_session(table_name, namespace="billing").get(url).from_cache
    assert cached_session(table_name, namespace="orders").get(url).from_cache
    assert origin.hits["/ns"] == 2


def test_the_key_secret_changes_credential_keys(table_name: str, origin: OriginServer) -> None:
    url = origin.route("/k", "{}")
    headers = {"Authorization": SECRETS["alice"]}
    cached_session(table_name, key_secret="one").get(url, headers=headers)
    assert cached_session(table_name, key_secret="one").get(url, headers=headers).from_cache
    assert not cached_session(table_name, key_secret="two").get(url, headers=headers).from_cache
