"""Freshness of a stored response in a shared cache (RFC 9111, section 4.2). Pure: every time
is an argument.

- Freshness lifetime: ``s-maxage`` over ``max-age`` over ``Expires`` minus ``Date``
  (4.2.1); the response's age when received (``Age``, ``Date``, the time the origin took:
  4.2.3) is subtracted.
- Heuristic freshness only for responses without explicit freshness, of a status RFC 9110
  calls heuristically cacheable or marked ``public`` (4.2.2): the ``expire_after`` setting
  (requests-cache's rule), or in standards mode a tenth of the time since ``Last-Modified``
  (the fraction RFC 9111 mentions and shared caches use), at most a day, and none without it.
- A ``max-age``, ``s-maxage`` or ``Expires`` that is present but invalid means already stale
  (so stored only if it can be revalidated); an invalid ``Age`` is ignored (5.1).
- ``must-revalidate``, ``proxy-revalidate`` and ``s-maxage`` forbid serving the response
  stale (4.2.4, 5.2.2.2).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from .expiration import EXPIRE_IMMEDIATELY
from .fields import MAX_DELTA_SECONDS, age_value, cache_control, delta_seconds, http_date

# RFC 9110, 15.1: status codes whose responses are heuristically cacheable.
HEURISTIC_STATUSES = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})
# Standards mode's heuristic: this fraction of the time since Last-Modified (RFC 9111, 4.2.2),
# at most this long (as Apache httpd's CacheLastModifiedFactor and CacheMaxExpire defaults).
LAST_MODIFIED_FRACTION = 0.1
MAX_HEURISTIC_SECONDS = 24 * 3600
# Response directives after which a shared cache never serves the response stale.
NEVER_STALE = ("must-revalidate", "proxy-revalidate", "s-maxage")


def initial_age(headers: Mapping[str, Any], response_time: datetime, elapsed: Any) -> float:
    """How old a response already was when received: RFC 9111, 4.2.3's corrected initial age
    (the larger of the age the origin's ``Date`` implies and ``Age`` plus the time the request
    took, as a ``timedelta`` or seconds)."""
    age = age_value(headers.get("Age")) or 0
    if isinstance(elapsed, timedelta):
        delay = elapsed.total_seconds()
    elif isinstance(elapsed, int | float) and not isinstance(elapsed, bool):
        delay = float(elapsed)
    else:
        delay = 0.0
    raw_date = headers.get("Date")
    date = http_date(raw_date) if raw_date else None
    apparent_age = max(0.0, (response_time - date).total_seconds()) if date else 0.0
    return max(apparent_age, age + max(0.0, delay))


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
        raw_date = headers.get("Date")
        date = http_date(raw_date) if raw_date else None
        return max(0.0, (expires - (date or response_time)).total_seconds())
    return None


def last_modified_lifetime(headers: Mapping[str, Any], response_time: datetime) -> float:
    """Standards mode's heuristic freshness lifetime, in seconds: a tenth of the time between
    ``Last-Modified`` and ``Date`` (or the time received), at most a day; 0 without a valid
    ``Last-Modified`` in the past."""
    raw = headers.get("Last-Modified")
    modified = http_date(raw) if raw else None
    if modified is None:
        return 0.0
    raw_date = headers.get("Date")
    date = (http_date(raw_date) if raw_date else None) or response_time
    since = (date - modified).total_seconds()
    return min(max(0.0, since) * LAST_MODIFIED_FRACTION, MAX_HEURISTIC_SECONDS)


def response_expire_after(
    headers: Mapping[str, Any],
    default: Any,
    *,
    status: int,
    response_time: datetime,
    elapsed: Any = None,
    heuristic: bool = True,
) -> Any:
    """When a response stops being fresh, as an ``expire_after`` value: an absolute time for
    explicit freshness and standards mode's heuristic (``heuristic`` False), ``default`` for
    the settings' heuristic freshness, or ``EXPIRE_IMMEDIATELY``."""
    lifetime = explicit_lifetime(headers, response_time)
    if lifetime is None:
        if status not in HEURISTIC_STATUSES and "public" not in cache_control(headers):
            return EXPIRE_IMMEDIATELY
        if heuristic:
            return default
        lifetime = last_modified_lifetime(headers, response_time)
    remaining = min(lifetime, MAX_DELTA_SECONDS) - initial_age(headers, response_time, elapsed)
    if remaining <= 0:
        return EXPIRE_IMMEDIATELY
    return response_time + timedelta(seconds=remaining)


def never_stale(headers: Mapping[str, Any]) -> bool:
    """Whether a stored response must never be served stale (RFC 9111, 5.2.2.2, 5.2.2.8,
    5.2.2.10)."""
    directives = cache_control(headers)
    return any(name in directives for name in NEVER_STALE)


def stale_window(headers: Mapping[str, Any], default: int) -> int:
    """The seconds a stale response may be served while it is revalidated (RFC 5861's
    ``stale-while-revalidate``, else ``default``); 0 for one that must never be served
    stale."""
    if never_stale(headers):
        return 0
    stated = cache_control(headers).get("stale-while-revalidate")
    if stated is None:
        return default
    return delta_seconds(stated) or 0


def current_age(initial: float, stored_at: datetime, now: datetime) -> int:
    """The ``Age`` of a stored response now, in whole seconds (RFC 9111, 4.2.3)."""
    return max(0, int(initial + (now - stored_at).total_seconds()))
