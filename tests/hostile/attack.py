"""Tools for the adversarial suite: a recording handler, raw-socket attacks, health checks.

Every group of attacks runs inside ``attacked(...)``: a server on 127.0.0.1
whose health is checked when the group ends (a normal request is still
served, no connection is left open on either side, no handler thread is
stuck, no stray thread exists) and again after it stops (threads and open
file descriptors exactly back to what they were before it started).
"""

from __future__ import annotations

import contextlib
import json
import logging
import select
import socket
import struct
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import picohttp
from support import connect, open_fds, parse_response, read_all, serving, thread_count, wait_until

NORMAL = b"GET /health HTTP/1.0\r\n\r\n"


class Recorder:
    """A handler that records every request it is called with and echoes it as JSON.

    The echo lets a test compare what the handler saw with what was sent;
    ``calls`` lets a test prove a refused request never reached the handler.
    """

    def __init__(self) -> None:
        self.calls: List[picohttp.HttpRequest] = []
        self.bodies: List[Optional[bytes]] = []
        self._lock = threading.Lock()

    def __call__(self, request: picohttp.HttpRequest, response: picohttp.HttpResponse) -> None:
        body = request.body
        with self._lock:
            self.calls.append(request)
            self.bodies.append(body)
        response.headers["Content-Type"] = "application/json"
        response.data = json.dumps(echo(request, body)).encode()

    def uris(self) -> List[str]:
        with self._lock:
            return [request.uri for request in self.calls]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()
            self.bodies.clear()


def echo(request: picohttp.HttpRequest, body: Optional[bytes]) -> Dict[str, Any]:
    """The parts of a request that the corpus files describe, as JSON-able data."""
    return {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "protocol": request.protocol,
        "headers": dict(request.headers),
        "body": None if body is None else body.decode("latin-1"),
    }


class Health:
    """What a healthy server looks like: counts taken before and while it serves."""

    def __init__(self) -> None:
        self.threads = thread_count()
        self.fds = open_fds()
        self.running_fds = -1

    def settle(self, server: picohttp.HttpServer) -> None:
        """Take the running baseline once the server serves (its own sockets open)."""
        assert_normal_request(server.port)
        # The worker closes its socket before the client can read EOF: nothing lags here.
        self.running_fds = open_fds()

    def check_running(self, server: picohttp.HttpServer) -> None:
        """After a group of attacks: still serving, nothing left open, nothing stuck."""
        assert server.running, "the server stopped"
        assert_normal_request(server.port)
        # Both ends of every connection live in this process: fds back to the running
        # baseline means no socket is left open on either side, nor any spooled body file.
        assert wait_until(lambda: open_fds() == self.running_fds, 10), (
            f"open fds {open_fds()} != {self.running_fds} (a leaked socket or file)"
        )
        pool = server._pool
        workers = 0 if pool is None else pool.size
        if pool is not None:
            assert workers <= server._pool._max  # type: ignore[union-attr]
            assert wait_until(lambda: pool.idle == pool.size, 10), "a handler thread is stuck"
        # The loop thread plus the pool's workers, and nothing else of ours.
        assert wait_until(lambda: thread_count() == self.threads + 1 + workers, 10), (
            f"{thread_count()} threads, expected {self.threads} + loop + {workers} workers"
        )

    def check_stopped(self) -> None:
        assert wait_until(lambda: thread_count() == self.threads, 10), (
            f"{thread_count()} threads after stop, {self.threads} before start"
        )
        assert wait_until(lambda: open_fds() == self.fds, 10), (
            f"{open_fds()} fds after stop, {self.fds} before start"
        )


@contextlib.contextmanager
def attacked(handler: Any, *args: Any, threads: bool = True, **keywords: Any) -> Iterator[Any]:
    """``serving(...)`` with the health of the server checked after the group and after stop."""
    health = Health()
    with serving(handler, *args, threads=threads, **keywords) as server:
        health.settle(server)
        yield server
        health.check_running(server)
    health.check_stopped()


def slots_all_freed(server: picohttp.HttpServer, timeout: float = 5.0) -> bool:
    """Whether the loop's count of open connections comes back to 0 within ``timeout``.

    With threads the loop counts a worker's close at its next wake-up (waking it
    for each would cost a syscall per request), so before each look the loop is
    asked for one more pass.
    """
    loop = server._loop

    def counted() -> bool:
        loop.call_soon(_nothing)
        return loop.open == 0

    return wait_until(counted, timeout)


def _nothing() -> None:
    pass


def assert_normal_request(port: int) -> None:
    raw = exchange_raw(port, NORMAL)
    assert raw.startswith(b"HTTP/1.0 "), raw[:100]
    status, headers, body = parse_response(raw)
    assert status in (200, 404), raw[:200]
    assert int(headers["content-length"]) == len(body)


def exchange_raw(
    port: int,
    data: bytes,
    *,
    timeout: float = 10.0,
    half_close: bool = False,
) -> bytes:
    """Send ``data`` (then maybe half-close), return everything until the server closes."""
    with connect(port, timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # the server may answer and close first
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        return read_all(sock, timeout)


def send_in_pieces(
    port: int, pieces: List[bytes], *, timeout: float = 10.0, half_close: bool = True
) -> bytes:
    """Send each piece as its own segment (TCP_NODELAY), then read the whole answer."""
    with connect(port, timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for piece in pieces:
                sock.sendall(piece)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # refused early: the answer is already on its way
        return read_all(sock, timeout)


def reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN (SO_LINGER on, timeout 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def readable(sock: socket.socket, timeout: float) -> bool:
    return bool(select.select([sock], [], [], timeout)[0])


def time_answer(sock: socket.socket, timeout: float) -> Tuple[float, bytes]:
    """Seconds until ``sock`` has something to read (or EOF), and everything it then reads."""
    start = time.monotonic()
    assert readable(sock, timeout), f"no answer within {timeout} s"
    elapsed = time.monotonic() - start
    return elapsed, read_all(sock, timeout)


class LogCapture(logging.Handler):
    """Collects the ``picohttp`` logger's records at WARNING and above."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def errors(self) -> List[logging.LogRecord]:
        return [r for r in self.records if r.levelno >= logging.ERROR or r.exc_info]


@contextlib.contextmanager
def picohttp_log() -> Iterator[LogCapture]:
    capture = LogCapture()
    logger = logging.getLogger("picohttp")
    logger.addHandler(capture)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)
