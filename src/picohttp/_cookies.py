"""Cookies: the ``Cookie`` request field in, ``Set-Cookie`` field values out.

Pure string work, no I/O.  Reading is lenient, as browsers are when they
send (RFC 6265 section 5.4 gives ``name=value`` pairs joined by ``"; "``, but
pages set cookies from JavaScript with almost any characters): a pair that
cannot be read is skipped and never hides the others, and nothing raises.
Writing is strict (section 4.1.1): a name or value that would change the
meaning of the ``Set-Cookie`` line is refused with ``ValueError``, never
quietly encoded, so what the browser stores is what the handler gave.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Dict, Optional

# RFC 6265 4.1.1: cookie-name is an RFC 2616 token; cookie-value is cookie-octets,
# optionally in double quotes: visible ASCII but space, DQUOTE, comma, semicolon and backslash.
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(
    r'[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*|"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*"'
)
# An attribute value (Path, Domain) may hold anything but controls and ";" (section 4.1.1).
_ATTRIBUTE = re.compile(r"[\x20-\x3a\x3c-\x7e]*")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_SAME_SITE = {"strict": "Strict", "lax": "Lax", "none": "None"}
_EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"


def parse_cookies(header: Optional[str]) -> Dict[str, str]:
    """``"a=1; b=2"`` -> ``{"a": "1", "b": "2"}``; never raises.

    Pairs are split on ``;``; whitespace around names and values is dropped
    and one pair of double quotes around a value is removed.  A pair without
    ``=``, with an empty name or with a control character is skipped.  When a
    name repeats the first wins: browsers send the cookie of the most
    specific path first (section 5.4, step 2).  Values sent as UTF-8 come
    back as text (the head is read as Latin-1).
    """
    cookies: Dict[str, str] = {}
    if not header:
        return cookies
    for pair in header.split(";"):
        name, equals, value = pair.partition("=")
        name = name.strip(" \t")
        if not equals or not name or name in cookies:
            continue
        value = value.strip(" \t")
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        if _CONTROL.search(name) or _CONTROL.search(value):
            continue
        if not value.isascii():
            value = _as_utf8(value)
        cookies[name] = value
    return cookies


def _as_utf8(text: str) -> str:
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:  # not UTF-8 after all: keep the Latin-1 reading, losing nothing
        return text


def set_cookie_value(
    name: str,
    value: str,
    max_age: Any,
    expires: Any,
    path: Optional[str],
    domain: Optional[str],
    secure: bool,
    http_only: bool,
    same_site: Optional[str],
) -> str:
    """The value of one ``Set-Cookie`` field; ``ValueError`` for anything that would break it."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"cookie name {name!r} is not a token: letters, digits and !#$%&'*+-.^_`|~ only "
            "(RFC 6265 section 4.1.1)"
        )
    if not isinstance(value, str):
        raise TypeError(f"cookie {name}: the value is a str, not {type(value).__name__}")
    if not _VALUE.fullmatch(value):
        raise ValueError(
            f"cookie {name}: value {value!r} holds a character a cookie cannot carry "
            "(space, '\"', ',', ';', '\\\\', a control or non-ASCII character): encode it "
            "first, e.g. with urllib.parse.quote or base64.urlsafe_b64encode"
        )
    parts = [f"{name}={value}"]
    if max_age is not None:
        parts.append(f"Max-Age={_seconds(name, max_age)}")
    if expires is not None:
        parts.append(f"Expires={_http_date(name, expires)}")
    if domain is not None:
        parts.append(f"Domain={_attribute(name, 'domain', domain)}")
    if path is not None:
        parts.append(f"Path={_attribute(name, 'path', path)}")
    if secure:
        parts.append("Secure")
    if http_only:
        parts.append("HttpOnly")
    if same_site is not None:
        spelled = _SAME_SITE.get(same_site.lower()) if isinstance(same_site, str) else None
        if spelled is None:
            raise ValueError(
                f"cookie {name}: sameSite is 'Strict', 'Lax', 'None' or None, not {same_site!r}"
            )
        if spelled == "None" and not secure:
            raise ValueError(
                f"cookie {name}: browsers refuse sameSite='None' without secure=True "
                "(the request did not come over HTTPS)"
            )
        parts.append(f"SameSite={spelled}")
    return "; ".join(parts)


def deleted_cookie_value(name: str, path: Optional[str], secure: bool) -> str:
    """A ``Set-Cookie`` value that makes a browser forget cookie ``name`` set for ``path``."""
    value = set_cookie_value(name, "", 0, None, path, None, secure, False, None)
    return value.replace("; Max-Age=0", f"; Max-Age=0; Expires={_EPOCH}", 1)


def _seconds(name: str, max_age: Any) -> int:
    seconds = getattr(max_age, "total_seconds", None)  # a datetime.timedelta
    if seconds is not None:
        max_age = int(seconds())
    if isinstance(max_age, bool) or not isinstance(max_age, int):
        raise TypeError(f"cookie {name}: maxAge is an int of seconds or a timedelta")
    return max(0, max_age)


def _http_date(name: str, expires: Any) -> str:
    from ._httpdate import format_http_date, parse_http_date

    if isinstance(expires, str):
        if parse_http_date(expires) is None:
            raise ValueError(
                f"cookie {name}: expires {expires!r} is not an HTTP date "
                "such as 'Wed, 21 Oct 2037 07:28:00 GMT'"
            )
        return expires
    timestamp = getattr(expires, "timestamp", None)  # a datetime
    if timestamp is not None:
        if getattr(expires, "tzinfo", None) is None:
            import datetime

            expires = expires.replace(tzinfo=datetime.timezone.utc)  # naive means UTC
        return format_http_date(expires.timestamp())
    if isinstance(expires, bool) or not isinstance(expires, (int, float)):
        raise TypeError(
            f"cookie {name}: expires is a datetime, a POSIX timestamp or an HTTP-date string"
        )
    return format_http_date(expires)


def _attribute(name: str, what: str, value: Any) -> str:
    if not isinstance(value, str) or not _ATTRIBUTE.fullmatch(value):
        raise ValueError(f"cookie {name}: {what} {value!r} may not hold ';' or control characters")
    return value
