"""Slow clients cost no thread: 1,000 stalled heads, the connection cap, slow readers.

The numbers measured here (latency of a normal request with and without the
stalled connections, threads, memory) are also written to
test-artifacts/slow_clients.json for the record.
"""

from __future__ import annotations

import json
import resource
import selectors
import socket
import statistics
import threading
import time
from typing import Dict, List

import pytest
from attack import Recorder, attacked, exchange_raw, readable

from support import ARTIFACTS, connect, open_fds, read_all, thread_count, wait_until

STALLED = 1000
HEAD_TIMEOUT = 4.0


@pytest.fixture(scope="module", autouse=True)
def enough_descriptors():
    """Both ends of 1,000 connections live in this process: 2,000+ descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4 * STALLED + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < want:
        pytest.skip(f"RLIMIT_NOFILE is below {want} and cannot be raised")
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def latencies(port: int, count: int = 40) -> List[float]:
    """Seconds from connect to the last byte of a normal request, ``count`` times."""
    out = []
    for _ in range(count):
        start = time.perf_counter()
        raw = exchange_raw(port, b"GET /normal HTTP/1.0\r\n\r\n", timeout=5)
        out.append(time.perf_counter() - start)
        assert raw.startswith(b"HTTP/1.0 200 ")
    return out


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def record(name: str, values: Dict[str, object]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "slow_clients.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = values
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


def test_a_thousand_stalled_heads_cost_no_thread_and_no_latency(threads):
    recorder = Recorder()
    with attacked(recorder, threads=threads, headTimeout=HEAD_TIMEOUT) as server:
        latencies(server.port, 10)  # warm up: the pool has its threads, caches are hot
        before = latencies(server.port)
        threads_before = thread_count()
        rss_before = rss_bytes()
        fds_before = open_fds()

        stalled: List[socket.socket] = []
        opened_at = time.monotonic()
        try:
            for i in range(STALLED):
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
                sock.sendall(b"GET /stalled/%d HTTP/1.1\r\nHost: x\r\nX-Partial: " % i)
                stalled.append(sock)
            # The server has accepted them all once both ends are open in this process.
            assert wait_until(lambda: open_fds() >= fds_before + 2 * STALLED, 5)
            accepted_in = time.monotonic() - opened_at
            threads_during = thread_count()
            during = latencies(server.port)
            rss_growth = rss_bytes() - rss_before
            assert time.monotonic() - opened_at < HEAD_TIMEOUT - 0.2, "too slow to measure"

            # When headTimeout is up, every stalled client gets its 408 and a close.
            selector = selectors.DefaultSelector()
            for sock in stalled:
                selector.register(sock, selectors.EVENT_READ)
            waiting = set(stalled)
            while waiting and time.monotonic() - opened_at < HEAD_TIMEOUT + 5:
                for key, _ in selector.select(1.0):
                    waiting.discard(key.fileobj)  # type: ignore[arg-type]
                    selector.unregister(key.fileobj)
            selector.close()
            answered_by = time.monotonic() - opened_at
            assert not waiting, f"{len(waiting)} stalled connections never timed out"
            answers = {read_all(sock, 5)[:30] for sock in stalled}
        finally:
            for sock in stalled:
                sock.close()

        assert answers == {b"HTTP/1.0 408 Request Timeout\r\n"}
        assert HEAD_TIMEOUT - 0.1 <= answered_by < HEAD_TIMEOUT + 3
        assert threads_during == threads_before, "stalled clients took threads"
        assert recorder.uris().count("/normal") == 10 + 80
        assert not [uri for uri in recorder.uris() if uri.startswith("/stalled")]
        med_before, med_during = statistics.median(before), statistics.median(during)
        record(
            "threads" if threads else "sequential",
            {
                "stalled_connections": STALLED,
                "accepted_in_s": round(accepted_in, 3),
                "normal_request_ms_median_without": round(med_before * 1000, 3),
                "normal_request_ms_median_with": round(med_during * 1000, 3),
                "normal_request_ms_max_with": round(max(during) * 1000, 3),
                "threads_with": threads_during,
                "threads_without": threads_before,
                "rss_growth_mb": round(rss_growth / 2**20, 2),
                "all_408_after_s": round(answered_by, 3),
            },
        )
        assert med_during < 0.050, f"median {med_during * 1000:.1f} ms with {STALLED} stalled"
        assert med_during - med_before < 0.010, (before, during)
        # Both ends of 1,000 connections (client sockets included) in well under 10 MB.
        assert rss_growth < 10 * 2**20


def test_the_connection_cap_holds_new_clients_in_the_backlog(threads):
    cap = 5
    recorder = Recorder()
    with attacked(recorder, threads=threads, maxConnections=cap, headTimeout=10) as server:
        base = open_fds()
        idle = [connect(server.port) for _ in range(cap)]
        assert wait_until(lambda: open_fds() == base + 2 * cap, 5)
        extra = connect(server.port)
        extra.sendall(b"GET /extra HTTP/1.0\r\n\r\n")
        try:
            # Past the cap: the kernel completed the handshake, picohttp did not accept.
            assert not readable(extra, 0.5)
            assert open_fds() == base + 2 * cap + 1, "the server accepted past its cap"
            assert recorder.uris() == ["/health"]
            idle.pop().close()
            assert readable(extra, 5), "not served once a slot was free"
            assert read_all(extra, 5).startswith(b"HTTP/1.0 200 ")
        finally:
            extra.close()
            for sock in idle:
                sock.close()
        assert recorder.uris() == ["/health", "/extra"]


def test_many_more_clients_than_the_cap_are_all_served(threads):
    cap, clients = 4, 40
    results: List[bytes] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        raw = exchange_raw(server.port, b"GET /c%d HTTP/1.0\r\n\r\n" % n, timeout=20)
        with lock:
            results.append(raw)

    with attacked(Recorder(), threads=threads, maxConnections=cap) as server:
        workers = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        assert len(results) == clients
        assert all(raw.startswith(b"HTTP/1.0 200 ") for raw in results)


def test_a_slow_reader_of_a_large_response_holds_no_thread(threads):
    """A client that does not read its 8 MiB answer: others are served, no worker waits."""
    big = b"x" * (8 * 1024 * 1024)

    def handler(request, response):
        response.data = big if request.path[0] == "big" else b"small"

    with attacked(handler, threads=threads, writeTimeout=30) as server:
        slow = []
        for _ in range(5):
            # Not reading: the kernel takes a few MiB, the rest waits in the server.
            sock = connect(server.port)
            sock.sendall(b"GET /big HTTP/1.0\r\n\r\n")
            slow.append(sock)
        try:
            time.sleep(0.2)  # let the server fill the socket buffers and hand over to the loop
            pool = server._pool
            if pool is not None:
                assert wait_until(lambda: pool.idle == pool.size, 5), "a worker waits on a reader"
            for _ in range(10):
                start = time.monotonic()
                assert exchange_raw(server.port, b"GET /s HTTP/1.0\r\n\r\n").endswith(b"small")
                assert time.monotonic() - start < 1.0
            # The slow readers still get every byte once they read.
            for sock in slow:
                raw = read_all(sock, 20)
                assert raw.endswith(b"\r\n\r\n" + big)
        finally:
            for sock in slow:
                sock.close()


def test_a_reader_that_stops_reading_is_closed_at_write_timeout(threads):
    big = b"y" * (8 * 1024 * 1024)

    def handler(request, response):
        response.data = big

    with attacked(handler, threads=threads, writeTimeout=0.5) as server:
        base = open_fds()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        try:
            sock.sendall(b"GET /big HTTP/1.0\r\n\r\n")
            assert wait_until(lambda: open_fds() == base + 2, 5)  # accepted
            start = time.monotonic()
            # The server gives up on the stalled reader: its end of the connection closes.
            assert wait_until(lambda: open_fds() == base + 1, 5), "stalled reader kept open"
            assert time.monotonic() - start < 3.0
        finally:
            sock.close()


def test_a_slow_reader_of_a_streamed_response_does_not_hold_other_clients(threads):
    """A generator body to a client that does not read: others are still served at once."""
    piece = b"z" * (256 * 1024)

    def handler(request, response):
        if request.path[0] == "stream":
            response.data = (piece for _ in range(64))  # 16 MiB, more than socket buffers hold
        else:
            response.data = b"small"

    with attacked(handler, threads=threads, writeTimeout=30) as server:
        sock = connect(server.port)
        try:
            sock.sendall(b"GET /stream HTTP/1.0\r\n\r\n")
            assert readable(sock, 5)
            time.sleep(0.2)  # the socket buffers fill; the rest of the stream waits
            for _ in range(5):
                start = time.monotonic()
                raw = exchange_raw(server.port, b"GET /s HTTP/1.0\r\n\r\n", timeout=5)
                assert raw.endswith(b"small")
                assert time.monotonic() - start < 1.0
            raw = read_all(sock, 20)
            assert raw.endswith(b"\r\n\r\n" + piece * 64)
        finally:
            sock.close()
