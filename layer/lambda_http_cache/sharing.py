"""The rules of a shared cache: what a credential is, how it partitions the cache key, what
of a response may rest in the table, and which responses must not be stored (RFC 9111, 3).

One rule decides what a credential is, everywhere (cache keys, stored URLs, stored headers,
redirect hops): :func:`is_credential_name`. A request's credentials (credential-named
headers and query parameters, URL userinfo) and its body are taken out of the request that
requests-cache keys and stores, and go instead into a keyed one-way hash (HMAC-SHA256) that
ends the cache key. So a response is served only to requests with the same credentials, and
the credentials themselves never reach the table.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from requests import Request, Session
from requests.structures import CaseInsensitiveDict
from requests_cache.models.response import CachedResponse

from .item import FINGERPRINT_HEX, Entry, Headers, Hop, key_fingerprint
from .policy import UNDERSTOOD_STATUSES, cache_control, hop_by_hop, initial_age

logger = logging.getLogger(__name__)

# Names are split into words at every non-alphanumeric character and at camelCase boundaries
# ("X-Goog-Api-Key" -> x goog api key, "apiKey" -> api key). A name is a credential when one
# of its words is a credential word, when its letters contain a credential stem (which also
# catches unseparated spellings such as XAPIKEY or accesstoken), or when the user lists it in
# ignored_parameters. A false positive costs little: the value still partitions the key, and
# is only left out of the stored URL or headers.
CREDENTIAL_WORDS = frozenset(
    {"auth", "key", "sig", "sid", "pwd", "pass", "otp", "jwt", "hmac", "bearer", "csrf", "xsrf"}
)
CREDENTIAL_STEMS = (
    "token",
    "secret",
    "passw",
    "credential",
    "signature",
    "apikey",
    "authoriz",
    "authent",
    "cookie",
    "session",
)
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# Response headers whose names match the rule but that are standard and carry no secret: CORS
# headers (Access-Control-Allow-Credentials) and authentication challenges.
_PUBLIC_RESPONSE_HEADERS = frozenset(
    {
        "www-authenticate",
        "proxy-authenticate",
        "public-key-pins",
        "public-key-pins-report-only",
    }
)
_PUBLIC_RESPONSE_PREFIXES = ("access-control-",)
# Response headers whose values are URLs, which may carry credentials in their query.
_URL_HEADERS = frozenset({"location", "content-location"})
# Response headers not stored: Age is computed afresh on every hit from the entry's age.
_UNSTORED_RESPONSE_HEADERS = frozenset({"age"})
_LINK_TARGET = re.compile(r"<([^>]*)>")


def _words(name: str) -> list[str]:
    return [word.lower() for word in _WORDS.findall(name)]


@functools.lru_cache(maxsize=4096)
def _named_like_credential(name: str) -> bool:
    if any(word in CREDENTIAL_WORDS for word in _words(name)):
        return True
    letters = "".join(c for c in name.lower() if c.isalnum())
    return any(stem in letters for stem in CREDENTIAL_STEMS)


def is_credential_name(name: str, extra: frozenset[str] = frozenset()) -> bool:
    """Whether a header or parameter ``name`` carries a credential, by the documented rule
    (case-insensitive), or is one of ``extra`` (lower-case names)."""
    return name.lower() in extra or _named_like_credential(name)


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _body_bytes(request: Any) -> bytes:
    """The bytes of a request body; a body that cannot be read again (a generator, a stream)
    gets random bytes, so its response is never served to another request."""
    body = request.body
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read") and hasattr(body, "seek"):
        try:
            position = body.tell()
            data = body.read()
            body.seek(position)
            return data if isinstance(data, bytes) else str(data).encode("utf-8")
        except (OSError, ValueError):
            pass
    return os.urandom(32)


class SharingPolicy:
    """Credentials, keys and what may be stored, for one cache.

    Args:
        ignored_parameters: Names (headers, query or body parameters) the user declares as
            credentials, on top of the rule; matched case-insensitively.
        secret: Key of the HMAC in cache keys.
        store_private: Store responses marked ``Cache-Control: private``.
        secret_configured: False when ``secret`` is the public default (warned about once).
    """

    def __init__(
        self,
        ignored_parameters: Iterable[str] = (),
        *,
        secret: bytes,
        store_private: bool = False,
        secret_configured: bool = True,
    ) -> None:
        self.extra = frozenset(name.lower() for name in ignored_parameters)
        self.secret = secret
        self.store_private = store_private
        self._warn_default_secret = not secret_configured

    def is_credential(self, name: str) -> bool:
        return is_credential_name(name, self.extra)

    # Requests -------------------------------------------------------------------------------

    def split(self, request: Any) -> tuple[Any, str | None]:
        """``request`` without its credentials and body (a copy, for requests-cache to key),
        and the fingerprint of what was taken out (None if nothing was)."""
        if isinstance(request, Request):
            request = Session().prepare_request(request)
        found: list[tuple[str, str | bytes]] = []
        clean = request.copy()
        headers: CaseInsensitiveDict[Any] = CaseInsensitiveDict()
        for name, value in (request.headers or {}).items():
            if self.is_credential(name):
                found.append(("h:" + name.lower(), _text(value)))
            else:
                headers[name] = value
        clean.headers = headers
        clean.url = self._clean_url(request.url or "", found)
        if request.body:
            # Bodies are keyed only through the keyed hash, byte for byte: whatever
            # credentials they hold, in whatever format, never reach the plain part of the key.
            found.append(("b:", _body_bytes(request)))
            clean.body = None
        marker = getattr(request, "credential_fingerprint", None)
        if not found:
            return clean, marker
        if marker:
            found.append(("f:", marker))
        return clean, self._hash(found)

    def fingerprint(self, request: Any) -> str | None:
        """The fingerprint of the credentials (and body) ``request`` carries, or None."""
        return self.split(request)[1]

    def matches(self, key: str, request: Any) -> bool:
        """Whether ``key`` is in the credential partition of ``request``: a response may be
        stored under ``key`` only if the request that produced it matches."""
        return key_fingerprint(key) == self.fingerprint(request)

    def _hash(self, found: list[tuple[str, str | bytes]]) -> str:
        if self._warn_default_secret:
            self._warn_default_secret = False
            logger.warning(
                "HTTP_CACHE_KEY_SECRET is not set: cache keys of requests with credentials "
                "use a public default secret, so whoever can read the table can test guesses "
                "of weak credentials against them"
            )
        digest = hmac.new(self.secret, digestmod=hashlib.sha256)
        for name, value in sorted(found):
            data = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
            # Length-prefixed, so that no two different sets of values hash alike.
            digest.update(b"%d:%s=%d:" % (len(name), name.encode(), len(data)))
            digest.update(data)
        return digest.hexdigest()[:FINGERPRINT_HEX]

    def clean_url(self, url: str) -> str:
        """``url`` without userinfo and without credential query (or fragment) parameters."""
        return self._clean_url(url, [])

    def _clean_url(self, url: str, found: list[tuple[str, str | bytes]]) -> str:
        if "@" not in url and "?" not in url and "#" not in url:
            return url  # the common case, without parsing
        try:
            parts = urlsplit(url)
        except ValueError:
            return url
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, netloc = netloc.rpartition("@")
            found.append(("u:", unquote_plus(userinfo)))
        query = self._clean_params(parts.query, "q:", found)
        fragment = self._clean_params(parts.fragment, "f#", found)
        if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
            return url
        return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))

    def _clean_params(self, params: str, tag: str, found: list[tuple[str, str | bytes]]) -> str:
        """Keep the raw text of every non-credential parameter, so the rest of the URL reads
        exactly as it was sent."""
        if not params or "=" not in params:
            return params
        kept = []
        for segment in params.split("&"):
            name, _, value = segment.partition("=")
            decoded = unquote_plus(name)
            if self.is_credential(decoded):
                found.append((tag + decoded.lower(), unquote_plus(value)))
            else:
                kept.append(segment)
        return "&".join(kept)

    # Responses ------------------------------------------------------------------------------

    def refusal(self, response: Any) -> str | None:
        """Why a shared cache must not store ``response``, or None if it may."""
        directives = cache_control(response.headers)
        request_headers = getattr(getattr(response, "request", None), "headers", None) or {}
        if "no-store" in directives or "no-store" in cache_control(request_headers):
            return "no-store"
        if "private" in directives and not self.store_private:
            return "private"
        if "*" in vary_names(response.headers):
            return "Vary: *"  # never matches a later request (RFC 9111, 4.1)
        if "must-understand" in directives and response.status_code not in UNDERSTOOD_STATUSES:
            return "must-understand"  # a status this cache does not understand (RFC 9111, 3)
        return None

    def stored_headers(self, headers: Mapping[str, Any]) -> Headers:
        """Response headers as they may rest in the table: no credential-named header (cookies
        included), and no credential in a URL-valued header."""
        kept = []
        unstored = _UNSTORED_RESPONSE_HEADERS | hop_by_hop(headers)
        for name, value in headers.items():
            lower = str(name).lower()
            if lower in unstored:
                continue
            if self.is_credential(lower) and not (
                lower in _PUBLIC_RESPONSE_HEADERS or lower.startswith(_PUBLIC_RESPONSE_PREFIXES)
            ):
                continue
            text = str(value)
            if lower in _URL_HEADERS:
                text = self.clean_url(text)
            elif lower == "link":
                text = _LINK_TARGET.sub(lambda m: f"<{self.clean_url(m.group(1))}>", text)
            kept.append((str(name), text))
        return tuple(kept)

    def to_entry(self, response: CachedResponse, fingerprint: str | None) -> Entry:
        """What of ``response`` rests in the table: the body, the status, cleaned headers and
        URLs, and of the request only its method, cleaned URL and the headers its ``Vary``
        names (needed to check ``Vary``); no body, no credential, no cookie."""
        request = response.request
        request_url = self.clean_url(request.url or "")
        age = getattr(response, "initial_age", None)
        if age is None:
            age = initial_age(response.headers, response.created_at, response.elapsed)
        follow = getattr(response, "_next", None)
        return Entry(
            content=response._content or b"",
            status=int(response.status_code),
            reason=response.reason or "",
            url=self.clean_url(response.url or "") or request_url,
            headers=self.stored_headers(response.headers),
            created=response.created_at,
            expires=response.expires,
            elapsed=round(response.elapsed.total_seconds(), 6),
            encoding=response.encoding,
            request_method=request.method or "GET",
            request_url=request_url,
            request_headers=self._vary_headers(response.headers, request.headers or {}),
            history=tuple(
                Hop(
                    method=hop.request.method or "GET",
                    url=self.clean_url(hop.url or hop.request.url or ""),
                    status=int(hop.status_code),
                    reason=hop.reason or "",
                    headers=self.stored_headers(hop.headers),
                )
                for hop in response.history
            ),
            fingerprint=fingerprint,
            age=age,
            next=(follow.method or "GET", self.clean_url(follow.url or ""))
            if follow is not None and follow.url
            else None,
        )

    def _vary_headers(
        self, response_headers: Mapping[str, Any], request_headers: Mapping[str, Any]
    ) -> Headers:
        names = vary_names(response_headers)
        if not names or "*" in names:
            return ()
        return tuple(
            (str(name), _text(value))
            for name, value in request_headers.items()
            if name.lower() in names and not self.is_credential(name)
        )


def vary_names(headers: Mapping[str, Any]) -> set[str]:
    """The lower-case field names a response's ``Vary`` lists (all its lines)."""
    value = headers.get("Vary") or ""
    return {part.strip().lower() for part in str(value).split(",") if part.strip()}
