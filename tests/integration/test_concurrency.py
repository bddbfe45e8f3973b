"""design.md section 3: worker threads for threads=True, strict order for threads=False.

Every proof rests on what the handlers recorded (start and end times, the
thread they ran on, how many ran at once), not on the total time alone.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from typing import Any, Dict, List, Tuple

import pytest

from picohttp import HttpRequest, HttpResponse
from support import connect, exchange, parse_response, read_all, serving

CLIENTS = 10


class Recorder:
    """A handler that sleeps and records when, where and how many ran at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.intervals: Dict[str, Tuple[float, float]] = {}
        self.threads: Dict[str, str] = {}

    def __call__(self, request: HttpRequest, response: HttpResponse) -> None:
        start = time.monotonic()
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.seconds)
        with self.lock:
            self.running -= 1
        name = request.path[0]
        self.intervals[name] = (start, time.monotonic())
        self.threads[name] = threading.current_thread().name
        response.data = name


def ten_concurrent_clients(port: int) -> Tuple[float, List[bytes]]:
    """Send ten requests at once from ten threads; the wall time and the bodies."""
    bodies: List[bytes] = [b""] * CLIENTS
    barrier = threading.Barrier(CLIENTS)

    def client(index: int) -> None:
        barrier.wait(10)
        bodies[index] = parse_response(
            exchange(port, b"GET /%d HTTP/1.0\r\n\r\n" % index, timeout=60)
        )[2]

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return time.monotonic() - started, bodies


def test_threads_true_ten_one_second_handlers_run_together() -> None:
    recorder = Recorder(1.0)
    with serving(recorder, threads=True) as server:
        elapsed, bodies = ten_concurrent_clients(server.port)
    assert bodies == [str(i).encode() for i in range(CLIENTS)]
    assert elapsed < 3.0, f"ten 1 s handlers took {elapsed:.2f} s"
    assert recorder.most == CLIENTS  # all ten were sleeping at the same moment
    latest_start = max(start for start, _ in recorder.intervals.values())
    earliest_end = min(end for _, end in recorder.intervals.values())
    assert latest_start < earliest_end
    # Never on the thread that accepts connections.
    assert all(name.startswith("picohttp-worker") for name in recorder.threads.values())


def test_threads_false_handlers_run_one_after_another() -> None:
    # 0.3 s instead of the 1 s above: the proof is that the recorded intervals
    # never overlap, which a longer sleep would only make slower to show.
    recorder = Recorder(0.3)
    with serving(recorder, threads=False) as server:
        elapsed, bodies = ten_concurrent_clients(server.port)
    assert bodies == [str(i).encode() for i in range(CLIENTS)]
    assert recorder.most == 1
    intervals = sorted(recorder.intervals.values())
    for (_, previous_end), (next_start, _) in zip(intervals, intervals[1:]):
        assert next_start >= previous_end
    assert elapsed >= CLIENTS * 0.3
    # On the loop thread itself: no worker threads at all.
    assert set(recorder.threads.values()) == {"picohttp-loop"}


def test_threads_false_runs_handlers_in_arrival_order() -> None:
    first_entered = threading.Event()
    release_first = threading.Event()
    order: List[str] = []

    def handler(request: HttpRequest, response: HttpResponse) -> None:
        order.append(request.path[0])
        if request.path[0] == "0":
            first_entered.set()
            release_first.wait(10)
        response.data = request.path[0]

    with serving(handler, threads=False) as server:
        sockets: List[socket.socket] = []
        try:
            first = connect(server.port)
            sockets.append(first)
            first.sendall(b"GET /0 HTTP/1.0\r\n\r\n")
            assert first_entered.wait(10)
            # While handler 0 holds the server, nine more arrive, one after another.
            for index in range(1, CLIENTS):
                sock = connect(server.port)
                sock.sendall(b"GET /%d HTTP/1.0\r\n\r\n" % index)
                sockets.append(sock)
            release_first.set()
            bodies = [parse_response(read_all(sock))[2] for sock in sockets]
        finally:
            release_first.set()
            for sock in sockets:
                sock.close()
    assert order == [str(i) for i in range(CLIENTS)]
    assert bodies == [str(i).encode() for i in range(CLIENTS)]


def test_max_threads_caps_concurrent_handlers() -> None:
    lock = threading.Lock()
    running: List[int] = [0, 0]  # now, most
    two_in = threading.Event()
    release = threading.Event()

    def handler(request: HttpRequest, response: HttpResponse) -> None:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
            if running[0] == 2:
                two_in.set()
        release.wait(10)
        with lock:
            running[0] -= 1
        response.data = "done"

    with serving(handler, threads=True, maxThreads=2) as server:
        sockets = [connect(server.port) for _ in range(4)]
        try:
            for sock in sockets:
                sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert two_in.wait(10)
            time.sleep(0.3)  # room for a third handler to start, if the cap failed
            assert running[1] == 2
            release.set()
            assert all(parse_response(read_all(sock))[2] == b"done" for sock in sockets)
        finally:
            release.set()
            for sock in sockets:
                sock.close()
    assert running[1] == 2


def test_a_stalled_half_head_does_not_delay_others(threads: bool) -> None:
    def handler(request: HttpRequest, response: HttpResponse) -> None:
        response.data = "quick"

    with serving(handler, threads=threads) as server, connect(server.port) as stalled:
        stalled.sendall(b"GET /slow HTTP/1.1\r\nHost: exam")  # and nothing more
        started = time.monotonic()
        answer = exchange(server.port, b"GET /fast HTTP/1.0\r\n\r\n", timeout=5)
        elapsed = time.monotonic() - started
        assert parse_response(answer)[2] == b"quick"
        assert elapsed < 2.0  # the head timeout is 10 s: no waiting behind the stall
        readable, _, _ = select.select([stalled], [], [], 0)
        assert not readable  # the stalled client is still waiting, unanswered


def test_a_slow_handler_does_not_delay_others_with_threads() -> None:
    entered = threading.Event()
    release = threading.Event()

    def handler(request: HttpRequest, response: HttpResponse) -> None:
        if request.path[0] == "slow":
            entered.set()
            release.wait(10)
        response.data = request.path[0]

    with serving(handler, threads=True) as server, connect(server.port) as slow:
        slow.sendall(b"GET /slow HTTP/1.0\r\n\r\n")
        try:
            assert entered.wait(10)
            answer = exchange(server.port, b"GET /fast HTTP/1.0\r\n\r\n", timeout=5)
            assert parse_response(answer)[2] == b"fast"
        finally:
            release.set()
        assert parse_response(read_all(slow))[2] == b"slow"


@pytest.mark.parametrize("count", [50])
def test_many_clients_at_once_all_answered(threads: bool, count: int) -> None:
    def handler(request: HttpRequest, response: HttpResponse) -> None:
        response.data = request.path[0]

    results: Dict[int, Any] = {}

    def client(index: int) -> None:
        try:
            results[index] = parse_response(
                exchange(server.port, b"GET /%d HTTP/1.0\r\n\r\n" % index)
            )[2]
        except OSError as exc:  # recorded, so the assertion below shows it
            results[index] = exc

    with serving(handler, threads=threads) as server:
        clients = [threading.Thread(target=client, args=(i,)) for i in range(count)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(30)
    assert results == {i: str(i).encode() for i in range(count)}
