"""``RequestParser``: the core request rules, fed in every split (no sockets).

The adversarial corpus lives with the hostile-input tests; this file proves the
rules of design.md section 1 and a representative row of each kind of the
section 2 table.
"""

from __future__ import annotations

import pytest

from picohttp import HttpRequest, RemoteProtocolError
from picohttp._limits import Limits
from picohttp._parser import RequestParser
from picohttp._parser import parse_request as parse_whole
from support import parse_request, request_snapshot

SIMPLE = b"GET /a/b%20c?x=1&y=two+words HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n"
POST = (
    b"POST /items/1 HTTP/1.0\r\nContent-Type: application/json\r\n"
    b'Content-Length: 13\r\n\r\n{"k": "v"}\n\r\n'
)
CHUNKED = (
    b"PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nTrailer: t\r\n\r\n"
)
VALID = [SIMPLE, POST, CHUNKED, b"OPTIONS * HTTP/1.0\r\n\r\n"]


def error_of(raw: bytes, cuts: tuple[int, ...] = (), limits: Limits | None = None) -> int:
    with pytest.raises(RemoteProtocolError) as caught:
        parse_request(raw, cuts, limits)
    assert caught.value.reason
    return caught.value.status


@pytest.mark.parametrize("raw", VALID, ids=["simple", "content-length", "chunked", "asterisk"])
def test_every_split_gives_the_same_request(raw: bytes) -> None:
    whole = request_snapshot(parse_request(raw))
    for cut in range(1, len(raw)):
        assert request_snapshot(parse_request(raw, (cut,))) == whole, cut
    assert request_snapshot(parse_request(raw, range(len(raw)))) == whole  # a byte at a time
    for step in (2, 3, 7):
        assert request_snapshot(parse_request(raw, range(0, len(raw), step))) == whole


def test_need_more_until_the_last_byte() -> None:
    parser = RequestParser()
    for byte in range(len(POST) - 1):
        assert parser.feed(POST[byte : byte + 1]) is None
    assert not parser.done
    assert parser.head_done
    request = parser.feed(POST[-1:])
    assert isinstance(request, HttpRequest)
    assert parser.done


def test_request_fields() -> None:
    request = parse_request(SIMPLE)
    assert request.method == "GET"
    assert request.path == ["a", "b c"]
    assert request.query == {"x": "1", "y": "two words"}
    assert request.protocol == "HTTP/1.1"
    assert request.headers == {"Host": "example", "Accept": "*/*"}
    assert request.headers["host"] == "example"
    assert request.uri == "/a/b%20c?x=1&y=two+words"
    assert request.client == ("127.0.0.1", 5000)
    assert request.data is None
    assert request.body is None


def test_method_and_protocol_exactly_as_sent() -> None:
    assert parse_request(b"propfind / HTTP/1.0\r\n\r\n").method == "propfind"
    assert parse_request(b"M-SEARCH / HTTP/1.0\r\n\r\n").method == "M-SEARCH"
    assert parse_request(b"GET / HTTP/1.0\r\n\r\n").protocol == "HTTP/1.0"
    assert parse_request(b"GET / HTTP/1.7\r\nHost: x\r\n\r\n").protocol == "HTTP/1.7"


def test_headers_names_as_sent_values_trimmed_repeats_joined() -> None:
    request = parse_request(
        b"GET / HTTP/1.0\r\nX-Mixed-CASE:  padded \t\r\nAccept: a\r\naccept: b\r\n"
        b"X-Empty:\r\nX-Latin: caf\xe9\r\n\r\n"
    )
    assert list(request.headers) == ["X-Mixed-CASE", "Accept", "X-Empty", "X-Latin"]
    assert request.headers["x-mixed-case"] == "padded"
    assert request.headers["ACCEPT"] == "a, b"
    assert request.headers["x-empty"] == ""
    assert request.headers["x-latin"] == "café"  # obs-text decoded as Latin-1


def test_bare_lf_line_ends_and_leading_blank_lines_are_accepted() -> None:
    request = parse_request(b"\r\n\nGET /x HTTP/1.0\nA: 1\n\n")
    assert (request.method, request.path, request.headers) == ("GET", ["x"], {"A": "1"})


def test_absolute_form_target() -> None:
    request = parse_request(b"GET http://example.com/a/b?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert (request.path, request.query) == (["a", "b"], {"q": "1"})
    assert request.uri == "http://example.com/a/b?q=1"


def test_body_by_content_length() -> None:
    request = parse_request(POST)
    assert request.body == b'{"k": "v"}\n\r\n'
    assert request.data == '{"k": "v"}\n\r\n'
    assert isinstance(request.data, str)


def test_bytes_beyond_content_length_are_left_over_not_body() -> None:
    parser = RequestParser()
    request = parser.feed(b"POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabcEXTRA")
    assert request is not None
    assert request.body == b"abc"
    assert parser.leftover == 5
    assert parser.feed(b"more") is None
    assert parser.leftover == 9


def test_body_without_content_length_is_ignored() -> None:
    parser = RequestParser()
    request = parser.feed(b"POST / HTTP/1.0\r\nContent-Type: text/plain\r\n\r\nignored")
    assert request is not None
    assert request.data is None
    assert request.body is None
    assert parser.leftover == len(b"ignored")


def test_content_length_zero_gives_no_data() -> None:
    request = parse_request(b"POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
    assert request.data is None
    assert not request.body


def test_repeated_identical_content_length_is_one() -> None:
    raw = b"POST / HTTP/1.0\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"
    assert parse_request(raw).body == b"ok"
    assert parse_request(b"POST / HTTP/1.0\r\nContent-Length: 2, 2\r\n\r\nok").body == b"ok"


def test_chunked_body_on_http_1_1() -> None:
    request = parse_request(CHUNKED)
    assert request.body == b"hello world!"
    assert request.data == "hello world!"
    assert "trailer" not in request.headers  # trailers are checked and dropped


def test_large_body_is_spooled_and_still_read_whole() -> None:
    body = bytes(range(256)) * 5000  # 1.28 MB: above the 1 MiB spool threshold
    raw = b"PUT / HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    request = parse_request(raw, range(0, len(raw), 65536))
    assert not isinstance(request._body, bytes)  # a file, not memory
    assert request.body == body
    assert request.data == body.decode("utf-8", "surrogateescape")
    request._body.close()  # the server closes the spool after the handler


@pytest.mark.parametrize(
    ("content_type", "body", "data"),
    [
        (None, "héllo ☃".encode(), "héllo ☃"),
        ("text/plain; charset=utf-8", "héllo".encode(), "héllo"),
        ("text/plain; charset=ISO-8859-1", "héllo".encode("latin-1"), "héllo"),
        ('text/plain; charset="latin-1"', b"caf\xe9", "café"),
        ("text/plain; charset=cp1252", b"\x80", "€"),
        ("text/plain; Charset=UTF-16", "ok".encode("utf-16"), "ok"),
        ("text/plain; charset=no-such-codec", "é".encode(), "é"),  # unknown: UTF-8
        (None, b"bad \xff\xfe utf-8", "bad \udcff\udcfe utf-8"),  # surrogateescape
    ],
)
def test_data_decoding(content_type: str | None, body: bytes, data: str) -> None:
    head = b"POST / HTTP/1.0\r\nContent-Length: %d\r\n" % len(body)
    if content_type:
        head += b"Content-Type: " + content_type.encode() + b"\r\n"
    request = parse_request(head + b"\r\n" + body)
    assert request.data == data
    assert request.body == body
    # Nothing is lost: the str encodes back to the bytes that came.
    if content_type is None:
        assert request.data.encode("utf-8", "surrogateescape") == body


@pytest.mark.parametrize(
    ("charset", "body"),
    [
        ("base64", b"aGk="),  # Python knows these codecs, but they are not text encodings
        ("rot13", b"uv"),
        ("zlib", b"x"),
        ("hex", b"6869"),
        ("idna", b"xn--\xff"),
        ("utf-16", b"abc"),  # an odd byte count: truncated
    ],
)
def test_data_never_raises_whatever_charset_the_client_names(charset: str, body: bytes) -> None:
    raw = (
        b"POST / HTTP/1.0\r\nContent-Type: text/plain; charset=%s\r\nContent-Length: %d\r\n\r\n"
        % (charset.encode(), len(body))
        + body
    )
    request = parse_request(raw)
    assert isinstance(request.data, str)
    assert request.body == body


def test_expect_100_continue_is_noted_for_http_1_1_only() -> None:
    parser = RequestParser()
    head = b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
    assert parser.feed(head) is None
    assert parser.expect_continue
    assert parser.feed(b"abc") is not None
    parser = RequestParser()
    head = b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
    assert parser.feed(head) is None
    assert not parser.expect_continue


def test_eof() -> None:
    RequestParser().eof()  # nothing sent: nothing to answer
    parser = RequestParser()
    parser.feed(b"\r\n")
    parser.eof()  # only blank lines
    assert error_of(b"GET / HTTP/1.0\r\nHost: x\r\n") == 400  # head cut short
    assert error_of(b"POST / HTTP/1.0\r\nContent-Length: 9\r\n\r\nabc") == 400  # body cut short
    chunked = b"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert error_of(chunked + b"5\r\nab") == 400


SMALL = Limits(max_request_line=64, max_header_bytes=256, max_headers=4, max_body=10)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /\r\n\r\n", 400),  # not three parts
        (b"GET  / HTTP/1.0\r\n\r\n", 400),
        (b"G(T / HTTP/1.0\r\n\r\n", 400),  # not a token
        (b"GET /a b HTTP/1.0\r\n\r\n", 400),
        (b"GET /\xc3\xa9 HTTP/1.0\r\n\r\n", 400),  # non-ASCII target
        (b"GET /\x7f HTTP/1.0\r\n\r\n", 400),
        (b"GET a/b HTTP/1.0\r\n\r\n", 400),  # not /..., http(s)://... or *
        (b"GET ftp://h/ HTTP/1.0\r\n\r\n", 400),
        (b"GET / http/1.0\r\n\r\n", 400),  # version is case-sensitive
        (b"GET / HTTP/1.10\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET / HTTP/0.9\r\n\r\n", 505),
        (b"GET / HTTP/1.0\r\nA: b\rc\r\n\r\n", 400),  # bare CR
        (b"GET / HTTP/1.0\r\nA: b\r\n folded\r\n\r\n", 400),  # obs-fold
        (b"GET / HTTP/1.0\r\nA : b\r\n\r\n", 400),  # whitespace before the colon
        (b"GET / HTTP/1.0\r\n: b\r\n\r\n", 400),  # empty name
        (b"GET / HTTP/1.0\r\nNo colon\r\n\r\n", 400),
        (b"GET / HTTP/1.0\r\nA: b\x00c\r\n\r\n", 400),  # NUL in a value
        (b"GET / HTTP/1.0\r\nA\x01: b\r\n\r\n", 400),
        (b"POST / HTTP/1.0\r\nContent-Length: +1\r\n\r\nx", 400),
        (b"POST / HTTP/1.0\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.0\r\nContent-Length: 0x1\r\n\r\nx", 400),
        (b"POST / HTTP/1.0\r\nContent-Length: 1_0\r\n\r\n", 400),
        (b"POST / HTTP/1.0\r\nContent-Length: \xb2\r\n\r\n", 400),  # '²'
        (b"POST / HTTP/1.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", 400),
        (b"POST / HTTP/1.0\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Length: 1\r\n\r\n",
            400,
        ),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ],
)
def test_error_statuses(raw: bytes, status: int) -> None:
    assert error_of(raw) == status
    assert error_of(raw, tuple(range(len(raw)))) == status  # the same a byte at a time


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /" + b"a" * 64 + b" HTTP/1.0\r\n\r\n", 414),
        (b"GET /" + b"a" * 100, 414),  # no line end yet: refused before it comes
        (b"GET / HTTP/1.0\r\n" + b"A: b\r\n" * 5 + b"\r\n", 431),  # too many fields
        (b"GET / HTTP/1.0\r\nA: " + b"b" * 300 + b"\r\n\r\n", 431),  # head too big
        (b"GET / HTTP/1.0\r\nA: " + b"b" * 300, 431),  # refused before the end comes
        (b"POST / HTTP/1.0\r\nContent-Length: 11\r\n\r\n", 413),  # before any body
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n", 413),
    ],
)
def test_limits(raw: bytes, status: int) -> None:
    assert error_of(raw, limits=SMALL) == status
    assert error_of(raw, tuple(range(len(raw))), limits=SMALL) == status


def test_limit_errors_name_the_keyword_to_raise() -> None:
    with pytest.raises(RemoteProtocolError, match="maxBody"):
        parse_request(b"POST / HTTP/1.0\r\nContent-Length: 11\r\n\r\n", limits=SMALL)


def test_at_the_limits_is_still_accepted() -> None:
    line = b"GET /" + b"a" * 50 + b" HTTP/1.0"
    assert len(line) <= 64
    raw = line + b"\r\n" + b"A: b\r\n" * 4 + b"\r\n"
    assert parse_request(raw, limits=SMALL).path == ["a" * 50]
    raw = b"POST / HTTP/1.0\r\nContent-Length: 10\r\n\r\n0123456789"
    assert parse_request(raw, limits=SMALL).body == b"0123456789"


@pytest.mark.parametrize(
    ("head", "unread"),
    [
        (b"POST /form HTTP/1.0\r\n\r\n", True),  # may carry a body, framed none: drain, linger
        (b"PUT /x HTTP/1.1\r\nHost: h\r\n\r\n", True),
        (b"POST /form HTTP/1.0\r\nContent-Length: 0\r\n\r\n", False),  # framed, empty
        (b"POST /form HTTP/1.0\r\nContent-Length: 2\r\n\r\nab", False),
        (b"GET / HTTP/1.0\r\n\r\n", False),  # extra bytes after a GET are no body
        (b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", False),
    ],
)
def test_unread_body_says_when_the_client_may_still_send(head: bytes, unread: bool) -> None:
    parsed = parse_whole(head)
    assert parsed is not None
    assert parsed[0].unread_body is unread
    parser = RequestParser()  # the streaming parser gives the same answer
    request = parser.feed(head)
    assert request is not None and request.unread_body is unread
