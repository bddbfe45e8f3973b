"""``python -m picohttp`` and the ``picohttp`` console script, as child processes."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

from support import PYTHON, exchange, free_port, parse_response, python_env, wait_for_port

# 127.0.0.1 - - [26/Nov/2026:12:49:17 +0000] "GET /hello.txt HTTP/1.0" 200 5
CLF = re.compile(
    r"^(?P<host>\S+) - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "
    r'"(?P<line>[^"]*)" (?P<status>\d{3}) (?P<size>\d+|-)$'
)


class Run:
    """A running command line; ``output`` holds its stdout and stderr once stopped."""

    def __init__(self, process: subprocess.Popen) -> None:  # type: ignore[type-arg]
        self.process = process
        self.stdout = ""
        self.stderr = ""

    def stop(self, signum: int = signal.SIGINT) -> int:
        self.process.send_signal(signum)
        stdout, stderr = self.process.communicate(timeout=10)
        self.stdout, self.stderr = stdout.decode(), stderr.decode()
        return self.process.returncode


@contextlib.contextmanager
def command_line(
    args: List[str],
    cwd: Path,
    port: int,
    host: str = "127.0.0.1",
    program: Optional[List[str]] = None,
) -> Iterator[Run]:
    process = subprocess.Popen(
        (program or [PYTHON, "-m", "picohttp"]) + args,
        cwd=cwd,
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    run = Run(process)
    try:
        wait_for_port(port, host=host, process=process)
        yield run
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)


def get(port: int, path: str, host: str = "127.0.0.1") -> bytes:
    status, _, body = parse_response(
        exchange(port, f"GET {path} HTTP/1.0\r\n\r\n".encode(), host=host)
    )
    assert status == 200, body
    return body


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "hello.txt").write_text("hello")
    (site / "index.html").write_text("<p>index</p>")
    return site


def test_serves_a_directory_with_bind_and_a_positional_port(folder: Path, tmp_path: Path) -> None:
    port = free_port()
    with command_line(
        [str(port), "--directory", str(folder), "--bind", "127.0.0.1"], tmp_path, port
    ) as run:
        assert get(port, "/hello.txt") == b"hello"
        assert get(port, "/") == b"<p>index</p>"
        missing = parse_response(exchange(port, b"GET /nothing HTTP/1.0\r\n\r\n"))
        assert missing[0] == 404
        assert run.stop() == 0
    assert f"http://127.0.0.1:{port}/" in run.stdout
    assert str(folder) in run.stdout
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    entries = [CLF.match(line) for line in lines]
    assert all(entries), lines  # nothing but Common Log Format lines
    seen = [(m["host"], m["line"], m["status"], m["size"]) for m in entries if m]
    assert seen == [
        ("127.0.0.1", "GET /hello.txt HTTP/1.0", "200", "5"),
        ("127.0.0.1", "GET / HTTP/1.0", "200", "12"),
        ("127.0.0.1", "GET /nothing HTTP/1.0", "404", str(len(missing[2]))),
    ]


def test_short_options_and_the_current_directory(folder: Path) -> None:
    port = free_port()
    with command_line(["-p", str(port), "-b", "127.0.0.1"], folder, port) as run:
        assert get(port, "/hello.txt") == b"hello"
        assert run.stop() == 0


def test_bind_ipv6(folder: Path) -> None:
    port = free_port()
    with command_line(
        ["-p", str(port), "-b", "::1", "-d", str(folder)], folder, port, host="::1"
    ) as run:
        assert get(port, "/hello.txt", host="::1") == b"hello"
        assert run.stop() == 0
    assert f"http://[::1]:{port}/" in run.stdout


def test_quiet_silences_the_access_log(folder: Path) -> None:
    port = free_port()
    with command_line(
        [str(port), "-d", str(folder), "-b", "127.0.0.1", "--quiet"], folder, port
    ) as run:
        assert get(port, "/hello.txt") == b"hello"
        assert run.stop() == 0
    assert run.stderr == ""
    assert f":{port}/" in run.stdout


def test_serves_module_function_from_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / "myapp.py").write_text(
        textwrap.dedent(
            """
            def handler(request, response):
                response.data = {"path": request.path, "app": "myapp"}
            """
        )
    )
    port = free_port()
    with command_line(["myapp:handler", str(port), "-b", "127.0.0.1"], tmp_path, port) as run:
        assert get(port, "/x/y") == b'{"path": ["x", "y"], "app": "myapp"}'
        assert run.stop() == 0
    assert "myapp:handler" in run.stdout
    assert '"GET /x/y HTTP/1.0" 200' in run.stderr


def test_sigterm_stops_cleanly_too(folder: Path) -> None:
    port = free_port()
    with command_line([str(port), "-b", "127.0.0.1"], folder, port) as run:
        # The port accepts from the constructor on, the signal handlers come with
        # start(): one answered request proves the server reached them.
        assert get(port, "/hello.txt") == b"hello"
        assert run.stop(signal.SIGTERM) == 0
    assert "Traceback" not in run.stderr


def test_port_zero_prints_the_port_it_got(folder: Path) -> None:
    process = subprocess.Popen(
        [PYTHON, "-m", "picohttp", "-p", "0", "-b", "127.0.0.1"],
        cwd=folder,
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, line
        port = int(found[1])
        assert port != 0
        assert get(port, "/hello.txt") == b"hello"
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_errors_are_one_clear_line(folder: Path, tmp_path: Path) -> None:
    def run(args: List[str]) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
        return subprocess.run(
            [PYTHON, "-m", "picohttp", *args],
            cwd=folder,
            env=python_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )

    missing = run(["-d", str(tmp_path / "nope"), "-p", str(free_port())])
    assert missing.returncode == 2
    assert "is not a directory" in missing.stderr
    no_module = run(["nosuchmodule:handler", "-p", str(free_port())])
    assert no_module.returncode != 0
    assert "cannot import 'nosuchmodule'" in no_module.stderr
    for result in (missing, no_module):
        assert "Traceback" not in result.stderr
    blocker = subprocess.Popen(
        [PYTHON, "-m", "picohttp", "-p", "0", "-b", "127.0.0.1", "-q"],
        cwd=folder,
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert blocker.stdout is not None
        port = re.search(r":(\d+)/", blocker.stdout.readline().decode())[1]  # type: ignore[index]
        busy = run(["-p", port, "-b", "127.0.0.1"])
        assert busy.returncode == 1
        assert "cannot listen on" in busy.stderr and "Traceback" not in busy.stderr
    finally:
        blocker.kill()
        blocker.communicate(timeout=10)


def test_console_script_after_editable_install(folder: Path) -> None:
    script = Path(sys.executable).parent / "picohttp"
    if not script.exists():
        pytest.skip("no picohttp console script beside this Python (not pip-installed)")
    port = free_port()
    with command_line([str(port), "-b", "127.0.0.1"], folder, port, program=[str(script)]) as run:
        assert get(port, "/hello.txt") == b"hello"
        assert run.stop() == 0
    assert f"http://127.0.0.1:{port}/" in run.stdout


def test_help(tmp_path: Path) -> None:
    result = subprocess.run(
        [PYTHON, "-m", "picohttp", "--help"],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0
    for option in ("--port", "--bind", "--directory", "--quiet", "MODULE:FUNCTION"):
        assert option in result.stdout
