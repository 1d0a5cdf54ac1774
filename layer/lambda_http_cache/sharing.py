"""The rules of a shared cache: what a credential is, how it partitions the cache key, what
of a response may rest in the table, and which responses must not be stored (RFC 9111, 3).

One rule decides what a credential is, everywhere (cache keys, stored URLs, stored headers,
redirect hops): :func:`is_credential_name`. A request's credentials (credential-named
headers and query parameters, URL userinfo, a client certificate) and its body go into a
keyed one-way hash (HMAC-SHA256) that ends the cache key (keys.py derives it). So a response
is served only to requests with the same credentials, and the credentials themselves never
reach the table.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from requests import Request, Session
from requests_cache.models.response import CachedResponse

from .bounded import BoundedMemo
from .item import FINGERPRINT_HEX, Entry, Headers, Hop, key_fingerprint
from .keys import (
    Secrets,
    Transport,
    UnkeyedRequest,
    derive_key,
    stamped_transport,
    stored_transport,
)
from .policy import UNDERSTOOD_STATUSES, cache_control, hop_by_hop, initial_age

logger = logging.getLogger(__name__)

# What a credential is, decided on the lower-case name (header names are case-insensitive, so
# the rule must be: a name and its upper-case form are judged alike). The name is split into
# words at every non-alphanumeric character; it is a credential when one of its words is,
# begins with or ends with a credential word ("X-Api-Key", "usersig", "mysid", "xsrfvalue",
# "otpcode"), when its letters contain a credential stem (which also catches unseparated
# spellings such as XAPIKEY or accesstoken), or when the user lists it in ignored_parameters.
# A false positive ("monkey", "author") costs little: the value still partitions the key, and
# is only left out of the stored URL or headers.
CREDENTIAL_WORDS = frozenset(
    {"auth", "key", "sig", "sid", "pwd", "pass", "otp", "jwt", "hmac", "bearer", "csrf", "xsrf"}
)
CREDENTIAL_WORDS_TUPLE = tuple(sorted(CREDENTIAL_WORDS))
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
_WORDS = re.compile(r"[a-z0-9]+")
# Names judged so far: a hostile origin chooses its response headers' names, so the memo is
# bounded in bytes like every per-container structure (bounded.py).
_judged: BoundedMemo[str, bool] = BoundedMemo(256 * 1024)
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
# Response fields that set a cookie (Set-Cookie2 is obsolete, RFC 6265, but still sent).
SET_COOKIE_FIELDS = frozenset({"set-cookie", "set-cookie2"})
# Cache-Control directives by which an origin marks a response as meant for a shared cache.
_SHAREABLE = ("public", "s-maxage")
# The reason :meth:`SharingPolicy.refusal` gives for a response that sets a cookie.
SETS_COOKIE = "sets a cookie"
# URLs whose cookie refusals a container reports in its log, at most (see
# SharingPolicy.first_cookie_refusal).
REPORTED_COOKIE_URLS = 100


def _named_like_credential(lower: str) -> bool:
    known = _judged.get(lower)
    if known is None:
        known = any(
            word.startswith(CREDENTIAL_WORDS_TUPLE) or word.endswith(CREDENTIAL_WORDS_TUPLE)
            for word in _WORDS.findall(lower)
        ) or any(stem in lower for stem in CREDENTIAL_STEMS)
        _judged.put(lower, known)
    return known


def is_credential_name(name: str, extra: frozenset[str] = frozenset()) -> bool:
    """Whether a header or parameter ``name`` carries a credential, by the documented rule
    (case-insensitive), or is one of ``extra`` (lower-case names)."""
    lower = name.lower()
    return lower in extra or _named_like_credential(lower)


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


class SharingPolicy:
    """Credentials, keys and what may be stored, for one cache.

    Args:
        ignored_parameters: Names (headers, query or body parameters) the user declares as
            credentials, on top of the rule; matched case-insensitively.
        secret: Key of the HMAC in cache keys.
        store_private: Store responses marked ``Cache-Control: private``.
        share_set_cookie: Store responses that set a cookie (without the cookie) even when
            the origin does not mark them ``public`` or ``s-maxage``.
        secret_configured: False when ``secret`` is the public default (warned about once).
    """

    def __init__(
        self,
        ignored_parameters: Iterable[str] = (),
        *,
        secret: bytes,
        store_private: bool = False,
        share_set_cookie: bool = False,
        secret_configured: bool = True,
    ) -> None:
        self.extra = frozenset(name.lower() for name in ignored_parameters)
        # The request headers the keys match besides Vary's (the match_headers setting; True
        # for all): stored with an entry, as Host is, so that a key derived again from the
        # stored request (recreate_keys, update) keeps every partition of the original.
        self.matched: frozenset[str] | bool = frozenset()
        self.secret = secret
        self.store_private = store_private
        self.share_set_cookie = share_set_cookie
        self._warn_default_secret = not secret_configured
        self._cookie_urls: set[str] = set()

    def is_credential(self, name: str) -> bool:
        return is_credential_name(name, self.extra)

    # Requests -------------------------------------------------------------------------------

    def key(
        self, request: Any, transport: Transport, match_headers: Iterable[str] | bool | None = None
    ) -> str:
        """The cache key of ``request`` over ``transport`` (keys.derive_key), its secrets
        hashed with this policy's secret. Raises UnkeyedRequest or ValueError (keys.py)."""
        if isinstance(request, Request):
            request = Session().prepare_request(request)
        return derive_key(
            request,
            transport,
            is_credential=self.is_credential,
            fingerprint=self._hash,
            match_headers=match_headers,
        )

    def fingerprint(self, request: Any) -> str | None:
        """The fingerprint of the secrets ``request`` carries (its credentials, body, client
        certificate...), or None; over the transport it was sent with."""
        return key_fingerprint(self.key(request, stamped_transport(request)))

    def matches(self, key: str, request: Any) -> bool:
        """Whether ``key`` is in the credential partition of ``request``: a response may be
        stored under ``key`` only if the request that produced it matches."""
        try:
            return key_fingerprint(key) == self.fingerprint(request)
        except (UnkeyedRequest, ValueError):
            return False

    def _hash(self, secrets: Secrets) -> str:
        if self._warn_default_secret:
            self._warn_default_secret = False
            logger.warning(
                "HTTP_CACHE_KEY_SECRET is not set: cache keys of requests with credentials "
                "use a public default secret, so whoever can read the table can test guesses "
                "of weak credentials against them"
            )
        digest = hmac.new(self.secret, digestmod=hashlib.sha256)
        for name, value in secrets:
            # Length-prefixed, so that no two different lists of secrets hash alike.
            label = name.encode("utf-8", "surrogateescape")
            digest.update(b"%d:%s=%d:" % (len(label), label, len(value)))
            digest.update(value)
        return digest.hexdigest()[:FINGERPRINT_HEX]

    def clean_url(self, url: str) -> str:
        """``url`` without userinfo and without credential query (or fragment) parameters,
        the rest exactly as it was."""
        if "@" not in url and "?" not in url and "#" not in url:
            return url  # the common case, without parsing
        try:
            parts = urlsplit(url)
        except ValueError:
            return url
        netloc = parts.netloc.rpartition("@")[2]
        query = self._clean_params(parts.query)
        fragment = self._clean_params(parts.fragment)
        if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
            return url
        return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))

    def _clean_params(self, params: str) -> str:
        """Keep the raw text of every non-credential parameter, so the rest of the URL reads
        exactly as it was sent."""
        if not params or "=" not in params:
            return params
        kept = [
            segment
            for segment in params.split("&")
            if not self.is_credential(unquote_plus(segment.partition("=")[0]))
        ]
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
        if (
            not self.share_set_cookie
            and sets_cookie(response.headers)
            and not any(directive in directives for directive in _SHAREABLE)
        ):
            # A response that sets a cookie is likely made for the session it starts or
            # changes (a CSRF token, a greeting), as Varnish's and Fastly's built-in policies
            # assume: not stored for others unless the origin says it is meant for them.
            # Stored, it never keeps its Set-Cookie (stored_headers).
            return SETS_COOKIE
        for name in _URL_HEADERS:
            value = response.headers.get(name)
            if value and self.clean_url(str(value)) != str(value):
                # Stored without its credentials, the URL would no longer work (a presigned
                # download's signature); stored with them, they would rest in the table.
                return f"credentials in {name}"
        return None

    def first_cookie_refusal(self, url: str) -> str | None:
        """``url`` as a log may name it (scheme, host and path: no userinfo, query or
        fragment) the first time a response of it is refused for setting a cookie, else
        None. At most :data:`REPORTED_COOKIE_URLS` URLs are ever reported by one policy (one
        container): the counter sees every refusal, the log only where they come from."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        host = parts.netloc.rpartition("@")[2]
        shown = urlunsplit((parts.scheme, host, parts.path, "", ""))
        if shown in self._cookie_urls or len(self._cookie_urls) >= REPORTED_COOKIE_URLS:
            return None
        self._cookie_urls.add(shown)
        return shown

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

    def to_entry(
        self,
        response: CachedResponse,
        fingerprint: str | None,
        transport: Transport | None = None,
    ) -> Entry:
        """What of ``response`` rests in the table: the body, the status, cleaned headers and
        URLs, and of the request only its method, cleaned URL, the headers its ``Vary``
        names (needed to check ``Vary``) and the ``transport`` it went over, without its
        secrets (by default the request's own); no body, no credential, no cookie."""
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
            transport=stored_transport(transport or stamped_transport(request)),
        )

    def _vary_headers(
        self, response_headers: Mapping[str, Any], request_headers: Mapping[str, Any]
    ) -> Headers:
        names = vary_names(response_headers)
        if "*" in names:
            return ()
        every = self.matched is True
        matched = self.matched if isinstance(self.matched, frozenset) else frozenset()
        keyed = names | {"host"} | matched
        return tuple(
            (str(name), _text(value))
            for name, value in request_headers.items()
            if (every or name.lower() in keyed) and not self.is_credential(name)
        )


def sets_cookie(headers: Mapping[str, Any]) -> bool:
    """Whether response ``headers`` set a cookie: a ``Set-Cookie`` or ``Set-Cookie2`` field,
    in any letter case, whatever its value."""
    return any(str(name).lower() in SET_COOKIE_FIELDS for name in headers)


def vary_names(headers: Mapping[str, Any]) -> set[str]:
    """The lower-case field names a response's ``Vary`` lists (all its lines)."""
    value = headers.get("Vary") or ""
    return {part.strip().lower() for part in str(value).split(",") if part.strip()}
