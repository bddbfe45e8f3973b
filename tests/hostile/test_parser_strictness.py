"""Pure-parser checks for the hostile-input table (design.md section 2), no sockets.

The socket-level replay of the same rules is in test_corpus.py; these pin
the few decisions that the corpus alone would not explain.
"""

from __future__ import annotations

import pytest

from picohttp import RemoteProtocolError
from picohttp._limits import Limits
from picohttp._parser import RequestParser

DEFAULT = Limits()


def status(data: bytes, limits: Limits = DEFAULT, eof: bool = True) -> object:
    parser = RequestParser(limits)
    try:
        request = parser.feed(data)
        if request is None and eof:
            parser.eof()
    except RemoteProtocolError as error:
        return error.status
    return "accepted" if request is not None else "incomplete"


def test_http11_without_host_is_400_even_without_a_body():
    assert status(b"GET / HTTP/1.1\r\n\r\n") == 400
    assert status(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n") == 400
    assert status(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n") == "accepted"
    assert status(b"GET / HTTP/1.0\r\n\r\n") == "accepted"


@pytest.mark.parametrize(
    "data",
    [
        b"\rGET / HTTP/1.0\r\n\r\n",
        b"\r\rGET / HTTP/1.0\r\n\r\n",
        b"\r\n\rGET / HTTP/1.0\r\n\r\n",
        b"\n\rXGET / HTTP/1.0\r\n\r\n",
    ],
)
def test_a_bare_cr_before_the_request_line_is_400(data):
    assert status(data) == 400


@pytest.mark.parametrize("blank", [b"\r\n", b"\n", b"\r\n\r\n\n"])
def test_empty_lines_before_the_request_line_are_skipped(blank):
    assert status(blank + b"GET / HTTP/1.0\r\n\r\n") == "accepted"
    # Also when the blank lines arrive alone, and split inside the CRLF.
    parser = RequestParser()
    for piece in [blank[:1], blank[1:], b"GET / HTTP/1.0\r\n\r\n"]:
        result = parser.feed(piece)
    assert result is not None
    assert result.path == [""]


def test_a_request_line_over_its_limit_is_414_even_past_the_head_limit():
    limits = Limits(max_request_line=200, max_header_bytes=1000)
    long_line = b"GET /" + b"a" * 5000
    assert status(long_line, limits, eof=False) == 414
    assert status(long_line + b" HTTP/1.0\r\n\r\n", limits) == 414
    # A short request line with a huge header block is the head limit's business.
    assert status(b"GET / HTTP/1.0\r\nX: " + b"b" * 5000, limits, eof=False) == 431
    assert status(b"GET / HTTP/1.0\r\nX: " + b"b" * 5000 + b"\r\n\r\n", limits) == 431


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # a chunk-size line with long extensions: 4 KiB at most
        (b"5;" + b"e" * 5000 + b"\r\nhello\r\n0\r\n\r\n", 400),
        # a trailer line is held to the head's rules: the 64 KiB head limit, 431
        (b"0\r\nX-Trailer: " + b"t" * 70000 + b"\r\n\r\n", 431),
    ],
)
def test_a_long_chunk_line_is_refused_however_it_is_split(body, expected):
    """The chunk-line bound held only while the line was incomplete: whole, it passed."""
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert status(head + body) == expected
    parser = RequestParser()
    with pytest.raises(RemoteProtocolError) as error:
        parser.feed(head)
        for i in range(0, len(body), 100):
            parser.feed(body[i : i + 100])
    assert error.value.status == expected


def test_a_long_trailer_field_within_the_head_limit_is_accepted():
    """Trailer fields follow the rules of header fields: a 5,000-byte value is allowed."""
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    request = RequestParser().feed(head + b"1\r\nx\r\n0\r\nX-T: " + b"t" * 5000 + b"\r\n\r\n")
    assert request is not None and request.body == b"x"
