"""Running as a service: socket activation, unix sockets, and talking to systemd.

Real processes throughout: ``systemd-socket-activate`` (Debian's systemd
package) hands a socket to the spec's ``picohttp.HttpServer()`` running as
``nobody`` on a privileged port; ``python -m picohttp --fd N`` serves a
socket its parent opened; unix sockets are reached with raw ``AF_UNIX``
clients, curl and a real nginx; the ``NOTIFY_SOCKET`` datagrams are read from
a socket the test binds, with the sender's pid from ``SO_PASSCRED``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Dict, Tuple

import pytest

import picohttp
from picohttp import HttpRequest, HttpResponse
from support import (
    PYTHON,
    ROOT,
    NotifyListener,
    deploy_unit,
    free_port,
    nginx,
    parse_http,
    public_directory,
    python_env,
    read_all,
    serving,
    substituted,
    wait_for_port,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="systemd and these sockets are Linux's"
)

DEPLOY = ROOT / "deploy"


def unix_get(
    path: str, target: str = "/", headers: str = "", timeout: float = 15
) -> Tuple[int, bytes]:
    """One request over the unix socket at ``path``: ``(status, body)``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(f"GET {target} HTTP/1.0\r\nHost: app\r\n{headers}\r\n".encode())
        status, _, _, body = parse_http(read_all(sock, timeout))
    return status, body


def tcp_get(port: int, target: str = "/", timeout: float = 15) -> Tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {target} HTTP/1.0\r\nHost: app\r\n\r\n".encode())
        status, _, _, body = parse_http(read_all(sock, timeout))
    return status, body


def show_client(request: HttpRequest, response: HttpResponse) -> None:
    response.data = f"{request.client[0]} {request.client[1]}"


# -- socket activation -------------------------------------------------------------


def privileged_free_port() -> int:
    for port in range(980, 1024):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port below 1024")


def test_the_spec_example_serves_port_80_as_an_unprivileged_user_under_socket_activation() -> None:
    """deploy/site.socket + site.service, run by systemd-socket-activate and setpriv.

    The same command without the socket fails: the port is privileged and the
    user is not root.  With it, ``HttpServer()`` (port=80) serves the socket
    systemd opened, and SIGTERM stops it with exit status 0.
    """
    activate, setpriv = shutil.which("systemd-socket-activate"), shutil.which("setpriv")
    if activate is None or setpriv is None:
        pytest.skip("systemd-socket-activate (package systemd) or setpriv is not installed")
    if os.geteuid() != 0:
        pytest.skip("needs root to run the service as another user")
    socket_unit = deploy_unit("site.socket")["Socket"]
    service = deploy_unit("site.service")["Service"]
    assert socket_unit["ListenStream"] == "80"
    assert service["User"] == "pi" and service["Type"] == "notify"
    assert (DEPLOY / "site.py").read_text() == "import picohttp\npicohttp.HttpServer()\n"
    port = privileged_free_port()
    with public_directory() as home:
        shutil.copy(DEPLOY / "site.py", home / "site.py")
        (home / "index.html").write_text("<h1>It works</h1>\n")
        (home / ".venv" / "bin").mkdir(parents=True)
        (home / ".venv" / "bin" / "python").symlink_to(sys.executable)
        paths = {"/home/pi/app": str(home), "/home/pi/site": str(home)}
        argv = shlex.split(substituted(service["ExecStart"], paths))
        as_user = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        env = python_env()
        runs = subprocess.run(
            [*as_user, sys.executable, "-c", "pass"], capture_output=True, text=True, timeout=60
        )
        if runs.returncode != 0:  # e.g. a pyenv build whose libpython lies under /root
            pytest.skip(f"this interpreter cannot run as nobody: {runs.stderr.strip()[:200]}")
        # Without the socket: the user may not bind port 80 (here: a port below 1024).
        alone = subprocess.run(
            [*as_user, *argv[:-1], "-c", f"import picohttp; picohttp.HttpServer({port})"],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert alone.returncode != 0 and "ports below 1024 need root" in alone.stderr
        listen = f"127.0.0.1:{port}"  # ListenStream=80, on loopback and a free port
        process = subprocess.Popen(
            # It passes on only the variables named with -E: the venv's picohttp is on PYTHONPATH.
            [activate, "-l", listen, "-E", f"PYTHONPATH={env['PYTHONPATH']}", *as_user, *argv],
            cwd=home,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert process.stderr is not None
            assert b"Listening on" in process.stderr.readline()  # bound: now connect
            # The first connection starts the service; it waits in the backlog meanwhile.
            try:
                status, body = tcp_get(port, "/", timeout=30)
            except OSError:
                process.kill()
                raise AssertionError(process.communicate(timeout=30)[1].decode()) from None
            assert (status, body) == (200, b"<h1>It works</h1>\n")
            with open(f"/proc/{process.pid}/status") as proc_status:
                uid_line = next(line for line in proc_status if line.startswith("Uid:"))
            assert uid_line.split()[1:3] == ["65534", "65534"]  # nobody, not root
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
        assert b"Traceback" not in stderr


def test_one_process_handed_two_sockets_serves_the_first_and_closes_the_other(
    tmp_path: Path,
) -> None:
    """Kept open, the second would hold the connections the kernel queued on it, unanswered."""
    activate = shutil.which("systemd-socket-activate")
    if activate is None:
        pytest.skip("systemd-socket-activate is not installed (Debian package systemd)")
    first, second = free_port(), free_port()
    (tmp_path / "index.html").write_text("first")
    process = subprocess.Popen(
        [activate, "-l", f"127.0.0.1:{first}", "-l", f"127.0.0.1:{second}",
         "-E", f"PYTHONPATH={python_env()['PYTHONPATH']}",
         PYTHON, "-m", "picohttp", "-d", str(tmp_path)],
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        for _ in range(2):
            assert b"Listening on" in process.stderr.readline()
        assert tcp_get(first, "/index.html", timeout=30) == (200, b"first")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", second), timeout=5).close()
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert b"serves only the first of the 2 sockets handed to it; closing port" in stderr


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"socketMode": "660"}, "socketMode must be an int"),
        ({"socketMode": 0o1777}, "socketMode must be from 0o000 to 0o777"),
        ({"fd": -1}, "fd must be a descriptor number"),
        ({"fd": "3"}, "fd must be a descriptor number"),
    ],
)
def test_fd_and_socket_mode_are_checked(keywords: Dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        picohttp.HttpServer(0, show_client, start=False, **keywords)  # type: ignore[arg-type]


def test_the_socket_mode_option(tmp_path: Path) -> None:
    path = tmp_path / "app.sock"
    process = subprocess.Popen(
        [PYTHON, "-m", "picohttp", "--bind", f"unix:{path}", "--socket-mode", "600", "-q"],
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert f"on unix:{path}" in process.stdout.readline().decode()  # where, once bound
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    assert process.returncode == 0 and not path.exists()
    bad = subprocess.run(
        [PYTHON, "-m", "picohttp", "--bind", f"unix:{path}", "--socket-mode", "rw"],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "'rw' is not an octal mode" in bad.stderr


def test_the_fd_option_serves_a_socket_its_parent_opened(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("from the inherited socket")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    fd = listener.fileno()
    process = subprocess.Popen(
        [PYTHON, "-m", "picohttp", "--fd", str(fd), "-q", "-d", str(tmp_path)],
        env=python_env(),
        pass_fds=[fd],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    listener.close()  # the child's copy is the only one: nothing else could answer
    try:
        assert tcp_get(port, "/index.html") == (200, b"from the inherited socket")
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr


def test_the_fd_option_refuses_a_descriptor_that_is_not_a_listening_socket(
    tmp_path: Path,
) -> None:
    with open(tmp_path / "file", "w") as not_a_socket:
        result = subprocess.run(
            [PYTHON, "-m", "picohttp", "--fd", str(not_a_socket.fileno())],
            env=python_env(),
            pass_fds=[not_a_socket.fileno()],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert "cannot serve descriptor" in result.stderr and "not a socket" in result.stderr
    with socket.socket() as unbound:  # a socket, but not listening
        result = subprocess.run(
            [PYTHON, "-m", "picohttp", "--fd", str(unbound.fileno())],
            env=python_env(),
            pass_fds=[unbound.fileno()],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1 and "not a listening stream socket" in result.stderr


def test_listen_fds_for_another_process_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """LISTEN_PID names the process they are for: a child that inherits them binds its own."""
    monkeypatch.setenv("LISTEN_FDS", "1")
    monkeypatch.setenv("LISTEN_PID", str(os.getppid()))
    with serving(show_client) as server:
        assert server.port != 0
        assert tcp_get(server.port)[0] == 200
    assert os.environ["LISTEN_FDS"] == "1"  # still there, for the process they are meant for


def test_listen_fds_are_served_instead_of_the_port_and_then_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    held = os.dup(3) if _fd_open(3) else None  # pytest may hold descriptor 3: keep it aside
    try:
        os.dup2(listener.fileno(), 3)
        monkeypatch.setenv("LISTEN_FDS", "1")
        monkeypatch.setenv("LISTEN_PID", str(os.getpid()))
        server = picohttp.HttpServer(80, show_client, block=False)  # port 80: not bound
        try:
            assert server.port == listener.getsockname()[1]
            assert tcp_get(server.port)[0] == 200
            assert "LISTEN_FDS" not in os.environ and "LISTEN_PID" not in os.environ
        finally:
            server.stop()
    finally:
        if held is not None:
            os.dup2(held, 3)
            os.close(held)
        listener.close()


def _fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


# -- unix domain sockets -------------------------------------------------------------


def test_a_unix_socket_serves_curl_and_raw_clients_and_says_where_they_came_from(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "app.sock")
    old_umask = os.umask(0)  # the most permissive umask: the file must not follow it
    try:
        server = picohttp.HttpServer(0, show_client, host=f"unix:{path}", block=False)
    finally:
        os.umask(old_umask)
    try:
        assert server.port == 0 and server.where() == f"unix:{path}"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660  # not world-writable
        assert unix_get(path) == (200, f"unix:{path} 0".encode())
        if shutil.which("curl"):
            curl = subprocess.run(
                ["curl", "-sS", "--max-time", "15", "--unix-socket", path, "http://app/"],
                capture_output=True,
                timeout=30,
            )
            assert curl.stdout == f"unix:{path} 0".encode(), curl.stderr
    finally:
        server.stop()
    assert not os.path.exists(path)  # removed at stop


def test_socket_mode_sets_the_file_permissions(tmp_path: Path) -> None:
    path = str(tmp_path / "app.sock")
    with serving(show_client, host=f"unix:{path}", socketMode=0o600):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    path = str(tmp_path / "app.sock")
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(path)  # what a killed server leaves behind: a socket file nobody listens on
    dead.close()
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    with serving(show_client, host=f"unix:{path}"):
        assert unix_get(path)[0] == 200


def test_a_live_socket_is_never_touched(tmp_path: Path) -> None:
    path = str(tmp_path / "app.sock")
    with serving(show_client, host=f"unix:{path}"):
        before = os.lstat(path).st_ino
        with pytest.raises(OSError) as raised:
            picohttp.HttpServer(0, show_client, host=f"unix:{path}", start=False)
        assert raised.value.errno == errno.EADDRINUSE
        assert "another server is listening there" in str(raised.value)
        assert os.lstat(path).st_ino == before
        assert unix_get(path)[0] == 200  # the first server still serves
        result = subprocess.run(
            [PYTHON, "-m", "picohttp", "--bind", f"unix:{path}"],
            env=python_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1 and "another server is listening there" in result.stderr
        assert unix_get(path)[0] == 200


def test_a_file_that_is_not_a_socket_is_never_touched(tmp_path: Path) -> None:
    path = tmp_path / "app.sock"
    path.write_text("precious")
    with pytest.raises(FileExistsError, match="exists and is not a socket"):
        picohttp.HttpServer(0, show_client, host=f"unix:{path}", start=False)
    result = subprocess.run(
        [PYTHON, "-m", "picohttp", "--bind", f"unix:{path}"],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "is not a socket" in result.stderr
    assert path.read_text() == "precious"


def test_behind_a_trusted_proxy_on_a_unix_socket_the_client_is_the_proxys(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "app.sock")
    with serving(show_client, host=f"unix:{path}", trustProxy=True):
        forwarded = "X-Forwarded-For: 6.6.6.6, 192.0.2.7\r\n"
        assert unix_get(path, headers=forwarded) == (200, b"192.0.2.7 0")
        assert unix_get(path) == (200, f"unix:{path} 0".encode())  # no header: the socket


def test_workers_share_one_unix_socket_and_the_parent_removes_it(tmp_path: Path) -> None:
    path = str(tmp_path / "app.sock")
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, picohttp
            def handler(request, response):
                response.data = str(os.getpid())
            picohttp.HttpServer(0, handler, host={"unix:" + path!r}, workers=2)
            """
        )
    )
    process = subprocess.Popen(
        [PYTHON, str(script)], env=python_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        pids = set()
        while len(pids) < 2 and time.monotonic() < deadline:
            try:
                pids.add(unix_get(path)[1])
            except OSError:
                time.sleep(0.05)  # not bound yet
        assert len(pids) == 2  # both workers accept on the one socket
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert not os.path.exists(path)


@pytest.mark.parametrize("recipe", ["proxy_pass", "upstream"])
def test_nginx_passes_requests_to_picohttp_on_unix_sockets(tmp_path: Path, recipe: str) -> None:
    """``proxy_pass http://unix:PATH:;`` (deploy/nginx.conf, as the guide says to change it)
    and deploy/nginx-upstream.conf's ``server unix:...`` lines, a picohttp on each socket."""
    front = free_port()
    listen = {"listen 80;": f"listen 127.0.0.1:{front};"}
    with public_directory() as run:  # nginx's workers (nobody) cannot enter tmp_path
        if recipe == "proxy_pass":
            sockets = [str(run / "app.sock")]
            site = substituted(
                (DEPLOY / "nginx.conf").read_text(),
                {**listen, "http://127.0.0.1:8080;": f"http://unix:{sockets[0]}:;"},
            )
        else:
            sockets = [str(run / f"app{n}.sock") for n in (1, 2, 3)]
            site = substituted(
                (DEPLOY / "nginx-upstream.conf").read_text(),
                {**listen, **{f"/run/picohttp/app{n}.sock": sockets[n - 1] for n in (1, 2, 3)}},
            )
        with contextlib.ExitStack() as stack:
            for path in sockets:
                stack.enter_context(serving(show_client, host=f"unix:{path}", trustProxy=True))
                # nginx's workers run as nobody: the file's group is theirs (Group=www-data).
                os.chown(path, -1, 65534)
            stack.enter_context(nginx(site, tmp_path / "nginx", front))
            for _ in range(6):
                with socket.create_connection(
                    ("127.0.0.1", front), timeout=15, source_address=("127.0.0.2", 0)
                ) as sock:
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: pi\r\nConnection: close\r\n\r\n")
                    status, _, _, body = parse_http(read_all(sock, 15))
                assert (status, body) == (200, b"127.0.0.2 0")


# -- readiness and liveness: NOTIFY_SOCKET --------------------------------------------


NOTIFY_APP = textwrap.dedent(
    """
    import os, sys, time
    import picohttp

    def handler(request, response):
        if request.path[0] == "block":  # threads=False: this holds the loop thread
            time.sleep(float(request.query["s"]))
        response.data = str(os.getpid())

    picohttp.HttpServer(int(sys.argv[1]), handler, threads=False, host="127.0.0.1",
                        workers=int(sys.argv[2]))
    """
)


def notified_app(
    tmp_path: Path, notify: NotifyListener, workers: int = 1, watchdog_usec: int = 400_000
) -> Tuple[subprocess.Popen, int]:  # type: ignore[type-arg]
    (tmp_path / "app.py").write_text(NOTIFY_APP)
    port = free_port()
    env = python_env()
    env.update(NOTIFY_SOCKET=notify.path, WATCHDOG_USEC=str(watchdog_usec))
    process = subprocess.Popen(
        [PYTHON, "app.py", str(port), str(workers)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    env["WATCHDOG_PID"] = str(process.pid)  # as systemd sets it (the child sees the old env)
    return process, port


def test_ready_watchdog_and_stopping_reach_the_notify_socket(tmp_path: Path) -> None:
    notify = NotifyListener(tmp_path)
    process, port = notified_app(tmp_path, notify)
    try:
        ready = notify.until("READY=1")
        assert ready[-1][1] == process.pid
        wait_for_port(port, process=process)  # READY=1 meant it: the port accepts
        pings = [notify.receive(5) for _ in range(4)]
        assert all(p is not None and p[2] == "WATCHDOG=1" for p in pings), pings
        gaps = [b[0] - a[0] for a, b in zip(pings, pings[1:])]  # type: ignore[index]
        assert all(0.1 < gap < 1.0 for gap in gaps), gaps  # every 0.2 s: half of 0.4 s
        process.send_signal(signal.SIGTERM)
        stopping = notify.until("STOPPING=1")
        assert stopping[-1][1] == process.pid
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)
        notify.close()


def test_a_stuck_loop_stops_the_watchdog_pings(tmp_path: Path) -> None:
    """The pings come from the loop thread: while it is blocked, systemd hears nothing."""
    notify = NotifyListener(tmp_path)
    process, port = notified_app(tmp_path, notify)
    try:
        notify.until("READY=1")
        notify.until("WATCHDOG=1")
        blocked_at = time.monotonic()
        # threads=False: the handler runs on the loop thread and holds it for 2 s.
        assert tcp_get(port, "/block?s=2", timeout=30)[0] == 200
        unblocked_at = time.monotonic()
        during = []
        for when, _, text in notify.until("WATCHDOG=1", timeout=5):
            if text == "WATCHDOG=1" and when < unblocked_at:
                during.append(when - blocked_at)
        # At most the ping already due as the request arrived (0.2 s apart), then silence.
        assert all(offset < 0.5 for offset in during), during
        after = notify.receive(5)
        assert after is not None and after[2] == "WATCHDOG=1"  # pinging again
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
        notify.close()


def test_with_workers_the_parent_is_ready_and_pings(tmp_path: Path) -> None:
    """systemd's main process is the parent: READY=1, WATCHDOG=1 and STOPPING=1 come from it."""
    notify = NotifyListener(tmp_path)
    process, port = notified_app(tmp_path, notify, workers=2)
    try:
        assert notify.until("READY=1")[-1][1] == process.pid
        wait_for_port(port, process=process)
        pings = [notify.receive(5) for _ in range(3)]
        assert all(p is not None and p[1:] == (process.pid, "WATCHDOG=1") for p in pings), pings
        process.send_signal(signal.SIGTERM)
        assert notify.until("STOPPING=1")[-1][1] == process.pid
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)
        notify.close()
