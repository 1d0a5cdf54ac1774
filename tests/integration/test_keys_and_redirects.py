"""Keys from everything that shapes the response, and redirects judged as responses, against
the local DynamoDB server and origin: each case one caller's answer must never reach another.

The key mechanism itself is proved with generated requests in tests/unit/test_keys.py; here,
the cases found by trying the cache as an attacker would, and their neighbours, end to end.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from lambda_http_cache import DynamoDbCache
from requests.adapters import HTTPAdapter
from requests_cache import CachedSession

from scripts.local_servers import OriginServer, Route, SeenRequest
from tests.helpers import PATIENT, cached_session, scan_all

FRESH = {"Content-Type": "application/json", "Cache-Control": "max-age=600"}
_answers = itertools.count(1)


def counted(headers: dict[str, str] | None = None) -> Callable[[SeenRequest], Route]:
    """A responder whose every answer is numbered, and names what the request carried."""

    def respond(seen: SeenRequest) -> Route:
        body = {"answer": next(_answers), "tenant": seen.headers.get("X-Tenant", "")}
        return Route(json.dumps(body).encode(), {**FRESH, **(headers or {})})

    return respond


def container(table_name: str, **settings: Any) -> Any:
    """A new container's session, with the decorator's defaults."""
    settings.setdefault("key_secret", "test-key-secret-0123456789")
    settings.setdefault("cache_control", True)
    return cached_session(table_name, **settings)


def of_kind(kind: str, table_name: str, expire_after: int) -> Any:
    """A new container's session: the decorator's, or requests-cache's own on the backend."""
    if kind == "decorator":
        return container(table_name, expire_after=expire_after)
    backend = DynamoDbCache(table_name, create_table=False, config=PATIENT)
    return CachedSession(backend=backend, expire_after=expire_after, cache_control=True)


# The transport is part of the key -----------------------------------------------------------


def test_a_response_fetched_without_tls_verification_is_not_served_to_callers_who_verify(
    table_name: str, origin: OriginServer
) -> None:
    origin.route("/doc", b"", {"Location": "/page", **FRESH}, status=302)
    origin.respond("/page", counted())
    url = origin.url("/doc")
    insecure = container(table_name).get(url, verify=False)
    assert insecure.json()["answer"] and insecure.history
    assert container(table_name).get(url, verify=False).from_cache
    verified = container(table_name).get(url)
    assert not verified.from_cache and verified.json() != insecure.json()
    with_bundle = container(table_name).get(url, verify=requests.certs.where())
    assert not with_bundle.from_cache
    assert origin.hits["/doc"] == 3 and origin.hits["/page"] == 3


def test_each_client_certificate_has_its_own_entries(
    table_name: str, origin: OriginServer, tmp_path: Path
) -> None:
    """Mutual TLS: bob, with his own certificate, is never served alice's statement."""
    certificates = {}
    for user in ("alice", "bob"):
        certificates[user] = tmp_path / f"{user}.pem"
        certificates[user].write_text(f"-----BEGIN CERTIFICATE-----\n{user}\n")
    url = origin.respond("/statement", counted())
    alice = container(table_name).get(url, cert=str(certificates["alice"]))
    again = container(table_name).get(url, cert=str(certificates["alice"]))
    assert again.from_cache and again.json() == alice.json()
    (tmp_path / "bob.key").write_text("bob's key")
    bob = container(table_name).get(url, cert=(str(certificates["bob"]), str(tmp_path / "bob.key")))
    assert not bob.from_cache and bob.json() != alice.json()
    anonymous = container(table_name).get(url)
    assert not anonymous.from_cache
    assert origin.hits["/statement"] == 3


def test_an_unreadable_client_certificate_sends_the_request_around_the_cache(
    table_name: str, origin: OriginServer, tmp_path: Path
) -> None:
    """requests itself refuses a certificate it cannot read: the caller sees that refusal,
    as without a cache, and the cache counts the request as one it could not key."""
    url = origin.respond("/statement", counted())
    session = container(table_name)
    for _ in range(2):
        with pytest.raises(OSError, match="certificate"):
            session.get(url, cert=str(tmp_path / "gone.pem"))
    assert session.stats["unkeyed"] == 2 and session.stats["errors"] == 0
    assert origin.hits["/statement"] == 0


def test_a_caller_that_does_not_follow_redirects_gets_the_redirect(
    table_name: str, origin: OriginServer
) -> None:
    """An SSRF guard (allow_redirects=False) is never given the end of another's chain."""
    origin.route("/go", b"", {"Location": "/internal", **FRESH}, status=302)
    origin.respond("/internal", counted())
    url = origin.url("/go")
    followed = container(table_name).get(url)
    assert followed.json()["answer"] and [r.status_code for r in followed.history] == [302]
    guarded = container(table_name).get(url, allow_redirects=False)
    assert guarded.status_code == 302 and guarded.headers["Location"] == "/internal"
    assert guarded.from_cache  # the redirect is a response, stored as such
    assert "answer" not in guarded.text
    assert origin.hits["/internal"] == 1


def test_a_stored_redirect_is_followed_hop_by_hop_from_the_cache(
    table_name: str, origin: OriginServer
) -> None:
    origin.route("/a", b"", {"Location": "/b", **FRESH}, status=301)
    origin.route("/b", b"", {"Location": "/c", **FRESH}, status=302)
    origin.respond("/c", counted())
    first = container(table_name).get(origin.url("/a"))
    again = container(table_name).get(origin.url("/a"))
    assert again.from_cache and again.json() == first.json()
    assert [r.status_code for r in again.history] == [301, 302]
    assert again.url == origin.url("/c")
    assert (origin.hits["/a"], origin.hits["/b"], origin.hits["/c"]) == (1, 1, 1)
    # requests' own rules hold on stored redirects: the redirect limit among them.
    limited = container(table_name)
    limited.max_redirects = 1
    with pytest.raises(requests.TooManyRedirects):
        limited.get(origin.url("/a"))


@pytest.mark.parametrize(
    ("one", "other"),
    [("/q?q=caf%E9", "/q?q=caf%E8"), ("/q?a=1&b=2", "/q?b=2&a=1"), ("/q?q=a+b", "/q?q=a%20b")],
)
def test_queries_that_differ_on_the_wire_do_not_share_an_entry(
    table_name: str, origin: OriginServer, one: str, other: str
) -> None:
    origin.respond("/q", counted())
    first = container(table_name).get(origin.url(one))
    second = container(table_name).get(origin.url(other))
    assert not second.from_cache and second.json() != first.json()
    assert container(table_name).get(origin.url(one)).from_cache


def test_a_credential_header_partitions_whatever_its_letter_case(
    table_name: str, origin: OriginServer
) -> None:
    url = origin.respond("/account", counted())
    alice = container(table_name).get(url, headers={"X-UserSid": "alice-session"})
    bob = container(table_name).get(url, headers={"X-USERSID": "bob-session"})
    assert not bob.from_cache and bob.json() != alice.json()
    shouted = container(table_name).get(url, headers={"X-USERSID": "alice-session"})
    assert shouted.from_cache and shouted.json() == alice.json()


def test_a_host_header_keeps_virtual_hosts_apart(table_name: str, origin: OriginServer) -> None:
    url = origin.respond("/home", counted())
    one = container(table_name).get(url, headers={"Host": "tenant-a.example"})
    other = container(table_name).get(url, headers={"Host": "tenant-b.example"})
    assert not other.from_cache and other.json() != one.json()


class SourceAddressAdapter(HTTPAdapter):
    """An adapter of another kind: it could pin a certificate or a source address."""


def test_an_adapter_the_key_cannot_see_sends_requests_around_the_cache(
    table_name: str, origin: OriginServer
) -> None:
    url = origin.respond("/pinned", counted())
    session = container(table_name)
    session.mount(origin.url("/pinned"), SourceAddressAdapter())
    answers = [session.get(url).json()["answer"] for _ in range(2)]
    assert len(set(answers)) == 2
    assert session.stats["unkeyed"] == 2
    # requests' own adapter, with retries, changes no answer: it is cached as usual.
    plain = container(table_name)
    plain.mount("http://", HTTPAdapter(max_retries=3))
    assert [plain.get(url).from_cache for _ in range(2)] == [False, True]
    assert plain.stats["unkeyed"] == 0


def test_a_send_option_the_key_does_not_know_sends_the_request_around_the_cache(
    table_name: str, origin: OriginServer
) -> None:
    class OptionAdapter(HTTPAdapter):
        def send(self, request: Any, source: str = "", **kwargs: Any) -> Any:  # type: ignore[override]
            return super().send(request, **kwargs)

    url = origin.respond("/option", counted())
    session = container(table_name)
    session.mount("http://", OptionAdapter())
    prepared = session.prepare_request(requests.Request("GET", url))
    for _ in range(2):
        assert not session.send(prepared, source="10.0.0.2").from_cache
    assert session.stats["unkeyed"] == 2


# A redirect is a response -------------------------------------------------------------------


def tenant_redirect(extra: dict[str, str]) -> Callable[[SeenRequest], Route]:
    def respond(seen: SeenRequest) -> Route:
        tenant = seen.headers.get("X-Tenant", "nobody")
        return Route(b"", {"Location": f"/files/{tenant}", **extra}, status=302)

    return respond


@pytest.mark.parametrize(
    "headers",
    [
        {"Cache-Control": "private, max-age=600"},
        {"Cache-Control": "no-store"},
        {"Cache-Control": "max-age=600", "Vary": "X-Tenant"},
        {"Cache-Control": "max-age=600", "Vary": "Accept, x-tenant"},
    ],
    ids=["private", "no-store", "vary", "vary-list"],
)
@pytest.mark.parametrize("session_kind", ["decorator", "requests-cache"])
def test_a_redirect_for_one_tenant_is_never_served_to_another(
    table_name: str, origin: OriginServer, headers: dict[str, str], session_kind: str
) -> None:
    """The redirect's own Cache-Control and Vary decide, as for any response; the file
    behind it is public."""
    origin.respond("/files/latest", tenant_redirect(headers))
    for tenant in ("alice", "bob"):
        origin.route(f"/files/{tenant}", json.dumps({"file": tenant}), FRESH)

    def new_session() -> Any:
        return of_kind(session_kind, table_name, expire_after=300)

    url = origin.url("/files/latest")
    assert new_session().get(url, headers={"X-Tenant": "alice"}).json() == {"file": "alice"}
    assert new_session().get(url, headers={"X-Tenant": "alice"}).json() == {"file": "alice"}
    assert new_session().get(url, headers={"X-Tenant": "bob"}).json() == {"file": "bob"}
    assert new_session().get(url, headers={"X-Tenant": "alice"}).json() == {"file": "alice"}


@pytest.mark.parametrize("session_kind", ["decorator", "requests-cache"])
def test_a_temporary_redirect_without_freshness_is_asked_again(
    table_name: str, origin: OriginServer, ddb: Any, session_kind: str
) -> None:
    """/latest keeps pointing at the newest release, however long the release itself lives."""
    release = {"Cache-Control": "max-age=31536000", "Content-Type": "application/json"}
    for version in ("v1", "v2"):
        origin.route(f"/{version}", json.dumps({"release": version}), release)
    origin.route("/latest", b"", {"Location": "/v1"}, status=302)

    def new_session() -> Any:
        return of_kind(session_kind, table_name, expire_after=31536000)

    url = origin.url("/latest")
    assert new_session().get(url).json() == {"release": "v1"}
    assert new_session().get(url).json() == {"release": "v1"}
    origin.route("/latest", b"", {"Location": "/v2"}, status=302)
    assert new_session().get(url).json() == {"release": "v2"}
    assert origin.hits["/latest"] == 3
    kinds = {item["kind"]["S"] for item in scan_all(ddb, table_name)}
    assert "redirect" not in kinds


def test_an_alias_lives_no_longer_than_the_redirects_it_passes(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    """requests-cache's own session keys a chain's end under the first request and aliases
    the others: each alias ends with the shortest freshness on its way."""
    origin.route("/one", b"", {"Location": "/two", "Cache-Control": "max-age=60"}, status=301)
    origin.route("/two", b"", {"Location": "/end", "Cache-Control": "max-age=6000"}, status=302)
    origin.route("/end", '{"end": true}', {"Cache-Control": "max-age=600000"})
    backend = DynamoDbCache(table_name, create_table=False, config=PATIENT)
    CachedSession(backend=backend, expire_after=300, cache_control=True).get(origin.url("/one"))
    aliases = [item for item in scan_all(ddb, table_name) if item["kind"]["S"] == "redirect"]
    lifetimes = sorted(int(item["ttl"]["N"]) for item in aliases)
    responses = [item for item in scan_all(ddb, table_name) if item["kind"]["S"] == "response"]
    end = max(int(item["ttl"]["N"]) for item in responses)
    assert len(lifetimes) == 2
    assert lifetimes[1] - lifetimes[0] > 5000  # /one's alias: 60 s; /two's: 6000 s
    assert lifetimes[1] < end


def test_a_direct_request_for_a_chains_end_carries_no_one_elses_history(
    table_name: str, origin: OriginServer
) -> None:
    origin.route("/from-attacker", b"", {"Location": "/page", **FRESH}, status=302)
    origin.route("/page", '{"page": 1}', FRESH)
    backend = DynamoDbCache(table_name, create_table=False, config=PATIENT)
    CachedSession(backend=backend, expire_after=300, cache_control=True).get(
        origin.url("/from-attacker")
    )
    direct = container(table_name).get(origin.url("/page"))
    assert direct.from_cache and direct.history == []
    # requests-cache's own session keys a request that follows redirects apart (keys.py).
    drop_in = CachedSession(backend=backend, expire_after=300, cache_control=True)
    assert [drop_in.get(origin.url("/page")).history for _ in range(2)] == [[], []]


# The key memo holds what it counts ----------------------------------------------------------


def test_the_key_memo_counts_what_it_holds_whatever_vary_names(
    table_name: str, origin: OriginServer
) -> None:
    """A hostile origin's widest Vary (a header line holds 64 KB): the keys derived for it
    are counted whole by the one accounting rule, so the memo stays within its bound."""
    from lambda_http_cache.bounded import footprint
    from lambda_http_cache.cache import KEY_MEMO_BYTES

    names = [f"x-vary-{index:05d}-{'n' * 30}" for index in range(1_400)]
    session = container(table_name)
    for index in range(12):
        wide = origin.url(f"/wide?page={index}")
        origin.route(f"/wide?page={index}", '{"wide": true}', {**FRESH, "Vary": ", ".join(names)})
        for _ in range(2):
            assert session.get(wide).json() == {"wide": True}
    memo = session.cache._key_memo
    held = sum(footprint(k) + footprint(v) for k, (v, _) in memo._entries.items())
    assert memo.size == held <= KEY_MEMO_BYTES


def test_keys_recreated_from_the_table_keep_the_transport(
    table_name: str, origin: OriginServer, ddb: Any
) -> None:
    """A stored request carries the transport it went over (without its secrets), so
    requests-cache's recreate_keys() cannot move an entry fetched without TLS verification
    to the key of callers who verify."""
    url = origin.respond("/doc", counted())
    first = container(table_name).get(url, verify=False)
    (item,) = scan_all(ddb, table_name)
    assert item["request"]["M"]["transport"]["M"]["verify"] == {"BOOL": False}
    container(table_name).cache.recreate_keys()
    assert [i["key"] for i in scan_all(ddb, table_name)] == [item["key"]]
    assert not container(table_name).get(url).from_cache
    assert container(table_name).get(url, verify=False).json() == first.json()


# Response hooks ----------------------------------------------------------------------------


def test_a_hook_given_for_one_request_shapes_nothing_another_caller_is_served(
    table_name: str, origin: OriginServer
) -> None:
    """requests runs a request's response hooks on the origin's answer before the cache
    stores it: such a request goes around the cache."""

    def greet_alice(response: Any, *args: Any, **kwargs: Any) -> Any:
        response._content = b'{"greeting": "hello alice"}'
        return response

    url = origin.respond("/greeting", counted())
    alice = container(table_name)
    assert alice.get(url, hooks={"response": greet_alice}).json() == {"greeting": "hello alice"}
    assert alice.stats["unkeyed"] == 1
    bob = container(table_name).get(url)
    assert not bob.from_cache and "greeting" not in bob.json()


def test_hooks_the_session_had_at_init_run_for_every_caller_and_are_cached_around(
    table_name: str, origin: OriginServer
) -> None:
    seen: list[int] = []

    def count(response: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(response.status_code)
        return response

    url = origin.respond("/counted", counted())
    session = container(table_name)
    session.hooks["response"].append(count)
    assert [session.get(url).from_cache for _ in range(2)] == [False, True]
    assert session.stats["unkeyed"] == 0 and len(seen) >= 2
