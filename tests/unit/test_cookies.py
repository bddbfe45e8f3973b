"""``_cookies``: the Cookie field read leniently (RFC 6265 5.4), Set-Cookie strictly (4.1.1)."""

from __future__ import annotations

import datetime
import string

import pytest

from picohttp._cookies import deleted_cookie_value, parse_cookies, set_cookie_value


def cookie(name: str, value: str, **options: object) -> str:
    arguments = {
        "max_age": None,
        "expires": None,
        "path": "/",
        "domain": None,
        "secure": False,
        "http_only": True,
        "same_site": "Lax",
    }
    arguments.update(options)
    return set_cookie_value(name, value, **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, {}),
        ("", {}),
        ("a=1", {"a": "1"}),
        ("a=1; b=2", {"a": "1", "b": "2"}),
        ("a=1;b=2", {"a": "1", "b": "2"}),  # no space after ';': still two pairs
        ('a="quoted value"', {"a": "quoted value"}),
        ("a=", {"a": ""}),
        ("a=x=y", {"a": "x=y"}),  # everything after the first '=' is the value
        ("a=1; a=2", {"a": "1"}),  # the first (most specific path) wins
        # A bad pair hides nothing else: no '=', an empty name, a control byte.
        ("garbage; a=1", {"a": "1"}),
        ("=lonely; b=2", {"b": "2"}),
        ("a=1; bad=\x01x; c=3", {"a": "1", "c": "3"}),
        (";;; a=1 ;;", {"a": "1"}),
        ("  spaced  =  out  ", {"spaced": "out"}),
        ("a=caf\xc3\xa9", {"a": "café"}),  # UTF-8 bytes, read as Latin-1 by the parser
        ("a=caf\xe9", {"a": "caf\xe9"}),  # not UTF-8: kept as read, nothing lost
    ],
)
def test_parse_cookies(header: str, expected: dict[str, str]) -> None:
    assert parse_cookies(header) == expected


@pytest.mark.parametrize("header", ["\x00", "=", ";", '"', "a", "a=\x7f", "\t=\t", "=" * 1000])
def test_parse_cookies_never_raises(header: str) -> None:
    assert isinstance(parse_cookies(header), dict)


def test_set_cookie_defaults_and_attributes() -> None:
    assert cookie("sid", "abc") == "sid=abc; Path=/; HttpOnly; SameSite=Lax"
    assert (
        cookie(
            "sid",
            "abc",
            max_age=3600,
            expires=0,
            path="/app",
            domain="example.com",
            secure=True,
            http_only=False,
            same_site="strict",
        )
        == "sid=abc; Max-Age=3600; Expires=Thu, 01 Jan 1970 00:00:00 GMT; "
        "Domain=example.com; Path=/app; Secure; SameSite=Strict"
    )
    assert cookie("a", "b", path=None, http_only=False, same_site=None) == "a=b"
    assert cookie("a", "b", max_age=datetime.timedelta(hours=1)).startswith("a=b; Max-Age=3600;")


def test_expires_accepts_a_datetime_a_timestamp_and_an_http_date() -> None:
    when = "Wed, 21 Oct 2037 07:28:00 GMT"
    aware = datetime.datetime(2037, 10, 21, 7, 28, tzinfo=datetime.timezone.utc)
    naive = datetime.datetime(2037, 10, 21, 7, 28)  # naive means UTC
    for expires in (when, aware, naive, aware.timestamp()):
        assert f"; Expires={when};" in cookie("a", "b", expires=expires)
    with pytest.raises(ValueError, match="not an HTTP date"):
        cookie("a", "b", expires="tomorrow")
    with pytest.raises(TypeError):
        cookie("a", "b", expires=[2037])


@pytest.mark.parametrize(
    "name", ["", "a b", "a;b", "a,b", "a=b", "a\r\nSet-Cookie: x", "caf\xe9", "a\x00", '"a"']
)
def test_names_that_would_break_the_header_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a token"):
        cookie(name, "v")


@pytest.mark.parametrize(
    "value", ["a b", "a;b", "a,b", 'a"b', "a\\b", "a\r\nX: y", "caf\xe9", "\x7f", '"open']
)
def test_values_that_would_break_the_header_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="encode it"):
        cookie("name", value)


def test_every_cookie_octet_is_allowed_and_a_quoted_value_too() -> None:
    octets = "".join(c for c in string.printable[:94] if c not in '",;\\')
    assert cookie("n", octets).startswith(f"n={octets};")
    assert cookie("n", '"quoted"').startswith('n="quoted";')


def test_bad_attributes_are_refused() -> None:
    with pytest.raises(ValueError, match="path"):
        cookie("a", "b", path="/x; Domain=evil.example")
    with pytest.raises(ValueError, match="domain"):
        cookie("a", "b", domain="a\nb")
    with pytest.raises(ValueError, match="sameSite"):
        cookie("a", "b", same_site="sometimes")
    with pytest.raises(ValueError, match="secure=True"):
        cookie("a", "b", same_site="None")  # browsers drop SameSite=None without Secure
    assert "SameSite=None" in cookie("a", "b", same_site="None", secure=True)
    with pytest.raises(TypeError):
        cookie("a", 5)  # type: ignore[arg-type]


def test_deleted_cookie_expires_now() -> None:
    value = deleted_cookie_value("sid", "/", False)
    assert value == "sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/"
    assert deleted_cookie_value("sid", "/a", True).endswith("; Path=/a; Secure")
