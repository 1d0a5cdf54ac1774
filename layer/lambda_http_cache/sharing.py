"""The sharing rules of core/sharing.py applied with one cache's settings and secret: what a
credential is (its ``ignored_parameters`` added), how credentials partition the cache key,
and what of a response rests in the table (an :class:`~.item.Entry`).

A request's credentials (credential-named
headers and query parameters, URL userinfo, a client certificate) and its body go into a
keyed one-way hash (HMAC-SHA256) that ends the cache key (keys.py derives it). So a response
is served only to requests with the same credentials, and the credentials themselves never
reach the table.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from requests import Request, Session

from .core.expiration import utcnow
from .core.freshness import initial_age
from .core.sharing import (
    SETS_COOKIE,
    is_credential_name,
    refusal,
    sets_cookie,
    stored_headers,
    url_without_credentials,
    vary_names,
)
from .item import FINGERPRINT_HEX, Entry, Headers, Hop, key_fingerprint
from .keys import (
    Secrets,
    Transport,
    UnkeyedRequest,
    derive_key,
    stamped_transport,
    stored_transport,
)

logger = logging.getLogger(__name__)
# URLs whose cookie refusals a container reports in its log, at most (see
# SharingPolicy.first_cookie_refusal).
REPORTED_COOKIE_URLS = 100

__all__ = ["SETS_COOKIE", "SharingPolicy", "is_credential_name", "sets_cookie", "vary_names"]


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
        """``url`` without userinfo and without credential query (or fragment) parameters."""
        return url_without_credentials(url, self.is_credential)

    # Responses ------------------------------------------------------------------------------

    def refusal(self, response: Any) -> str | None:
        """Why a shared cache must not store ``response``, or None if it may (core/sharing.py's
        rule, with this cache's settings)."""
        request_headers = getattr(getattr(response, "request", None), "headers", None) or {}
        return refusal(
            response.status_code,
            response.headers,
            request_headers,
            store_private=self.store_private,
            share_set_cookie=self.share_set_cookie,
            is_credential=self.is_credential,
        )

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
        """Response headers as they may rest in the table (core/sharing.py's rule)."""
        return stored_headers(headers, self.is_credential)

    def to_entry(
        self,
        response: Any,
        fingerprint: str | None,
        transport: Transport | None = None,
        *,
        expires: Any = None,
    ) -> Entry:
        """What of ``response`` (from the origin, or from a cache) rests in the table: the
        body, the status, cleaned headers and URLs, and of the request only its method,
        cleaned URL, the headers its ``Vary`` names (needed to check ``Vary``) and the
        ``transport`` it went over, without its secrets (by default the request's own); no
        body, no credential, no cookie. It expires at ``expires``, else at the response's own
        ``expires`` (none for an origin's response)."""
        request = response.request
        request_url = self.clean_url(request.url or "")
        created = getattr(response, "created_at", None) or utcnow()
        age = getattr(response, "initial_age", None)
        if age is None:
            age = initial_age(response.headers, created, response.elapsed)
        follow = getattr(response, "_next", None)
        if isinstance(follow, tuple):
            follow_method, follow_url = follow
        else:
            follow_method = getattr(follow, "method", None)
            follow_url = getattr(follow, "url", None)
        return Entry(
            content=response._content or b"",
            status=int(response.status_code),
            reason=response.reason or "",
            url=self.clean_url(response.url or "") or request_url,
            headers=self.stored_headers(response.headers),
            created=created,
            expires=expires if expires is not None else getattr(response, "expires", None),
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
                # A redirect's own history is not its (requests gives each hop the chain so
                # far): it is stored as a response of its own.
                for hop in ([] if response.is_redirect else response.history)
            ),
            fingerprint=fingerprint,
            age=age,
            next=(follow_method or "GET", self.clean_url(follow_url)) if follow_url else None,
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
