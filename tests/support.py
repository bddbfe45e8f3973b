"""Helpers shared by the test suites: real servers on 127.0.0.1, raw-socket clients."""

from __future__ import annotations

import configparser
import contextlib
import io
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import picohttp
from picohttp._limits import Limits

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
EXAMPLES = ROOT / "examples"
ARTIFACTS = ROOT / "test-artifacts"


@contextlib.contextmanager
def serving(
    handler: Callable[..., Any], *args: Any, threads: bool = True, **keywords: Any
) -> Iterator[picohttp.HttpServer]:
    """An HttpServer on 127.0.0.1 and a free port, stopped when the block ends."""
    keywords.setdefault("host", "127.0.0.1")
    server = picohttp.HttpServer(0, handler, args=args, threads=threads, block=False, **keywords)
    try:
        yield server
    finally:
        server.stop()


def connect(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> socket.socket:
    return socket.create_connection((host, port), timeout=timeout)


def read_all(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes (raises socket.timeout if it never does)."""
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def exchange(port: int, data: bytes, timeout: float = 10.0, host: str = "127.0.0.1") -> bytes:
    """Send ``data`` on a fresh connection, return the whole answer."""
    with connect(port, host, timeout) as sock:
        sock.sendall(data)
        return read_all(sock, timeout)


def parse_response(raw: bytes) -> Tuple[int, Dict[str, str], bytes]:
    """``(status, headers with lowercase names, body)`` of a raw HTTP/1.0 response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def status_of(raw: bytes) -> Optional[int]:
    if not raw.startswith(b"HTTP/"):
        return None
    return int(raw.split(b" ", 2)[1])


def parse_request(
    raw: bytes, cuts: Sequence[int] = (), limits: Optional[Limits] = None
) -> picohttp.HttpRequest:
    """Feed ``raw`` to a fresh RequestParser in pieces cut at ``cuts``; the request or raise.

    The parser must say "need more" (``None``) until the last piece; a request
    still incomplete at the end is reported as the parser's ``eof()`` answer.
    """
    from picohttp._parser import RequestParser

    parser = RequestParser(limits or Limits(), ("127.0.0.1", 5000))
    bounds = [0, *sorted(set(cut for cut in cuts if 0 < cut < len(raw))), len(raw)]
    for start, end in zip(bounds, bounds[1:]):
        request = parser.feed(raw[start:end])
        if request is not None:
            return request
    parser.eof()
    raise AssertionError(f"no request and no error from {raw!r}")


def request_snapshot(request: picohttp.HttpRequest) -> Tuple[Any, ...]:
    """Everything a handler can see of a request, comparable with ``==``."""
    return (
        request.method,
        request.path,
        request.query,
        request.protocol,
        list(request.headers.items()),
        request.uri,
        request.body,
        request.data,
        request.client,
    )


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def status_kib(pid: int, field: str) -> int:
    """A kB field of ``/proc/<pid>/status`` (Linux): ``VmRSS``, ``VmHWM`` (peak RSS)..."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux 4.0+, needs the right to write clear_refs)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def wait_until(
    predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.01
) -> bool:
    """Poll a condition the test cannot get an event for (thread counts, fds); True if it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def thread_count() -> int:
    return threading.active_count()


def python_env() -> Dict[str, str]:
    """Environment for a child Python that imports picohttp from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait_for_port(
    port: int,
    host: str = "127.0.0.1",
    timeout: float = 10.0,
    process: Optional[subprocess.Popen] = None,
) -> None:  # type: ignore[type-arg]
    """Block until something accepts on ``port`` (a child server finished starting)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server process exited with {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PYTHON = sys.executable


class _ServeCalledError(Exception):
    """Raised where an example would start serving (see ``example_handler``)."""


def echo(request: picohttp.HttpRequest, response: picohttp.HttpResponse) -> None:
    """Everything the handler saw, as JSON (client address left out: it differs per socket)."""
    response.data = {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "protocol": request.protocol,
        "headers": dict(request.headers),
        "data": request.data,
        "uri": request.uri,
    }


def hello(request: picohttp.HttpRequest, response: picohttp.HttpResponse) -> None:
    """The specification's hello example handler."""
    if request.path[0] == "hello":
        response.data = "Hello world!"
    else:
        response.status = 404
        response.data = "I don't know what to say"


def example_handler(name: str) -> Tuple[Callable[..., Any], Tuple[Any, ...]]:
    """The handler and args ``examples/<name>`` gives ``HttpServer``, without serving.

    The example file runs unchanged, with ``picohttp.HttpServer`` standing in
    for a function that records what it was given and stops the script there
    (where the real server would block).  Each call runs the script afresh, so
    the REST example gets a fresh ``dataDict`` (loaded from ``test.json`` in
    the current directory, if there is one, as the example does).
    """
    import runpy

    def record(
        port: int = 80,
        handler: Callable[..., Any] = picohttp.staticResource,
        args: Sequence[Any] = (),
        *more: Any,
        **keywords: Any,
    ) -> None:
        raise _ServeCalledError(handler, tuple(args))

    real = picohttp.HttpServer
    picohttp.HttpServer = record  # type: ignore[assignment,misc]
    try:
        runpy.run_path(str(EXAMPLES / name), run_name=name.rsplit(".", 1)[0])
    except _ServeCalledError as served:
        return served.args[0], served.args[1]
    finally:
        picohttp.HttpServer = real  # type: ignore[misc]
    raise AssertionError(f"examples/{name} never made an HttpServer")


@contextlib.contextmanager
def child_server(
    argv: Sequence[str],
    port: int,
    cwd: Path,
    env: Optional[Dict[str, str]] = None,
    timeout: float = 30.0,
) -> Iterator[subprocess.Popen]:  # type: ignore[type-arg]
    """Run a server process until it accepts on ``port``; SIGTERM it (then kill) at the end.

    Its stdout and stderr go to files in ``cwd`` (``server.out``, ``server.err``),
    shown in the error if it never starts.
    """
    out = open(cwd / "server.out", "wb")  # noqa: SIM115 - closed below
    err = open(cwd / "server.err", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(list(argv), cwd=cwd, env=env or python_env(), stdout=out, stderr=err)
    try:
        try:
            wait_for_port(port, timeout=timeout, process=process)
        except (RuntimeError, TimeoutError) as exc:
            process.kill()
            process.wait(10)
            log = (cwd / "server.err").read_text(errors="replace")[-3000:]
            raise AssertionError(f"{argv} did not serve on {port}: {exc}\n{log}") from None
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        out.close()
        err.close()


@contextlib.contextmanager
def running_script(script: str, cwd: Path, *argv: str) -> Iterator[subprocess.Popen]:  # type: ignore[type-arg]
    """``python -c script argv...`` in ``cwd``, output piped; killed if it outlives the block."""
    process = subprocess.Popen(
        [PYTHON, "-c", script, *argv],
        env=python_env(),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


class _RawSocket:
    def __init__(self, data: bytes) -> None:
        self._file = io.BytesIO(data)

    def makefile(self, *args: Any, **kwargs: Any) -> io.BytesIO:
        return self._file


def parse_http(raw: bytes, method: str = "GET") -> Tuple[int, str, List[Tuple[str, str]], bytes]:
    """``(status, reason, [(lowercase name, value), ...], body)`` of a raw response.

    Parsed by ``http.client`` (chunked bodies decoded, none for HEAD/204/304),
    so every server's answer is read the way a Python client reads it.
    """
    import http.client

    response = http.client.HTTPResponse(_RawSocket(raw), method=method)  # type: ignore[arg-type]
    response.begin()
    body = response.read()
    headers = [(name.lower(), value) for name, value in response.getheaders()]
    return response.status, response.reason, headers, body


_GUNICORN_OPTIONS: List[str] = []


def gunicorn_options() -> List[str]:
    """Options for a gunicorn started by a test: no shared control socket where it has one.

    gunicorn 24+ opens ``~/.gunicorn/gunicorn.ctl`` by default, one path for every
    gunicorn on the machine, while tests may run side by side; older ones (the
    last for Python 3.9 is 23) have no such socket and no option to turn it off.
    """
    if not _GUNICORN_OPTIONS:
        usage = subprocess.run(
            [sys.executable, "-m", "gunicorn", "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        _GUNICORN_OPTIONS.append("--no-control-socket" if "--no-control-socket" in usage else "")
    return [option for option in _GUNICORN_OPTIONS if option]


def _proc_stat(pid: int) -> Optional[Tuple[str, int]]:
    """``(state, parent pid)`` of a process from /proc, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, exited but not yet reaped, counts as gone)."""
    stat = _proc_stat(pid)
    return stat is not None and stat[0] != "Z"


def child_pids(pid: int) -> List[int]:
    """The living child processes of ``pid`` (Linux: read from /proc)."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat is not None and stat[1] == pid and stat[0] != "Z":
                children.append(int(entry))
    return children


def nginx_binary() -> str:
    """The nginx program, or a skip that says how to get it."""
    import shutil

    import pytest

    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if found is None:
        pytest.skip("nginx is not installed (scripts/install-system-tools installs it as root)")
    return found


def substituted(text: str, replacements: Dict[str, str]) -> str:
    """``text`` with each replacement made; each ``old`` must be there (a changed file fails)."""
    for old, new in replacements.items():
        assert old in text, f"{old!r} is no longer in the file: update the test with it"
        text = text.replace(old, new)
    return text


@contextlib.contextmanager
def nginx(site: str, directory: Path, port: int) -> Iterator[None]:
    """A real nginx serving ``site`` (a server block), everything it writes in ``directory``."""
    binary = nginx_binary()
    directory.mkdir()
    (directory / "site.conf").write_text(site)
    temp_paths = "".join(
        f"    {kind}_temp_path {directory / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (directory / "nginx.conf").write_text(
        "daemon off;\n"
        "worker_processes 1;\n"
        f"pid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} warn;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        f"    access_log {directory / 'access.log'};\n"
        f"{temp_paths}"
        f"    include {directory / 'site.conf'};\n"
        "}\n"
    )
    argv = [binary, "-p", str(directory), "-c", str(directory / "nginx.conf")]
    argv += ["-e", str(directory / "error.log")]
    with child_server(argv, port, directory):
        yield


class NotifyListener:
    """The service manager's end of ``NOTIFY_SOCKET``: datagrams with their sender's pid."""

    def __init__(self, directory: Path) -> None:
        self.path = str(directory / "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)

    def receive(self, timeout: float = 30) -> Optional[Tuple[float, int, str]]:
        """``(arrival time, sender pid, text)`` of the next datagram, or None after ``timeout``."""
        self.sock.settimeout(timeout)
        try:
            data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = 0
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        return time.monotonic(), pid, data.decode()

    def until(self, text: str, timeout: float = 30) -> List[Tuple[float, int, str]]:
        """Every datagram up to and including the first that contains ``text``."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            message = self.receive(max(0.0, deadline - time.monotonic()))
            assert message is not None, f"no {text!r} within {timeout} s; got {seen}"
            seen.append(message)
            if text in message[2].split("\n"):
                return seen

    def close(self) -> None:
        self.sock.close()


WRK_SCRIPT = "wrk.headers['Connection'] = 'close'\n"


def wrk_counts(output: str) -> Dict[str, int]:
    """What wrk reports: requests completed, socket errors by kind, non-2xx/3xx answers."""
    import re

    total = re.search(r"(\d+) requests in", output)
    assert total is not None, output
    counts = {"requests": int(total.group(1))}
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    for index, name in enumerate(("connect", "read", "write", "timeout"), 1):
        counts[name] = int(errors.group(index)) if errors else 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    counts["non_2xx"] = int(non_2xx.group(1)) if non_2xx else 0
    return counts


def run_wrk(url: str, seconds: int, directory: Path) -> subprocess.Popen[str]:
    """wrk on ``url`` for ``seconds``, 8 connections that each carry one request; started."""
    import shutil

    import pytest

    wrk = shutil.which("wrk")
    if wrk is None:
        pytest.skip("wrk is not installed (scripts/install-system-tools installs it as root)")
    (directory / "close.lua").write_text(WRK_SCRIPT)
    return subprocess.Popen(
        [wrk, "-t1", "-c8", f"-d{seconds}s", "-s", str(directory / "close.lua"), url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@contextlib.contextmanager
def public_directory() -> Iterator[Path]:
    """A directory ``nobody`` may enter (pytest's tmp_path is private to root)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="picohttp-site-"))
    try:
        path.chmod(0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def without_listening_line(stderr: bytes) -> bytes:
    """``stderr`` of a blocking server's script less its one "picohttp serving on" line.

    A blocking server in a script that configured no logging says where it
    listens on stderr (docs/guide/logging.md); everything else must be as before.
    """
    lines = stderr.splitlines(keepends=True)
    if lines and lines[0].startswith(b"picohttp serving on http") and b"to stop)" in lines[0]:
        lines = lines[1:]
    return b"".join(lines)


def deploy_unit(name: str) -> configparser.ConfigParser:
    """A systemd unit of deploy/, parsed (keys keep their case)."""
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read_string((ROOT / "deploy" / name).read_text())
    return parser
