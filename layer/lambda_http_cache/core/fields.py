"""Parsing of the header fields a cache reads (RFC 9110, RFC 9111). Pure: no I/O, no clock.

Every parser here takes whatever a message (or a table item) holds and never raises: a value
that is not valid is reported as such (None), and the caller applies the rule RFC 9111 gives
for an invalid value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# RFC 9111, 1.2.2: a delta-seconds value too large to represent counts as 2**31.
MAX_DELTA_SECONDS = 2**31
_DELTA_SECONDS = re.compile(r"[0-9]+")
# Digits of 2**31 (ten): a longer number is capped without converting it.
_MAX_DELTA_DIGITS = len(str(MAX_DELTA_SECONDS))

# HTTP-date (RFC 9110, 5.6.7): the three forms a recipient must accept, and nothing else.
#   IMF-fixdate   Sun, 06 Nov 1994 08:49:37 GMT
#   rfc850-date   Sunday, 06-Nov-94 08:49:37 GMT
#   asctime-date  Sun Nov  6 08:49:37 1994
# Single spaces; a two-digit day (space-padded in asctime-date), hour, minute and second; a
# four-digit year (two digits in rfc850-date); "GMT" the only zone (RFC 9111, 4.2: any other
# zone is invalid). Case-insensitive (RFC 9111, 4.2), in ASCII only so that no non-ASCII letter
# folds onto a name.
_MONTH = r"(?P<month>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
_TIME = r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
_IMF_FIXDATE = re.compile(
    rf"(?:mon|tue|wed|thu|fri|sat|sun), (?P<day>[0-9]{{2}}) {_MONTH} (?P<year>[0-9]{{4}}) "
    rf"{_TIME} gmt",
    re.ASCII | re.IGNORECASE,
)
_RFC850_DATE = re.compile(
    r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday), "
    rf"(?P<day>[0-9]{{2}})-{_MONTH}-(?P<year>[0-9]{{2}}) {_TIME} gmt",
    re.ASCII | re.IGNORECASE,
)
_ASCTIME_DATE = re.compile(
    rf"(?:mon|tue|wed|thu|fri|sat|sun) {_MONTH} (?P<day>[0-9]{{2}}| [0-9]) {_TIME} "
    r"(?P<year>[0-9]{4})",
    re.ASCII | re.IGNORECASE,
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
# The longest HTTP-date is 33 characters (a Wednesday in rfc850-date); anything much longer is
# rejected before any pattern sees it.
_MAX_HTTP_DATE_LENGTH = 64


def text(raw: Any) -> str:
    """A field value as text (bytes as Latin-1, as they went on the wire); "" for None or for
    a value that cannot be written as text."""
    if isinstance(raw, bytes | bytearray):
        return raw.decode("latin-1")
    if raw is None:
        return ""
    try:
        return str(raw)
    except Exception:  # e.g. an int too long to print: no field value either way
        return ""


def delta_seconds(raw: Any) -> int | None:
    """A delta-seconds value (``1*DIGIT``), capped at 2**31; None if invalid."""
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int):
        return min(raw, MAX_DELTA_SECONDS) if raw >= 0 else None
    value = text(raw).strip().strip('"')
    if not _DELTA_SECONDS.fullmatch(value):
        return None
    digits = value.lstrip("0")
    if len(digits) > _MAX_DELTA_DIGITS:  # int() of thousands of digits raises
        return MAX_DELTA_SECONDS
    return min(int(digits or "0"), MAX_DELTA_SECONDS)


def directives(raw: Any) -> dict[str, str | None]:
    """Cache-Control directives by lower-case name (the first of duplicates), with their raw
    argument or None; every line of the field, spaces and quotes tolerated."""
    found: dict[str, str | None] = {}
    for part in text(raw).split(","):
        name, separator, argument = part.partition("=")
        name = name.strip().lower()
        if name and name not in found:
            found[name] = argument.strip().strip('"') if separator else None
    return found


def cache_control(headers: Mapping[str, Any]) -> dict[str, str | None]:
    """The Cache-Control directives of a message's (case-insensitive) ``headers``."""
    return directives(headers.get("Cache-Control"))


def _full_year(two_digits: int, now: datetime | None) -> int:
    """The year an rfc850-date's two-digit year stands for."""
    if now is None:
        # No clock here: the fixed pivot POSIX strptime and email.utils use (69-99 are the
        # 1900s, 00-68 the 2000s).
        return two_digits + (1900 if two_digits >= 69 else 2000)
    # RFC 9110, 5.6.7: a year more than 50 years in the future is the most recent past year
    # with the same last two digits.
    latest = now.year + 50
    return latest - (latest - two_digits) % 100


def http_date(raw: Any, *, now: datetime | None = None) -> datetime | None:
    """An HTTP-date (RFC 9110, 5.6.7: IMF-fixdate, rfc850-date or asctime-date) as an aware
    datetime in UTC, or None if it is not one. ``now`` places an rfc850-date's two-digit year
    (RFC 9110's 50-year rule); without it a fixed pivot does."""
    if isinstance(raw, bytes | bytearray):
        if len(raw) > _MAX_HTTP_DATE_LENGTH:
            return None
        value = raw.decode("latin-1")
    elif isinstance(raw, str):
        value = raw
    else:
        return None
    if len(value) > _MAX_HTTP_DATE_LENGTH:
        return None
    value = value.strip(" \t")
    match = _IMF_FIXDATE.fullmatch(value) or _ASCTIME_DATE.fullmatch(value)
    two_digit_year = False
    if match is None:
        match = _RFC850_DATE.fullmatch(value)
        two_digit_year = True
    if match is None:
        return None
    # The day name is redundant with the date and not checked against it.
    year = int(match["year"])
    if two_digit_year:
        year = _full_year(year, now)
    hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second"])
    if hour > 23 or minute > 59 or second > 60:
        return None
    try:
        # A leap second (60) becomes 59: RFC 9111, 4.2 has a cache round an Expires it cannot
        # represent down, never up.
        return datetime(
            year,
            _MONTHS[match["month"].lower()],
            int(match["day"]),
            hour,
            minute,
            min(second, 59),
            tzinfo=UTC,
        )
    except ValueError:  # no such day (31 Feb), or year 0000
        return None


def age_value(raw: Any) -> int | None:
    """The ``Age`` field's value in seconds, or None when the field is absent or invalid (RFC
    9111, 5.1: a cache ignores an invalid ``Age``; of a list, the first member counts)."""
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return delta_seconds(raw)
    # Several Age lines arrive joined with commas; empty list elements are skipped (RFC 9110,
    # 5.6.1), and only the first member is looked at, however long the rest.
    first, _, _ = text(raw).lstrip(" \t,").partition(",")
    return delta_seconds(first)


def list_members(raw: Any) -> list[str]:
    """The members of a comma-separated list field, stripped, empty ones dropped."""
    return [part.strip() for part in text(raw).split(",") if part.strip()]
