"""Out of descriptors at accept: accepting pauses (no spin, one log line) and resumes (issue 13).

Each test runs the server in a child process with a lowered ``RLIMIT_NOFILE``
and takes its descriptors away: either the application holds them all
(``SIGUSR1`` fills the table, ``SIGUSR2`` frees it; then no connection of the
server's own can close to free one), or this test holds them with idle
connections.  Meanwhile a probe connects in a loop, the child's CPU time is
read from ``/proc/<pid>/stat``, and once descriptors are free a normal client
must be answered.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import pytest

from support import PYTHON, connect, parse_response, python_env, read_all

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="RLIMIT_NOFILE and /proc/<pid>/stat: Linux"
)

CHILD = """
import logging, os, resource, signal, sys
import picohttp

limit, cert, key, cap = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(message)s")

def handler(request, response):
    response.data = "served"

context = None
if cert:
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
server = picohttp.HttpServer(
    0, handler, host="127.0.0.1", block=False, maxConnections=cap, headTimeout=60, tls=context
)
hoard = []

def fill(signum, frame):
    while True:
        try:
            hoard.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            break
    print("full", flush=True)

def free(signum, frame):
    while hoard:
        os.close(hoard.pop())
    print("freed", flush=True)

signal.signal(signal.SIGUSR1, fill)
signal.signal(signal.SIGUSR2, free)
print(server.port, flush=True)
while True:
    signal.pause()
"""


class Child:
    """The server process, its port, its stderr log and its CPU time."""

    def __init__(
        self, tmp_path: Path, limit: int, cert: str = "", key: str = "", cap: int = 1000
    ) -> None:
        script = tmp_path / "child.py"
        script.write_text(CHILD)
        self.err_path = tmp_path / "child.err"
        self._err = open(self.err_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [PYTHON, str(script), str(limit), cert, key, str(cap)],
            stdout=subprocess.PIPE,
            stderr=self._err,
            env=python_env(),
        )
        self.port = int(self.line())

    def line(self) -> str:
        assert self.process.stdout is not None
        text = self.process.stdout.readline().decode().strip()
        assert text, f"the child ended: {self.err_path.read_text()}"
        return text

    def signal(self, signum: int, answer: str) -> None:
        self.process.send_signal(signum)
        assert self.line() == answer

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def log(self) -> List[str]:
        return self.err_path.read_text().splitlines()

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self._err.close()


@pytest.fixture
def child_factory(tmp_path: Path) -> Iterator[List[Child]]:
    children: List[Child] = []
    yield children
    for child in children:
        child.stop()


def probe(port: int, seconds: float) -> int:
    """Connect, send a request and give up, in a loop, for ``seconds``; how many tries."""
    tries = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"GET /probe HTTP/1.0\r\n\r\n")
                sock.settimeout(0.05)
                sock.recv(100)
        except OSError:
            pass
        tries += 1
    return tries


def cpu_while_probed(child: Child, seconds: float) -> Tuple[float, int]:
    """The child's CPU share while probed for ``seconds``, and the probe's tries."""
    cpu, start = child.cpu_seconds(), time.monotonic()
    tries = probe(child.port, seconds)
    return (child.cpu_seconds() - cpu) / (time.monotonic() - start), tries


def get(port: int, context: Optional[ssl.SSLContext] = None, timeout: float = 10.0) -> bytes:
    with connect(port, timeout=timeout) as raw:
        if context is None:
            raw.sendall(b"GET /normal HTTP/1.0\r\n\r\n")
            return parse_response(read_all(raw, timeout))[2]
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(b"GET /normal HTTP/1.0\r\n\r\n")
            return parse_response(read_all(sock, timeout))[2]


def pause_lines(log: List[str]) -> Tuple[List[str], List[str]]:
    started = [line for line in log if "accepting pauses until a descriptor is freed" in line]
    ended = [line for line in log if "accepting again after" in line]
    return started, ended


def test_descriptors_held_by_the_application_pause_accepting_without_a_spin(
    tmp_path: Path, child_factory: List[Child]
) -> None:
    """open == 0 and still EMFILE: retried on a timer; 10 s probed under 5% CPU, then served."""
    child = Child(tmp_path, 256)
    child_factory.append(child)
    assert get(child.port) == b"served"
    child.signal(signal.SIGUSR1, "full")
    share, tries = cpu_while_probed(child, 10.0)
    print(f"held by the application: {share:.1%} CPU over 10 s, {tries} probe connections")
    assert tries > 10
    assert share < 0.05, f"{share:.1%} of a core while paused"
    started, ended = pause_lines(child.log())
    assert len(started) == 1, child.log()[:5]  # one line for the whole pause
    assert not ended
    child.signal(signal.SIGUSR2, "freed")
    begin = time.monotonic()
    assert get(child.port) == b"served"
    print(f"normal client answered {time.monotonic() - begin:.2f} s after descriptors came back")
    # The pause ends on the accept that finds the backlog empty, which may come just
    # after that answer: wait for its line (the log file is all the child says).
    deadline = time.monotonic() + 10
    while not pause_lines(child.log())[1] and time.monotonic() < deadline:
        time.sleep(0.05)
    started, ended = pause_lines(child.log())
    assert len(started) == 1 and len(ended) == 1, child.log()[-5:]
    assert "accept(s) failed" in ended[0]
    assert len(child.log()) == 2, child.log()  # and nothing else: no line per failed accept


@pytest.fixture(params=["plain", "tls"])
def tls_files(request: pytest.FixtureRequest, tmp_path: Path) -> Tuple[str, str, str]:
    """("", "", "") for plain HTTP, else (certificate, key, CA) files made by trustme."""
    if request.param == "plain":
        return "", "", ""
    trustme = pytest.importorskip("trustme", reason="trustme (dev extra) makes the certificate")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    files = [tmp_path / name for name in ("cert.pem", "key.pem", "ca.pem")]
    cert.cert_chain_pems[0].write_to_path(str(files[0]))
    cert.private_key_pem.write_to_path(str(files[1]))
    ca.cert_pem.write_to_path(str(files[2]))
    return str(files[0]), str(files[1]), str(files[2])


def test_descriptors_held_by_connections_pause_accepting_until_one_closes(
    tmp_path: Path, child_factory: List[Child], tls_files: Tuple[str, str, str]
) -> None:
    """The plain and the TLS loop share the pause: idle clients hold every descriptor."""
    cert, key, ca = tls_files
    child = Child(tmp_path, 64, cert, key)
    child_factory.append(child)
    context = ssl.create_default_context(cafile=ca) if ca else None
    assert get(child.port, context) == b"served"
    holders = []
    try:
        for _ in range(80):  # more than the 64 descriptors the child has
            sock = connect(child.port)
            sock.sendall(b"\x16\x03" if ca else b"GET /held")  # a head (or handshake) begun
            holders.append(sock)
        deadline = time.monotonic() + 10
        while not pause_lines(child.log())[0] and time.monotonic() < deadline:
            time.sleep(0.05)  # the log line is all the child says: poll its file
        share, tries = cpu_while_probed(child, 3.0)
        print(f"held by connections: {share:.1%} CPU over 3 s, {tries} probe connections")
        assert share < 0.05, f"{share:.1%} of a core while paused"
    finally:
        for sock in holders:
            sock.close()
    begin = time.monotonic()
    assert get(child.port, context) == b"served"
    print(f"normal client answered {time.monotonic() - begin:.2f} s after the holders closed")
    assert len(pause_lines(child.log())[0]) == 1, child.log()
    deadline = time.monotonic() + 10
    while not pause_lines(child.log())[1] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(pause_lines(child.log())[1]) == 1, child.log()


def test_a_pause_for_descriptors_that_ends_at_the_connection_cap_does_not_spin(
    tmp_path: Path, child_factory: List[Child]
) -> None:
    """Descriptors come back while clients wait; accepting them reaches maxConnections first."""
    child = Child(tmp_path, 256, cap=20)
    child_factory.append(child)
    child.signal(signal.SIGUSR1, "full")
    holders = []
    try:
        for _ in range(30):  # wait in the backlog; 20 of them then fill the cap
            sock = connect(child.port)
            sock.sendall(b"GET /held")
            holders.append(sock)
        child.signal(signal.SIGUSR2, "freed")
        deadline = time.monotonic() + 10
        while len(child.log()) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the timer's retry (0.25 s) has accepted up to the cap
        cpu, start = child.cpu_seconds(), time.monotonic()
        time.sleep(2.0)  # nothing happens: the CPU the paused server takes meanwhile
        share = (child.cpu_seconds() - cpu) / (time.monotonic() - start)
        print(f"at the cap after a pause: {share:.1%} CPU over 2 s")
        assert share < 0.05, f"{share:.1%} of a core while at the cap"
    finally:
        for sock in holders:
            sock.close()
    assert get(child.port) == b"served"
