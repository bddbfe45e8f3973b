"""Faulty handlers: the client gets a 500 (or simply waits), the log says so once, others go on."""

from __future__ import annotations

import io
import os
import socket
import threading
import time

import pytest
from attack import attacked, exchange_raw, picohttp_log, readable

from support import connect, parse_response, read_all


def raises(request, response):
    if request.path[0] != "health":  # the health check's request is served normally
        raise ValueError("the handler's own bug")


def _closed_file():
    file = open(os.devnull, "rb")  # noqa: SIM115
    file.close()
    return file


def _generator_failing_at_once():
    raise RuntimeError("no first piece")
    yield b"never"  # pragma: no cover


#: name -> what the handler does to its response.  Each must become a 500 with one log record.
UNSENDABLE = {
    "value-with-CRLF": lambda r: r.headers.__setitem__("X-Split", "a\r\nSet-Cookie: evil=1"),
    "value-with-LF": lambda r: r.headers.__setitem__("X-Split", "a\nb"),
    "value-with-NUL": lambda r: r.headers.__setitem__("X-Nul", "a\0b"),
    "value-with-CR": lambda r: r.headers.__setitem__("X-Cr", "a\rb"),
    "name-with-CRLF": lambda r: r.headers.__setitem__("X-A\r\nX-B", "c"),
    "name-with-colon": lambda r: r.headers.__setitem__("X-A: b", "c"),
    "name-with-space": lambda r: r.headers.__setitem__("X A", "c"),
    "empty-name": lambda r: r.headers.__setitem__("", "c"),
    "list-item-with-LF": lambda r: r.headers.__setitem__("Set-Cookie", ["a=1", "b=2\nc: d"]),
    "protocol-with-CRLF": lambda r: setattr(r, "protocol", "HTTP/1.0\r\nX: y"),
    "status-text": lambda r: setattr(r, "status", "200 OK"),
    "status-out-of-range": lambda r: setattr(r, "status", 1000),
    "status-float": lambda r: setattr(r, "status", 200.0),
    "data-object": lambda r: setattr(r, "data", object()),
    "data-int": lambda r: setattr(r, "data", 42),
    "data-lone-surrogate": lambda r: setattr(r, "data", "\ud800"),
    "data-not-json": lambda r: setattr(r, "data", {"a": object()}),
    "data-text-file": lambda r: setattr(r, "data", io.StringIO("text")),
    "data-closed-file": lambda r: setattr(r, "data", _closed_file()),
    "data-generator-failing-at-once": lambda r: setattr(r, "data", _generator_failing_at_once()),
    "data-generator-of-ints": lambda r: setattr(r, "data", iter([1, 2])),
    "headers-not-a-dict": lambda r: setattr(r, "headers", [("X-A", "b")]),
    "charset-cannot-encode": lambda r: (
        r.headers.__setitem__("Content-Type", "text/plain; charset=ascii"),
        setattr(r, "data", "caf\u00e9"),
    ),
    "data-deleted": lambda r: delattr(r, "data"),
}


def unsendable(request, response):
    fault = UNSENDABLE.get(request.path[0])
    if fault is not None:
        fault(response)


def test_a_handler_that_raises_gets_500_and_one_log_record(threads):
    with picohttp_log() as log, attacked(raises, threads=threads) as server:
        raw = exchange_raw(server.port, b"GET /x HTTP/1.0\r\n\r\n")
        status, headers, body = parse_response(raw)
        assert status == 500
        assert int(headers["content-length"]) == len(body)
        assert b"the handler's own bug" not in raw  # no traceback to the client
        assert b"Traceback" not in raw
        records = [r for r in log.records if r.name == "picohttp"]
        assert len(records) == 1, [r.getMessage() for r in records]
        assert records[0].exc_info is not None
        assert "GET /x" in records[0].getMessage()


@pytest.mark.parametrize("fault", sorted(UNSENDABLE))
def test_an_unsendable_response_is_500_and_one_log_record(threads, fault):
    with picohttp_log() as log, attacked(unsendable, threads=threads) as server:
        raw = exchange_raw(server.port, f"GET /{fault} HTTP/1.0\r\n\r\n".encode(), timeout=5)
        status, headers, body = parse_response(raw)
        assert status == 500, raw
        assert int(headers["content-length"]) == len(body)
        assert b"evil" not in raw and b"X-B" not in raw
        errors = [r for r in log.records if r.name == "picohttp"]
        assert len(errors) == 1, [r.getMessage() for r in errors]
        assert f"GET /{fault}" in errors[0].getMessage()
        log.records.clear()


def read_to_the_end(sock, timeout=5.0):
    """Everything until the server closes, and whether it ended with a reset (not a FIN)."""
    sock.settimeout(timeout)
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received, True
        if not chunk:
            return received, False
        received += chunk


def _failing_midway():
    yield b"first piece;"
    yield b"second piece;"
    raise RuntimeError("the stream broke")


def streams_then_fails(request, response):
    if request.path[0] == "s":
        response.data = _failing_midway()


def test_a_stream_failing_midway_is_cut_off_with_a_reset_and_logged_once(threads):
    """The head is out, so no 500 can follow: the client sees a reset, not a clean end."""
    with picohttp_log() as log, attacked(streams_then_fails, threads=threads) as server:
        log.records.clear()
        with connect(server.port) as sock:
            sock.sendall(b"GET /s HTTP/1.0\r\n\r\n")
            received, reset = read_to_the_end(sock)
        assert reset, f"a clean end after {received!r}: the client cannot tell it is truncated"
        assert received == b"" or received.startswith(b"HTTP/1.0 200 ")
        errors = [r for r in log.records if r.name == "picohttp"]
        assert len(errors) == 1, [r.getMessage() for r in errors]
        assert "the stream broke" in str(errors[0].exc_info[1])


def test_a_handler_that_does_not_return_holds_only_its_own_client():
    """threads=True: the stuck request's client waits; every other client is served at once."""
    release = threading.Event()
    entered = threading.Event()

    def handler(request, response):
        if request.path[0] == "stuck":
            entered.set()
            release.wait(30)
            response.data = "late"
        else:
            response.data = "prompt"

    with attacked(handler, threads=True) as server:
        with connect(server.port) as stuck:
            stuck.sendall(b"GET /stuck HTTP/1.0\r\n\r\n")
            assert entered.wait(5)
            for _ in range(20):
                start = time.monotonic()
                raw = exchange_raw(server.port, b"GET /other HTTP/1.0\r\n\r\n", timeout=5)
                assert time.monotonic() - start < 1.0
                assert raw.endswith(b"\r\n\r\nprompt")
            assert not readable(stuck, 0.2), "the stuck client got something before the handler"
            release.set()
            raw = read_all(stuck, 10)
        assert raw.endswith(b"\r\n\r\nlate")


def test_a_client_waiting_for_a_slow_handler_is_not_timed_out():
    """No server deadline runs while the handler works (the client decides how long to wait)."""
    release = threading.Event()

    def handler(request, response):
        if request.path[0] == "x":
            release.wait(10)
        response.data = "done"

    limits = {"headTimeout": 0.3, "readTimeout": 0.3}
    with attacked(handler, threads=True, **limits) as server, connect(server.port) as sock:
        sock.sendall(b"GET /x HTTP/1.0\r\n\r\n")
        assert not readable(sock, 1.0)
        release.set()
        assert read_all(sock, 5).endswith(b"done")


def test_a_handler_fault_does_not_disturb_concurrent_clients(threads):
    """Faults interleaved with good requests from several threads: every good one is served."""

    def handler(request, response):
        if request.path[0] == "bad":
            raise RuntimeError("bad")
        response.data = request.path[0]

    failures = []

    def client(n: int) -> None:
        for i in range(30):
            name = "bad" if (i + n) % 3 == 0 else f"ok{n}-{i}"
            try:
                raw = exchange_raw(server.port, f"GET /{name} HTTP/1.0\r\n\r\n".encode())
                status, _, body = parse_response(raw)
                want = (500, None) if name == "bad" else (200, name.encode())
                if status != want[0] or (want[1] is not None and body != want[1]):
                    failures.append((name, raw[:80]))
            except (OSError, ValueError, IndexError) as exc:
                failures.append((name, repr(exc)))

    with picohttp_log() as log, attacked(handler, threads=threads) as server:
        workers = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert failures == []
        bad = [r for r in log.records if r.name == "picohttp"]
        assert len(bad) == 40  # one record per failed request, no more


def test_sockets_of_faulty_responses_are_not_leaked(threads):
    with attacked(unsendable, threads=threads) as server:
        for fault in sorted(UNSENDABLE):
            raw = exchange_raw(server.port, f"GET /{fault} HTTP/1.0\r\n\r\n".encode(), timeout=5)
            assert raw.startswith(b"HTTP/1.0 500 "), (fault, raw[:60])
        # attacked() checks fds and threads on the way out.


class _FileFailingMidway:
    """A file-like body (no fileno, so no sendfile) that breaks after 8 MiB of 32."""

    size = 32 * 1024 * 1024

    def __init__(self) -> None:
        self.position = 0
        self.closed = False

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = self.size + offset if whence == 2 else offset
        return self.position

    def read(self, n: int = -1) -> bytes:
        if self.position >= 8 * 1024 * 1024:
            raise ValueError("the file was closed underneath")
        n = min(n, self.size - self.position)
        self.position += n
        return b"f" * n

    def close(self) -> None:
        self.closed = True


def test_a_file_body_failing_midway_is_reset_and_logged_once(threads):
    """Also when the loop thread finishes the download of a slow reader (the file fails there)."""
    bodies = []

    def handler(request, response):
        if request.path[0] == "file":
            bodies.append(_FileFailingMidway())
            response.data = bodies[-1]

    with picohttp_log() as log, attacked(handler, threads=threads) as server:
        with socket.socket() as sock:
            # A small receive window (set before connecting) makes the server's first
            # write stop early, so the loop thread finishes the download.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(b"GET /file HTTP/1.0\r\n\r\n")
            time.sleep(0.3)  # let the socket buffers fill: the rest is the loop's to send
            data, reset = read_to_the_end(sock)
            received = len(data)
        assert reset
        assert received < _FileFailingMidway.size
        errors = [r for r in log.records if r.name == "picohttp"]
        assert len(errors) == 1, [r.getMessage() for r in errors]
        assert bodies[0].closed
