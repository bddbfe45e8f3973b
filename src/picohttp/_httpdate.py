"""HTTP dates (RFC 9110 5.6.7): format one, parse any of the three forms.

Pure functions of their arguments; the server reads the clock and caches the
formatted ``Date`` per second.  ``calendar`` and ``email.utils`` are avoided:
importing them costs more than these few lines.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Optional

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {name.lower(): number for number, name in enumerate(_MONTHS, 1)}


def format_http_date(timestamp: float) -> str:
    """``1700000000`` -> ``"Tue, 14 Nov 2023 22:13:20 GMT"`` (IMF-fixdate)."""
    t = time.gmtime(timestamp)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


#: Longer than any HTTP date ("Wednesday, 09-Nov-94 08:49:37 GMT" is 33), with room for spaces.
_MAX_DATE_LENGTH = 64


def _full_year(short_year: int, now: Optional[float]) -> int:
    """RFC 9110: a two-digit year more than 50 years ahead is in the past century."""
    this_year = time.gmtime(now).tm_year
    year = short_year + this_year // 100 * 100
    return year - 100 if year > this_year + 50 else year


def parse_http_date(text: str, now: Optional[float] = None) -> Optional[int]:
    """Seconds since the epoch for an HTTP date in any RFC 9110 form, else ``None``.

    IMF-fixdate ``Sun, 06 Nov 1994 08:49:37 GMT``, RFC 850
    ``Sunday, 06-Nov-94 08:49:37 GMT`` and asctime ``Sun Nov  6 08:49:37 1994``.
    ``now`` (default: the clock) only places RFC 850's two-digit years.
    """
    if len(text) > _MAX_DATE_LENGTH:  # bounds every int() below on a client's text
        return None
    parts = text.replace(",", " ").split()
    try:
        if len(parts) == 6 and parts[5] == "GMT":
            day, month, year, clock = parts[1], parts[2], int(parts[3]), parts[4]
        elif len(parts) == 4 and parts[3] == "GMT" and parts[1].count("-") == 2:
            day, month, short_year = parts[1].split("-")
            clock = parts[2]
            year = _full_year(int(short_year), now)
        elif len(parts) == 5:
            month, day, clock, year = parts[1], parts[2], parts[3], int(parts[4])
        else:
            return None
        hour, minute, second = (int(piece) for piece in clock.split(":"))
        day_number = int(day)
    except ValueError:
        return None
    month_number = _MONTH_NUMBER.get(month.lower())
    if (
        month_number is None
        or not 1 <= day_number <= 31
        or not (0 <= hour < 24 and 0 <= minute < 60 and 0 <= second <= 60)
    ):
        return None
    days = _days_from_civil(year, month_number, day_number)
    return days * 86400 + hour * 3600 + minute * 60 + second
