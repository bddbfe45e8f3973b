"""Every limit of design.md section 2, attacked over raw sockets in both concurrency modes.

A request over a limit gets its 4xx (or, for a silent client, a close)
within the bound, the answer names the ``HttpServer`` keyword to raise, and
the handler is never called with it.
"""

from __future__ import annotations

import contextlib
import socket
import time

import pytest
from attack import Recorder, attacked, exchange_raw, readable, time_answer

import picohttp
from support import connect, parse_response, read_all

LIMITS = {
    "maxRequestLine": 200,
    "maxHeaderBytes": 1000,
    "maxHeaders": 10,
    "maxBody": 1000,
}


def answer(raw: bytes) -> tuple:
    status, headers, body = parse_response(raw)
    assert int(headers["content-length"]) == len(body)
    return status, body.decode()


def test_defaults_are_design_md_s():
    server = picohttp.HttpServer(0, Recorder(), host="127.0.0.1", start=False)
    try:
        limits = server.limits
        assert limits.max_request_line == 8 * 1024
        assert limits.max_header_bytes == 64 * 1024
        assert limits.max_headers == 100
        assert limits.max_body == 16 * 1024 * 1024
        assert limits.head_timeout == 10.0
        assert limits.read_timeout == 10.0
    finally:
        server.stop()


@pytest.mark.parametrize(
    "keyword, value", [("maxBody", 0), ("maxHeaders", -1), ("headTimeout", 0), ("maxBody", 1.5)]
)
def test_a_nonsensical_limit_is_refused_at_construction(keyword, value):
    with pytest.raises(ValueError, match=keyword):
        picohttp.HttpServer(0, Recorder(), host="127.0.0.1", start=False, **{keyword: value})


def test_request_line_limit_414(threads):
    recorder = Recorder()
    with attacked(recorder, threads=threads, **LIMITS) as server:
        # At the limit: served.  One byte over: 414, complete or still arriving.
        at_limit = b"GET /" + b"a" * (200 - len(b"GET / HTTP/1.0")) + b" HTTP/1.0"
        assert len(at_limit) == 200
        status, _ = answer(exchange_raw(server.port, at_limit + b"\r\n\r\n"))
        assert status == 200
        over = b"GET /" + b"a" * (201 - len(b"GET / HTTP/1.0")) + b" HTTP/1.0"
        status, body = answer(exchange_raw(server.port, over + b"\r\n\r\n"))
        assert status == 414
        assert "maxRequestLine=200" in body
        # A line that never ends is refused as soon as it passes the limit, not at a timeout.
        with connect(server.port) as sock:
            sock.sendall(b"GET /" + b"b" * 5000)
            elapsed, raw = time_answer(sock, 5)
        assert elapsed < 1.0
        assert answer(raw)[0] == 414
        assert recorder.uris() == ["/health", "/" + "a" * 186]


def test_header_block_limit_431(threads):
    recorder = Recorder()
    with attacked(recorder, threads=threads, **LIMITS) as server:
        head = b"GET /h HTTP/1.0\r\nX-Big: " + b"v" * 1100 + b"\r\n\r\n"
        status, body = answer(exchange_raw(server.port, head))
        assert status == 431
        assert "maxHeaderBytes=1000" in body
        # A head that never ends: refused once it passes the limit.
        with connect(server.port) as sock:
            sock.sendall(b"GET /h HTTP/1.0\r\n" + b"X-A: b\r\n" * 200)
            elapsed, raw = time_answer(sock, 5)
        assert elapsed < 1.0
        status, body = answer(raw)
        assert status == 431
        assert "maxHeaderBytes=1000" in body
        assert recorder.uris() == ["/health"]


def test_header_count_limit_431(threads):
    recorder = Recorder()
    with attacked(recorder, threads=threads, **LIMITS) as server:
        ten = b"".join(b"X-%d: v\r\n" % i for i in range(10))
        status, _ = answer(exchange_raw(server.port, b"GET /ten HTTP/1.0\r\n" + ten + b"\r\n"))
        assert status == 200
        eleven = ten + b"X-10: v\r\n"
        status, body = answer(exchange_raw(server.port, b"GET /11 HTTP/1.0\r\n" + eleven + b"\r\n"))
        assert status == 431
        assert "maxHeaders=10" in body
        assert recorder.uris() == ["/health", "/ten"]


def test_body_limit_413_is_answered_before_the_body_is_sent(threads):
    recorder = Recorder()
    with attacked(recorder, threads=threads, **LIMITS) as server:
        with connect(server.port) as sock:
            # Only the head: the answer must come without a single body byte sent.
            sock.sendall(b"POST /up HTTP/1.0\r\nContent-Length: 1001\r\n\r\n")
            elapsed, raw = time_answer(sock, 5)
        assert elapsed < 1.0
        status, body = answer(raw)
        assert status == 413
        assert "maxBody=1000" in body
        # At the limit the body is read and handed over whole.
        data = bytes(range(256)) * 3 + b"x" * 232
        assert len(data) == 1000
        raw = exchange_raw(server.port, b"POST /ok HTTP/1.0\r\nContent-Length: 1000\r\n\r\n" + data)
        assert answer(raw)[0] == 200
        assert recorder.bodies[-1] == data
        # A client that sends the oversized body anyway still reads its 413 (lingering close).
        with connect(server.port) as sock:
            sock.sendall(b"POST /up HTTP/1.0\r\nContent-Length: 50000\r\n\r\n")
            with contextlib.suppress(OSError):  # refused midway: the 413 is waiting
                sock.sendall(b"z" * 50000)
            assert answer(read_all(sock, 5))[0] == 413
        assert recorder.uris() == ["/health", "/ok"]


def test_chunked_body_over_the_limit_413(threads):
    recorder = Recorder()
    with attacked(recorder, threads=threads, **LIMITS) as server:
        head = b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunks = b"200\r\n" + b"a" * 512 + b"\r\n" + b"200\r\n" + b"b" * 512 + b"\r\n0\r\n\r\n"
        status, body = answer(exchange_raw(server.port, head + chunks))
        assert status == 413
        assert "maxBody=1000" in body
        assert recorder.uris() == ["/health"]


def test_expect_100_continue_over_the_limit_gets_413_and_no_continue(threads):
    recorder = Recorder()
    with attacked(recorder, threads=threads, **LIMITS) as server:
        with connect(server.port) as sock:
            sock.sendall(
                b"PUT /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                b"Content-Length: 2000\r\n\r\n"
            )
            raw = read_all(sock, 5)
        assert raw.startswith(b"HTTP/1.0 413 ")
        assert b"100 Continue" not in raw
        assert recorder.uris() == ["/health"]


@pytest.mark.parametrize("sent", [b"", b"G", b"GET / HTTP/1.0\r\nHost: x\r\n"])
def test_head_timeout(threads, sent):
    """408 once any byte of the head arrived, a silent close when none did, within the bound."""
    recorder = Recorder()
    with attacked(recorder, threads=threads, headTimeout=0.5) as server:
        with connect(server.port) as sock:
            start = time.monotonic()
            sock.sendall(sent)
            elapsed, raw = time_answer(sock, 5)
            elapsed = time.monotonic() - start
        assert 0.4 <= elapsed < 2.0
        if sent:
            assert answer(raw)[0] == 408
        else:
            assert raw == b""
        assert recorder.uris() == ["/health"]


def test_head_timeout_is_for_the_whole_head_not_per_read(threads):
    """A head trickled a byte every 50 ms is cut off at headTimeout, however steady it is."""
    recorder = Recorder()
    with attacked(recorder, threads=threads, headTimeout=0.5) as server:
        with connect(server.port) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            start = time.monotonic()
            trickle = b"GET /slow HTTP/1.0\r\n" + b"X-Drip: " + b"d" * 1000
            answered_at = None
            for byte in trickle:
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    break
                if readable(sock, 0.05):
                    answered_at = time.monotonic() - start
                    break
            assert answered_at is not None, "the trickle was never cut off"
            raw = read_all(sock, 5)
        assert 0.4 <= answered_at < 2.0
        assert answer(raw)[0] == 408
        assert recorder.uris() == ["/health"]


def test_body_read_timeout(threads):
    """readTimeout bounds each wait for more body; a body still arriving keeps the request alive."""
    recorder = Recorder()
    with attacked(recorder, threads=threads, readTimeout=1.0, headTimeout=10) as server:
        # A stalled body: 408 within the bound, the handler never sees the partial body.
        with connect(server.port) as sock:
            sock.sendall(b"POST /stall HTTP/1.0\r\nContent-Length: 10\r\n\r\nabc")
            elapsed, raw = time_answer(sock, 5)
        assert 0.9 <= elapsed < 2.5
        assert answer(raw)[0] == 408
        # A body arriving every 0.3 s (inside each per-read timeout), 1.8 s in all: served.
        with connect(server.port) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(b"POST /drip HTTP/1.0\r\nContent-Length: 6\r\n\r\n")
            for piece in b"abcdef":
                assert not readable(sock, 0.3), "answered before the body was complete"
                sock.sendall(bytes([piece]))
            raw = read_all(sock, 5)
        assert answer(raw)[0] == 200
        assert recorder.uris() == ["/health", "/drip"]
        assert recorder.bodies[-1] == b"abcdef"
