"""Faults of the machine and of one connection never take the server down (issue 13).

Each fault is injected (a spool file whose writes fail with ENOSPC, no descriptor
for the spool, a real 8 MiB tmpfs where one can be mounted, a handler raising
``SystemExit``, an unexpected error on one connection's event), and each test
then shows the server still answering another client, with one log line for
the fault.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
from attack import (
    Recorder,
    assert_normal_request,
    attacked,
    exchange_raw,
    picohttp_log,
    slots_all_freed,
)

import picohttp
from picohttp import _parser
from support import connect, parse_response, read_all, serving, wait_until

MIB = 1024 * 1024
TEMPORARY_FILE = tempfile.TemporaryFile  # the real one, before a test patches it


class FailingFile:
    """A spool file whose writes fail with ``errno`` once ``room`` bytes are in."""

    def __init__(self, number: int, room: int, close_fails: bool = False) -> None:
        self._file = TEMPORARY_FILE()
        self._number = number
        self._room = room
        self._close_fails = close_fails  # as a buffered file's flush on close fails on a full disk
        self.closed_by_server = False

    def write(self, data: bytes) -> int:
        if len(data) > self._room:
            raise OSError(self._number, os.strerror(self._number))
        self._room -= len(data)
        return self._file.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def close(self) -> None:
        self.closed_by_server = True
        self._file.close()  # BufferedWriter.close closes its raw file even when the flush fails
        if self._close_fails:
            raise OSError(self._number, os.strerror(self._number))


def post(port: int, size: int, timeout: float = 10.0) -> bytes:
    """POST ``size`` bytes and return the answer (the server may answer before it is all sent)."""
    with connect(port, timeout=timeout) as sock:
        sock.sendall(b"POST /upload HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % size)
        piece = b"x" * 65536
        left = size
        try:
            while left:
                sock.sendall(piece[:left])
                left -= min(left, len(piece))
        except OSError:
            pass  # answered and closed mid-upload: read what came
        return read_all(sock, timeout)


def test_a_full_disk_while_a_body_is_spooled_is_507_and_the_server_goes_on(
    threads: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    files: list[FailingFile] = []

    def full_disk() -> FailingFile:
        files.append(FailingFile(errno.ENOSPC, 256 * 1024))
        return files[-1]

    monkeypatch.setattr(tempfile, "TemporaryFile", full_disk)
    recorder = Recorder()
    with picohttp_log() as log, attacked(recorder, threads=threads) as server:
        raw = post(server.port, 4 * MIB)
        status, _, body = parse_response(raw)
        assert status == 507, raw[:200]
        assert b"no space left" in body
        assert files and all(f.closed_by_server for f in files)  # the spool is given back
        assert [r.getMessage() for r in log.records] == [
            f"127.0.0.1: request body not stored ([Errno {errno.ENOSPC}] "
            f"{os.strerror(errno.ENOSPC)}); answered 507"
        ]
        assert recorder.uris() == ["/health"]  # the handler never saw the half body
        assert_normal_request(server.port)


def test_a_full_disk_that_fails_the_spool_close_too_is_still_507(
    threads: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen in CI on a real full tmpfs: the close's flush raised ENOSPC again, and the
    connection was closed without an answer (the loop logged an unexpected error)."""
    files: list[FailingFile] = []

    def full_disk() -> FailingFile:
        files.append(FailingFile(errno.ENOSPC, 256 * 1024, close_fails=True))
        return files[-1]

    monkeypatch.setattr(tempfile, "TemporaryFile", full_disk)
    with picohttp_log() as log, attacked(Recorder(), threads=threads) as server:
        status, _, body = parse_response(post(server.port, 4 * MIB))
        assert (status, b"no space left" in body) == (507, True)
        assert files and all(f.closed_by_server for f in files)
        assert [r.levelname for r in log.records] == ["WARNING"]  # the 507's line, no error
        assert_normal_request(server.port)


def test_no_descriptor_for_the_spool_is_503_with_retry_after(
    threads: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_descriptor() -> FailingFile:
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))

    monkeypatch.setattr(tempfile, "TemporaryFile", no_descriptor)
    with picohttp_log() as log, attacked(Recorder(), threads=threads) as server:
        status, headers, _ = parse_response(post(server.port, 2 * MIB))
        assert status == 503
        assert headers["retry-after"] == "1"
        assert len(log.records) == 1
        assert "answered 503" in log.records[0].getMessage()
        assert_normal_request(server.port)


def test_a_chunked_body_that_fills_the_disk_is_507(monkeypatch: pytest.MonkeyPatch) -> None:
    """The spool is written from the chunk decoder too, once the body passes the threshold."""
    monkeypatch.setattr(tempfile, "TemporaryFile", lambda: FailingFile(errno.ENOSPC, 0))
    with attacked(Recorder()) as server, connect(server.port) as sock:
        sock.sendall(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (256 * 1024, b"y" * 256 * 1024)
        try:
            for _ in range(8):
                sock.sendall(chunk)
        except OSError:
            pass
        assert parse_response(read_all(sock))[0] == 507


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs, the machine's own full disk; skipped where it cannot be mounted."""
    where = tmp_path / "tmpfs"
    where.mkdir()
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(where)],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace')}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=10)


def test_a_10_mib_upload_onto_a_full_8_mib_tmpfs(
    small_tmpfs: Path, threads: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's case, with a real full disk: 507 to the uploader, everyone else served."""
    monkeypatch.setattr(tempfile, "tempdir", str(small_tmpfs))
    recorder = Recorder()
    with picohttp_log() as log, attacked(recorder, threads=threads) as server:
        assert parse_response(post(server.port, 10 * MIB))[0] == 507
        assert len(log.records) == 1, [r.getMessage() for r in log.records]
        # The disk is free again (the spool was closed): a 4 MiB upload now fits.
        status = parse_response(post(server.port, 4 * MIB))[0]
        assert status == 200
        assert recorder.bodies[-1] == b"x" * 4 * MIB
    assert os.statvfs(small_tmpfs).f_bfree == os.statvfs(small_tmpfs).f_blocks


def test_an_unexpected_error_on_one_connection_closes_it_and_the_loop_goes_on(
    threads: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anything a connection's event raises ends that connection only, with one traceback."""
    real_feed = _parser.RequestParser.feed

    def feed(self: _parser.RequestParser, data: bytes) -> Any:
        if b"BOOM" in data:
            raise RuntimeError("a bug in the loop's path")
        return real_feed(self, data)

    monkeypatch.setattr(_parser.RequestParser, "feed", feed)
    with picohttp_log() as log, attacked(Recorder(), threads=threads) as server:
        for _ in range(3):
            with connect(server.port) as sock:
                sock.sendall(b"GET /a HTTP/1.0\r\n")  # not the whole head: the slow path
                assert_normal_request(server.port)  # (and the head is in the loop's hands)
                sock.sendall(b"X-Boom: BOOM\r\n\r\n")
                assert read_all(sock) == b""  # closed (reset), no half answer
            assert_normal_request(server.port)
        assert len(log.records) == 3
        assert all(r.exc_info and "closed" in r.getMessage() for r in log.records)


class Quit(BaseException):
    """Neither an Exception nor KeyboardInterrupt, like SystemExit."""


def base_exceptions(request: picohttp.HttpRequest, response: picohttp.HttpResponse) -> None:
    kind = request.path[0]
    if kind == "exit":
        raise SystemExit(2)  # what argparse does on a bad query
    if kind == "generator-exit":
        raise GeneratorExit
    if kind == "quit":
        raise Quit()
    if kind == "stream-exit":

        def pieces() -> Iterator[bytes]:
            raise SystemExit(1)
            yield b""  # pragma: no cover

        response.data = pieces()
        return
    if kind == "hold":  # answered only once all four slots hold one of these at once
        _all_slots.wait()
    response.data = "fine"


_all_slots = threading.Barrier(4, timeout=10)


def test_handlers_raising_base_exceptions_answer_500_and_free_their_slots(threads: bool) -> None:
    """maxConnections=4 and 10 handlers raising SystemExit & co: each a 500, then a normal 200."""
    kinds = ["exit", "generator-exit", "quit", "stream-exit", "exit"] * 2
    with picohttp_log() as log, attacked(base_exceptions, threads=threads, maxConnections=4) as s:
        for kind in kinds:
            raw = exchange_raw(s.port, b"GET /%s HTTP/1.0\r\n\r\n" % kind.encode())
            assert parse_response(raw)[0] == 500, (kind, raw[:100])
        assert s.running
        raw = exchange_raw(s.port, b"GET /ok HTTP/1.0\r\n\r\n", timeout=5)
        assert parse_response(raw)[:3:2] == (200, b"fine")
        assert len(log.records) == len(kinds)  # one each, with the traceback
        assert all(r.exc_info for r in log.records)
        if not threads:  # counted on the loop thread as each connection closes
            assert wait_until(lambda: s._loop.open == 0, 5), s._loop.open  # every slot freed
            return
        # With threads the loop counts a worker's close at its next wake-up (at the cap
        # at once), so the proof is four requests held at once: a leaked slot would keep
        # the fourth from being accepted, and the barrier would break.
        _all_slots.reset()
        socks = [connect(s.port) for _ in range(4)]
        for sock in socks:
            sock.sendall(b"GET /hold HTTP/1.0\r\n\r\n")
        answers = [parse_response(read_all(sock))[:3:2] for sock in socks]
        for sock in socks:
            sock.close()
        assert answers == [(200, b"fine")] * 4


def test_a_send_that_fails_on_the_machine_closes_that_connection_only(
    threads: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """sendfile failing mid-file (EIO from the disk): that response is cut, not the server."""
    big = tmp_path / "big.bin"
    big.write_bytes(b"z" * (4 * MIB))
    real_sendfile = os.sendfile
    calls = []

    def failing_sendfile(out: int, in_: int, offset: Any, count: int) -> int:
        calls.append(offset)
        if len(calls) > 1:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_sendfile(out, in_, offset, min(count, 64 * 1024))

    def files(request: picohttp.HttpRequest, response: picohttp.HttpResponse) -> None:
        response.data = open(big, "rb") if request.path[0] == "big" else "ok"  # noqa: SIM115

    monkeypatch.setattr(os, "sendfile", failing_sendfile)
    with attacked(files, threads=threads) as server:
        with connect(server.port) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /big HTTP/1.0\r\n\r\n")
            raw = read_all(sock)
        assert raw.startswith(b"HTTP/1.0 200")
        assert len(raw) < 4 * MIB  # cut: the file never arrived whole
        assert calls
        monkeypatch.setattr(os, "sendfile", real_sendfile)
        assert parse_response(exchange_raw(server.port, b"GET /x HTTP/1.0\r\n\r\n"))[2] == b"ok"


def exits_midway(request: picohttp.HttpRequest, response: picohttp.HttpResponse) -> None:
    if request.path[0] != "stream":
        response.data = "fine"
        return

    def pieces() -> Iterator[bytes]:
        for _ in range(16):
            yield b"s" * MIB  # more than the socket takes at once: later pieces on the loop
        raise SystemExit(3)

    response.data = pieces()


def test_a_stream_raising_system_exit_midway_is_cut_and_the_server_goes_on(threads: bool) -> None:
    """threads=False pulls pieces on the loop thread: SystemExit there must not end the loop."""
    with picohttp_log() as log, attacked(exits_midway, threads=threads) as server:
        for _ in range(3):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # the socket fills
            with sock:
                sock.connect(("127.0.0.1", server.port))
                sock.sendall(b"GET /stream HTTP/1.0\r\n\r\n")
                raw = read_all(sock)
            assert raw.startswith(b"HTTP/1.0 200")
            assert len(raw) < 17 * MIB  # cut (reset): it cannot pass for complete
        assert server.running
        raw = exchange_raw(server.port, b"GET /ok HTTP/1.0\r\n\r\n")
        assert parse_response(raw)[2] == b"fine"
        assert len(log.records) == 3
        assert all(r.exc_info for r in log.records)
        assert slots_all_freed(server), server._loop.open


def test_an_unexpected_error_on_the_accept_fast_path_closes_that_connection_only(
    threads: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole request in the first read is parsed right after accept: a failure there too."""
    from picohttp import _loop

    real_parse = _loop.parse_request

    def parse_request(data: bytes, *args: Any) -> Any:
        if b"BOOM" in data:
            raise MemoryError
        return real_parse(data, *args)

    monkeypatch.setattr(_loop, "parse_request", parse_request)
    with picohttp_log() as log, attacked(Recorder(), threads=threads) as server:
        for _ in range(3):
            assert exchange_raw(server.port, b"GET /BOOM HTTP/1.0\r\n\r\n") == b""
            assert_normal_request(server.port)
        assert len(log.records) == 3
        assert slots_all_freed(server), server._loop.open


def test_a_full_disk_under_tls_is_507_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The TLS loop reads bodies through the plain loop's code: the same answer."""
    import ssl

    trustme = pytest.importorskip("trustme", reason="trustme (dev extra) makes the certificate")
    ca = trustme.CA()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    monkeypatch.setattr(tempfile, "TemporaryFile", lambda: FailingFile(errno.ENOSPC, 0))
    head = b"POST /upload HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % (2 * MIB)
    with serving(Recorder(), tls=server_context) as server:
        for request in (head, head, b"GET /normal HTTP/1.0\r\n\r\n"):
            with (
                connect(server.port) as raw,
                client_context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
            ):
                sock.sendall(request)
                with contextlib.suppress(OSError):  # answered and closed mid-upload
                    for _ in range(32 if request is head else 0):
                        sock.sendall(b"x" * 65536)
                status = parse_response(read_all(sock))[0]
            assert status == (507 if request is head else 200)
        assert server.running


def test_no_thread_for_a_handler_is_503_and_the_server_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Thread creation fails (memory, a container's pids limit): 503, then served once it works."""
    import threading

    real_start = threading.Thread.start
    failing = threading.Event()
    failing.set()

    def start(self: threading.Thread) -> None:
        if failing.is_set() and self.name.startswith("picohttp-worker"):
            raise RuntimeError("can't start new thread")
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    with picohttp_log() as log, serving(Recorder()) as server:
        for _ in range(3):
            status, headers, _ = parse_response(
                exchange_raw(server.port, b"GET /a HTTP/1.0\r\n\r\n")
            )
            assert (status, headers["retry-after"]) == (503, "1")
        assert len(log.records) == 3
        assert server._pool is not None and server._pool.size == 0
        assert slots_all_freed(server), server._loop.open
        failing.clear()
        assert_normal_request(server.port)
