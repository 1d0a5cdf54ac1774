"""The cache policy of a shared cache (RFC 9111), at requests-cache's seam: its
``CacheActions``, with the freshness rules requests-cache lacks or gets wrong for a cache
that a whole fleet shares.

- Freshness lifetime: ``s-maxage`` over ``max-age`` over ``Expires`` minus ``Date``
  (section 4.2.1); the response's age when received (``Age``, ``Date``, the time the origin
  took: 4.2.3) is subtracted, and every hit carries its current ``Age``.
- Heuristic freshness (the ``expire_after`` setting) only for responses without explicit
  freshness, of a status RFC 9110 calls heuristically cacheable or marked ``public``
  (4.2.2); none at all in standards mode.
- Invalid values never raise: a ``max-age``, ``s-maxage`` or ``Expires`` that is present but
  invalid means already stale (so stored only if it can be revalidated), so does an ``Age``
  that is not one delta-seconds, and deltas over 2**31 seconds count as 2**31 (1.2.2).
- ``must-revalidate``, ``proxy-revalidate`` and ``s-maxage`` forbid serving the response
  stale, whatever ``stale_if_error``, ``stale-while-revalidate`` or ``max-stale`` say
  (4.2.4, 5.2.2.2); a fresh ``must-revalidate`` response is served without revalidation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from math import ceil
from typing import Any

from attrs import evolve
from requests.structures import CaseInsensitiveDict
from requests_cache.models.response import CachedResponse
from requests_cache.policy.actions import CacheActions
from requests_cache.policy.directives import CacheDirectives
from requests_cache.policy.expiration import (
    DO_NOT_CACHE,
    EXPIRE_IMMEDIATELY,
    NEVER_EXPIRE,
    get_expiration_datetime,
    utcnow,
)

# RFC 9111, 1.2.2: a delta-seconds value too large to represent counts as 2**31.
MAX_DELTA_SECONDS = 2**31
_DELTA_SECONDS = re.compile(r"[0-9]+")


def delta_seconds(raw: Any) -> int | None:
    """A delta-seconds value (``1*DIGIT``), capped at 2**31; None if invalid."""
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int):
        return min(raw, MAX_DELTA_SECONDS) if raw >= 0 else None
    text = str(raw).strip().strip('"')
    if not _DELTA_SECONDS.fullmatch(text):
        return None
    return min(int(text), MAX_DELTA_SECONDS)


def cache_control(headers: Mapping[str, Any]) -> dict[str, str | None]:
    """Cache-Control directives by lower-case name (the first of duplicates), with their raw
    argument or None; every line of the field, spaces and quotes tolerated."""
    value = headers.get("Cache-Control") or ""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    directives: dict[str, str | None] = {}
    for part in str(value).split(","):
        name, separator, argument = part.partition("=")
        name = name.strip().lower()
        if name and name not in directives:
            directives[name] = argument.strip().strip('"') if separator else None
    return directives


def http_date(raw: Any) -> datetime | None:
    """An HTTP date as an aware datetime, or None if it is not one."""
    try:
        parsed = parsedate_to_datetime(str(raw))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    return parsed


# The status codes this cache understands (RFC 9110's, but 206: partial content is not
# combined) and so may store in standards mode; 304 only ever updates a stored response.
UNDERSTOOD_STATUSES = tuple(
    sorted(int(status) for status in HTTPStatus if 200 <= status < 600 and status not in (206, 304))
)
DEFAULT_STATUSES = (200,)
# RFC 9111, 3.2: header fields a 304 does not update in the stored response, and RFC 9110,
# 7.6.1: hop-by-hop fields, never stored.
NOT_UPDATED_BY_304 = frozenset(
    {"content-encoding", "content-length", "content-md5", "content-range", "etag"}
)
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade"}
)
# RFC 9110, 15.4.5: what a 304 carries of the stored response.
NOT_MODIFIED_HEADERS = (
    "Cache-Control",
    "Content-Location",
    "Date",
    "ETag",
    "Expires",
    "Vary",
    "Last-Modified",
    "Age",
)

# Statuses of the redirects requests follows.
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# RFC 9110, 15.1: status codes whose responses are heuristically cacheable.
HEURISTIC_STATUSES = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})
# Response directives after which a shared cache never serves the response stale.
NEVER_STALE = ("must-revalidate", "proxy-revalidate", "s-maxage")


def initial_age(headers: Mapping[str, Any], response_time: datetime, elapsed: Any) -> float:
    """How old a response already was when received: RFC 9111, 4.2.3's corrected initial age
    (the larger of the age the origin's ``Date`` implies and ``Age`` plus the time the
    request took). An ``Age`` that is not one delta-seconds makes it stale (see below)."""
    raw_age = headers.get("Age")
    if raw_age is None:
        age_value = 0
    else:
        # A value that is not one delta-seconds (a list of them included) makes the response
        # stale rather than fresh: the conservative reading, which the public conformance
        # suite expects (RFC 9111, 5.1 would ignore an invalid value, or take a list's first).
        parsed = delta_seconds(str(raw_age))
        age_value = MAX_DELTA_SECONDS if parsed is None else parsed
    delay = elapsed.total_seconds() if isinstance(elapsed, timedelta) else 0.0
    date = http_date(headers.get("Date")) if headers.get("Date") else None
    apparent_age = max(0.0, (response_time - date).total_seconds()) if date else 0.0
    return max(apparent_age, age_value + max(0.0, delay))


def explicit_lifetime(headers: Mapping[str, Any], response_time: datetime) -> float | None:
    """The freshness lifetime the response states for a shared cache, in seconds (0 when the
    stated value is invalid), or None when it states none (RFC 9111, 4.2.1)."""
    directives = cache_control(headers)
    for name in ("s-maxage", "max-age"):
        if name in directives:
            seconds = delta_seconds(directives[name])
            return 0.0 if seconds is None else float(seconds)
    if "Expires" in headers:
        expires = http_date(headers["Expires"])
        if expires is None:
            return 0.0
        date = http_date(headers.get("Date")) if headers.get("Date") else None
        return max(0.0, (expires - (date or response_time)).total_seconds())
    return None


def response_expire_after(
    headers: Mapping[str, Any],
    default: Any,
    *,
    status: int = 200,
    response_time: datetime | None = None,
    elapsed: Any = None,
    heuristic: bool = True,
) -> Any:
    """When a response stops being fresh, as requests-cache's ``expire_after`` value: an
    absolute time for explicit freshness, ``default`` for heuristic freshness, or
    ``EXPIRE_IMMEDIATELY``."""
    now = response_time or utcnow()
    lifetime = explicit_lifetime(headers, now)
    if lifetime is not None:
        remaining = min(lifetime, MAX_DELTA_SECONDS) - initial_age(headers, now, elapsed)
        return now + timedelta(seconds=remaining) if remaining > 0 else EXPIRE_IMMEDIATELY
    if not heuristic:
        return EXPIRE_IMMEDIATELY
    if status not in HEURISTIC_STATUSES and "public" not in cache_control(headers):
        return EXPIRE_IMMEDIATELY
    return default


def hop_by_hop(headers: Mapping[str, Any]) -> frozenset[str]:
    """The lower-case names of a message's hop-by-hop fields: the standard ones and those its
    ``Connection`` lists (RFC 9110, 7.6.1); a cache stores none of them."""
    listed = {part.strip().lower() for part in str(headers.get("Connection") or "").split(",")}
    return HOP_BY_HOP | frozenset(name for name in listed if name)


def _opaque_tag(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def conditional_answer(request_headers: Mapping[str, Any], cached_response: Any) -> Any:
    """A 304 for a request's own ``If-None-Match`` (weak comparison, quotes optional) or, without
    it, ``If-Modified-Since``, when the stored response it is served satisfies it (RFC 9110,
    13.1); else None."""
    if cached_response.status_code != 200:
        return None
    stored = cached_response.headers
    if_none_match = request_headers.get("If-None-Match")
    if if_none_match:
        etag = stored.get("ETag")
        if etag is None:
            return None
        wanted = {_opaque_tag(t).strip('"') for t in str(if_none_match).split(",")}
        if "*" not in wanted and _opaque_tag(str(etag)).strip('"') not in wanted:
            return None
    else:
        since = http_date(request_headers.get("If-Modified-Since") or "")
        modified = http_date(stored.get("Last-Modified") or stored.get("Date") or "")
        if since is None or modified is None or modified > since:
            return None
    answer = CachedResponse(
        status_code=304,
        reason="Not Modified",
        content=b"",
        headers=CaseInsensitiveDict(
            {name: stored[name] for name in NOT_MODIFIED_HEADERS if name in stored}
        ),
        request=cached_response.request,
        url=cached_response.url,
        created_at=cached_response.created_at,
        expires=cached_response.expires,
    )
    answer.cache_key = getattr(cached_response, "cache_key", "")
    return answer


def never_stale(headers: Mapping[str, Any]) -> bool:
    """Whether a stored response must never be served stale (RFC 9111, 5.2.2.2, 5.2.2.8,
    5.2.2.10)."""
    directives = cache_control(headers)
    return any(name in directives for name in NEVER_STALE)


def expiration_time(expire_after: Any) -> datetime | None:
    """requests-cache's ``get_expiration_datetime``, that never raises: deltas are capped at
    2**31 seconds and an unparsable date is already past."""
    if isinstance(expire_after, int | float) and not isinstance(expire_after, bool):
        if expire_after not in (NEVER_EXPIRE, DO_NOT_CACHE) and expire_after > MAX_DELTA_SECONDS:
            expire_after = MAX_DELTA_SECONDS
    elif isinstance(expire_after, timedelta):
        expire_after = min(expire_after, timedelta(seconds=MAX_DELTA_SECONDS))
    try:
        return get_expiration_datetime(expire_after)
    except (ValueError, OverflowError, TypeError):
        return utcnow()


def _safe_stale(value: Any) -> Any:
    """A stale-if-error / stale-while-revalidate value that cannot overflow a date."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return min(value, MAX_DELTA_SECONDS) if value >= 0 else None
    return value


class SharedCacheActions(CacheActions):
    """requests-cache's actions, with a shared cache's freshness rules. ``heuristic`` is off
    in standards mode."""

    heuristic = True
    stale_while_revalidate = True
    stale_window = 0

    @classmethod
    def from_request(
        cls,
        cache_key: str,
        request: Any,
        settings: Any = None,
        *,
        heuristic: bool = True,
        stale_while_revalidate: bool = True,
        stale_window: int = 0,
    ) -> Any:
        actions = super().from_request(cache_key, request, settings)
        actions.heuristic = heuristic
        actions.stale_while_revalidate = stale_while_revalidate
        actions.stale_window = stale_window
        actions._stale_if_error = _safe_stale(actions._stale_if_error)
        actions._stale_while_revalidate = _safe_stale(actions._stale_while_revalidate)
        return actions

    @property
    def expires(self) -> datetime | None:
        return expiration_time(self.expire_after)

    def is_usable(self, cached_response: Any, error: bool = False) -> bool:
        if (
            cached_response is not None
            and cached_response.is_expired
            and never_stale(cached_response.headers)
        ):
            return False
        return bool(super().is_usable(cached_response, error))

    def update_from_cached_response(
        self, cached_response: Any, create_key: Any = None, **key_kwargs: Any
    ) -> None:
        """As requests-cache does, with the stored response's own ``stale-while-revalidate``
        window (RFC 5861), or the configured default window for responses that state none;
        never for a response that must not be served stale."""
        if (
            cached_response is not None
            and self.stale_while_revalidate
            and not self._stale_while_revalidate
            and cached_response.is_expired  # a fresh hit needs no window (nor the parsing)
            and not never_stale(cached_response.headers)
        ):
            stated = cache_control(cached_response.headers).get("stale-while-revalidate")
            window = delta_seconds(stated) if stated is not None else self.stale_window
            if window:
                self._stale_while_revalidate = window
        super().update_from_cached_response(cached_response, create_key, **key_kwargs)

    def update_from_response(self, response: Any) -> None:
        """As requests-cache does. A redirect is judged by the rules of every response,
        whatever ``allowable_codes`` says (that setting is about the responses callers read:
        a redirect is stored so that the chains through it are walked from the cache)."""
        self._response = response
        status = response.status_code
        if status in REDIRECT_STATUSES and status not in self._settings.allowable_codes:
            allowed = (*self._settings.allowable_codes, status)
            self._settings = evolve(self._settings, allowable_codes=allowed)
        super().update_from_response(response)

    def _update_from_response_headers(self, directives: CacheDirectives) -> None:
        response = self._response
        self._stale_if_error = _safe_stale(self._stale_if_error or directives.stale_if_error)
        self.expire_after = response_expire_after(
            CaseInsensitiveDict(response.headers),
            self.expire_after,
            status=response.status_code,
            elapsed=getattr(response, "elapsed", None),
            heuristic=self.heuristic,
        )
        self.skip_write = self.skip_write or directives.no_store

    def update_revalidated_response(self, response: Any, cached_response: Any) -> Any:
        """As requests-cache does, except for the fields a 304 must not update (RFC 9111,
        3.2) and hop-by-hop ones."""
        skipped = NOT_UPDATED_BY_304 | hop_by_hop(response.headers)
        updated = CaseInsensitiveDict(
            {k: v for k, v in response.headers.items() if k.lower() not in skipped}
        )
        original, response.headers = response.headers, updated
        try:
            return super().update_revalidated_response(response, cached_response)
        finally:
            response.headers = original

    def _update_validation_headers(self, cached_response: Any) -> None:
        """Revalidate a stored response when it is stale, when asked to, or when it says
        ``no-cache``; ``must-revalidate`` only matters once it is stale (requests-cache
        revalidates fresh ones too)."""
        headers = cached_response.headers
        etag, last_modified = headers.get("ETag"), headers.get("Last-Modified")
        revalidate = bool(etag or last_modified) and (
            cached_response.is_expired or self._refresh or self._settings.always_revalidate
        )
        no_cache = self._settings.cache_control and "no-cache" in cache_control(headers)
        if revalidate or no_cache:
            if etag:
                self._validation_headers["If-None-Match"] = etag
            if last_modified:
                self._validation_headers["If-Modified-Since"] = last_modified
            self.send_request = False
            self.resend_request = True


def request_headers(
    headers: Mapping[str, Any] | None,
    expire_after: Any,
    only_if_cached: bool,
    refresh: bool,
    force_refresh: bool,
) -> Any:
    """requests-cache's per-request options as request headers, keeping the caller's
    ``Cache-Control`` as sent (requests-cache re-joins it without its spaces, which can make
    an invalid header). ``headers`` itself when there is no option to add."""
    if expire_after is None and not (only_if_cached or refresh or force_refresh):
        return headers
    headers = CaseInsensitiveDict(headers)
    added = []
    if only_if_cached:
        added.append("only-if-cached")
    if refresh:
        added.append("must-revalidate")
    if force_refresh:
        added.append("no-cache")
    if expire_after == DO_NOT_CACHE:
        headers["X-ACTUAL-NO-CACHE"] = "true"
    elif expire_after is not None:
        expires = expiration_time(expire_after)
        # requests-cache's own encoding: max-age=-1 is "never expires" for this request.
        seconds = -1 if expires is None else max(0, ceil((expires - utcnow()).total_seconds()))
        added.append(f"max-age={seconds}")
    if added:
        existing = [part.strip() for part in str(headers.get("Cache-Control") or "").split(",")]
        directives = [part for part in existing if part]
        directives += [part for part in added if part not in directives]
        headers["Cache-Control"] = ", ".join(directives)
    return headers


def redirect_expires(hop: Any, settings: Any, *, heuristic: bool, now: datetime) -> Any:
    """When a redirect ``hop`` of a followed chain stops being fresh, judged by the rules of
    every response: the request's and the response's directives, explicit freshness, heuristic
    freshness only where allowed (so a temporary redirect without explicit freshness is stale
    at once), the settings' expiry. An aware datetime, None for never, or False when the
    hop may not be stored (nor anything of the chain before it)."""
    actions = SharedCacheActions.from_request("", hop.request, settings, heuristic=heuristic)
    actions.update_from_response(hop)
    if actions.skip_write or actions.skip_read:
        return False
    expires = actions.expires
    if expires is not None and expires <= now:
        return False
    return expires
