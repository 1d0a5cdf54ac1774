"""The responses the cached session returns: ``requests.Response`` objects with the cache's
attributes under requests-cache's names (``from_cache``, ``created_at``, ``expires``,
``is_expired``, ``cache_key``, ``revalidated``), so that code written for a requests-cache
session reads them alike, without loading requests-cache."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from requests import PreparedRequest, Response
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict

from .core.expiration import expiration_time, utcnow


class StoredBody(io.BytesIO):
    """``raw`` of a cached response: its stored body, readable as urllib3's response is."""

    _original_response = None

    def read(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:
        return super().read(-1 if amt is None else amt)

    def stream(self, amt: int = 2**16, decode_content: bool | None = None) -> Iterator[bytes]:
        while chunk := self.read(amt):
            yield chunk

    def release_conn(self) -> None:
        """Nothing to release: no connection."""


class StoredRequest(PreparedRequest):
    """A request rebuilt from the table: no credentials and no body, but the fingerprint of
    those it carried and the transport it went over, so that keys computed from it (Vary
    checks, ``recreate_keys``) stay in its credential partition and its transport's."""

    def __init__(
        self,
        method: str | None = None,
        url: str | None = None,
        headers: Any = None,
        *,
        credential_fingerprint: str | None = None,
        cache_transport: Any = None,
    ) -> None:
        super().__init__()
        self.method = method
        self.url = url
        self.headers = headers if headers is not None else CaseInsensitiveDict()
        self.credential_fingerprint = credential_fingerprint
        self.cache_transport = cache_transport
        self.cookies = RequestsCookieJar()  # what requests-cache's stored request offers

    def copy(self) -> StoredRequest:
        return StoredRequest(
            self.method,
            self.url,
            CaseInsensitiveDict(self.headers),
            credential_fingerprint=self.credential_fingerprint,
            cache_transport=self.cache_transport,
        )

    def __str__(self) -> str:
        return f"{self.method} {self.url}"


class CachedHttpResponse(Response):
    """A response served from the cache."""

    cache_key: str = ""
    revalidated: bool = False
    initial_age: float = 0.0
    _next: Any = None

    def __init__(
        self,
        *,
        content: bytes = b"",
        status_code: int = 0,
        reason: str | None = None,
        url: str | None = None,
        headers: Any = None,
        request: Any = None,
        history: list[Any] | None = None,
        created_at: datetime | None = None,
        expires: datetime | None = None,
        elapsed: timedelta | None = None,
        encoding: str | None = None,
    ) -> None:
        super().__init__()
        self._content = content
        self._content_consumed = True
        self.status_code = status_code
        self.reason = reason  # type: ignore[assignment]
        self.url = url  # type: ignore[assignment]
        self.headers = headers if headers is not None else CaseInsensitiveDict()
        self.request = request
        self.history = history or []
        self.created_at = created_at or utcnow()
        self.expires = expires
        self.elapsed = elapsed or timedelta()
        self.encoding = encoding
        self.raw = StoredBody(content)

    @property
    def from_cache(self) -> bool:
        return True

    @property
    def is_expired(self) -> bool:
        """Whether it is past its expiration time."""
        try:
            return self.expires is not None and utcnow() >= self.expires
        except TypeError:
            return True

    @property
    def expires_delta(self) -> int | None:
        """Seconds until it expires (rounded), or None if it never does."""
        if self.expires is None:
            return None
        return round((self.expires - utcnow()).total_seconds())

    @property
    def expires_unix(self) -> int | None:
        if self.expires is None:
            return None
        return round(self.expires.timestamp())

    @property
    def size(self) -> int:
        return len(self._content or b"")

    @property
    def next(self) -> PreparedRequest | None:
        """The next request of a redirect, for callers that do not follow it."""
        if self._next is None:
            return None
        prepared = PreparedRequest()
        prepared.prepare(method=self._next[0], url=self._next[1])
        return prepared

    def is_older_than(self, older_than: Any) -> bool:
        now = utcnow()
        limit = expiration_time(older_than, now)
        if limit is None:
            return False
        return self.created_at < now - (limit - now)

    def reset_expiration(self, expire_after: Any) -> bool:
        self.expires = expiration_time(expire_after, utcnow())
        return self.is_expired

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        return f"<CachedHttpResponse [{self.status_code}]>"


class OriginHttpResponse(Response):
    """A response from the origin, with the cache's attributes: not from the cache; its
    ``expires`` and ``cache_key`` are those it was stored with, if it was."""

    cache_key: str | None = None
    revalidated: bool = False
    created_at: datetime
    expires: datetime | None = None

    @property
    def from_cache(self) -> bool:
        return False

    @property
    def is_expired(self) -> bool:
        return False


def as_origin_response(
    response: Response, *, expires: datetime | None = None, cache_key: str | None = None
) -> Any:
    """``response`` with the cache's attributes (the object itself, its class changed)."""
    if isinstance(response, CachedHttpResponse | OriginHttpResponse):
        return response
    response.__class__ = OriginHttpResponse
    response.expires = expires  # type: ignore[attr-defined]
    response.cache_key = cache_key  # type: ignore[attr-defined]
    response.created_at = utcnow()  # type: ignore[attr-defined]
    return response


def gateway_timeout(request: PreparedRequest) -> CachedHttpResponse:
    """The 504 of ``only-if-cached`` when the cache holds nothing usable (RFC 9111, 5.2.1.7)."""
    return CachedHttpResponse(
        status_code=504,
        reason="Not Cached",
        url=request.url,
        request=request,
    )
