"""Big files cost the server no memory and hold no thread.

- A 1 GiB (sparse) file downloaded whole and checksummed: the server, a child
  process, must not grow its resident set by 30 MB (it sends by sendfile).
- Eight downloads of a big file that stall their readers: small requests on
  the same server still answer at once, even with only two worker threads.
"""

from __future__ import annotations

import hashlib
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from picohttp import staticResource
from support import (
    PYTHON,
    connect,
    free_port,
    python_env,
    reset_peak_rss,
    serving,
    status_kib,
    wait_for_port,
)

GIB = 1 << 30
MARKS = {0: b"start of the file", GIB // 2 + 12345: b"in the middle", GIB - 6: b"end!\n\x00"}

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc/<pid>/status"
)


def _sparse_file(path: Path, size: int, marks: dict) -> None:
    with open(path, "wb") as file:
        file.truncate(size)
        for offset, data in marks.items():
            file.seek(offset)
            file.write(data)


def _expected_digest(size: int, marks: dict) -> str:
    """sha256 of a file of zeros with ``marks`` written in, without reading it from disk."""
    digest = hashlib.sha256()
    zeros = bytes(1 << 20)
    position = 0
    for offset, data in sorted(marks.items()):
        while position < offset:
            step = min(len(zeros), offset - position)
            digest.update(zeros[:step])
            position += step
        digest.update(data)
        position += len(data)
    while position < size:
        step = min(len(zeros), size - position)
        digest.update(zeros[:step])
        position += step
    return digest.hexdigest()


def _read_head(sock: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"connection closed inside the head: {head!r}")
        head += chunk
    return head


@linux_only
@pytest.mark.slow
def test_one_gib_download_keeps_the_server_rss_flat(tmp_path):
    big = tmp_path / "big.bin"
    _sparse_file(big, GIB, MARKS)
    (tmp_path / "small.txt").write_text("warm-up\n")
    port = free_port()
    server = subprocess.Popen(
        [PYTHON, "-m", "picohttp", "-b", "127.0.0.1", "-p", str(port), "-d", str(tmp_path), "-q"],
        env=python_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process=server)
        # warm up: the worker thread, the date cache and the static code exist now
        for _ in range(3):
            with connect(port) as sock:
                sock.sendall(b"GET /small.txt HTTP/1.0\r\n\r\n")
                while sock.recv(65536):
                    pass
        before = status_kib(server.pid, "VmRSS")
        peak_reset = reset_peak_rss(server.pid)
        peak = before
        sampling = threading.Event()

        def sample() -> None:  # where clear_refs is refused, watch VmRSS instead
            nonlocal peak
            while not sampling.wait(0.02):
                peak = max(peak, status_kib(server.pid, "VmRSS"))

        sampler = threading.Thread(target=sample)
        sampler.start()
        digest = hashlib.sha256()
        received = 0
        started = time.monotonic()
        try:
            with connect(port, timeout=60) as sock:
                sock.sendall(b"GET /big.bin HTTP/1.0\r\n\r\n")
                head, _, rest = _read_head(sock).partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.0 200 ")
                assert f"Content-Length: {GIB}".encode() in head
                digest.update(rest)
                received = len(rest)
                buffer = bytearray(1 << 20)
                view = memoryview(buffer)
                while True:
                    count = sock.recv_into(buffer)
                    if not count:
                        break
                    digest.update(view[:count])
                    received += count
        finally:
            sampling.set()
            sampler.join()
        elapsed = time.monotonic() - started
        after_peak = status_kib(server.pid, "VmHWM") if peak_reset else peak
        growth_mb = (max(after_peak, peak) - before) * 1024 / 1e6
        print(
            f"\n1 GiB download: {elapsed:.1f} s, server VmRSS {before / 1024:.1f} MiB before, "
            f"peak growth {growth_mb:.2f} MB ({'VmHWM' if peak_reset else 'sampled VmRSS'})"
        )
        assert received == GIB
        assert digest.hexdigest() == _expected_digest(GIB, MARKS)
        assert growth_mb < 30
    finally:
        server.terminate()
        server.wait(10)


def _stalled_download(port: int, path: str, first: int) -> socket.socket:
    sock = connect(port, timeout=30)
    sock.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
    head, _, rest = _read_head(sock).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 "), head
    got = len(rest)
    while got < first:
        got += len(sock.recv(min(65536, first - got)))
    return sock


@pytest.mark.slow
def test_stalled_big_downloads_do_not_delay_small_requests(tmp_path, threads):
    size = 64 << 20  # far more than the socket buffers hold
    marks = {size - 8: b"the end!"}
    _sparse_file(tmp_path / "big.bin", size, marks)
    (tmp_path / "small.txt").write_text("small\n")
    with serving(
        staticResource, str(tmp_path), threads=threads, maxThreads=2, writeTimeout=60
    ) as server:
        downloads = [_stalled_download(server.port, "/big.bin", 1 << 20) for _ in range(8)]
        try:
            # Eight readers now sit on full socket buffers; the server holds their
            # responses. Small requests must not queue behind them.
            latencies = []
            for _ in range(30):
                started = time.monotonic()
                with connect(server.port) as sock:
                    sock.sendall(b"GET /small.txt HTTP/1.0\r\n\r\n")
                    answer = b""
                    while chunk := sock.recv(65536):
                        answer += chunk
                latencies.append(time.monotonic() - started)
                assert answer.endswith(b"\r\n\r\nsmall\n")
            print(
                f"\nsmall requests during 8 stalled downloads: median "
                f"{statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
            )
            assert statistics.median(latencies) < 0.25
            assert max(latencies) < 2.0
            # ...and the big downloads were only waiting for their readers: each
            # one still completes, with the right bytes at its end.
            for sock in downloads:
                remaining = size - (1 << 20)
                tail = b""
                buffer = bytearray(1 << 20)
                while remaining > 0:
                    count = sock.recv_into(buffer)
                    assert count, "download cut short"
                    remaining -= count
                    tail = (tail + bytes(buffer[:count]))[-8:]
                assert remaining == 0 and tail == b"the end!"
        finally:
            for sock in downloads:
                sock.close()
