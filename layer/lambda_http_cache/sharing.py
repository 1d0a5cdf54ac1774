"""The rules of a shared cache: credentials partition the key and never reach the table, and
responses marked ``private`` or ``no-store`` are not stored (RFC 9111, section 3).

A request that carries credentials (an ``Authorization``, ``Cookie`` or API-key header, or a
header or query parameter named in ``ignored_parameters``) gets a cache key that includes a
keyed one-way hash (HMAC-SHA256) of those values: its response is served only to requests
with the same credentials, and the values themselves are never stored.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from requests.structures import CaseInsensitiveDict
from requests_cache.cache_keys import filter_url, redact_response
from requests_cache.models.response import CachedResponse

# Headers that carry credentials whatever ignored_parameters says.
CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "x-auth-token",
        "x-amz-security-token",
    }
)
# Response headers a shared cache must not hand to other callers.
PRIVATE_RESPONSE_HEADERS = frozenset({"set-cookie", "set-cookie2"})


def credential_names(ignored_parameters: Iterable[str]) -> frozenset[str]:
    # Both spellings: requests-cache's own redaction matches names case-sensitively.
    names = set(ignored_parameters)
    return CREDENTIAL_HEADERS | names | {name.lower() for name in names}


def credential_fingerprint(request: Any, names: frozenset[str], secret: bytes) -> str | None:
    """A keyed hash of the credentials ``request`` carries, or None if it carries none."""
    found: list[tuple[str, str]] = []
    headers: Mapping[str, Any] = getattr(request, "headers", None) or {}
    for name, value in headers.items():
        if name.lower() in names and value:
            found.append(("h:" + name.lower(), _text(value)))
    url = getattr(request, "url", None) or ""
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if name.lower() in names:
            found.append(("q:" + name.lower(), value))
    params = getattr(request, "params", None)
    if isinstance(params, Mapping):
        for name, value in params.items():
            if str(name).lower() in names:
                found.append(("q:" + str(name).lower(), _text(value)))
    if not found:
        return None
    message = "\n".join(f"{name}={value}" for name, value in sorted(found)).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def redact(response: CachedResponse, names: frozenset[str]) -> CachedResponse:
    """Remove credentials (headers, query parameters) and cookies before storing."""
    response = redact_response(response, names)
    response.request.headers = _without(response.request.headers, names)
    response.headers = _without(response.headers, PRIVATE_RESPONSE_HEADERS)
    for hop in response.history:
        hop.url = filter_url(hop.url, names)
        hop.request.url = filter_url(hop.request.url, names)
        hop.request.headers = _without(hop.request.headers, names)
        hop.headers = _without(hop.headers, PRIVATE_RESPONSE_HEADERS)
    return response


def _without(headers: Mapping[str, str], names: frozenset[str]) -> CaseInsensitiveDict[str]:
    return CaseInsensitiveDict({k: v for k, v in headers.items() if k.lower() not in names})


def cache_control_directives(headers: Mapping[str, str]) -> set[str]:
    value = headers.get("Cache-Control") or ""
    return {part.split("=", 1)[0].strip().lower() for part in value.split(",") if part.strip()}


def refusal(response: Any, *, store_private: bool) -> str | None:
    """Why a shared cache must not store ``response``, or None if it may."""
    directives = cache_control_directives(response.headers)
    request_headers = getattr(getattr(response, "request", None), "headers", None) or {}
    if "no-store" in directives or "no-store" in cache_control_directives(request_headers):
        return "no-store"
    if "private" in directives and not store_private:
        return "private"
    return None
