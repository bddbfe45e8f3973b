"""Clients that leave at any point are normal events: no traceback, no leak, no half request."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from attack import Recorder, attacked, picohttp_log, readable, reset

from support import connect, read_all

BIG = b"b" * (8 * 1024 * 1024)
PIECE = b"p" * (256 * 1024)

#: Where the client leaves: what it sends before it goes.
PHASES = {
    "before-any-byte": b"",
    "in-the-request-line": b"GET /pa",
    "in-the-headers": b"GET /partial HTTP/1.0\r\nHost: x\r\nX-Half: va",
    "before-the-body": b"POST /body HTTP/1.0\r\nContent-Length: 100\r\n\r\n",
    "in-the-body": b"POST /body HTTP/1.0\r\nContent-Length: 100\r\n\r\n" + b"d" * 40,
    "in-a-chunked-body": (
        b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"
    ),
    "in-the-chunk-trailer": (
        b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\nX-Trailer: y"
    ),
}


def handler(request, response):
    kind = request.path[0]
    if kind == "big":
        response.data = BIG
    elif kind == "stream":
        response.data = (PIECE for _ in range(64))
    elif kind == "file":
        response.data = open(__file__, "rb")  # noqa: SIM115 - the server closes it
    else:
        response.data = b"ok"


@pytest.mark.parametrize("how", ["fin", "rst"])
@pytest.mark.parametrize("phase", sorted(PHASES))
def test_leaving_before_the_request_is_complete(threads, phase, how):
    """Half a request never reaches the handler, however the client leaves (FIN, close, RST)."""
    recorder = Recorder()
    with picohttp_log() as log, attacked(recorder, threads=threads) as server:
        sock = connect(server.port)
        sock.sendall(PHASES[phase])
        if how == "rst":
            reset(sock)
        else:
            # Half-close first: the client still reads, and gets a 400 when it had
            # sent part of a request (nothing at all when it had sent nothing).
            sock.shutdown(socket.SHUT_WR)
            raw = read_all(sock, 5)
            sock.close()
            if PHASES[phase]:
                assert raw.startswith(b"HTTP/1.0 400 "), raw[:60]
            else:
                assert raw == b""
        assert recorder.uris() == ["/health"]
    assert log.errors() == []


@pytest.mark.parametrize("how", ["fin", "rst"])
@pytest.mark.parametrize("kind", ["big", "stream", "file"])
def test_leaving_during_the_response(threads, kind, how):
    with picohttp_log() as log, attacked(handler, threads=threads) as server:
        for _ in range(3):
            sock = connect(server.port)
            sock.sendall(f"GET /{kind} HTTP/1.0\r\n\r\n".encode())
            assert readable(sock, 5)
            sock.recv(1000)  # the response has started
            if how == "rst":
                reset(sock)
            else:
                sock.close()
    assert [r.getMessage() for r in log.errors()] == []


def test_leaving_while_the_handler_runs(threads):
    """The client is gone when the response is ready: the send fails quietly."""
    entered, release = threading.Event(), threading.Event()

    def slow(request, response):
        if request.path[0] == "slow":
            entered.set()
            release.wait(10)
            response.data = BIG
        else:
            response.data = b"ok"

    with picohttp_log() as log, attacked(slow, threads=threads) as server:
        for how in ("fin", "rst"):
            entered.clear()
            release.clear()
            sock = connect(server.port)
            sock.sendall(b"GET /slow HTTP/1.0\r\n\r\n")
            assert entered.wait(5)
            if how == "rst":
                reset(sock)
            else:
                sock.close()
            time.sleep(0.05)  # let the close reach the server before the response is sent
            release.set()
    assert log.errors() == []


def test_a_body_shorter_than_its_content_length_never_reaches_the_handler(threads):
    recorder = Recorder()
    with attacked(recorder, threads=threads, readTimeout=0.5) as server:
        head = b"PUT /item HTTP/1.0\r\nContent-Length: 10\r\n\r\n"
        # The client half-closes after 5 of 10 bytes: 400, not a handler call with "12345".
        with connect(server.port) as sock:
            sock.sendall(head + b"12345")
            sock.shutdown(socket.SHUT_WR)
            assert read_all(sock, 5).startswith(b"HTTP/1.0 400 ")
        # It disconnects: nothing to answer, and nothing handled.
        with connect(server.port) as sock:
            sock.sendall(head + b"12345")
        # It stalls: 408 at readTimeout.
        with connect(server.port) as sock:
            sock.sendall(head + b"12345")
            assert read_all(sock, 5).startswith(b"HTTP/1.0 408 ")
        # The whole body arrives: the handler gets all of it.
        with connect(server.port) as sock:
            sock.sendall(head + b"1234567890")
            assert read_all(sock, 5).startswith(b"HTTP/1.0 200 ")
        assert recorder.uris() == ["/health", "/item"]
        assert recorder.bodies[-1] == b"1234567890"


def test_many_clients_leaving_at_random_points_leak_nothing(threads):
    """Bursts of clients that reset at every byte offset of a request and of its response."""
    request = b"POST /big HTTP/1.0\r\nContent-Length: 20\r\n\r\n" + b"x" * 20
    with picohttp_log() as log, attacked(handler, threads=threads) as server:
        for cut in range(len(request) + 1):
            sock = connect(server.port)
            sock.sendall(request[:cut])
            reset(sock)
        for _ in range(20):
            sock = connect(server.port)
            sock.sendall(request)
            readable(sock, 5)
            reset(sock)
    assert log.errors() == []


def test_an_ignored_body_sent_late_does_not_reset_the_response(threads):
    """A body without Content-Length is ignored (the spec), not answered with a reset.

    The client sends its head, then (a moment later) a body the server never
    reads.  Closing a socket with unread input makes the kernel send an RST and
    discard whatever of the response is still queued, so the server must drain
    (lingering close) when the request may have had an unframed body.
    """
    big = bytes(range(256)) * 12288  # 3 MiB: much of it is still queued when the server is done

    def handler(request, response):
        response.data = big

    with attacked(handler, threads=threads) as server:
        for method in (b"POST", b"PUT", b"DELETE"):
            with connect(server.port) as sock:
                sock.sendall(method + b" /upload HTTP/1.0\r\nContent-Type: text/plain\r\n\r\n")
                assert readable(sock, 5)  # the answer has started: the head was handled
                sock.sendall(b"a body the server ignores, sent after the head" * 10)
                time.sleep(0.2)  # slow to read: the rest of the response waits in the kernel
                raw = read_all(sock, 10)
            assert raw.endswith(b"\r\n\r\n" + big), f"{method!r}: got {len(raw)} bytes"
