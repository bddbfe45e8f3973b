"""``HttpServer(..., workers=N)``: pre-forked processes sharing one port (Linux).

Most tests run the server as its own process (as an application would), find
its workers in /proc, and check what the kernel says about them: served by
more than one process, replaced when killed, all gone after every way of
stopping, including the parent's own death.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Set, Tuple

import pytest

import picohttp
from picohttp import HttpRequest, HttpResponse
from support import (
    PYTHON,
    alive,
    child_pids,
    connect,
    exchange,
    open_fds,
    parse_response,
    python_env,
    serving,
    wait_until,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="workers=N is Linux only (SO_REUSEPORT)"
)

APP = textwrap.dedent(
    """
    import logging, os, sys, time
    import picohttp

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(process)d %(levelname)s %(message)s")
    logging.getLogger("picohttp.access").setLevel(logging.WARNING)
    if os.environ.get("DIE_AT_ONCE"):  # every worker exits straight after its fork
        picohttp.HttpServer._serve_worker = lambda self, sock, number: os._exit(5)

    def handler(request, response, counts):
        what = request.path[0]
        if what == "die":
            os._exit(3)
        if what == "sleep":
            print("sleeping", file=sys.stderr, flush=True)
            time.sleep(60)
        counts[what] = counts.get(what, 0) + 1  # state lives in each worker process
        response.data = f"{os.getpid()} {counts[what]}"

    server = picohttp.HttpServer(0, handler, args=({},), host="127.0.0.1",
                                 workers=int(sys.argv[1]), start=False,
                                 stopTimeout=float(os.environ.get("STOP_TIMEOUT", "2")))
    print(server.port, flush=True)
    server.start()
    print("stopped", flush=True)
    """
)


class App:
    """A ``workers=N`` server running as its own process."""

    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port
        self.err_lines: List[str] = []
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.err_lines.append(line)

    def logged(self, text: str, timeout: float = 20.0) -> bool:
        return wait_until(lambda: any(text in line for line in self.err_lines), timeout)

    @property
    def pid(self) -> int:
        return self.process.pid

    def workers(self, count: int, timeout: float = 20.0) -> List[int]:
        """The worker pids, once there are ``count`` of them."""
        found: List[int] = []

        def enough() -> bool:
            found[:] = child_pids(self.pid)
            return len(found) == count

        assert wait_until(enough, timeout), f"workers: {found}, expected {count}"
        return sorted(found)

    def get(self, path: str = "/") -> Tuple[int, str]:
        """``(pid of the worker that answered, its count for path)``."""
        raw = exchange(self.port, f"GET {path} HTTP/1.0\r\n\r\n".encode(), timeout=20)
        status, _, body = parse_response(raw)
        assert status == 200, raw
        pid, count = body.decode().split()
        return int(pid), int(count)

    def pids_serving(self, want: int, tries: int = 400) -> Set[int]:
        """Ask until ``want`` different processes have answered (SO_REUSEPORT hashes)."""
        seen: Set[int] = set()
        for _ in range(tries):
            seen.add(self.get()[0])
            if len(seen) >= want:
                break
        return seen

    def stop(self, signum: Optional[int] = None) -> Tuple[int, str, str]:
        if self.process.stdout is None or self.process.stdout.closed:  # stopped already
            return self.process.returncode, "", "".join(self.err_lines)
        if signum is not None:
            self.process.send_signal(signum)
        assert self.process.stdout is not None
        out = self.process.stdout.read()
        self.process.wait(timeout=30)
        self._reader.join(30)
        self.process.stdout.close()
        assert self.process.stderr is not None
        self.process.stderr.close()
        return self.process.returncode, out, "".join(self.err_lines)


StartApp = Callable[..., App]


@pytest.fixture
def start_app(tmp_path: Path) -> Iterator[StartApp]:
    script = tmp_path / "app.py"
    script.write_text(APP)
    started: List[App] = []

    def start(workers: int = 2, **env: str) -> App:
        process = subprocess.Popen(
            [PYTHON, str(script), str(workers)],
            env={**python_env(), **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        app = App(process, int(line) if line.strip().isdigit() else 0)
        assert app.port, (line, app.stop())
        started.append(app)
        return app

    yield start
    for app in started:
        if app.process.poll() is None:
            app.process.kill()
        app.stop()


def test_requests_are_served_by_every_worker_process(start_app: StartApp) -> None:
    app = start_app(workers=2)
    workers = app.workers(2)
    assert app.pid not in workers
    assert app.pids_serving(2) == set(workers)  # the parent never answers


def test_handler_state_is_per_process(start_app: StartApp) -> None:
    app = start_app(workers=2)
    app.workers(2)
    counts: dict[int, List[int]] = {}
    for _ in range(400):
        pid, count = app.get("/hits")
        counts.setdefault(pid, []).append(count)
        if len(counts) == 2 and all(len(c) >= 3 for c in counts.values()):
            break
    assert len(counts) == 2
    for seen in counts.values():  # each worker counts its own requests from 1
        assert seen == list(range(1, len(seen) + 1))


def test_a_killed_worker_is_replaced_and_service_continues(start_app: StartApp) -> None:
    app = start_app(workers=2)
    first = app.workers(2)
    victim = first[0]
    os.kill(victim, signal.SIGKILL)
    assert wait_until(lambda: not alive(victim), 10)
    assert wait_until(lambda: len(child_pids(app.pid)) == 2 and victim not in child_pids(app.pid))
    now = app.workers(2)
    assert victim not in now and first[1] in now
    assert app.pids_serving(2) == set(now)
    status, _, err = app.stop(signal.SIGTERM)
    assert status == 0
    assert "worker 1 was killed by signal 9 (SIGKILL)" in err and "; restarting" in err


def test_a_worker_that_exits_mid_request_is_replaced(start_app: StartApp) -> None:
    app = start_app(workers=2)
    before = set(app.workers(2))
    for _ in range(50):  # /die kills whichever worker takes it; the client sees a close
        try:
            raw = exchange(app.port, b"GET /die HTTP/1.0\r\n\r\n", timeout=20)
        except ConnectionResetError:
            raw = b""
        assert raw == b""
        if set(child_pids(app.pid)) != before:
            break
    assert wait_until(lambda: len(child_pids(app.pid)) == 2 and set(child_pids(app.pid)) != before)
    assert len(app.pids_serving(2)) == 2


def test_workers_dying_at_once_are_restarted_with_a_growing_pause(start_app: StartApp) -> None:
    app = start_app(workers=2, DIE_AT_ONCE="1")
    time.sleep(3.0)  # let the supervisor work: it must pause, not spin
    status, _, err = app.stop(signal.SIGTERM)
    assert status == 0
    restarts = [line for line in err.splitlines() if "exited with status 5" in line]
    # Pauses of 0.5, 1, 2 s per worker: at most about 4 restarts each in 3 s, not hundreds.
    assert 2 <= len(restarts) <= 10, err
    assert "restarting in 0.5 s" in err and "restarting in 1.0 s" in err
    assert "quick exits in a row" in err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signals_stop_every_worker(start_app: StartApp, signum: int) -> None:
    app = start_app(workers=3)
    workers = app.workers(3)
    app.pids_serving(2)
    status, out, err = app.stop(signum)
    assert status == 0, err
    assert "stopped" in out
    assert "Traceback" not in err
    assert not [pid for pid in workers if alive(pid)]
    assert not child_pids(app.pid)


def test_workers_die_with_a_killed_parent(start_app: StartApp) -> None:
    app = start_app(workers=2)
    workers = app.workers(2)
    app.process.kill()  # SIGKILL: no chance to clean up
    app.process.communicate(timeout=30)
    assert wait_until(lambda: not any(alive(pid) for pid in workers), 15), [
        pid for pid in workers if alive(pid)
    ]


def test_second_sigint_kills_at_once(start_app: StartApp) -> None:
    app = start_app(workers=2, STOP_TIMEOUT="60")
    workers = app.workers(2)
    with connect(app.port) as client:
        client.sendall(b"GET /sleep HTTP/1.0\r\n\r\n")  # in flight: the first stop waits for it
        assert app.logged("sleeping")
        app.process.send_signal(signal.SIGINT)
        assert app.logged("stopping the workers")
        started = time.monotonic()
        app.process.send_signal(signal.SIGINT)
        status, _, err = app.stop()
    assert time.monotonic() - started < 15  # not the 60 s stopTimeout
    assert status == 0, err
    assert "interrupted again: killing the workers" in err
    assert not [pid for pid in workers if alive(pid)]


def test_stop_lets_a_request_in_flight_finish_within_stop_timeout(start_app: StartApp) -> None:
    app = start_app(workers=2, STOP_TIMEOUT="1")
    workers = app.workers(2)
    with connect(app.port) as client:
        client.sendall(b"GET /sleep HTTP/1.0\r\n\r\n")
        assert app.logged("sleeping")
        started = time.monotonic()
        status, _, err = app.stop(signal.SIGTERM)
    assert time.monotonic() - started < 15
    assert status == 0, err
    assert "still running after the 1.0 s stop timeout" in err  # the worker waited, then gave up
    assert not [pid for pid in workers if alive(pid)]


# -- in the test process: block=False, binding, validation -------------------------


def pid_handler(request: HttpRequest, response: HttpResponse) -> None:
    response.data = str(os.getpid())


def test_block_false_serves_and_stop_leaves_no_child() -> None:
    fds = open_fds()
    server = picohttp.HttpServer(0, pid_handler, host="127.0.0.1", workers=2, block=False)
    try:
        assert server.port > 0
        assert server.running
        assert "workers=2" in repr(server)
        seen = set()
        for _ in range(400):
            seen.add(int(parse_response(exchange(server.port, b"GET / HTTP/1.0\r\n\r\n"))[2]))
            if len(seen) == 2:
                break
        assert len(seen) == 2 and os.getpid() not in seen
        assert set(child_pids(os.getpid())) >= seen
    finally:
        server.stop()
    assert not server.running
    assert not [pid for pid in seen if alive(pid)]
    assert not child_pids(os.getpid())
    assert open_fds() == fds  # sockets, pidfds, the wake-up pipe: all closed
    with pytest.raises(ConnectionRefusedError):
        exchange(server.port, b"GET / HTTP/1.0\r\n\r\n")


def test_busy_port_raises_in_the_constructor() -> None:
    with serving(pid_handler) as first:
        started = time.monotonic()
        with pytest.raises(OSError) as caught:
            picohttp.HttpServer(first.port, pid_handler, host="127.0.0.1", workers=2)
        assert time.monotonic() - started < 2
        assert caught.value.errno == errno.EADDRINUSE
        assert "port=0" in str(caught.value)


def test_a_second_workers_server_does_not_join_the_first() -> None:
    # Both would set SO_REUSEPORT; the plain probe bind stops the second from
    # silently sharing the first one's connections.
    first = picohttp.HttpServer(0, pid_handler, host="127.0.0.1", workers=2, start=False)
    try:
        with pytest.raises(OSError) as caught:
            picohttp.HttpServer(first.port, pid_handler, host="127.0.0.1", workers=2, start=False)
        assert caught.value.errno == errno.EADDRINUSE
    finally:
        first.stop()


def test_stop_before_start_frees_the_port() -> None:
    server = picohttp.HttpServer(0, pid_handler, host="127.0.0.1", workers=2, start=False)
    port = server.port
    server.stop()
    assert not child_pids(os.getpid())
    again = picohttp.HttpServer(port, pid_handler, host="127.0.0.1", start=False)
    again.stop()


@pytest.mark.parametrize("value", [0, -1, True, 2.0, "2"])
def test_workers_must_be_a_positive_int(value: object) -> None:
    with pytest.raises(ValueError, match="workers"):
        picohttp.HttpServer(0, pid_handler, workers=value, start=False)  # type: ignore[arg-type]


def test_workers_one_is_the_single_process_server() -> None:
    with serving(pid_handler, workers=1) as server:
        assert int(parse_response(exchange(server.port, b"GET / HTTP/1.0\r\n\r\n"))[2]) == (
            os.getpid()
        )


def test_command_line_workers(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("served\n")
    process = subprocess.Popen(
        [PYTHON, "-m", "picohttp", "-p", "0", "-b", "127.0.0.1", "-d", str(tmp_path),
         "--workers", "2", "--quiet"],
        env=python_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        assert wait_until(lambda: len(child_pids(process.pid)) == 2)
        workers = child_pids(process.pid)
        raw = exchange(port, b"GET / HTTP/1.0\r\n\r\n")
        assert parse_response(raw)[2] == b"served\n"
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert not [pid for pid in workers if alive(pid)]
