"""The cache key (keys.py), proved in both directions with generated requests:

- requests that differ in one part that shapes the response never share a key;
- requests that are the same on the wire (up to what RFC 3986, 6.2.2 says an origin cannot
  tell apart) always share one.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from lambda_http_cache.keys import (
    Transport,
    UnkeyedRequest,
    normalize_percent,
    split_target,
    stamp,
    transport_of,
    unkeyed_reason,
)
from lambda_http_cache.sharing import SharingPolicy

POLICY = SharingPolicy(secret=b"unit-test-secret-0123456789")
UNRESERVED = string.ascii_letters + string.digits + "-._~"
# Characters of a path or query segment that requests sends as they are.
SEGMENT = UNRESERVED + "!$'()*+,;:@"


def key(request: Any, transport: Transport | None = None, **match: Any) -> str:
    if isinstance(request, requests.Request):
        request = request.prepare()
    return POLICY.key(request, transport or Transport(), **match)


# What goes on the wire --------------------------------------------------------------------

segments = st.text(SEGMENT, min_size=1, max_size=8)
hosts = st.lists(
    st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8), min_size=1, max_size=3
).map(".".join)
paths = st.lists(segments, max_size=4).map(lambda parts: "/" + "/".join(parts))
params = st.lists(
    st.tuples(st.text(string.ascii_lowercase, min_size=1, max_size=6), segments), max_size=4
)
credential_names = st.sampled_from(
    ["Authorization", "X-Api-Key", "Cookie", "X-Amz-Security-Token", "XSID", "private-token"]
)
values = st.binary(min_size=1, max_size=12).map(lambda b: b.hex())


@st.composite
def wire_requests(draw: Any) -> dict[str, Any]:
    """The parts of a request as it goes on the wire."""
    query = draw(params)
    return {
        "method": draw(st.sampled_from(["GET", "HEAD", "POST", "DELETE"])),
        "scheme": draw(st.sampled_from(["http", "https"])),
        "host": draw(hosts),
        "port": draw(st.sampled_from([None, 8080, 8443])),
        "path": draw(paths),
        "query": "&".join(f"{name}={value}" for name, value in query),
        "headers": draw(st.dictionaries(credential_names, values, max_size=2)),
        "body": draw(st.sampled_from([None, b"a=1", b"a=2", b'{"q": 1}'])),
    }


def build(parts: dict[str, Any], *, spelling: Any = None) -> requests.PreparedRequest:
    """A prepared request for ``parts``; ``spelling`` (a hypothesis data object) spells the
    URL in one of the ways an origin cannot tell apart."""
    scheme, host, path, query = parts["scheme"], parts["host"], parts["path"], parts["query"]
    port = parts["port"]
    headers = dict(parts["headers"])
    if spelling is not None:
        scheme = "".join(c.upper() if spelling.draw(st.booleans()) else c for c in scheme)
        host = "".join(c.upper() if spelling.draw(st.booleans()) else c for c in host)
        if port is None and spelling.draw(st.booleans()):
            port = 443 if parts["scheme"] == "https" else 80  # the default port, spelt out
        path = "".join(_spell(c, spelling) for c in path)
        headers = {
            (name.upper() if spelling.draw(st.booleans()) else name.lower()): value
            for name, value in headers.items()
        }
    authority = host if port is None else f"{host}:{port}"
    url = f"{scheme}://{authority}{path}" + (f"?{query}" if query else "")
    return requests.Request(parts["method"], url, headers=headers, data=parts["body"]).prepare()


def _spell(character: str, spelling: Any) -> str:
    """An unreserved character, or its percent-encoding in either case of hex digits."""
    if character not in UNRESERVED or not spelling.draw(st.booleans()):
        return character
    encoded = f"%{ord(character):02X}"
    return encoded.lower() if spelling.draw(st.booleans()) else encoded


@settings(max_examples=300, deadline=None)
@given(wire_requests(), st.data())
def test_requests_that_are_the_same_on_the_wire_share_a_key(
    parts: dict[str, Any], data: Any
) -> None:
    assert key(build(parts)) == key(build(parts, spelling=data))


# One part changed -------------------------------------------------------------------------


def _other(draw: Any, current: Any, strategy: Any) -> Any:
    other = draw(strategy)
    assume(other != current)
    return other


@settings(max_examples=400, deadline=None)
@given(wire_requests(), st.data())
def test_requests_that_differ_in_one_part_never_share_a_key(
    parts: dict[str, Any], data: Any
) -> None:
    part = data.draw(
        st.sampled_from(["method", "scheme", "host", "port", "path", "query", "headers", "body"])
    )
    strategies = {
        "method": st.sampled_from(["GET", "HEAD", "POST", "DELETE", "PUT"]),
        "scheme": st.sampled_from(["http", "https"]),
        "host": hosts,
        "port": st.sampled_from([None, 8080, 8443, 9000]),
        "path": paths,
        "query": params.map(lambda q: "&".join(f"{n}={v}" for n, v in q)),
        "headers": st.dictionaries(credential_names, values, min_size=1, max_size=2),
        "body": st.sampled_from([None, b"a=1", b"a=2", b"a=1 "]),
    }
    changed = {**parts, part: _other(data.draw, parts[part], strategies[part])}
    if part == "headers":
        # Header names are case-insensitive: a change of letter case alone is no change.
        lower = {k.lower(): v for k, v in parts["headers"].items()}
        assume({k.lower(): v for k, v in changed["headers"].items()} != lower)
    first, second = build(parts), build(changed)
    assume(first.url != second.url or part not in ("path", "query"))
    assume(first.body != second.body or part != "body")
    assume(first.method != second.method or part != "method")
    assert key(first) != key(second)


transports = st.builds(
    Transport,
    verify=st.sampled_from([True, False, "/etc/ssl/a.pem", "/etc/ssl/b.pem"]),
    cert=st.just(()),  # client certificates: test_a_client_certificate_partitions...
    proxy=st.sampled_from(
        ["", "http://proxy-a:3128", "http://proxy-b:3128", "http://u:p@proxy-a:3128"]
    ),
    follow_redirects=st.booleans(),
    max_redirects=st.sampled_from([30, 5]),
)


@settings(max_examples=200, deadline=None)
@given(wire_requests(), transports, transports)
def test_requests_over_different_transports_never_share_a_key(
    parts: dict[str, Any], one: Transport, other: Transport
) -> None:
    assume(one != other)
    request = build(parts)
    assert key(request, one) != key(request, other)


def test_a_client_certificate_partitions_by_its_identity(tmp_path: Path) -> None:
    alice, bob, alice_again = (tmp_path / name for name in ("alice.pem", "bob.pem", "copy.pem"))
    alice.write_bytes(b"-----BEGIN CERTIFICATE-----\nalice\n")
    bob.write_bytes(b"-----BEGIN CERTIFICATE-----\nbob\n")
    alice_again.write_bytes(alice.read_bytes())
    request = requests.Request("GET", "https://bank.example/statement").prepare()
    keys = {
        name: key(request, Transport(cert=(str(path),)))
        for name, path in (("alice", alice), ("bob", bob), ("copy", alice_again))
    }
    assert keys["alice"] != keys["bob"] and keys["alice"] != key(request)
    # The identity is the certificate, not where the file is.
    assert keys["alice"] == keys["copy"]
    # The identity is secret-like: it partitions through the keyed hash, like a credential.
    assert keys["alice"].partition("-")[0] == key(request).partition("-")[0]
    bob.write_bytes(b"-----BEGIN CERTIFICATE-----\nbob, renewed\n")
    assert key(request, Transport(cert=(str(bob),))) != keys["bob"]


def test_an_unreadable_client_certificate_cannot_be_keyed(tmp_path: Path) -> None:
    request = requests.Request("GET", "https://bank.example/statement").prepare()
    with pytest.raises(UnkeyedRequest):
        key(request, Transport(cert=(str(tmp_path / "missing.pem"),)))


# Examples: what the issue found, and their neighbours ---------------------------------------


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("https://h/?q=caf%E9", "https://h/?q=caf%E8"),  # not UTF-8: kept as bytes
        ("https://h/?q=caf%C3%A9", "https://h/?q=caf%C3%A8"),
        ("https://h/?a=1&b=2", "https://h/?b=2&a=1"),  # order is on the wire
        ("https://h/?a=1", "https://h/?a=1&"),
        ("https://h/?q=a+b", "https://h/?q=a%20b"),  # '+' is a space only to some origins
        ("https://h/p%2Fq", "https://h/p/q"),  # an encoded slash is not a slash
        ("https://h/?token=a%E9", "https://h/?token=a%E8"),  # in a credential, too
        ("https://h/?token=a&sig=b", "https://h/?sig=b&token=a"),
        ("https://h/", "https://h:8443/"),
        ("http://h/", "https://h/"),
    ],
)
def test_urls_that_differ_on_the_wire_have_different_keys(one: str, other: str) -> None:
    assert key(requests.Request("GET", one)) != key(requests.Request("GET", other))


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("HTTPS://API.Example.COM/items", "https://api.example.com/items"),
        ("https://api.example.com:443/items", "https://api.example.com/items"),
        ("http://api.example.com:80/items", "http://api.example.com/items"),
        ("https://h/%7Euser/%41", "https://h/~user/A"),
        ("https://h/?q=%7e", "https://h/?q=~"),
        ("https://h/a%2fb", "https://h/a%2Fb"),  # case of hex digits
        ("https://h/items#top", "https://h/items"),  # a fragment is never sent
        ("https://h", "https://h/"),
    ],
)
def test_urls_an_origin_cannot_tell_apart_share_a_key(one: str, other: str) -> None:
    assert key(requests.Request("GET", one)) == key(requests.Request("GET", other))


@pytest.mark.parametrize("name", ["XSID", "X-UserSid", "x-usersid", "X-API-KEY", "x-api-key"])
def test_a_credential_header_partitions_in_any_letter_case(name: str) -> None:
    request = requests.Request("GET", "https://h/", headers={name: "alice"})
    other = requests.Request("GET", "https://h/", headers={name.swapcase(): "bob"})
    same = requests.Request("GET", "https://h/", headers={name.swapcase(): "alice"})
    assert key(request) != key(other)
    assert key(request) == key(same)
    assert "-" in key(request)


def test_a_host_header_names_the_resource() -> None:
    def as_host(host: str | None) -> str:
        headers = {"Host": host} if host else {}
        return key(requests.Request("GET", "http://10.0.0.1/", headers=headers))

    assert len({as_host(None), as_host("tenant-a.example"), as_host("tenant-b.example")}) == 3
    assert as_host("Tenant-A.example") == as_host("tenant-a.example")


def test_headers_named_by_vary_are_matched() -> None:
    english = requests.Request("GET", "https://h/", headers={"Accept-Language": "en"})
    french = requests.Request("GET", "https://h/", headers={"Accept-Language": "fr"})
    assert key(english) == key(french)
    vary = {"match_headers": ["accept-language"]}
    assert key(english, **vary) != key(french, **vary)


def test_proxy_credentials_are_secrets_and_proxies_part_of_the_key() -> None:
    request = requests.Request("GET", "http://h/").prepare()
    direct = key(request)
    via_a = key(request, Transport(proxy="http://proxy-a:3128"))
    via_a_as_alice = key(request, Transport(proxy="http://alice:pw@proxy-a:3128"))
    assert len({direct, via_a, via_a_as_alice}) == 3
    assert "alice" not in via_a_as_alice and "pw" not in via_a_as_alice


# The transport as requests would send it ----------------------------------------------------


def test_the_transport_comes_from_the_options_then_the_session() -> None:
    session = requests.Session()
    session.verify = "/etc/ssl/corporate.pem"
    session.max_redirects = 5
    url = "https://h/"
    assert transport_of(url, {}, session).verify == "/etc/ssl/corporate.pem"
    assert transport_of(url, {"verify": False}, session).verify is False
    assert transport_of(url, {"cert": ("c.pem", "k.pem")}, session).cert == ("c.pem", "k.pem")
    assert transport_of(url, {"proxies": {"https": "http://p:1"}}, session).proxy == "http://p:1"
    assert transport_of(url, {"proxies": {"http": "http://p:1"}}, session).proxy == ""
    assert transport_of(url, {"allow_redirects": True}, session).follow_redirects
    assert transport_of(url, {}, session).max_redirects == 5


def test_the_transport_without_a_session_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/bundle.pem")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    transport = transport_of("https://h/", {})
    assert transport.verify == "/etc/ssl/bundle.pem"
    assert transport.proxy == "http://proxy:3128"


def test_options_the_key_cannot_account_for() -> None:
    assert unkeyed_reason({"verify": True, "timeout": 3, "stream": True}) is None
    assert unkeyed_reason({"allow_redirects": False, "proxies": {}, "cert": None}) is None
    reason = unkeyed_reason({"source_address": ("10.0.0.2", 0)})
    assert reason is not None and "source_address" in reason


def test_a_stamp_carries_the_transport_to_every_key_derived_later() -> None:
    request = requests.Request("GET", "https://h/").prepare()
    insecure = Transport(verify=False)
    stamp(request, insecure)
    assert POLICY.fingerprint(request) is None
    assert key(request, insecure) != key(request)


# The normalisations themselves --------------------------------------------------------------


@given(st.text(alphabet=string.printable, max_size=30))
def test_percent_normalisation_is_idempotent_and_keeps_other_bytes(text: str) -> None:
    once = normalize_percent(text)
    assert normalize_percent(once) == once
    assert once.replace("%", "") != "" or text.replace("%", "") == ""


def test_split_target_keeps_ipv6_literals_and_ports() -> None:
    assert split_target("http://[::1]:8080/x").authority == "[::1]:8080"
    assert split_target("http://[::1]:80/x").authority == "[::1]"
    assert split_target("HTTP://User:Pw@H:80/").userinfo == "User:Pw"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("https://h/%7euser/%41", "https://h/~user/A"),
        ("https://h/%e9", "https://h/%E9"),
        ("HTTPS://H/", "https://h/"),
    ],
)
def test_a_request_rebuilt_from_the_table_is_normalised_alike(one: str, other: str) -> None:
    """requests' preparation already normalises what it sends; a request rebuilt from the
    table (never prepared) gets the same normalisations from the key itself."""
    from requests_cache.models.request import CachedRequest

    assert key(CachedRequest(method="GET", url=one)) == key(CachedRequest(method="GET", url=other))


def test_each_tenant_has_its_own_keys() -> None:
    """Lambda's tenant isolation mode: the tenant partitions like a credential."""
    request = requests.Request("GET", "https://h/files").prepare()
    blue, green = key(request, Transport(tenant="blue")), key(request, Transport(tenant="green"))
    assert len({blue, green, key(request)}) == 3
    assert blue.partition("-")[0] == key(request).partition("-")[0]


@pytest.mark.parametrize(
    ("one", "other"),
    [("https://h/0/%2E", "https://h/0/"), ("https://h/a/%2e%2E/b", "https://h/b")],
)
def test_encoded_dot_segments_are_the_segments_they_spell(one: str, other: str) -> None:
    """RFC 3986, 6.2.2: %2E is an unreserved dot, and dot segments are then removed."""
    assert key(requests.Request("GET", one)) == key(requests.Request("GET", other))
