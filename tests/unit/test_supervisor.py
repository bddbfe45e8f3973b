"""The pre-fork ``Supervisor`` on its own: it runs the callable it is given, no ``HttpServer``."""

from __future__ import annotations

import os
import socket
import sys
import threading

import pytest

from picohttp._workers import Supervisor
from support import alive, connect, read_all, wait_until

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="workers=N is Linux only"
)


def test_the_workers_run_the_callable_and_a_stop_ends_them() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve(sock: socket.socket, number: int) -> None:  # runs in each forked worker
        while True:
            conn, _ = sock.accept()
            with conn:
                conn.sendall(f"{number} {os.getpid()}".encode())

    supervisor = Supervisor([listener, listener], serve, stop_timeout=1.0)
    assert supervisor.port == port
    forked = threading.Event()
    thread = threading.Thread(
        target=supervisor.run, kwargs={"on_signal": False, "forked": forked}, daemon=True
    )
    thread.start()
    try:
        assert forked.wait(10)
        pids = supervisor.pids()
        assert len(pids) == 2 and os.getpid() not in pids
        with connect(port) as client:
            number, pid = read_all(client).decode().split()
        assert number in ("1", "2") and int(pid) in pids  # a worker answered, not this process
    finally:
        supervisor.request_stop()
        thread.join(10)
    assert not thread.is_alive()
    assert wait_until(lambda: not any(alive(pid) for pid in pids), 5)
    assert listener.fileno() == -1  # the parent's socket is closed at the stop
