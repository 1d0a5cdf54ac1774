"""The cache key: derived in one place, :func:`derive_key`, from the request as it goes on the
wire and the transport that carries it.

A key has two parts, ``<base>-<fingerprint>``:

- the base, a hash of what is not secret: the method; the request target after requests'
  own preparation, with only the normalisations an origin cannot tell apart (RFC 3986,
  6.2.2: case of scheme and host, the default port, percent-encoded unreserved characters,
  the case of percent-encoding hex digits), the fragment left out since it is never sent; a
  ``Host`` header that overrides the URL's; the headers the caller asked to match (or a
  response's ``Vary`` named); and the transport context that changes what a caller may
  receive: TLS verification and its CA bundle, the proxy the request goes through, and the
  redirect policy (whether redirects are followed, and how many);
- the fingerprint, a keyed hash (HMAC-SHA256, see :class:`~.sharing.SharingPolicy`) of what is
  secret, as raw bytes, never decoded: every credential-named header (names compared without
  regard to case) and query parameter, the URL's userinfo, the body, the identity of the
  client certificate (a hash of the certificate file), a proxy's userinfo, and the tenant of
  Lambda's tenant isolation mode. Requests without any have no fingerprint.

So two requests share a key only if they are the same on the wire, over the same transport;
and requests that are the same on the wire always do. A request option the key cannot
account for (:func:`unkeyed_reason`) sends the request around the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple
from urllib.parse import unquote_to_bytes, urlsplit

from requests.models import DEFAULT_REDIRECT_LIMIT
from requests.utils import get_environ_proxies, select_proxy

# send() options a key accounts for: the transport context, and those that change nothing of
# what the origin answers (how long to wait, whether the body is read lazily).
KEYED_OPTIONS = frozenset({"verify", "cert", "proxies", "allow_redirects"})
NEUTRAL_OPTIONS = frozenset({"stream", "timeout"})
DEFAULT_PORTS = {"http": "80", "https": "443"}
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_TRIPLET = re.compile(r"%([0-9A-Fa-f]{2})")


class Transport(NamedTuple):
    """What of the transport changes what a caller may receive."""

    # True, False, or the path of a CA bundle.
    verify: bool | str = True
    # The client certificate's file and key file, as given (identity: cert_identity()).
    cert: tuple[str, ...] = ()
    # The proxy the request goes through ("" for none), as given.
    proxy: str = ""
    # False: the key names the URL's own response (a redirect, if it redirects), which is how
    # the decorator's session keys every request; True: the end of the chain that following
    # redirects from the URL reaches (how requests-cache's own session keys them).
    follow_redirects: bool = False
    max_redirects: int = DEFAULT_REDIRECT_LIMIT
    # The invocation's tenant, in Lambda's tenant isolation mode ("" outside it): each tenant
    # has its own entries, as it has its own execution environments.
    tenant: str = ""


class UnkeyedRequest(Exception):
    """A request with an option the key cannot account for (the message says which)."""


def transport_of(url: str, options: Mapping[str, Any], session: Any = None) -> Transport:
    """The transport context of a request to ``url`` sent with ``options`` (send()'s keywords),
    with ``session``'s settings for what they leave out, as requests' send() would. Without a
    session, as a plain requests session in this environment would send it (its CA bundle
    and proxy variables): so keys computed outside a session (the admin command, a
    requests-cache session) agree with the decorator's."""
    if "verify" in options:
        verify = options["verify"]
    elif session is not None:
        verify = getattr(session, "verify", True)
    else:
        verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    cert = options.get("cert", getattr(session, "cert", None))
    proxies = options.get("proxies")
    trust_env = session is None or getattr(session, "trust_env", False)
    if proxies is None:
        proxies = dict(getattr(session, "proxies", None) or {})
        if trust_env:
            proxies = {**get_environ_proxies(url), **proxies}
    return Transport(
        # As requests' adapter reads it: a CA bundle's path, else verification if truthy.
        verify=verify if isinstance(verify, str) and verify else bool(verify),
        cert=_cert_files(cert),
        proxy=str(select_proxy(url, proxies) or "") if proxies else "",
        follow_redirects=bool(options.get("allow_redirects", True)),  # send()'s default
        max_redirects=int(getattr(session, "max_redirects", DEFAULT_REDIRECT_LIMIT)),
        tenant=str(getattr(session, "tenant_id", "") or ""),
    )


def _cert_files(cert: Any) -> tuple[str, ...]:
    """requests' ``cert`` (a path, or a pair of paths; anything empty is none) as a tuple."""
    if not cert:
        return ()
    return (str(cert),) if isinstance(cert, str | bytes) else tuple(str(p) for p in cert if p)


def stamp(request: Any, transport: Transport) -> None:
    """Record on ``request`` the transport it is sent over: every key later derived from it
    (its response's, a redirect hop's, a refresh's) then accounts for it."""
    # A request rebuilt from the table cannot take it: it has the default transport.
    with contextlib.suppress(AttributeError):
        request.cache_transport = transport


def stamped_transport(request: Any) -> Transport:
    """The transport ``request`` was sent over (:func:`stamp`), or else the one a plain
    session in this environment would send it over."""
    stamped: Transport | None = getattr(request, "cache_transport", None)
    if stamped is not None:
        return stamped
    # A request never sent (the admin command's, one rebuilt from the table) is keyed as the
    # decorator's session keys every request: for its own response.
    return transport_of(str(request.url or ""), {"allow_redirects": False})


def stored_transport(transport: Transport) -> Transport:
    """``transport`` as it may rest in the table: without what the key's fingerprint already
    accounts for (the client certificate, a proxy's userinfo, the tenant)."""
    return transport._replace(cert=(), proxy=_proxy_userinfo(transport.proxy)[0], tenant="")


def _proxy_userinfo(proxy: str) -> tuple[str, str]:
    """A proxy URL without its userinfo, and the userinfo ("" if none)."""
    if "@" not in proxy:
        return proxy, ""
    scheme, _, rest = proxy.partition("://")
    userinfo, _, hostport = rest.rpartition("@")
    return f"{scheme}://{hostport}", userinfo


def unkeyed_reason(options: Mapping[str, Any]) -> str | None:
    """Why a request sent with ``options`` cannot be keyed, or None if it can."""
    unknown = sorted(set(options) - KEYED_OPTIONS - NEUTRAL_OPTIONS)
    return f"send() options {', '.join(unknown)}" if unknown else None


_cert_lock = threading.Lock()
_cert_ids: dict[tuple[str, int, int, int], str] = {}


def cert_identity(path: str) -> str:
    """A hash of the client certificate file at ``path`` (read once per version of the file);
    raises :class:`UnkeyedRequest` if it cannot be read (the handshake would fail anyway)."""
    try:
        status = os.stat(path)
        version = (path, status.st_ino, status.st_size, status.st_mtime_ns)
        with _cert_lock:
            known = _cert_ids.get(version)
        if known is not None:
            return known
        with open(path, "rb") as certificate:
            identity = hashlib.sha256(certificate.read(1024 * 1024)).hexdigest()
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or "not a file path"
        raise UnkeyedRequest(f"client certificate unreadable: {reason}") from None
    with _cert_lock:
        if len(_cert_ids) >= 64:  # a function uses a few certificates; bounded all the same
            _cert_ids.clear()
        _cert_ids[version] = identity
    return identity


def normalize_percent(text: str) -> str:
    """RFC 3986, 6.2.2.1-2: percent-encoded unreserved characters decoded, the hex digits of
    every other triplet in upper case; nothing else changed."""
    if "%" not in text:
        return text

    def one(match: re.Match[str]) -> str:
        byte = int(match.group(1), 16)
        return chr(byte) if byte in _UNRESERVED else "%" + match.group(1).upper()

    return _TRIPLET.sub(one, text)


def remove_dot_segments(path: str) -> str:
    """RFC 3986, 5.2.4 (and 6.2.2.3): ``.`` and ``..`` segments resolved, as requests does
    for a path it prepares; here also for those it kept percent-encoded (``%2E``), which the
    decoding of unreserved characters has just made dots."""
    if "." not in path:
        return path
    output: list[str] = []
    segments = path.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                output.append("")
        elif segment == "..":
            if len(output) > 1:
                output.pop()
            if last:
                output.append("")
        else:
            output.append(segment)
    return "/".join(output)


class Target(NamedTuple):
    """A request target as the key sees it."""

    scheme: str
    authority: str  # host (lower case), and port when not the scheme's default
    userinfo: str
    path: str
    query: str


def split_target(url: str) -> Target:
    """``url`` (as requests prepared it) normalised by RFC 3986, 6.2.2 only; the fragment is
    left out (never sent). Raises ValueError for what is not a URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if hostport.startswith("["):  # an IPv6 literal
        host, _, rest = hostport.partition("]")
        host += "]"
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = hostport.partition(":")
    authority = normalize_percent(host).lower()
    if port and port != DEFAULT_PORTS.get(scheme):
        authority += ":" + port
    return Target(
        scheme,
        authority,
        userinfo,
        remove_dot_segments(normalize_percent(parts.path)) or "/",
        normalize_percent(parts.query),
    )


def _bytes(value: Any) -> bytes:
    """``value`` as it goes on the wire: bytes as they are, text as http.client encodes it
    (Latin-1; text it cannot encode never leaves, so any encoding of it will do)."""
    if isinstance(value, bytes):
        return value
    text = str(value)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


def _text(value: Any) -> str:
    """A header value as the text of its bytes on the wire (bytes read as Latin-1), so that
    the plain part of a key sees what the origin sees, never a Python repr."""
    return _bytes(value).decode("latin-1")


def body_bytes(body: Any) -> bytes:
    """The bytes of a request body; a body that cannot be read again (a generator, a stream)
    gets random bytes, so that its response is never served to another request."""
    if isinstance(body, bytes | str):
        return _bytes(body)
    if hasattr(body, "read") and hasattr(body, "seek"):
        try:
            position = body.tell()
            data = body.read()
            body.seek(position)
            return _bytes(data)
        except (OSError, ValueError):
            pass
    return os.urandom(32)


Secrets = list[tuple[str, bytes]]


def derive_key(
    request: Any,
    transport: Transport,
    *,
    is_credential: Callable[[str], bool],
    fingerprint: Callable[[Secrets], str],
    match_headers: Iterable[str] | bool | None = None,
) -> str:
    """The cache key of ``request`` (method, URL, headers, body; see the module docstring)
    sent over ``transport``. ``is_credential`` is the sharing rule for names;
    ``fingerprint`` hashes the secrets found (the HMAC). Raises :class:`UnkeyedRequest` for
    a transport the key cannot account for, ValueError for a URL that is not one."""
    target = split_target(str(request.url or ""))
    secrets: Secrets = []
    headers: Mapping[str, Any] = request.headers or {}
    names = {_text(name).lower(): value for name, value in headers.items()}
    for name in sorted(names):
        if is_credential(name):
            secrets.append(("h:" + name, _bytes(names[name])))
    if target.userinfo:
        secrets.append(("u:", _bytes(target.userinfo)))
    query = _split_query(target.query, is_credential, secrets)
    if getattr(request, "body", None):
        # Bodies are keyed only through the keyed hash, byte for byte: whatever they hold,
        # in whatever format, never reaches the plain part of the key.
        secrets.append(("b:", body_bytes(request.body)))
    if transport.cert:
        secrets.append(("c:", cert_identity(transport.cert[0]).encode()))
    if transport.tenant:
        secrets.append(("t:", _bytes(transport.tenant)))
    proxy, proxy_userinfo = _proxy_userinfo(transport.proxy)
    if proxy_userinfo:
        secrets.append(("p:", _bytes(proxy_userinfo)))
    marker = getattr(request, "credential_fingerprint", None)
    if marker and secrets:
        secrets.append(("f:", marker.encode()))
    parts = [
        str(request.method or "GET").upper(),
        target.scheme,
        target.authority,
        target.path,
        query,
        # The Host header names the resource as much as the URL's authority does.
        _text(names.get("host", "")).lower(),
        _verify_part(transport.verify),
        proxy,
        f"{int(transport.follow_redirects)}:{transport.max_redirects}",
        *_matched(names, match_headers, is_credential),
    ]
    digest = hashlib.blake2b(digest_size=8)
    for part in parts:
        data = part.encode("utf-8", "surrogateescape")
        # Length-prefixed, so that no two different lists of parts hash alike.
        digest.update(b"%d:" % len(data))
        digest.update(data)
    base = digest.hexdigest()
    tail = fingerprint(secrets) if secrets else marker
    return f"{base}-{tail}" if tail else base


def _verify_part(verify: bool | str) -> str:
    return f"ca:{verify}" if isinstance(verify, str) else str(int(verify))


def _split_query(query: str, is_credential: Callable[[str], bool], secrets: Secrets) -> str:
    """The query without its credential parameters, which go into ``secrets`` raw, with
    their position (so their order counts): the plain part is then the same for a request
    rebuilt from the table, whose stored URL has none of them."""
    if not query:
        return query
    kept = []
    for position, segment in enumerate(query.split("&")):
        name = segment.partition("=")[0]
        if is_credential(unquote_to_bytes(name).decode("utf-8", "replace")):
            secrets.append((f"q{position}:", _bytes(segment)))
        else:
            kept.append(segment)
    return "&".join(kept)


def _matched(
    headers: Mapping[str, Any],
    match_headers: Iterable[str] | bool | None,
    is_credential: Callable[[str], bool],
) -> list[str]:
    """``name=value`` of each header to match (all with True); credentials are in the
    fingerprint already."""
    if not match_headers:
        return []
    names = headers if match_headers is True else {str(n).lower() for n in match_headers}
    return [
        f"{name}={_text(headers[name])}"
        for name in sorted(names)
        if name in headers and not is_credential(name)
    ]
