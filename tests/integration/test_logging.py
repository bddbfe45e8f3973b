"""Logging: silent access log by default, errors always visible, CLF when asked, --quiet.

design.md section 1: the library never prints; with no logging configured by
the application, no access log shows while a handler's traceback still reaches
stderr through Python's last-resort handler.  These run in child processes,
because pytest configures logging in its own.
"""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys
import textwrap

import pytest

from support import exchange, parse_response, python_env, serving

CLF = re.compile(
    r"^(?P<host>\S+) - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "
    r'"(?P<line>[^"]*)" (?P<status>\d{3}) (?P<size>\d+|-)$'
)

CHILD = textwrap.dedent(
    """
    import logging, socket, sys
    import picohttp
    {configure}

    def handler(request, response):
        if request.path[0] == "boom":
            1 / 0
        response.data = "ok"

    def fetch(port, raw):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(raw)
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return data
                data += chunk

    with picohttp.HttpServer(0, handler, host="127.0.0.1", block=False) as server:
        assert fetch(server.port, b"GET /ok HTTP/1.0\\r\\n\\r\\n").startswith(b"HTTP/1.0 200")
        assert fetch(server.port, b"GET /boom HTTP/1.0\\r\\n\\r\\n").startswith(b"HTTP/1.0 500")
        assert fetch(server.port, b"GET / HTTP/9.9\\r\\n\\r\\n").startswith(b"HTTP/1.0 505")
    print("done")
    """
)


def run_child(configure: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CHILD.format(configure=configure)],
        capture_output=True,
        text=True,
        timeout=60,
        env=python_env(),
    )


def test_unconfigured_logging_shows_errors_but_no_access_log():
    result = run_child("")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"  # the library prints nothing to stdout
    stderr = result.stderr
    # The handler's traceback, through Python's last-resort handler ...
    assert stderr.startswith("handler handler raised on GET /boom\nTraceback")
    assert "Traceback (most recent call last)" in stderr
    assert "ZeroDivisionError: division by zero" in stderr
    # ... and nothing else: no access log, no INFO chatter about starting and stopping.
    assert "GET /ok" not in stderr
    assert not [line for line in stderr.splitlines() if CLF.match(line)]
    assert "serving on port" not in stderr
    assert stderr.count("Traceback") == 1


def test_access_log_in_common_log_format_when_configured():
    result = run_child('logging.basicConfig(level=logging.INFO, format="%(name)s|%(message)s")')
    assert result.returncode == 0, result.stderr
    access = [
        line.split("|", 1)[1]
        for line in result.stderr.splitlines()
        if line.startswith("picohttp.access|")
    ]
    matches = [CLF.match(line) for line in access]
    assert all(matches), access
    assert [(m["host"], m["line"], m["status"], m["size"]) for m in matches] == [
        ("127.0.0.1", "GET /ok HTTP/1.0", "200", "2"),
        # Error answers log the length of their text, as any body sent.
        ("127.0.0.1", "GET /boom HTTP/1.0", "500", "54"),
        ("127.0.0.1", "-", "505", "59"),  # refused before a request line was accepted
    ]


def test_access_log_escapes_control_characters(caplog):
    def handler(request, response):
        response.data = "x"

    with caplog.at_level(logging.INFO, logger="picohttp.access"), serving(handler) as server:
        # A percent-decoded newline stays encoded in the raw target: nothing to inject.
        exchange(server.port, b"GET /a%0Ab HTTP/1.0\r\nX: \xff\r\n\r\n")
    lines = [r.getMessage() for r in caplog.records if r.name == "picohttp.access"]
    assert len(lines) == 1
    assert '"GET /a%0Ab HTTP/1.0" 200 1' in lines[0]
    assert "\n" not in lines[0]


# -- the command line ----------------------------------------------------------


APP = textwrap.dedent(
    """
    def handler(request, response):
        if request.path[0] == "boom":
            raise RuntimeError("app failure")
        response.data = "app says hi"
    """
)


def run_cli(tmp_path, *options: str) -> tuple:
    """Run ``python -m picohttp``, GET / and /boom, Ctrl-C it: (returncode, stdout, stderr)."""
    (tmp_path / "app.py").write_text(APP)
    process = subprocess.Popen(
        [sys.executable, "-m", "picohttp", "app:handler", "-p", "0", "-b", "127.0.0.1", *options],
        cwd=tmp_path,
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", banner)
        assert found, banner
        port = int(found[1])
        status, _, body = parse_response(exchange(port, b"GET / HTTP/1.0\r\n\r\n"))
        assert (status, body) == (200, b"app says hi")
        assert parse_response(exchange(port, b"GET /boom HTTP/1.0\r\n\r\n"))[0] == 500
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, banner + stdout, stderr


@pytest.mark.parametrize("quiet", [False, True], ids=["default", "quiet"])
def test_cli_access_log_and_quiet(tmp_path, quiet):
    returncode, stdout, stderr = run_cli(tmp_path, *(["--quiet"] if quiet else []))
    assert returncode == 0, stderr
    assert stdout.startswith("picohttp serving app:handler on http://127.0.0.1:")
    access = [CLF.match(line) for line in stderr.splitlines() if CLF.match(line)]
    if quiet:
        assert access == []
    else:
        assert [(m["line"], m["status"]) for m in access] == [
            ("GET / HTTP/1.0", "200"),
            ("GET /boom HTTP/1.0", "500"),
        ]
    # Errors show either way, and Ctrl-C stops quietly (one traceback: the handler's).
    assert "RuntimeError: app failure" in stderr
    assert stderr.count("Traceback") == 1
    assert "KeyboardInterrupt" not in stderr
