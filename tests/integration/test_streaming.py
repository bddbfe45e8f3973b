"""Streamed responses (``response.data`` an iterator) and server-sent events over sockets.

The generators synchronise with the test through events, never sleeps: a
piece that arrives while its generator still waits for the test proves it was
sent as it was produced.  (The browser's ``EventSource`` is in
``tests/browser/test_sse_browser.py``.)
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from typing import Any, List

import pytest
import requests

from support import connect, exchange, parse_response, serving

HELLO = b"GET /hello HTTP/1.0\r\n\r\n"


def read_until(sock: socket.socket, buffer: bytearray, marker: bytes) -> None:
    """Read into ``buffer`` until it holds ``marker`` (the socket's timeout bounds the wait)."""
    while marker not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"closed before {marker!r}; got {bytes(buffer)!r}")
        buffer += chunk


def test_each_piece_is_sent_as_it_is_produced(threads):
    release = threading.Event()
    released: List[bool] = []

    def handler(request: Any, response: Any) -> None:
        def pieces():
            yield "first\n"
            released.append(release.wait(10))  # the client must have "first" to release us
            yield b"second\n"

        response.data = pieces()

    with serving(handler, threads=threads) as server:
        reply = requests.get(f"http://127.0.0.1:{server.port}/", stream=True, timeout=10)
        assert reply.status_code == 200
        assert "content-length" not in reply.headers  # the close ends the body
        assert reply.headers["connection"] == "close"
        assert reply.raw.read(6) == b"first\n"  # while the generator still waits
        release.set()
        assert reply.raw.read() == b"second\n"
        reply.close()
    assert released == [True]


def test_server_sent_events_arrive_one_by_one(threads):
    acks = [threading.Event() for _ in range(4)]

    def handler(request: Any, response: Any) -> None:
        response.headers["Content-Type"] = "text/event-stream"
        response.headers["Cache-Control"] = "no-cache"

        def events():
            for n in range(4):
                yield f"id: {n}\nevent: tick\ndata: tick {n}\n\n"
                if not acks[n].wait(10):
                    return

        response.data = events()

    with serving(handler, threads=threads) as server, connect(server.port) as sock:
        sock.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        buffer = bytearray()
        for n in range(4):
            read_until(sock, buffer, f"data: tick {n}\n\n".encode())
            assert f"data: tick {n + 1}".encode() not in buffer  # not produced yet
            acks[n].set()
        while chunk := sock.recv(65536):
            buffer += chunk
    status, headers, body = parse_response(bytes(buffer))
    assert status == 200
    assert headers["content-type"] == "text/event-stream"  # always UTF-8: no charset added
    assert headers["cache-control"] == "no-cache"
    assert "content-length" not in headers
    assert body == b"".join(f"id: {n}\nevent: tick\ndata: tick {n}\n\n".encode() for n in range(4))


@pytest.mark.parametrize("how", ["close", "reset"])
def test_a_client_that_leaves_stops_the_generator_and_frees_the_worker(threads, how, caplog):
    left = threading.Event()
    stopped = threading.Event()
    seen: List[str] = []
    produced_after_leaving: List[int] = [0]

    def handler(request: Any, response: Any) -> None:
        if request.path[0] == "hello":
            response.data = "hello"
            return

        def events():
            try:
                yield "data: 0\n\n"
                left.wait(10)  # waiting for the next event, as an event stream does
                for n in range(1, 10_000):  # would end on its own, without GeneratorExit
                    produced_after_leaving[0] = n
                    yield f"data: {n}\n\n"
                seen.append("finished")
            except GeneratorExit:
                seen.append("GeneratorExit")
                raise
            finally:
                stopped.set()

        response.data = events()

    # One worker thread (threads=True), or the loop itself (threads=False): a stream
    # that kept it would keep every later request waiting.
    extra = {"maxThreads": 1} if threads else {}
    with (
        caplog.at_level(logging.ERROR, logger="picohttp"),
        serving(handler, threads=threads, **extra) as server,
    ):
        sock = connect(server.port)
        sock.sendall(b"GET /events HTTP/1.0\r\n\r\n")
        read_until(sock, bytearray(), b"data: 0\n\n")
        if how == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        # The generator is blocked in its own wait: nothing can interrupt it there.
        # The server notices the departure when it writes the next piece.
        assert not stopped.is_set()
        left.set()
        assert stopped.wait(10)
        assert seen == ["GeneratorExit"]
        assert produced_after_leaving[0] <= 3, produced_after_leaving
        assert parse_response(exchange(server.port, HELLO, timeout=10))[2] == b"hello"
    assert not caplog.records  # a client leaving is a normal event, not an error


def test_a_waiting_stream_holds_the_sequential_server_but_not_a_worker_thread(threads):
    """threads=False: the loop runs the generator, so a waiting one holds the server.

    threads=True: the stream has a thread of its own, so even the one worker of
    a ``maxThreads=1`` server answers the next request while the stream waits.
    """
    release = threading.Event()

    def handler(request: Any, response: Any) -> None:
        if request.path[0] == "hello":
            response.data = "hello"
            return

        def pieces():
            yield "open\n"
            release.wait(10)
            yield "done\n"

        response.data = pieces()

    options = {"maxThreads": 1} if threads else {}
    with serving(handler, threads=threads, **options) as server:
        stream = connect(server.port)
        waiting = connect(server.port)
        try:
            stream.sendall(b"GET /stream HTTP/1.0\r\n\r\n")
            read_until(stream, bytearray(), b"open\n")
            waiting.sendall(HELLO)
            if not threads:
                # The request waits until the generator moves on.
                waiting.settimeout(0.3)
                with pytest.raises(socket.timeout):
                    waiting.recv(1)
                release.set()
            waiting.settimeout(10)
            answer = bytearray()
            while chunk := waiting.recv(65536):
                answer += chunk
            assert parse_response(bytes(answer))[2] == b"hello"
            assert not release.is_set() or not threads
        finally:
            release.set()
            stream.close()
            waiting.close()
