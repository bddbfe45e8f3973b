"""The README's "Deploying" recipes, run for real: the files in ``deploy/`` as they are.

- ``deploy/nginx.conf`` in a real nginx (on a free port, its pid and logs in a
  temporary directory) in front of ``deploy/app.py``: the handler sees the
  real client only because the app trusts the proxy, and a forged
  ``X-Forwarded-For`` does not fool it;
- ``deploy/nginx-tls.conf`` with a certificate made by ``openssl`` for the test;
- the README's gunicorn command behind the same nginx;
- the systemd units in ``deploy/``: ``systemd-analyze verify`` finds nothing to
  say, and ``picohttp.service``'s ``ExecStart`` on ``picohttp.socket``'s socket
  says READY=1, serves, and stops on SIGTERM (systemd's stop) with exit 0.

The only changes made to the files are the ports (80, 443, 8080 become free
ports), the paths (/home/pi/app, the certificate) and the host of
``proxy_pass``'s port; each substitution must hit, so a changed file cannot
slip past.  Clients connect from 127.0.0.2, so that the client, nginx and the
backend's peer all have different addresses.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional, Tuple

import pytest

import picohttp
from support import (
    PYTHON,
    ROOT,
    NotifyListener,
    child_server,
    free_port,
    gunicorn_options,
    nginx,
    parse_http,
    python_env,
    read_all,
    serving,
    substituted,
)

DEPLOY = ROOT / "deploy"
CLIENT = "127.0.0.2"
#: The README's gunicorn command (README.md shows exactly this line; checked below).
GUNICORN = (
    "python3 -m gunicorn --workers 2 --bind 127.0.0.1:8080 "
    "'picohttp.wsgi:application(\"app:handler\", trustProxy=True)'"
)


def app_process(directory: Path, port: int) -> contextlib.AbstractContextManager[subprocess.Popen]:  # type: ignore[type-arg]
    """``deploy/app.py`` as its own process, on ``port`` instead of 8080."""
    directory.mkdir(exist_ok=True)
    source = substituted((DEPLOY / "app.py").read_text(), {"8080": str(port)})
    (directory / "app.py").write_text(source)
    return child_server([PYTHON, "app.py"], port, directory)


def get(
    port: int,
    headers: str = "",
    target: str = "/",
    tls: Optional[ssl.SSLContext] = None,
    host: str = "pi.example.org",
) -> Tuple[int, Dict[str, str], bytes]:
    """One request from 127.0.0.2, as a browser on another machine would send it."""
    raw = f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}\r\n".encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=15, source_address=(CLIENT, 0))
    try:
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=host)
        sock.sendall(raw)
        answer = read_all(sock, timeout=15)
    finally:
        sock.close()
    status, _, fields, body = parse_http(answer)
    return status, dict(fields), body


FORGED = "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n"


def test_nginx_in_front_of_picohttp(tmp_path: Path) -> None:
    backend, front = free_port(), free_port()
    site = substituted(
        (DEPLOY / "nginx.conf").read_text(),
        {"listen 80;": f"listen 127.0.0.1:{front};", "127.0.0.1:8080": f"127.0.0.1:{backend}"},
    )
    with app_process(tmp_path / "app", backend), nginx(site, tmp_path / "nginx", front):
        assert get(front)[::2] == (200, b"Hello 127.0.0.2, over http\n")
        # A forged entry from the client is left of nginx's own; nginx replaces the proto.
        assert get(front, FORGED)[::2] == (200, b"Hello 127.0.0.2, over http\n")
        if shutil.which("curl"):
            curl = subprocess.run(
                [
                    "curl",
                    "-sS",
                    "--max-time",
                    "15",
                    "--interface",
                    CLIENT,
                    f"http://127.0.0.1:{front}/",
                ],
                capture_output=True,
                timeout=30,
            )
            assert curl.stdout == b"Hello 127.0.0.2, over http\n", curl.stderr
        # Straight to the backend, bypassing nginx: the client's own claim is believed
        # (so bind the backend to 127.0.0.1, as app.py does, and firewall the rest).
        assert get(backend, "X-Forwarded-For: 6.6.6.6\r\n")[2] == b"Hello 6.6.6.6, over http\n"


def show(request: picohttp.HttpRequest, response: picohttp.HttpResponse) -> None:
    response.data = f"{request.client[0]} {request.scheme} {request.headers.get('X-Forwarded-For')}"


def test_without_trust_proxy_the_handler_sees_nginx(tmp_path: Path) -> None:
    front = free_port()
    with serving(show) as server:
        site = substituted(
            (DEPLOY / "nginx.conf").read_text(),
            {
                "listen 80;": f"listen 127.0.0.1:{front};",
                "127.0.0.1:8080": f"127.0.0.1:{server.port}",
            },
        )
        with nginx(site, tmp_path / "nginx", front):
            status, _, body = get(front, FORGED)
    assert (status, body) == (200, b"127.0.0.1 http 6.6.6.6, 127.0.0.2")


def make_certificate(directory: Path) -> Tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: no certificate for nginx")
    cert, key = directory / "fullchain.pem", directory / "privkey.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=pi.example.org",
         "-addext", "subjectAltName=DNS:pi.example.org"],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


def test_nginx_terminating_tls_in_front_of_picohttp(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    backend, https, http = free_port(), free_port(), free_port()
    site = substituted(
        (DEPLOY / "nginx-tls.conf").read_text(),
        {
            "listen 443 ssl;": f"listen 127.0.0.1:{https} ssl;",
            "listen 80;": f"listen 127.0.0.1:{http};",
            "127.0.0.1:8080": f"127.0.0.1:{backend}",
            "/etc/letsencrypt/live/pi.example.org/fullchain.pem": str(cert),
            "/etc/letsencrypt/live/pi.example.org/privkey.pem": str(key),
        },
    )
    tls = ssl.create_default_context(cafile=str(cert))
    with app_process(tmp_path / "app", backend), nginx(site, tmp_path / "nginx", https):
        assert get(https, tls=tls)[::2] == (200, b"Hello 127.0.0.2, over https\n")
        forged = "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: http\r\n"
        assert get(https, forged, tls=tls)[::2] == (200, b"Hello 127.0.0.2, over https\n")
        status, fields, _ = get(http, target="/page?x=1")
        assert (status, fields["location"]) == (301, "https://pi.example.org/page?x=1")


def test_gunicorn_behind_nginx_runs_the_same_handler(tmp_path: Path) -> None:
    pytest.importorskip("gunicorn", reason="gunicorn is not installed (the dev extra installs it)")
    backend, front = free_port(), free_port()
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    shutil.copy(DEPLOY / "app.py", app_dir / "app.py")
    command = substituted(GUNICORN, {"python3": sys.executable, "8080": str(backend)})
    site = substituted(
        (DEPLOY / "nginx.conf").read_text(),
        {"listen 80;": f"listen 127.0.0.1:{front};", "127.0.0.1:8080": f"127.0.0.1:{backend}"},
    )
    argv = ["bash", "-c", " ".join(["exec", command, *gunicorn_options()])]
    with child_server(argv, backend, app_dir), nginx(site, tmp_path / "nginx", front):
        for _ in range(4):
            assert get(front, FORGED)[::2] == (200, b"Hello 127.0.0.2, over http\n")


def test_the_docs_show_the_gunicorn_command_the_tests_run() -> None:
    wsgi_page = (ROOT / "docs" / "guide" / "wsgi.md").read_text()
    assert f"\n{GUNICORN}\n" in wsgi_page


def unit(name: str = "picohttp.service") -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read_string((DEPLOY / name).read_text())
    return parser


UNITS = (
    "picohttp.service",
    "picohttp.socket",
    "picohttp@.service",
    "picohttp@.socket",
    "site.service",
    "site.socket",
)


def test_the_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    assert sorted(UNITS) == sorted(p.name for p in DEPLOY.glob("*.s*") if p.suffix != ".py")
    # verify checks that ExecStart's program exists: give it the app's directory.
    home = tmp_path / "home-pi-app"
    (home / ".venv" / "bin").mkdir(parents=True)
    (home / ".venv" / "bin" / "python").symlink_to(sys.executable)
    paths = []
    for name in UNITS:
        text = (DEPLOY / name).read_text().replace("/home/pi/app", str(home))
        text = text.replace("/home/pi/site", str(home))
        name = name.replace("@.", "@1.")  # an instance of a template: %i is 1
        (tmp_path / name).write_text(text)
        paths.append(str(tmp_path / name))
    result = subprocess.run(
        [analyze, "verify", *paths], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    # verify exits 0 even for lines it ignores; it must have nothing to say at all.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_systemd_unit_starts_serves_and_stops(tmp_path: Path) -> None:
    """picohttp.service's ExecStart on picohttp.socket's socket, under systemd's protocols.

    Run by systemd-socket-activate (when installed) on ListenStream's address
    (with a free port), with a NOTIFY_SOCKET: READY=1 comes from the process,
    the app serves, SIGTERM (systemctl stop) gives STOPPING=1 and exit 0.
    """
    service = unit()["Service"]
    assert service["User"] == "pi" and service["Type"] == "notify"
    assert service["NotifyAccess"] == "all" and int(service["WatchdogSec"]) > 0
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    listen = unit("picohttp.socket")["Socket"]["ListenStream"]
    assert listen == "127.0.0.1:8080"  # what nginx.conf's proxy_pass names
    home, port = tmp_path / "home-pi-app", free_port()
    (home / ".venv" / "bin").mkdir(parents=True)
    (home / ".venv" / "bin" / "python").symlink_to(sys.executable)  # the venv with picohttp
    # app.py's own port is another: under socket activation it serves the socket it is handed.
    (home / "app.py").write_text(
        substituted((DEPLOY / "app.py").read_text(), {"8080": str(free_port())})
    )
    argv = substituted(service["ExecStart"], {"/home/pi/app": str(home)}).split()
    cwd = Path(substituted(service["WorkingDirectory"], {"/home/pi/app": str(home)}))
    env = {
        key: value for key, _, value in (e.partition("=") for e in service["Environment"].split())
    }
    notify = NotifyListener(tmp_path)
    env.update(
        PATH=os.environ["PATH"], PYTHONPATH=python_env()["PYTHONPATH"], NOTIFY_SOCKET=notify.path
    )
    activate = shutil.which("systemd-socket-activate")
    if activate is None:
        pytest.skip("systemd-socket-activate is not installed (Debian package systemd)")
    passed = [arg for name, value in env.items() for arg in ("-E", f"{name}={value}")]
    address = substituted(listen, {"8080": str(port)})
    process = subprocess.Popen(
        [activate, "-l", address, *passed, *argv],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        assert b"Listening on" in process.stderr.readline()
        assert get(port)[::2] == (200, b"Hello 127.0.0.2, over http\n")  # starts it
        assert notify.until("READY=1")[-1][1] == process.pid
    finally:
        process.send_signal(signal.SIGTERM)  # what systemctl stop sends (KillSignal's default)
        stop_timeout = float(service["TimeoutStopSec"])
        _, stderr = process.communicate(timeout=stop_timeout)
    assert notify.until("STOPPING=1", timeout=1)[-1][1] == process.pid
    notify.close()
    assert process.returncode == 0, stderr  # 0: Restart=on-failure leaves it stopped
    assert b"Traceback" not in stderr
