"""Zero-downtime restart: SIGHUP hands the listening socket to a fresh process.

The application runs as its own process and reads a version file when it is
imported, so a response says which import served it (and which process).
After SIGHUP a new process, started with the same command line, serves the
new version on the same socket, the old one exits 0 once the new one serves,
and under a steady wrk load with a restart every second no request fails and
none is refused.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

from support import (
    PYTHON,
    NotifyListener,
    alive,
    free_port,
    parse_http,
    python_env,
    read_all,
    run_wrk,
    wrk_counts,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="fork+exec hand-over is tested on Linux"
)

APP = textwrap.dedent(
    """
    import errno, os, sys
    import picohttp

    VERSION = open("version").read().strip()  # read at import: a restart reads it again
    if VERSION == "broken":
        raise SystemExit("this version does not start")

    def no_fork():
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    def handler(request, response):
        if request.path[0] == "exhaust-processes":  # from now on, fork() fails as at RLIMIT_NPROC
            os.fork = no_fork
        response.data = f"{VERSION} {os.getpid()}"

    picohttp.HttpServer(int(sys.argv[1]), handler, host=sys.argv[2], workers=int(sys.argv[3]),
                        stopTimeout=5)
    """
)


class Service:
    """The application started in ``directory``; after restarts, other processes serve it."""

    def __init__(
        self,
        directory: Path,
        host: str,
        workers: int,
        env: Dict[str, str],
        prefix: Sequence[str] = (),
        stdin: Optional[int] = None,
    ) -> None:
        self.directory = directory
        self.unix = host[5:] if host.startswith("unix:") else None
        self.port = 0 if self.unix else free_port()
        (directory / "app.py").write_text(APP)
        self.set_version("v1")
        self.err = open(directory / "server.err", "wb")  # noqa: SIM115 - closed in stop()
        # Files, not pipes: the processes that take over inherit them and outlive this Popen.
        # A session of its own, as a service has: no controlling terminal, even when the tests
        # run in one (a terminal's SIGHUP means it closed, and stops the server).
        self.first = subprocess.Popen(
            [*prefix, PYTHON, "app.py", str(self.port), host, str(workers)],
            cwd=directory,
            env=env,
            stdin=stdin,
            stdout=self.err,
            stderr=self.err,
            start_new_session=not prefix,
        )

    def set_version(self, version: str) -> None:
        (self.directory / "version").write_text(version)

    def get(self, timeout: float = 15, target: str = "/") -> Tuple[str, int]:
        """``(version, pid)`` of the process that answered."""
        if self.unix:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(self.unix)
            except OSError:
                sock.close()
                raise
        else:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        with sock:
            sock.sendall(f"GET {target} HTTP/1.0\r\n\r\n".encode())
            status, _, _, body = parse_http(read_all(sock, timeout))
        assert status == 200
        version, pid = body.decode().split()
        return version, int(pid)

    def wait_serving(self, timeout: float = 30) -> Tuple[str, int]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.get()
            except OSError:
                if time.monotonic() > deadline or self.first.poll() is not None:
                    raise AssertionError(self.log()) from None
                time.sleep(0.05)

    def wait_version(self, version: str, timeout: float = 30) -> int:
        """The pid serving ``version``, once every answer comes from it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got, pid = self.get()
            if got == version:
                return pid
            time.sleep(0.05)
        raise AssertionError(f"{version} never served\n{self.log()}")

    def log(self) -> str:
        return (self.directory / "server.err").read_text(errors="replace")

    def stop(self, pid: int) -> None:
        """SIGTERM the process serving now (``pid``), and wait until it is gone."""
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(pid), f"{pid} did not stop"
        if self.first.poll() is None:
            self.first.kill()
        self.first.wait(10)
        self.err.close()


def processes_in(directory: Path) -> List[int]:
    """The processes whose working directory is under ``directory`` (Linux: /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                continue
            if cwd == str(directory) or cwd.startswith(f"{directory}/"):
                found.append(int(entry))
    return found


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifyListener]:
    listener = NotifyListener(tmp_path)
    yield listener
    listener.close()
    # A failed test may leave a successor serving (it is nobody's child): none outlives it.
    for pid in processes_in(tmp_path):
        os.kill(pid, signal.SIGKILL)


def service_env(notify: NotifyListener) -> Dict[str, str]:
    env = python_env()
    env["NOTIFY_SOCKET"] = notify.path
    return env


@pytest.mark.parametrize("where", ["tcp", "unix"])
@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_hands_the_socket_to_a_fresh_process(
    tmp_path: Path, notify: NotifyListener, where: str, workers: int
) -> None:
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    host = f"unix:{tmp_path / 'app.sock'}" if where == "unix" else "127.0.0.1"
    service = Service(app_dir, host, workers, service_env(notify))
    assert service.wait_serving()[0] == "v1"
    first = service.first.pid
    assert notify.until("READY=1")[-1][1] == first
    inode = os.stat(service.unix).st_ino if service.unix else None

    service.set_version("v2")
    os.kill(first, signal.SIGHUP)
    # The old process stops only once the new one serves, and then cleanly.
    assert service.first.wait(30) == 0, service.log()
    messages = notify.until("READY=1")
    successor = messages[-1][1]
    assert successor != first
    assert f"MAINPID={successor}" in messages[-1][2].split("\n")  # systemd's new main process
    assert all("STOPPING=1" not in text for _, _, text in messages)  # a reload, not a stop
    served = service.wait_version("v2")
    if workers == 1:
        assert served == successor
    if service.unix:  # the same socket file: it was never closed, nor removed
        assert os.stat(service.unix).st_ino == inode
    service.stop(successor)
    assert "STOPPING=1" in notify.until("STOPPING=1")[-1][2]
    if service.unix:
        assert not os.path.exists(service.unix)  # the last process removed it
    assert "Traceback" not in service.log()


def test_a_new_process_that_fails_to_start_leaves_the_old_one_serving(
    tmp_path: Path, notify: NotifyListener
) -> None:
    service = Service(tmp_path, "127.0.0.1", 1, service_env(notify))
    assert service.wait_serving()[0] == "v1"
    first = service.first.pid
    service.set_version("broken")
    os.kill(first, signal.SIGHUP)
    deadline = time.monotonic() + 30
    while "exited before serving" not in service.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "exited before serving; this one keeps serving" in service.log()
    assert service.get() == ("v1", first)
    assert service.first.poll() is None
    # Fixed: the next SIGHUP succeeds.
    service.set_version("v3")
    os.kill(first, signal.SIGHUP)
    assert service.first.wait(30) == 0
    service.stop(service.wait_version("v3"))


def test_when_no_process_can_be_started_the_old_one_keeps_serving(
    tmp_path: Path, notify: NotifyListener
) -> None:
    service = Service(tmp_path, "127.0.0.1", 1, service_env(notify))
    assert service.wait_serving()[0] == "v1"
    first = service.first.pid
    assert service.get(target="/exhaust-processes") == ("v1", first)
    os.kill(first, signal.SIGHUP)
    deadline = time.monotonic() + 30
    while "cannot restart" not in service.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (
        "picohttp cannot restart ([Errno 11] Resource temporarily unavailable); this "
        "process keeps serving" in service.log()
    )
    assert service.get() == ("v1", first)
    # systemd hears that the reload is over, and that this process still serves.
    notify.until("RELOADING=1")  # after the READY=1 of the start
    assert notify.until("READY=1", timeout=5)[-1][1:] == (first, "READY=1")
    service.stop(first)
    assert "Traceback" not in service.log()


@pytest.mark.parametrize("workers", [1, 2])
def test_in_a_terminal_sighup_stops_the_server_instead(
    tmp_path: Path, notify: NotifyListener, workers: int
) -> None:
    """Closing a terminal sends SIGHUP: the server stops; nothing goes on in the background."""
    setsid = shutil.which("setsid")
    if setsid is None:
        pytest.skip("setsid (util-linux) is not installed")
    primary, secondary = os.openpty()
    try:
        # setsid --ctty: a session whose controlling terminal is the pty, as a shell's jobs have.
        service = Service(
            tmp_path, "127.0.0.1", workers, service_env(notify), [setsid, "--ctty"], secondary
        )
        assert service.wait_serving()[0] == "v1"
        os.kill(service.first.pid, signal.SIGHUP)
        assert service.first.wait(30) == 0, service.log()
        assert "STOPPING=1" in notify.until("STOPPING=1")[-1][2]
        with pytest.raises(ConnectionRefusedError):
            service.get()
        service.err.close()
    finally:
        os.close(primary)
        os.close(secondary)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_a_restart_every_second_under_load_refuses_and_fails_nothing(
    tmp_path: Path, notify: NotifyListener, workers: int
) -> None:
    service = Service(tmp_path, "127.0.0.1", workers, service_env(notify))
    assert service.wait_serving()[0] == "v1"
    current = service.first.pid
    load = run_wrk(f"http://127.0.0.1:{service.port}/", 10, tmp_path)
    restarts: List[int] = []
    try:
        time.sleep(0.5)  # pacing the load, not waiting for an event
        for number in range(9):
            service.set_version(f"v{number + 2}")
            os.kill(current, signal.SIGHUP)
            messages = notify.until("READY=1")
            current = messages[-1][1]
            restarts.append(current)
            time.sleep(1.0)  # pacing: a restart a second
        output, _ = load.communicate(timeout=60)
    finally:
        if load.poll() is None:
            load.kill()
            load.communicate()
    counts = wrk_counts(output)
    print(f"workers={workers}: {counts} in 10 s, {len(restarts)} restarts")
    assert len(set(restarts)) == 9
    assert counts["requests"] > 5000, output  # a few thousand a second, 10 s
    for failure in ("connect", "read", "write", "timeout", "non_2xx"):
        assert counts[failure] == 0, output
    service.stop(current)
