"""The cache policy at requests-cache's seam: its ``CacheActions``, made safe on whatever an
origin or a caller sends.

requests-cache raises on some header values (an empty or unparsable ``Expires``, a
``max-age`` too large for a date) and reads a negative ``max-age`` as "never expires". Here
every freshness value is parsed by RFC 9111's rules: a ``max-age`` or ``Expires`` that is
present but invalid means the response is already stale (so it is not stored unless it can
be revalidated), and a delta larger than 2**31 seconds counts as 2**31 (section 1.2.2).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from math import ceil
from typing import Any

from requests.structures import CaseInsensitiveDict
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


def response_expire_after(headers: Mapping[str, Any], default: Any) -> Any:
    """How long a response stays fresh by its own headers, as requests-cache's ``expire_after``
    value; ``default`` when it sends no freshness information."""
    directives = cache_control(headers)
    if "immutable" in directives:
        return NEVER_EXPIRE
    if "max-age" in directives:
        seconds = delta_seconds(directives["max-age"])
        return EXPIRE_IMMEDIATELY if seconds is None else seconds
    if "Expires" in headers:
        expires = http_date(headers["Expires"])
        return EXPIRE_IMMEDIATELY if expires is None else expires
    return default


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
    """requests-cache's actions, with the freshness of a response read by RFC 9111's rules."""

    @classmethod
    def from_request(cls, cache_key: str, request: Any, settings: Any = None) -> Any:
        actions = super().from_request(cache_key, request, settings)
        actions._stale_if_error = _safe_stale(actions._stale_if_error)
        actions._stale_while_revalidate = _safe_stale(actions._stale_while_revalidate)
        return actions

    @property
    def expires(self) -> datetime | None:
        return expiration_time(self.expire_after)

    def update_from_response(self, response: Any) -> None:
        self._response_headers = CaseInsensitiveDict(response.headers)
        super().update_from_response(response)

    def _update_from_response_headers(self, directives: CacheDirectives) -> None:
        headers = getattr(self, "_response_headers", None) or {}
        self._stale_if_error = _safe_stale(self._stale_if_error or directives.stale_if_error)
        self.expire_after = response_expire_after(headers, self.expire_after)
        self.skip_write = self.skip_write or directives.no_store


def request_headers(
    headers: Mapping[str, Any] | None,
    expire_after: Any,
    only_if_cached: bool,
    refresh: bool,
    force_refresh: bool,
) -> CaseInsensitiveDict[Any]:
    """requests-cache's per-request options as request headers, keeping the caller's
    ``Cache-Control`` as sent (requests-cache re-joins it without its spaces, which can make
    an invalid header)."""
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
