"""``_httpdate``: IMF-fixdate out; all three RFC 9110 forms in."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

from picohttp._httpdate import format_http_date, parse_http_date

NOV_1994 = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example


def test_format() -> None:
    assert format_http_date(1700000000) == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert format_http_date(NOV_1994) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert format_http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert format_http_date(1700000000.999) == "Tue, 14 Nov 2023 22:13:20 GMT"


@given(st.integers(min_value=0, max_value=253402300799))  # up to 9999-12-31
def test_format_matches_email_utils_and_parses_back(timestamp: int) -> None:
    text = format_http_date(timestamp)
    assert text == email.utils.formatdate(timestamp, usegmt=True)
    assert parse_http_date(text) == timestamp


@pytest.mark.parametrize(
    "text",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "sun, 06 nov 1994 08:49:37 GMT",  # month names ignore case
    ],
)
def test_parse_the_three_forms(text: str) -> None:
    assert parse_http_date(text, now=1700000000) == NOV_1994


def test_rfc850_two_digit_years_are_within_fifty_years_of_now() -> None:
    now_2023 = 1700000000
    # RFC 9110 5.6.7: only a year *more* than 50 years ahead is taken as the past century.
    assert parse_http_date("Tuesday, 01-Jan-74 00:00:00 GMT", now=now_2023) == 126230400  # 1974
    assert parse_http_date("Sunday, 01-Jan-73 00:00:00 GMT", now=now_2023) == 3250454400  # 2073
    assert parse_http_date("Saturday, 01-Jan-50 00:00:00 GMT", now=now_2023) == 2524608000
    assert parse_http_date("Friday, 01-Jan-99 00:00:00 GMT", now=now_2023) == 915148800  # 1999


def test_leap_second_is_accepted() -> None:
    assert parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT") == 1483228800


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "Sun, 06 Nov 1994 08:49:37",  # no GMT
        "Sun, 06 Nov 1994 08:49:37 PST",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 32 Nov 1994 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 06 Nov 1994 08:49 GMT",
        "Sun, 06 Nov 1994 08:49:37:00 GMT",
        "Sun, xx Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov year 08:49:37 GMT",
        "Sunday, 06-Nov 08:49:37 GMT",
        "Sun Nov  6 08:49:37",
    ],
)
def test_invalid_dates_are_none(text: str) -> None:
    assert parse_http_date(text) is None


@given(st.text(max_size=40))
def test_parse_never_raises(text: str) -> None:
    result = parse_http_date(text)
    assert result is None or isinstance(result, int)
