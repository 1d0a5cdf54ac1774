"""Expiration values as requests-cache's settings spell them (seconds, ``timedelta``,
``datetime``, the special values below), turned into times. Pure: the time is an argument.

Nothing here raises on a value a caller or a header may hold: deltas past 2**31 seconds
count as 2**31 (RFC 9111, 1.2.2), and a date that cannot be read is already past.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatch
from math import ceil
from typing import Any

from .fields import MAX_DELTA_SECONDS, http_date

# requests-cache's special values, kept so that settings written for it mean the same here.
DO_NOT_CACHE = 0x0D0E0200020704  # RFC 4824's "do not cache", as requests-cache spells it
EXPIRE_IMMEDIATELY = 0
NEVER_EXPIRE = -1


def utcnow() -> datetime:
    """The current time, aware, in UTC (the one clock read of the callers of this core)."""
    return datetime.now(UTC)


def expiration_time(expire_after: Any, now: datetime) -> datetime | None:
    """When something set to ``expire_after`` at ``now`` expires: an aware datetime, or None
    for never (``NEVER_EXPIRE``, ``DO_NOT_CACHE``, None)."""
    if expire_after is None or isinstance(expire_after, bool):
        return None
    if isinstance(expire_after, datetime):
        try:
            return expire_after.astimezone(UTC)
        except (ValueError, OverflowError):
            return now
    if isinstance(expire_after, str):
        stripped = expire_after.strip()
        if stripped.lstrip("-").isdigit():  # an Expires header holding a number: invalid
            return now
        return http_date(stripped) or now
    if isinstance(expire_after, timedelta):
        delta = expire_after
    elif isinstance(expire_after, int | float):
        if expire_after in (NEVER_EXPIRE, DO_NOT_CACHE):
            return None
        try:
            delta = timedelta(seconds=min(float(expire_after), MAX_DELTA_SECONDS))
        except (ValueError, OverflowError):
            return now
    else:
        return now
    delta = min(delta, timedelta(seconds=MAX_DELTA_SECONDS))
    try:
        return now + delta
    except OverflowError:
        return now


def expiration_seconds(expire_after: Any, now: datetime) -> int:
    """``expire_after`` in whole seconds from ``now`` (``NEVER_EXPIRE`` for never)."""
    expires = expiration_time(expire_after, now)
    if expires is None:
        return NEVER_EXPIRE
    return max(0, ceil((expires - now).total_seconds()))


def url_expiration(url: str | None, patterns: Mapping[Any, Any] | None) -> Any:
    """The ``expire_after`` of the first of ``urls_expire_after``'s patterns that ``url``
    matches (a glob over the URL without its scheme, or a compiled regular expression), or
    None."""
    if not url or not patterns:
        return None
    for pattern, expire_after in patterns.items():
        if _url_match(url, pattern):
            return expire_after
    return None


def _url_match(url: str, pattern: Any) -> bool:
    if isinstance(pattern, re.Pattern):
        return pattern.search(url) is not None
    bare = url.split("://")[-1]
    glob = str(pattern).split("://")[-1].rstrip("*") + "**"
    return fnmatch(bare, glob)
