"""The spec's three examples, run verbatim from examples/ as separate processes.

Each runs with a temporary working directory (the static server serves it, the
REST server writes test.json there) and is always killed at the end.  The
ports are the spec's own (80, 8080, 8765); if another program holds one, the
test skips and says so rather than talk to a stranger.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

from support import EXAMPLES, PYTHON, exchange, parse_response, python_env, wait_for_port


def port_in_use(port: int) -> bool:
    for host in ("127.0.0.1", "::1"):
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            continue
    return False


@contextlib.contextmanager
def example(name: str, port: int, cwd: Path) -> Iterator[subprocess.Popen]:  # type: ignore[type-arg]
    """Run ``examples/<name>`` in ``cwd``; yield once it accepts on ``port``; always kill it."""
    deadline = time.monotonic() + 10
    while port_in_use(port):
        if time.monotonic() > deadline:
            pytest.skip(f"port {port} is in use by another program")
        time.sleep(0.1)
    process = subprocess.Popen(
        [PYTHON, str(EXAMPLES / name)],
        cwd=cwd,
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, process=process)
        assert process.poll() is None  # it is our example that answers, not a stranger
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def stop_quietly(process: subprocess.Popen) -> None:  # type: ignore[type-arg]
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    # Nothing but where it listened: the example configures no logging (design.md, "Logging").
    lines = stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert re.fullmatch(
        r"picohttp serving on http://127\.0\.0\.1:\d+/ .*\(Ctrl-C to stop\)", lines[0]
    )


def test_the_examples_are_the_spec_verbatim() -> None:
    spec = Path("/work/shared/picohttp-spec.md")
    if not spec.exists():
        pytest.skip("the spec is not beside this checkout")
    text = spec.read_text()
    for name in ("static_server.py", "hello_server.py", "rest_server.py"):
        code = (EXAMPLES / name).read_text().strip()
        assert "```\n" + code + "\n```" in text, name


def test_static_server_on_port_80(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<h1>home</h1>")
    (tmp_path / "style.css").write_text("body { color: red }")
    (tmp_path / "notes.unknownext").write_bytes(b"plain")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "index.html").write_text("<p>sub home</p>")
    with example("static_server.py", 80, tmp_path) as process:
        home = requests.get("http://127.0.0.1/", timeout=10)
        assert (home.status_code, home.text) == (200, "<h1>home</h1>")
        assert home.headers["Content-Type"] == "text/html; charset=utf-8"
        css = requests.get("http://127.0.0.1/style.css", timeout=10)
        assert css.text == "body { color: red }"
        assert css.headers["Content-Type"].startswith("text/css")
        other = requests.get("http://127.0.0.1/notes.unknownext", timeout=10)
        assert (other.content, other.headers["Content-Type"]) == (b"plain", "text/plain")
        moved = requests.get("http://127.0.0.1/sub", timeout=10, allow_redirects=False)
        assert (moved.status_code, moved.headers["Location"]) == (301, "/sub/")
        assert requests.get("http://127.0.0.1/sub", timeout=10).text == "<p>sub home</p>"
        assert requests.get("http://127.0.0.1/missing.txt", timeout=10).status_code == 404
        assert parse_response(exchange(80, b"GET / HTTP/1.0\r\n\r\n", host="::1"))[0] == 200
        stop_quietly(process)


def test_hello_server_on_port_8080(tmp_path: Path) -> None:
    with example("hello_server.py", 8080, tmp_path) as process:
        hello = requests.get("http://127.0.0.1:8080/hello", timeout=10)
        assert (hello.status_code, hello.text) == (200, "Hello world!")
        assert hello.headers["Content-Length"] == "12"
        bye = requests.get("http://127.0.0.1:8080/goodbye/and/more?x=1", timeout=10)
        assert (bye.status_code, bye.text) == (200, "Goodbye cruel world")
        for path in ("/", "/what", "/Hello"):
            unknown = requests.get("http://127.0.0.1:8080" + path, timeout=10)
            assert (unknown.status_code, unknown.text) == (404, "I don't know what to say")
        if shutil.which("curl"):
            curl = subprocess.run(
                ["curl", "-sS", "--max-time", "10", "http://127.0.0.1:8080/hello"],
                capture_output=True,
                timeout=20,
            )
            assert curl.stdout == b"Hello world!"
        stop_quietly(process)


def test_rest_server_on_port_8765_persists_and_reloads(tmp_path: Path) -> None:
    base = "http://127.0.0.1:8765"
    data_file = tmp_path / "test.json"
    with example("rest_server.py", 8765, tmp_path):
        everything = requests.get(base + "/", timeout=10)
        assert everything.json() == {}
        assert everything.headers["Content-Type"] == "application/json"
        assert not data_file.exists()

        assert requests.put(base + "/apple", data="red", timeout=10).status_code == 200
        assert json.loads(data_file.read_text()) == {"apple": "red"}
        assert requests.put(base + "/apple", data="green", timeout=10).status_code == 200
        assert requests.put(base + "/city", data="Zürich ☃".encode(), timeout=10).ok
        assert requests.put(base + "/doc", json={"nested": [1, 2]}, timeout=10).ok
        assert json.loads(data_file.read_text()) == {
            "apple": "green",
            "city": "Zürich ☃",
            "doc": '{"nested": [1, 2]}',
        }

        apple = requests.get(base + "/apple", timeout=10)
        assert (apple.status_code, apple.text) == (200, "green")
        assert requests.get(base + "/city", timeout=10).text == "Zürich ☃"
        assert requests.get(base + "/", timeout=10).json() == {
            "apple": "green",
            "city": "Zürich ☃",
            "doc": '{"nested": [1, 2]}',
        }
        assert requests.get(base + "/pear", timeout=10).status_code == 404

        assert requests.delete(base + "/doc", timeout=10).status_code == 200
        assert requests.get(base + "/doc", timeout=10).status_code == 404
        assert requests.delete(base + "/doc", timeout=10).status_code == 404
        assert "doc" not in json.loads(data_file.read_text())

        assert requests.put(base + "/", data="x", timeout=10).status_code == 400
        assert requests.post(base + "/apple", data="x", timeout=10).status_code == 501
        assert requests.patch(base + "/apple", data="x", timeout=10).status_code == 501
        # killed here (SIGKILL): nothing is saved on the way out, only as each change came

    with example("rest_server.py", 8765, tmp_path) as process:
        assert requests.get(base + "/", timeout=10).json() == {
            "apple": "green",
            "city": "Zürich ☃",
        }
        assert requests.get(base + "/city", timeout=10).text == "Zürich ☃"
        assert requests.delete(base + "/apple", timeout=10).ok
        stop_quietly(process)
    assert json.loads(data_file.read_text()) == {"city": "Zürich ☃"}
