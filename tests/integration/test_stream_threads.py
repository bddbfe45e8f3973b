"""Streams on threads of their own (threads=True): they never starve ordinary requests.

Issue 13: 40 clients that opened a stream and never read it left a plain GET
unanswered on a maxThreads=32 server.  Here every stream is opened over a real
socket and never read; the generators report to the test through events.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from typing import Any, Iterator, List

import pytest

from support import connect, exchange, parse_response, read_all, serving, wait_until

HELLO = b"GET /hello HTTP/1.0\r\n\r\n"
PIECE = b"x" * 16384


class Streams:
    """A handler whose ``/stream`` generators count their starts, pieces and ends."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.lock = threading.Lock()
        self.started = 0
        self.pieces = 0
        self.ended: List[str] = []
        self.go = threading.Event()  # set at teardown: waiting generators move on

    def __call__(self, request: Any, response: Any) -> None:
        if request.path[0] == "hello":
            response.data = "hello"
            return
        response.headers["Content-Type"] = "text/event-stream"
        response.data = self.events()

    def events(self) -> Iterator[bytes]:
        with self.lock:
            self.started += 1
        try:
            if self.kind == "silent":  # an event source that waits for its first event
                self.go.wait()
            while True:
                yield PIECE if self.kind == "flooding" else b"data: tick\n\n"
                with self.lock:
                    self.pieces += 1
                if self.kind == "waiting":  # an event source with nothing to report
                    self.go.wait(0.2)
        except GeneratorExit:
            with self.lock:
                self.ended.append("GeneratorExit")
            raise


def open_streams(port: int, count: int) -> List[socket.socket]:
    """``count`` clients that ask for a stream and never read a byte of it."""
    clients = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A small receive window, so a flooding stream stalls after little data
        # instead of filling megabytes of kernel buffers per connection.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET /stream HTTP/1.0\r\n\r\n")
        clients.append(sock)
    return clients


def stalled(streams: Streams) -> bool:
    """True once no generator produced a piece for 100 ms (the socket buffers are full)."""
    before = streams.pieces
    time.sleep(0.1)
    return streams.pieces == before


def timed_get(port: int) -> float:
    started = time.monotonic()
    raw = exchange(port, HELLO, timeout=5)
    elapsed = time.monotonic() - started
    assert parse_response(raw)[2] == b"hello"
    return elapsed


@pytest.mark.parametrize("kind", ["waiting", "flooding", "silent"])
@pytest.mark.parametrize("factor", [1, 2], ids=["maxThreads-streams", "twice-maxThreads-streams"])
def test_open_unread_streams_never_starve_a_plain_request(kind: str, factor: int) -> None:
    max_threads = 32  # the default
    streams = Streams(kind)
    with serving(streams, maxThreads=max_threads) as server:
        clients = open_streams(server.port, factor * max_threads)
        try:
            assert wait_until(lambda: streams.started == len(clients), 20), streams.started
            if kind == "flooding":
                assert wait_until(lambda: stalled(streams), 20)
            times = [timed_get(server.port) for _ in range(5)]
        finally:
            streams.go.set()
            for sock in clients:
                sock.close()
    # Without a thread per stream the first GET is never answered (a 5 s timeout).
    assert statistics.median(times) < 0.1, times
    assert max(times) < 1.0, times


def test_a_stream_past_max_streams_gets_503_with_retry_after_and_its_generator_closed() -> None:
    streams = Streams("waiting")
    with serving(streams, maxStreams=2) as server:
        clients = open_streams(server.port, 2)
        try:
            assert wait_until(lambda: streams.started == 2, 10)
            raw = exchange(server.port, b"GET /stream HTTP/1.0\r\n\r\n")
            status, headers, body = parse_response(raw)
            assert status == 503
            assert headers["retry-after"] == "5"
            assert b"maxStreams=2" in body
            assert int(headers["content-length"]) == len(body)
            # The refused generator was closed before it started: none of its code ran.
            assert streams.started == 2
            assert streams.ended == []
            # HEAD costs no stream (the generator is closed unstarted): not refused.
            head = exchange(server.port, b"HEAD /stream HTTP/1.0\r\n\r\n")
            assert parse_response(head)[0] == 200
            # Ordinary requests are not refused at the cap.
            assert parse_response(exchange(server.port, HELLO))[2] == b"hello"
            # A stream that ends gives its place back.
            clients.pop().close()
            assert wait_until(lambda: streams.ended == ["GeneratorExit"], 10)
            with connect(server.port) as sock:
                sock.sendall(b"GET /stream HTTP/1.0\r\n\r\n")
                sock.settimeout(10)
                assert sock.recv(65536).startswith(b"HTTP/1.0 200 ")
        finally:
            streams.go.set()
            for sock in clients:
                sock.close()


def test_a_stream_whose_client_stops_reading_ends_after_write_timeout() -> None:
    streams = Streams("flooding")
    with serving(streams, writeTimeout=1.0, maxStreams=1) as server:
        (client,) = open_streams(server.port, 1)
        with client:
            started = time.monotonic()
            assert wait_until(lambda: streams.ended == ["GeneratorExit"], 15)
            elapsed = time.monotonic() - started
            assert elapsed >= 0.9, elapsed  # not before the timeout
            # Its place among maxStreams=1 is free again.
            with connect(server.port) as sock:
                sock.sendall(b"GET /stream HTTP/1.0\r\n\r\n")
                sock.settimeout(10)
                assert sock.recv(65536).startswith(b"HTTP/1.0 200 ")
            streams.go.set()


def test_stop_closes_open_streams_at_once_and_their_generators_see_generator_exit(
    threads: bool,
) -> None:
    # threads=False: the loop pulls the generator, so it must be one the client
    # holds up (a waiting one would hold the loop itself: see the README).
    streams = Streams("waiting" if threads else "flooding")
    with serving(streams, threads=threads, stopTimeout=10) as server:
        (client,) = open_streams(server.port, 1)
        client.settimeout(10)
        assert client.recv(65536).startswith(b"HTTP/1.0 200 ")
        started = time.monotonic()
        server.stop()
        elapsed = time.monotonic() - started
    with client:
        read_all(client, 5)  # the stream ended: the server closed it (this returns at EOF)
    assert elapsed < 3, f"stop() took {elapsed:.2f} s with an open stream"
    assert streams.ended == ["GeneratorExit"]


def test_stop_shuts_an_unread_https_stream_down_at_once() -> None:
    """A TLS socket's own shutdown would write close_notify first and block on a full buffer."""
    import ssl

    trustme = pytest.importorskip("trustme", reason="trustme (dev extra) makes the certificate")
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    streams = Streams("flooding")
    with serving(streams, tls=server_context, stopTimeout=10) as server:
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", server.port))
        with client_context.wrap_socket(raw, server_hostname="127.0.0.1") as client:
            client.settimeout(10)
            client.sendall(b"GET /stream HTTP/1.0\r\n\r\n")
            assert client.recv(65536).startswith(b"HTTP/1.0 200 ")
            assert wait_until(lambda: stalled(streams), 20)  # the server's send now blocks
            started = time.monotonic()
            server.stop()
            elapsed = time.monotonic() - started
    assert elapsed < 3, f"stop() took {elapsed:.2f} s with an unread HTTPS stream"
    assert streams.ended == ["GeneratorExit"]
