"""Stopping a real process (issue 15): open streams do not hold the stop, and what it says is true.

A first Ctrl-C (or SIGTERM) shuts open streams down (their generators see
GeneratorExit at their next yield) and waits only for ordinary handlers; what
is printed, on the first Ctrl-C and on a second, is true.  The server runs
as `python app.py` would run it, with real signals.
"""

from __future__ import annotations

import signal
import socket
import textwrap
import time
from pathlib import Path

import pytest

from support import connect, free_port, read_all, running_script, wait_for_port

SSE_APP = textwrap.dedent(
    """
    import sys, threading
    import picohttp

    port, marker, pause = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])

    def handler(request, response):
        response.headers["Content-Type"] = "text/event-stream"

        def events():
            try:
                n = 0
                while True:
                    yield f"data: {n}\\n\\n"
                    n += 1
                    threading.Event().wait(pause)  # nothing to report meanwhile
            finally:
                with open(marker, "w") as done:
                    done.write("finally ran")

        response.data = events()

    if __name__ == "__main__":
        picohttp.HttpServer(port, handler, host="127.0.0.1")  # stopTimeout: 5 s
        print("returned", flush=True)
    """
)


def first_event(client: socket.socket) -> None:
    """Read until the first event has arrived (the head may come in a segment of its own)."""
    client.settimeout(10)
    received = b""
    while b"data: 0" not in received:
        chunk = client.recv(65536)
        assert chunk, f"closed before the first event: {received!r}"
        received += chunk


# Lines that would be false after these stops: no timeout ran out, nobody called stop().
FALSE = (b"stop timeout", b"stop()", b"still running", b"still open", b"Traceback")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_open_event_stream_does_not_delay_the_stop_and_its_finally_runs(
    signum: int, tmp_path: Path
) -> None:
    port = free_port()
    marker = tmp_path / "marker"
    with running_script(SSE_APP, tmp_path, str(port), str(marker), "0.2") as process:
        wait_for_port(port, process=process)
        with connect(port) as client:
            client.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
            first_event(client)
            sent = time.monotonic()
            process.send_signal(signum)
            stdout, stderr = process.communicate(timeout=15)
            elapsed = time.monotonic() - sent
            rest = read_all(client, 5)  # the stream ended with the server
    assert process.returncode == 0
    assert stdout == b"returned\n"
    assert elapsed < 2.5, f"stopping took {elapsed:.2f} s (stopTimeout is 5 s)"
    assert marker.read_text() == "finally ran"  # GeneratorExit at its yield
    assert not any(text in stderr for text in FALSE), stderr.decode()
    assert b"data:" in rest or rest == b""  # what was in flight, then the end


def test_a_generator_waiting_long_in_its_own_code_does_not_hold_the_stop(tmp_path: Path) -> None:
    """Python cannot interrupt a wait: the stop gives it a moment, then leaves it."""
    port = free_port()
    marker = tmp_path / "marker"
    with running_script(SSE_APP, tmp_path, str(port), str(marker), "60") as process:
        wait_for_port(port, process=process)
        with connect(port) as client:
            client.sendall(b"GET /events HTTP/1.0\r\n\r\n")
            first_event(client)
            sent = time.monotonic()
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=15)
            elapsed = time.monotonic() - sent
    assert process.returncode == 0
    assert stdout == b"returned\n"
    assert elapsed < 3, f"stopping took {elapsed:.2f} s"
    assert not any(text in stderr for text in FALSE), stderr.decode()
    assert not marker.exists()  # still inside its 60 s wait when the process ended


STUCK_APP = textwrap.dedent(
    """
    import sys, time
    import picohttp

    def handler(request, response):
        print("handling", flush=True)
        time.sleep(60)

    if __name__ == "__main__":
        picohttp.HttpServer(int(sys.argv[1]), handler, host="127.0.0.1", stopTimeout=20)
        print("returned", flush=True)
    """
)


def test_what_the_first_and_second_ctrl_c_print_is_true(tmp_path: Path) -> None:
    port = free_port()
    with running_script(STUCK_APP, tmp_path, str(port)) as process:
        wait_for_port(port, process=process)
        assert process.stdout is not None and process.stderr is not None
        # The script configured no logging: its first line says where it listens.
        assert process.stderr.readline().startswith(b"picohttp serving on http://")
        with connect(port) as stuck:
            stuck.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert process.stdout.readline() == b"handling\n"
            process.send_signal(signal.SIGINT)
            first = process.stderr.readline()
            assert first == (
                b"stopping: waiting up to 20.0 s for 1 request(s) in progress "
                b"(Ctrl-C again to stop at once)\n"
            )
            second = time.monotonic()
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=15)
            elapsed = time.monotonic() - second
    assert process.returncode == 0
    assert stdout == b"returned\n"
    assert elapsed < 3, f"the second Ctrl-C took {elapsed:.2f} s"
    assert stderr.splitlines() == [
        b"interrupted again: stopped with 1 connection(s) still open",
        b"interrupted again: left 1 handler(s) running",
    ]
