"""The header-field parsers of the cache core (core/fields.py): every Expires, Date and Age
value of the public cache-tests suite (its git source, and npm http-cache-tests 0.4.5 where
that differs), the HTTP-date grammar around them, and properties over any input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lambda_http_cache.core.fields import (
    MAX_DELTA_SECONDS,
    age_value,
    cache_control,
    delta_seconds,
    directives,
    http_date,
    list_members,
    text,
)

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
LONG_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def joined(*lines: str) -> str:
    """Repeated field lines as the client hands them over: one value, joined with commas."""
    return ", ".join(lines)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def asctime(dt: datetime) -> str:
    return f"{DAYS[dt.weekday()]} {MONTHS[dt.month - 1]} {dt.day:2d} {dt:%H:%M:%S} {dt.year:04d}"


def rfc850(dt: datetime) -> str:
    """As the suite writes it (test-engine/lib/utils.mjs, httpDate with format 'rfc850')."""
    month = MONTHS[dt.month - 1]
    return f"{LONG_DAYS[dt.weekday()]}, {dt.day:02d}-{month}-{dt.year % 100:02d} {dt:%H:%M:%S} GMT"


# Expires: the suite's expires-parse.mjs -----------------------------------------------------

# Forms a cache should reuse (kind "optimal" in the git source): the value, and the time it is.
SUITE_VALID_EXPIRES = [
    ("freshness-expires-32bit", "Tue, 19 Jan 2038 14:14:08 GMT", utc(2038, 1, 19, 14, 14, 8)),
    ("freshness-expires-far-future", "Sun, 21 Nov 2286 04:46:39 GMT", utc(2286, 11, 21, 4, 46, 39)),
    ("freshness-expires-rfc850", "Thursday, 18-Aug-50 02:01:18 GMT", utc(2050, 8, 18, 2, 1, 18)),
    ("freshness-expires-ansi-c", "Thu Aug  8 02:01:18 2050", utc(2050, 8, 8, 2, 1, 18)),
    (
        "freshness-expires-wrong-case-weekday",
        "THU, 18 Aug 2050 02:01:18 GMT",
        utc(2050, 8, 18, 2, 1, 18),
    ),
    (
        "freshness-expires-wrong-case-month",
        "Thu, 18 AUG 2050 02:01:18 GMT",
        utc(2050, 8, 18, 2, 1, 18),
    ),
    (
        "freshness-expires-wrong-case-tz",
        "Thu, 18 Aug 2050 02:01:18 gMT",
        utc(2050, 8, 18, 2, 1, 18),
    ),
]

# Forms a cache must treat as invalid, so the response is already stale (required in the git
# source; checks expecting reuse in npm 0.4.5).
SUITE_INVALID_EXPIRES = [
    ("freshness-expires-invalid-utc", "Thu, 18 Aug 2050 02:01:18 UTC"),
    ("freshness-expires-invalid-aest", "Thu, 18 Aug 2050 02:01:18 AEST"),
    ("freshness-expires-invalid-2-digit-year", "Thu, 18 Aug 50 02:01:18 GMT"),
    ("freshness-expires-invalid-no-comma", "Thu 18 Aug 2050 02:01:18 GMT"),
    ("freshness-expires-invalid-multiple-spaces", "Thu, 18  Aug  2050 02:01:18 GMT"),
    ("freshness-expires-invalid-date-dashes", "Thu, 18-Aug-2050 02:01:18 GMT"),
    ("freshness-expires-invalid-time-periods", "Thu, 18 Aug 2050 02.01.18 GMT"),
    ("freshness-expires-invalid-1-digit-hour", "Thu, 18 Aug 2050 2:01:18 GMT"),
    (
        "freshness-expires-invalid-multiple-lines",
        joined("Thu, 18 Aug 2050 2:01:18 GMT", "Thu, 18 Aug 2050 2:01:19 GMT"),
    ),
    # expires-freshness.mjs, cc-freshness.mjs, cdn-cache-control.mjs: `Expires: 0`.
    ("freshness-expires-invalid", "0"),
    # npm 0.4.5's 32bit and far-future checks: the same dates without the comma after the day
    # name, which the git source's required no-comma test makes invalid.
    ("freshness-expires-32bit (npm 0.4.5)", "Tue 19 Jan 2038 14:14:08 GMT"),
    ("freshness-expires-far-future (npm 0.4.5)", "Sun 21 Nov 2286 04:46:39 GMT"),
]


@pytest.mark.parametrize(("case", "value", "expected"), SUITE_VALID_EXPIRES)
def test_suite_expires_forms_a_cache_reuses(case: str, value: str, expected: datetime) -> None:
    assert http_date(value) == expected, case
    assert http_date(value.encode("latin-1")) == expected, case


@pytest.mark.parametrize(("case", "value"), SUITE_INVALID_EXPIRES)
def test_suite_expires_forms_that_are_invalid(case: str, value: str) -> None:
    assert http_date(value) is None, case
    assert http_date(value.encode("latin-1")) is None, case


# Date and the other date fields the suite sends ------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # expires-freshness.mjs, freshness-expires-invalid-date: `Date: foo`.
        ("foo", None),
        # lib/header-list.mjs (Expires updated by a 304) and update304.mjs (Last-Modified).
        ("Fri, 01 Jan 2038 01:01:01 GMT", utc(2038, 1, 1, 1, 1, 1)),
        ("Mon, 11 Jan 2038 11:11:11 GMT", utc(2038, 1, 11, 11, 11, 11)),
        ("Wed, 01 Jan 2020 00:00:00 GMT", utc(2020, 1, 1)),
    ],
)
def test_suite_date_values(value: str, expected: datetime | None) -> None:
    assert http_date(value) == expected


def test_the_suites_generated_dates_parse() -> None:
    # Numeric Date, Expires, Last-Modified and If-Modified-Since values in the suite are sent
    # as JavaScript's toGMTString() (IMF-fixdate), or its own rfc850 form for an IMS.
    instant = utc(2026, 3, 4, 5, 6, 7)
    assert http_date("Wed, 04 Mar 2026 05:06:07 GMT") == instant
    assert rfc850(instant) == "Wednesday, 04-Mar-26 05:06:07 GMT"
    assert http_date(rfc850(instant)) == instant
    assert http_date(rfc850(instant), now=instant) == instant


# The HTTP-date grammar (RFC 9110, 5.6.7) --------------------------------------------------------


def test_the_three_forms_of_rfc_9110_are_the_same_time() -> None:
    expected = utc(1994, 11, 6, 8, 49, 37)
    assert http_date("Sun, 06 Nov 1994 08:49:37 GMT") == expected
    assert http_date("Sunday, 06-Nov-94 08:49:37 GMT") == expected
    assert http_date("Sun Nov  6 08:49:37 1994") == expected


def test_the_result_is_aware_and_in_utc() -> None:
    parsed = http_date("Sun, 06 Nov 1994 08:49:37 GMT")
    assert parsed is not None
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value",
    [
        " Sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT\t",
        "sun, 06 nov 1994 08:49:37 gmt",
        "SUNDAY, 06-NOV-94 08:49:37 GMT",
        "sun nov  6 08:49:37 1994",
        "Sun Nov 06 08:49:37 1994",  # asctime's date3 allows two digits too
        "Mon, 06 Nov 1994 08:49:37 GMT",  # a wrong day name is not checked against the date
    ],
)
def test_accepted_variants(value: str) -> None:
    assert http_date(value) == utc(1994, 11, 6, 8, 49, 37)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "Sun, 6 Nov 1994 08:49:37 GMT",  # one-digit day
        "Sun, 06 Nov 94 08:49:37 GMT",  # two-digit year outside rfc850-date
        "Sun, 06 Nov 01994 08:49:37 GMT",
        "Sun, 06 November 1994 08:49:37 GMT",
        "Sunday, 06 Nov 1994 08:49:37 GMT",  # long day name in IMF-fixdate
        "Sun, 06-Nov-94 08:49:37 GMT",  # short day name in rfc850-date
        "Sunday, 06-Nov-1994 08:49:37 GMT",  # four-digit year in rfc850-date
        "Sunday, 06-Nov-94 08:49:37 UTC",
        "Sun Nov 6 08:49:37 1994",  # asctime pads a one-digit day with a space
        "Sun Nov  6 08:49:37 1994 GMT",
        "Sun Nov  6 08:49:37 94",
        "Sun, 06 Nov 1994 08:49:37",  # no zone
        "Sun, 06 Nov 1994 08:49:37 +0000",
        "Sun, 06 Nov 1994 08:49:37 -0000",
        "Sun, 06 Nov 1994 08:49:37 Z",
        "Sun, 06 Nov 1994 08:49 GMT",
        "Sun, 06 Nov 1994 08:49:37.5 GMT",
        "Sun,06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT,",
        "Sun,\t06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT\r\nX: y",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 23:60:00 GMT",
        "Sun, 06 Nov 1994 23:59:61 GMT",
        "Sun, 32 Nov 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Mon, 29 Feb 2021 00:00:00 GMT",
        "Sat, 01 Jan 0000 00:00:00 GMT",
        "Sun, \uff106 Nov 1994 08:49:37 GMT",  # a non-ASCII digit
        "\u017fun, 06 Nov 1994 08:49:37 GMT",  # a long s, which folds to "s" outside ASCII
        "1994-11-06T08:49:37Z",
        "784111777",
    ],
)
def test_rejected_values(value: str) -> None:
    assert http_date(value) is None


def test_a_leap_second_rounds_down() -> None:
    assert http_date("Sat, 31 Dec 2016 23:59:60 GMT") == utc(2016, 12, 31, 23, 59, 59)


def test_a_leap_day() -> None:
    assert http_date("Sat, 29 Feb 2020 00:00:00 GMT") == utc(2020, 2, 29)


@pytest.mark.parametrize(
    ("two_digits", "year"),
    [("00", 2000), ("50", 2050), ("68", 2068), ("69", 1969), ("94", 1994), ("99", 1999)],
)
def test_a_two_digit_year_without_now_uses_a_fixed_pivot(two_digits: str, year: int) -> None:
    assert http_date(f"Sunday, 06-Nov-{two_digits} 08:49:37 GMT") == utc(year, 11, 6, 8, 49, 37)


@pytest.mark.parametrize(
    ("two_digits", "year"),
    [("26", 2026), ("50", 2050), ("76", 2076), ("77", 1977), ("99", 1999), ("00", 2000)],
)
def test_a_two_digit_year_more_than_50_years_ahead_is_in_the_past(
    two_digits: str, year: int
) -> None:
    now = utc(2026, 1, 1)
    parsed = http_date(f"Sunday, 06-Nov-{two_digits} 08:49:37 GMT", now=now)
    assert parsed == utc(year, 11, 6, 8, 49, 37)


@pytest.mark.parametrize(
    "raw",
    [None, 0, 784111777, 1.5, True, [], {}, object(), utc(1994, 11, 6)],
)
def test_a_value_that_is_not_text_is_not_a_date(raw: Any) -> None:
    assert http_date(raw) is None


def test_hostile_lengths_are_rejected_before_matching() -> None:
    assert http_date(10**5000) is None
    valid = "Sun, 06 Nov 1994 08:49:37 GMT"
    assert http_date(valid + " " * 100) is None
    assert http_date(" " * 10**6 + valid) is None
    assert http_date((valid * 10**5).encode()) is None
    assert http_date("9" * 10**6) is None


# Age: the suite's age-parse.mjs -----------------------------------------------------------------

# The git source (RFC 9111, 5.1): (test id, Age lines, max-age, the value Age counts as, whether
# the suite wants the response reused). An invalid Age is ignored, a list uses its first member.
SUITE_AGE = [
    ("age-parse-nonnumeric", ["abc"], 3600, None, True),
    ("age-parse-negative", ["-7200"], 3600, None, True),
    ("age-parse-float", ["7200.0"], 3600, None, True),
    ("age-parse-large-minus-one", ["2147483647"], 3600, 2147483647, False),
    ("age-parse-large", ["2147483648"], 3600, MAX_DELTA_SECONDS, False),
    ("age-parse-larger", ["2147483649"], 3600, MAX_DELTA_SECONDS, False),
    ("age-parse-suffix", ["7200, 0"], 3600, 7200, False),
    ("age-parse-prefix", ["0, 7200"], 3600, 0, True),
    ("age-parse-suffix-twoline", ["7200", "0"], 3600, 7200, False),
    ("age-parse-prefix-twoline", ["0", "7200"], 3600, 0, True),
    ("age-parse-dup-0", ["0, 0"], 3600, 0, True),
    ("age-parse-dup-0-twoline", ["0", "0"], 3600, 0, True),
    ("age-parse-dup-old", ["3600", "3600"], 10000, 3600, True),
    # Checks (no requirement): the suite asks whether a parameter is tolerated; Age is
    # delta-seconds only, so here the value is invalid and ignored (the answer is no).
    ("age-parse-parameter", ["7200;foo=bar"], 3600, None, True),
    ("age-parse-numeric-parameter", ["7200;foo=111"], 3600, None, True),
]

# npm 0.4.5's values where they differ from the git source (the suffix and prefix tests send
# no space after the comma, dup-old sends one line). 0.4.5 wants every one of these stale but
# "0,7200"; the value is what RFC 9111 makes of them all the same.
NPM_0_4_5_AGE = [
    ("age-parse-suffix", ["7200,0"], 7200),
    ("age-parse-prefix", ["0,7200"], 0),
    ("age-parse-dup-old", ["3600, 3600"], 3600),
]


def reused(age: int | None, max_age: int) -> bool:
    """Whether a response of ``max-age`` is still fresh at once, as the core counts it (an
    ignored Age counts as 0)."""
    return (age or 0) < max_age


@pytest.mark.parametrize(("case", "lines", "max_age", "expected", "fresh"), SUITE_AGE)
def test_suite_age_values(
    case: str, lines: list[str], max_age: int, expected: int | None, fresh: bool
) -> None:
    value = joined(*lines)
    assert age_value(value) == expected, case
    assert age_value(value.encode("latin-1")) == expected, case
    assert reused(age_value(value), max_age) is fresh, case


@pytest.mark.parametrize(("case", "lines", "expected"), NPM_0_4_5_AGE)
def test_npm_0_4_5_age_values(case: str, lines: list[str], expected: int) -> None:
    assert age_value(joined(*lines)) == expected, case


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        (" ", None),
        (",", None),
        (", 5", 5),  # empty list elements are skipped
        (" , ,7, 8", 7),
        ("5,", 5),
        ("abc, 5", None),  # the first member counts, even when invalid
        ("+5", None),
        ("0x10", None),
        ("1e3", None),
        ("\u0663", None),  # a non-ASCII digit
        (" 60 ", 60),
        ("007", 7),
        (60, 60),
        (-1, None),
        (True, None),
        (7200.0, None),
        (b"60", 60),
    ],
)
def test_age_value(raw: Any, expected: int | None) -> None:
    assert age_value(raw) == expected


def test_an_age_too_long_to_print_is_capped() -> None:
    assert age_value(10**5000) == MAX_DELTA_SECONDS
    assert age_value(str(10**4000)) == MAX_DELTA_SECONDS
    assert age_value("9" * 100_000) == MAX_DELTA_SECONDS
    assert age_value("0" * 100_000 + "5") == 5
    assert age_value("0" + ", 1" * 100_000) == 0
    assert delta_seconds("9" * 5000) == MAX_DELTA_SECONDS


# The other parsers, as they were ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("60", 60),
        (' "60" ', 60),
        (60, 60),
        ("-1", None),
        ("1.5", None),
        ("", None),
        (None, None),
        (False, None),
        ("4294967296", MAX_DELTA_SECONDS),
    ],
)
def test_delta_seconds(raw: Any, expected: int | None) -> None:
    assert delta_seconds(raw) == expected


def test_directives_and_cache_control() -> None:
    raw = 'Max-Age=60, no-cache, max-age=5, private="Set-Cookie" ,, s-maxage = "10"'
    assert directives(raw) == {
        "max-age": "60",
        "no-cache": None,
        "private": "Set-Cookie",
        "s-maxage": "10",
    }
    assert cache_control({"Cache-Control": raw})["max-age"] == "60"
    assert cache_control({}) == {}


def test_text_and_list_members() -> None:
    assert text(b"caf\xe9") == "café"
    assert text(bytearray(b"a")) == "a"
    assert text(None) == ""
    assert text(5) == "5"
    assert text(10**5000) == ""
    assert list_members(" gzip, , br ,") == ["gzip", "br"]
    assert list_members(None) == []


# Properties ---------------------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(1, 1, 1),
    max_value=datetime(9999, 12, 31, 23, 59, 59),
    timezones=st.just(UTC),
).map(lambda dt: dt.replace(microsecond=0))


@given(instants)
def test_every_imf_fixdate_parses_back(dt: datetime) -> None:
    assert http_date(format_datetime(dt, usegmt=True)) == dt


@given(instants)
def test_every_asctime_date_parses_back(dt: datetime) -> None:
    assert http_date(asctime(dt)) == dt


@given(instants.filter(lambda dt: 1000 <= dt.year <= 9000), st.integers(-49, 50))
def test_every_rfc850_date_within_50_years_parses_back(now: datetime, years: int) -> None:
    dt = now.replace(year=now.year + years, month=1, day=1)
    assert http_date(rfc850(dt), now=now) == dt


@given(instants, st.data())
def test_case_does_not_matter(dt: datetime, data: st.DataObject) -> None:
    value = format_datetime(dt, usegmt=True)
    flips = data.draw(st.lists(st.booleans(), min_size=len(value), max_size=len(value)))
    mixed = "".join(c.swapcase() if flip else c for c, flip in zip(value, flips, strict=True))
    assert http_date(mixed) == dt


@given(instants, st.sampled_from(["UTC", "UT", "Z", "+0000", "-0000", "EST", "CET", "AEST"]))
def test_only_gmt_is_a_zone(dt: datetime, zone: str) -> None:
    assert http_date(format_datetime(dt, usegmt=True)[:-3] + zone) is None


anything = st.one_of(
    st.none(),
    st.text(),
    st.binary(),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.datetimes(),
    st.lists(st.text(), max_size=3),
)


@given(anything)
def test_the_parsers_never_raise(raw: Any) -> None:
    parsed = http_date(raw)
    assert parsed is None or parsed.tzinfo is UTC
    age = age_value(raw)
    assert age is None or 0 <= age <= MAX_DELTA_SECONDS
    seconds = delta_seconds(raw)
    assert seconds is None or 0 <= seconds <= MAX_DELTA_SECONDS
    directives(raw)
    list_members(raw)
    text(raw)


@given(st.text(alphabet=st.sampled_from("0123456789 ,:-GMTSunNov\t"), max_size=40))
def test_near_dates_never_raise(raw: str) -> None:
    http_date(raw)
    age_value(raw)


@given(st.integers(min_value=0, max_value=MAX_DELTA_SECONDS))
def test_age_of_a_number_is_that_number(n: int) -> None:
    assert age_value(str(n)) == n
    assert age_value(n) == n


@given(st.integers(min_value=MAX_DELTA_SECONDS))
def test_age_is_capped(n: int) -> None:
    assert age_value(str(n)) == MAX_DELTA_SECONDS


@given(st.integers(min_value=0, max_value=MAX_DELTA_SECONDS), st.integers())
def test_age_of_a_list_is_its_first_member(n: int, m: int) -> None:
    assert age_value(f"{n}, {m}") == n
    assert age_value(f"{n},{m}") == n


@given(st.integers(max_value=-1))
def test_a_negative_age_is_ignored(n: int) -> None:
    assert age_value(str(n)) is None
    assert age_value(n) is None
