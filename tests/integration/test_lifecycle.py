"""The server's life cycle: bind, start, stop, signals, errors (design.md section 1)."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import subprocess
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, List

import pytest

import picohttp
from picohttp import HttpRequest, HttpResponse
from support import (
    PYTHON,
    connect,
    exchange,
    free_port,
    open_fds,
    parse_response,
    python_env,
    read_all,
    running_script,
    serving,
    wait_for_port,
    without_listening_line,
)


def hello(request: HttpRequest, response: HttpResponse) -> None:
    response.data = "hello"


def get(port: int, host: str = "127.0.0.1") -> bytes:
    return parse_response(exchange(port, b"GET / HTTP/1.0\r\n\r\n", host=host))[2]


def refused(port: int, host: str = "127.0.0.1") -> bool:
    """True if connecting is refused; False if something accepts."""
    for _ in range(10):
        try:
            with socket.create_connection((host, port), timeout=2):
                return False
        except ConnectionRefusedError:
            return True
        except ConnectionResetError:
            continue  # caught in the backlog as the listener closed: ask again
    raise AssertionError("connections keep being reset")


# -- binding -------------------------------------------------------------------


def test_busy_port_raises_at_once_with_a_clear_message() -> None:
    with serving(hello) as first:
        started = time.monotonic()
        with pytest.raises(OSError) as caught:
            picohttp.HttpServer(first.port, hello, host="127.0.0.1", block=False)
        assert time.monotonic() - started < 2
        assert caught.value.errno == errno.EADDRINUSE
        message = str(caught.value)
        assert f"127.0.0.1:{first.port}" in message
        assert "port=0" in message  # says what to do about it
        assert get(first.port) == b"hello"  # the first server is untouched


def test_busy_port_on_the_default_dual_stack_host() -> None:
    first = picohttp.HttpServer(0, hello, block=False)
    try:
        with pytest.raises(OSError) as caught:
            picohttp.HttpServer(first.port, hello, start=False)
        assert caught.value.errno == errno.EADDRINUSE
    finally:
        first.stop()


PRIVILEGED = textwrap.dedent(
    """
    import json, os, resource
    import picohttp  # before dropping root: the interpreter's own files may be root-only
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    try:
        picohttp.HttpServer(start=False)  # the spec's defaults: port 80
    except OSError as exc:
        print(json.dumps({"type": type(exc).__name__, "errno": exc.errno, "message": str(exc)}))
    else:
        print(json.dumps({"type": None}))
    """
)


def test_privileged_port_raises_permission_error(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to uid 65534 (as a normal user: run HttpServer(80))")
    start_path = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")
    if start_path.exists() and int(start_path.read_text()) <= 80:
        pytest.skip("this kernel lets any user bind port 80 (ip_unprivileged_port_start)")
    result = subprocess.run(
        [PYTHON, "-c", PRIVILEGED],
        capture_output=True,
        text=True,
        env=python_env(),
        cwd=tmp_path,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["type"] == "PermissionError"
    assert outcome["errno"] == errno.EACCES
    assert ":80" in outcome["message"]
    assert "8080" in outcome["message"]  # the hint


def test_port_zero_picks_a_free_port() -> None:
    with serving(hello) as server:
        assert isinstance(server.port, int) and 0 < server.port < 65536
        assert get(server.port) == b"hello"


def test_host_ipv4_only() -> None:
    with serving(hello, host="127.0.0.1") as server:
        assert get(server.port) == b"hello"
        if socket.has_ipv6:
            assert refused(server.port, "::1")


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 in this Python")
def test_host_ipv6_only() -> None:
    with serving(hello, host="::1") as server:
        assert get(server.port, "::1") == b"hello"
        assert refused(server.port, "127.0.0.1")


@pytest.mark.skipif(not socket.has_dualstack_ipv6(), reason="no dual-stack sockets here")
def test_default_host_is_dual_stack() -> None:
    server = picohttp.HttpServer(0, hello, block=False)
    try:
        assert server.host is None
        assert get(server.port, "127.0.0.1") == b"hello"
        assert get(server.port, "::1") == b"hello"
    finally:
        server.stop()


# -- starting --------------------------------------------------------------------


def test_block_false_returns_once_serving() -> None:
    server = picohttp.HttpServer(0, hello, host="127.0.0.1", block=False)
    try:
        assert server.running
        assert get(server.port) == b"hello"
    finally:
        server.stop()
    assert not server.running


def test_start_false_then_start() -> None:
    server = picohttp.HttpServer(0, hello, host="127.0.0.1", start=False, block=False)
    try:
        assert not server.running
        # Bound and listening already: the connection waits in the backlog, unanswered.
        with connect(server.port) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            sock.settimeout(0.3)
            with pytest.raises(socket.timeout):
                sock.recv(1)
            server.start()
            assert server.running
            assert parse_response(read_all(sock))[2] == b"hello"
        with pytest.raises(RuntimeError):
            server.start()  # once only
    finally:
        server.stop()
    with pytest.raises(RuntimeError):
        server.start()  # a stopped server does not come back


def test_stop_before_start_releases_the_port_and_every_descriptor() -> None:
    before = open_fds()
    server = picohttp.HttpServer(0, hello, host="127.0.0.1", start=False)
    port = server.port
    server.stop()
    assert refused(port)
    assert open_fds() == before  # the loop's wake-up pair and selector too
    with pytest.raises(RuntimeError):
        server.start()


def test_blocking_start_returns_after_stop_from_another_thread() -> None:
    server = picohttp.HttpServer(0, hello, host="127.0.0.1", start=False)  # block=True
    returned = threading.Event()

    def run() -> None:
        server.start()
        returned.set()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        wait_for_port(server.port)
        assert get(server.port) == b"hello"
        assert not returned.is_set()
    finally:
        server.stop()
    assert returned.wait(10)
    thread.join(10)
    assert refused(server.port)


# -- stopping --------------------------------------------------------------------


def test_stop_is_idempotent_and_refuses_new_connections() -> None:
    server = picohttp.HttpServer(0, hello, host="127.0.0.1", block=False)
    assert get(server.port) == b"hello"
    server.stop()
    assert not server.running
    assert refused(server.port)
    server.stop()
    server.stop()
    assert "stopped" in repr(server)


def test_stop_from_another_thread() -> None:
    server = picohttp.HttpServer(0, hello, host="127.0.0.1", block=False)
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    stopper.join(15)
    assert not stopper.is_alive()
    assert not server.running
    assert refused(server.port)


def test_stop_from_inside_a_handler(threads: bool) -> None:
    servers: List[picohttp.HttpServer] = []

    def handler(request: HttpRequest, response: HttpResponse) -> None:
        started = time.monotonic()
        servers[0].stop()  # must not wait for itself
        response.data = f"bye after {time.monotonic() - started:.2f}"

    server = picohttp.HttpServer(0, handler, host="127.0.0.1", threads=threads, start=False)
    servers.append(server)
    server.block = False
    server.start()
    try:
        body = get(server.port)
        assert body.startswith(b"bye after ")
        assert float(body.split()[-1]) < 1.0
    finally:
        server.stop()  # from here: waits until the stop has finished
    assert not server.running
    assert refused(server.port)


def test_stop_lets_an_in_flight_request_finish(threads: bool) -> None:
    entered = threading.Event()
    release = threading.Event()

    def handler(request: HttpRequest, response: HttpResponse) -> None:
        entered.set()
        release.wait(10)
        response.data = "finished"

    server = picohttp.HttpServer(0, handler, host="127.0.0.1", threads=threads, block=False)
    with connect(server.port) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert entered.wait(10)
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        try:
            if threads:
                # The listener closes first: new clients are refused while this one
                # finishes. (With threads=False the handler occupies the loop thread,
                # which closes the listener once the handler returns.)
                deadline = time.monotonic() + 5
                while not refused(server.port) and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert refused(server.port)
            assert stopper.is_alive()  # stop() waits for the request in flight
        finally:
            release.set()
        assert parse_response(read_all(sock))[2] == b"finished"
    stopper.join(15)
    assert not server.running
    assert refused(server.port)


def test_context_manager() -> None:
    with picohttp.HttpServer(0, hello, host="127.0.0.1", block=False) as server:
        assert server.running
        assert get(server.port) == b"hello"
    assert not server.running
    assert refused(server.port)


# -- handler errors and args -------------------------------------------------------


def test_handler_exception_is_a_500_without_traceback(
    threads: bool, caplog: pytest.LogCaptureFixture
) -> None:
    def handler(request: HttpRequest, response: HttpResponse) -> None:
        if request.path[0] == "boom":
            response.data = "partial"
            raise ValueError("secret detail 12345")
        response.data = "fine"

    with (
        caplog.at_level(logging.ERROR, logger="picohttp"),
        serving(handler, threads=threads) as server,
    ):
        raw = exchange(server.port, b"GET /boom HTTP/1.0\r\n\r\n")
        after = get(server.port)
    status, _, body = parse_response(raw)
    assert status == 500
    assert body.startswith(b"500 Internal Server Error")
    assert b"Traceback" not in raw and b"secret detail" not in raw and b"partial" not in raw
    assert b"ValueError" not in raw
    assert after == b"fine"  # still serving
    records = [r for r in caplog.records if r.name == "picohttp" and r.levelno == logging.ERROR]
    assert len(records) == 1
    assert records[0].exc_info is not None
    assert "/boom" in records[0].getMessage()
    assert "secret detail 12345" in caplog.text and "Traceback" in caplog.text


def test_args_are_appended_to_the_handler_call(threads: bool) -> None:
    store: dict[str, Any] = {}

    def handler(request: HttpRequest, response: HttpResponse, data: dict, name: str) -> None:
        data[request.path[0]] = name
        response.data = f"{name}:{len(data)}"

    with serving(handler, store, "tag", threads=threads) as server:
        assert exchange(server.port, b"GET /one HTTP/1.0\r\n\r\n").endswith(b"tag:1")
        assert exchange(server.port, b"GET /two HTTP/1.0\r\n\r\n").endswith(b"tag:2")
    assert store == {"one": "tag", "two": "tag"}


def test_bad_arguments_are_refused_before_binding() -> None:
    with pytest.raises(TypeError):
        picohttp.HttpServer(0, "not callable")  # type: ignore[arg-type]
    for port in (-1, 65536, "80", True):
        with pytest.raises(ValueError):
            picohttp.HttpServer(port, hello)  # type: ignore[arg-type]


# -- signals -----------------------------------------------------------------------


BLOCKING = textwrap.dedent(
    """
    import sys
    import picohttp

    def handler(request, response):
        response.data = "up"

    picohttp.HttpServer(int(sys.argv[1]), handler, threads=sys.argv[2] == "threads")
    print("returned", flush=True)
    """
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_blocking_server_stops_quietly_on_a_signal(
    signum: int, threads: bool, tmp_path: Path
) -> None:
    port = free_port()
    with running_script(
        BLOCKING, tmp_path, str(port), "threads" if threads else "sequential"
    ) as process:
        wait_for_port(port, process=process)
        assert get(port) == b"up"
        sent = time.monotonic()
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=10)
        elapsed = time.monotonic() - sent
    assert process.returncode == 0
    assert without_listening_line(stderr) == b""
    assert stdout == b"returned\n"  # the script went on after HttpServer returned
    assert elapsed < 3


def test_stop_waits_stop_timeout_once_not_twice() -> None:
    entered = threading.Event()
    release = threading.Event()

    def handler(request: HttpRequest, response: HttpResponse) -> None:
        entered.set()
        release.wait(30)
        response.data = "too late"

    server = picohttp.HttpServer(0, handler, host="127.0.0.1", block=False, stopTimeout=1.5)
    try:
        with connect(server.port) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert entered.wait(10)
            started = time.monotonic()
            server.stop()
            elapsed = time.monotonic() - started
    finally:
        release.set()
    assert not server.running
    assert 1.4 <= elapsed < 2.5, f"stop() took {elapsed:.2f} s with stopTimeout=1.5"


STUCK = textwrap.dedent(
    """
    import sys, time
    import picohttp

    def handler(request, response):
        time.sleep(60)

    picohttp.HttpServer(int(sys.argv[1]), handler, host="127.0.0.1", stopTimeout=20)
    print("returned", flush=True)
    """
)


def test_a_second_ctrl_c_stops_at_once(tmp_path: Path) -> None:
    port = free_port()
    with running_script(STUCK, tmp_path, str(port)) as process:
        wait_for_port(port, process=process)
        with connect(port) as stuck:
            stuck.sendall(b"GET / HTTP/1.0\r\n\r\n")
            time.sleep(0.2)  # let the handler start (it never ends)
            process.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 10
            while not refused(port) and time.monotonic() < deadline:
                time.sleep(0.02)  # the first Ctrl-C closed the listener: it was handled
            assert refused(port)
            assert process.poll() is None  # waiting for the stuck handler (stopTimeout=20)
            second = time.monotonic()
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=15)
            elapsed = time.monotonic() - second
    assert process.returncode == 0
    assert stdout == b"returned\n"
    assert b"Traceback" not in stderr
    assert elapsed < 3, f"the second Ctrl-C took {elapsed:.2f} s"


SLOW_FINISH = textwrap.dedent(
    """
    import sys, time
    import picohttp

    class SlowToFinish(picohttp.HttpServer):
        # Fault injection: the wait for the workers at the end of a stop, made long.
        def _finish(self, at_once=False):
            if not at_once:
                print("finishing", flush=True)
                time.sleep(30)
            super()._finish(at_once)

    def handler(request, response):
        response.data = "up"

    SlowToFinish(int(sys.argv[1]), handler, host="127.0.0.1")
    print("returned", flush=True)
    """
)


def test_a_second_ctrl_c_while_the_stop_finishes_is_quiet_too(tmp_path: Path) -> None:
    port = free_port()
    with running_script(SLOW_FINISH, tmp_path, str(port)) as process:
        wait_for_port(port, process=process)
        assert get(port) == b"up"
        process.send_signal(signal.SIGINT)
        assert process.stdout is not None
        assert process.stdout.readline() == b"finishing\n"  # the loop is done, _finish waits
        second = time.monotonic()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=15)
        elapsed = time.monotonic() - second
    assert process.returncode == 0
    assert stdout == b"returned\n"
    assert b"Traceback" not in stderr, stderr.decode()
    assert elapsed < 3, f"the second Ctrl-C took {elapsed:.2f} s"


OTHER_THREAD = textwrap.dedent(
    """
    import signal, socket, sys, threading, time
    import picohttp

    def handler(request, response):
        response.data = "up"

    port = int(sys.argv[1])

    def signal_this_thread():
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
        time.sleep(0.2)  # the loop is back in select() with nothing to wait for
        # The kernel may hand a process signal to any thread; force the case where a
        # thread other than the loop's gets it.
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

    threading.Thread(target=signal_this_thread, daemon=True).start()
    picohttp.HttpServer(port, handler, host="127.0.0.1")
    print("returned", flush=True)
    """
)


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs signal.pthread_kill")
def test_a_signal_received_by_another_thread_still_stops_the_server(tmp_path: Path) -> None:
    port = free_port()
    with running_script(OTHER_THREAD, tmp_path, str(port)) as process:
        stdout, stderr = process.communicate(timeout=10)
    assert (process.returncode, stdout, without_listening_line(stderr)) == (0, b"returned\n", b"")
