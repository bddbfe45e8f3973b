"""Client text that once reached a 500 or the logs raw: Range numbers, HTTP dates,
form codecs, X-Forwarded-For entries, log escaping (issue 13; pure functions only)."""

from __future__ import annotations

import codecs
import logging
import time
from typing import Optional, Tuple, Union

import pytest

import picohttp
from picohttp import RemoteProtocolError
from picohttp._conditional import UNSATISFIABLE, parse_range
from picohttp._exchange import escape_for_log
from picohttp._forms import parse_form, parse_options
from picohttp._forwarded import forwarded, parse_address
from picohttp._httpdate import parse_http_date
from picohttp.testing import Client

HUGE = "9" * 5000

# -- Range -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"bytes={HUGE}-", UNSATISFIABLE),  # a first byte past any file
        (f"bytes={HUGE}-{HUGE}", UNSATISFIABLE),
        (f"bytes=2-{HUGE}", (2, 99)),  # a last byte past the end is the end
        (f"bytes=-{HUGE}", (0, 99)),  # a suffix longer than the file is all of it
        (f"bytes={HUGE}-5", None),  # last < first: invalid, ignored
        ("bytes=" + "0" * 5000 + "7-8", (7, 8)),  # leading zeros are still the number
        ("bytes=99999999999999999999-", UNSATISFIABLE),  # 20 digits
        ("bytes=0-99999999999999999999", (0, 99)),
        ("bytes=\u0661-\u0665", None),  # Arabic-Indic digits: not a range
        ("bytes=1_0-20", None),  # int() would take the underscore
        ("bytes= 1 - 2 ", (1, 2)),
    ],
)
def test_range_numbers_of_any_length_are_answered_without_int_overflow(
    value: str, expected: Union[Tuple[int, int], str, None]
) -> None:
    assert parse_range(value, 100) == expected


def test_a_huge_range_costs_microseconds_not_a_quadratic_int() -> None:
    value = "bytes=" + "1" * 60000 + "-"
    start = time.perf_counter()
    assert parse_range(value, 100) == UNSATISFIABLE
    assert time.perf_counter() - start < 0.5  # int() of 60,000 digits: ValueError or seconds


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov " + HUGE + " 08:49:37 GMT",
        "Sun, 06 Nov 1994 " + HUGE + ":49:37 GMT",
        "Sunday, 06-Nov-" + HUGE + " 08:49:37 GMT",
        "Sun Nov  6 08:49:37 " + HUGE,
    ],
)
def test_an_http_date_with_a_huge_number_is_no_date(value: str) -> None:
    assert parse_http_date(value) is None


# -- form codecs -------------------------------------------------------------------


def _part(disposition: bytes, content_type: Optional[bytes] = None) -> bytes:
    head = b"Content-Disposition: form-data; " + disposition
    if content_type is not None:
        head += b"\r\nContent-Type: " + content_type
    return b"--B\r\n" + head + b"\r\n\r\ncaf\xc3\xa9 \\N{x}\r\n--B--\r\n"


NOT_CHARSETS = ["idna", "undefined", "punycode", "unicode_escape", "raw_unicode_escape"]
NOT_TEXT = ["rot13", "base64", "zlib", "bz2", "hex", "uu", "quopri"]


@pytest.mark.parametrize("charset", [*NOT_CHARSETS, *NOT_TEXT, "no-such-codec", "utf-8"])
def test_a_text_part_in_a_codec_that_is_no_charset_is_read_as_utf8(charset: str) -> None:
    body = _part(b'name="a"', b"text/plain; charset=" + charset.encode())
    form, files = parse_form("multipart/form-data; boundary=B", body)
    assert form == {"a": "caf\u00e9 \\N{x}"}
    assert files == {}


def test_a_text_part_in_a_real_charset_is_decoded_in_it() -> None:
    body = _part(b'name="a"', b"text/plain; charset=iso-8859-1")
    form, _ = parse_form("multipart/form-data; boundary=B", body)
    assert form == {"a": "caf\u00c3\u00a9 \\N{x}"}


@pytest.mark.parametrize("charset", [*NOT_CHARSETS, *NOT_TEXT, "no-such-codec", "utf-8"])
def test_request_data_in_a_codec_that_is_no_charset_is_read_as_utf8(charset: str) -> None:
    # request.data shares the forms' rule: unicode_escape would read the backslashes
    # as Python escapes (and warn of \\N), rot13 and base64 are no text encodings.
    def handler(request: picohttp.HttpRequest, response: picohttp.HttpResponse) -> None:
        response.data = request.data

    answer = Client(handler).post(
        "/",
        data="caf\u00e9 \\N{x}".encode(),
        headers={"Content-Type": f"text/plain; charset={charset}"},
    )
    assert answer.status == 200
    assert answer.text == "caf\u00e9 \\N{x}"


@pytest.mark.parametrize("charset", [*NOT_CHARSETS, *NOT_TEXT, "no-such-codec"])
def test_an_extended_parameter_in_a_codec_that_is_no_charset_is_400(charset: str) -> None:
    with pytest.raises(RemoteProtocolError) as error:
        parse_options(f"form-data; name=\"f\"; filename*={charset}''x.txt")
    assert error.value.status == 400


def _strict_only(name: str) -> Optional[codecs.CodecInfo]:
    """A text codec that, like idna, raises for errors="replace"."""
    if name != "x_test_strict_only":
        return None

    def decode(data: bytes, errors: str = "strict") -> Tuple[str, int]:
        raise UnicodeError(f"unsupported error handling {errors}")

    return codecs.CodecInfo(codecs.utf_8_encode, decode, name="x-test-strict-only")


codecs.register(_strict_only)


def test_a_codec_that_cannot_decode_with_replace_is_400_or_ignored_never_an_exception() -> None:
    with pytest.raises(RemoteProtocolError) as error:
        parse_options("form-data; filename*=x-test-strict-only''x.txt")
    assert error.value.status == 400
    body = _part(b'name="a"', b"text/plain; charset=x-test-strict-only")
    assert parse_form("multipart/form-data; boundary=B", body)[0] == {"a": "caf\u00e9 \\N{x}"}


def test_extended_parameters_in_real_charsets_still_decode() -> None:
    assert parse_options("form-data; filename*=UTF-8''%E2%82%AC.txt")[1] == {
        "filename": "\u20ac.txt"
    }
    assert parse_options("form-data; filename*=iso-8859-1'en'%E9.txt")[1] == {
        "filename": "\u00e9.txt"
    }


def test_every_codec_python_knows_is_a_charset_or_refused_never_an_exception() -> None:
    """Whatever codec name a client picks, a form is read or refused with a 400."""
    import encodings.aliases

    names = set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values())
    for name in sorted(names):
        try:
            codecs.lookup(name)
        except LookupError:
            continue
        body = _part(b'name="a"; filename*=' + name.encode() + b"''%FF%FE%00x")
        try:
            parse_form("multipart/form-data; boundary=B", body)
        except RemoteProtocolError as error:
            assert error.status == 400, name
        form, _ = parse_form(
            "multipart/form-data; boundary=B",
            _part(b'name="a"', b"text/plain; charset=" + name.encode()),
        )
        assert isinstance(form["a"], str), name


# -- X-Forwarded-For ----------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        "fe80::1%eth0",  # a zone: the sender's own text
        "fe80::1%\x85x",  # with a C1 control in it
        "[fe80::1%lo]:80",
        "1.2.3.4:port",  # a port that is not digits
        "1.2.3.4:123456",
        "1.2.3.4:",
        "[::1]x",
        "[::1]:",
        "[::1",
        "\u0661.2.3.4",  # Arabic-Indic digit
        "01.2.3.4",  # leading zero (octal to some parsers)
    ],
)
def test_an_entry_that_is_not_an_ip_address_is_none(entry: str) -> None:
    assert parse_address(entry) is None


@pytest.mark.parametrize(
    ("entry", "address"),
    [
        ("1.2.3.4", "1.2.3.4"),
        ("1.2.3.4:80", "1.2.3.4"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("fe80::1", "fe80::1"),
    ],
)
def test_ip_addresses_are_taken(entry: str, address: str) -> None:
    assert parse_address(entry) == address


def test_a_refused_entry_is_logged_escaped_once_at_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from picohttp import _forwarded

    _forwarded._warned = False  # the first refusal is the WARNING under test
    with caplog.at_level(logging.DEBUG, logger="picohttp"):
        first = forwarded({"X-Forwarded-For": 'fe80::1%\x85\x9b\u2028x"y'}, 1)
        second = forwarded({"X-Forwarded-For": "also%bad"}, 1)
        fine = forwarded({"X-Forwarded-For": "not-even-close, 10.0.0.1"}, 1)
    assert first == (None, None) and second == (None, None)
    assert fine == ("10.0.0.1", None)  # only the trusted hop's entry is looked at
    records = [r for r in caplog.records if "X-Forwarded-For" in r.getMessage()]
    assert [r.levelno for r in records] == [logging.WARNING, logging.DEBUG]
    message = records[0].getMessage()
    assert message.isascii() and message.isprintable()
    assert '"fe80::1%\\x85\\x9b\\u2028x\\"y"' in message


def test_a_long_refused_entry_is_cut_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="picohttp"):
        forwarded({"X-Forwarded-For": "x" * 10000}, 1)
    (record,) = [r for r in caplog.records if "X-Forwarded-For" in r.getMessage()]
    assert len(record.getMessage()) < 300


# -- escape_for_log -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("GET / HTTP/1.0", "GET / HTTP/1.0"),
        ("a\x85b", "a\\x85b"),  # C1 NEL
        ("a\x9bb", "a\\x9bb"),  # C1 CSI
        ("a\u2028b", "a\\u2028b"),
        ("\x1b[31m", "\\x1b[31m"),
        ('a"b', 'a\\"b'),  # a quote cannot close the quoted field
        ("a\\x41", "a\\\\x41"),  # nor a backslash fake an escape
        ("\u00e9", "\\xe9"),
    ],
)
def test_escape_for_log_leaves_only_printable_ascii(text: str, escaped: str) -> None:
    assert escape_for_log(text) == escaped
    assert escaped.isascii() and escaped.isprintable()
