"""What a body and a form may cost in memory while they are read (issue 13).

A body keeps at most 64 KiB in memory however it arrives (one announced
larger goes to a temporary file from its first byte, a chunked one once it
passes 64 KiB), and 1-byte chunks cost no more than one big piece.  A
urlencoded form is split and counted a field at a time, from the spooled file
in 64 KiB reads, and the 1,001st field stops it: nothing past it is read.
Allocation peaks are measured with tracemalloc, against bounds a regression
to the old ways (a list of pieces, the body split whole) passes by far.
"""

from __future__ import annotations

import tempfile
import tracemalloc
from typing import Any, Callable, Tuple

import pytest

from picohttp import RemoteProtocolError, _forms
from picohttp._forms import parse_form
from picohttp._limits import DEFAULT_LIMITS, Limits
from picohttp._parser import RequestParser

KIB = 1024
MIB = 1024 * KIB
URLENCODED = "application/x-www-form-urlencoded"


def peak_of(work: Callable[[], Any]) -> Tuple[Any, int]:
    """``(result, peak bytes allocated while it ran)``."""
    tracemalloc.start()
    try:
        result = work()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def head(framing: str) -> bytes:
    return f"POST /up HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n".encode()


def test_the_memory_threshold_is_64_kib_and_not_an_httpserver_keyword():
    assert DEFAULT_LIMITS.spool_threshold == 64 * KIB
    with pytest.raises(ValueError, match=r"^Limits\(spool_threshold=\.\.\.\) must be"):
        Limits(spool_threshold=0)


@pytest.mark.parametrize(("length", "spooled"), [(64 * KIB, False), (64 * KIB + 1, True)])
def test_a_body_with_content_length_over_64_kib_is_spooled(length, spooled):
    parser = RequestParser()
    assert parser.feed(head(f"Content-Length: {length}")) is None
    for start in range(0, length, 1000):  # trickled in small pieces
        request = parser.feed(b"b" * min(1000, length - start))
    assert request is not None
    body = request._body
    assert (not isinstance(body, bytes)) is spooled
    data = body if isinstance(body, bytes) else body.read()
    assert data == b"b" * length
    request.close()


def test_one_byte_chunks_cost_no_more_memory_than_the_body():
    parser = RequestParser()
    parser.feed(head("Transfer-Encoding: chunked"))
    size = 60 * KIB  # under the threshold: all of it stays in memory

    def feed() -> Any:
        for _ in range(size):
            parser.feed(b"1\r\nx\r\n")
        return parser.feed(b"0\r\n\r\n")

    request, peak = peak_of(feed)
    assert request is not None and request._body == b"x" * size
    # The body, a copy of it as bytes at the end, and slack: a list of 1-byte
    # pieces took 2.4 MiB here.
    assert peak < 3 * size, peak


def test_a_chunked_body_moves_to_a_file_once_it_passes_64_kib():
    parser = RequestParser()
    parser.feed(head("Transfer-Encoding: chunked"))
    piece = b"%x\r\n%s\r\n" % (4 * KIB, b"c" * 4 * KIB)

    def feed() -> Any:
        for _ in range(256):  # 1 MiB in 4 KiB chunks
            assert parser.feed(piece) is None
        return parser.feed(b"0\r\n\r\n")

    request, peak = peak_of(feed)
    assert not isinstance(request._body, bytes)
    assert request._body.read() == b"c" * MIB
    request.close()
    assert peak < 256 * KIB, peak  # held in memory: 1 MiB


def spooled(data: bytes) -> Any:
    file = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
    file.write(data)
    return file


def test_a_16_mib_urlencoded_form_stops_at_the_1001st_field():
    body = b"xy&" * (16 * MIB // 3)
    with spooled(body) as file:

        def parse() -> Any:
            with pytest.raises(RemoteProtocolError) as caught:
                parse_form(URLENCODED, file)
            return caught.value

        error, peak = peak_of(parse)
        assert error.status == 413 and "more than 1000 fields" in error.reason
        assert file.tell() <= _forms.READ_SIZE  # nothing past the first read
    assert peak < 1 * MIB, peak  # split whole, the body cost 26 times its size


def test_empty_pieces_are_not_fields_and_cost_nothing():
    body = b"a=1" + b"&" * (4 * MIB) + b"b=2"
    with spooled(body) as file:
        form, peak = peak_of(lambda: parse_form(URLENCODED, file)[0])
    assert form == {"a": "1", "b": "2"}
    assert peak < 1 * MIB, peak


@pytest.mark.parametrize("shift", [0, 1, 2, 3, 5])
def test_fields_across_reads_parse_as_from_memory(shift):
    # Fields straddle the 64 KiB reads at every offset; one is longer than a
    # read; a multi-byte character and an escape sit on a read's boundary.
    long_value = "é" * (_forms.READ_SIZE // 2 + 7)
    pieces = ["p" * shift + "=1", f"long={long_value}", "", "%C3%A9=%E2%82%AC", "&", "plus=a+b"]
    pieces += [f"k{i}=v{i}é" for i in range(900)]
    body = "&".join(pieces).encode()
    from_memory = parse_form(URLENCODED, body)[0]
    with spooled(body) as file:
        from_file = parse_form(URLENCODED, file)[0]
    assert from_file == from_memory
    assert from_memory["long"] == long_value and from_memory["é"] == "€"
    assert from_memory["plus"] == "a b" and len(from_memory) == 904


def test_invalid_utf8_split_at_an_ampersand_decodes_as_before():
    body = b"a=\xe2\x82&b=\xff&c=\xe2\x82\xac"
    expected = {"a": "\ufffd", "b": "\ufffd", "c": "€"}
    assert parse_form(URLENCODED, body)[0] == expected
    with spooled(body) as file:
        assert parse_form(URLENCODED, file)[0] == expected


def test_multipart_parts_are_counted_as_they_are_read():
    part = b'--b\r\nContent-Disposition: form-data; name="f"\r\n\r\nv\r\n'
    body = part * (200_000) + b"--b--\r\n"  # 11 MiB of parts
    with spooled(body) as file:
        with pytest.raises(RemoteProtocolError) as caught:
            parse_form("multipart/form-data; boundary=b", file)
        assert caught.value.status == 413
        assert file.tell() <= 2 * _forms.READ_SIZE
