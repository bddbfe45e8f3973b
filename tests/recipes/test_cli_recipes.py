"""The command line's recipes: ``--header``, ``--cors``, ``--spa``, ``--no-cache``, ``-p 0``,
the URLs it prints, and ``--reload``, each run as a child process and asked with curl.

``--reload`` is tested the way a developer uses it: edit the handler's file,
then ask the server until the new answer appears (bounded, and timed); break
the file with a syntax error and check that the reloader reports it and keeps
the old version serving; stop it with Ctrl-C and check that no child is left.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple

import pytest

from picohttp import _urls
from support import PYTHON, exchange, free_port, parse_response, python_env, wait_for_port

CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")
URL = re.compile(r"http://(\[[^\]]+\]|[^/:\s]+):(\d+)/")


class Child:
    """``python -m picohttp ARGS`` with its output collected by reader threads."""

    def __init__(self, args: List[str], cwd: Path, new_session: bool = False) -> None:
        self.process = subprocess.Popen(
            [PYTHON, "-m", "picohttp", *args],
            cwd=cwd,
            env=python_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=new_session,
        )
        self.out: List[str] = []
        self.err: List[str] = []
        self.changed = threading.Condition()
        self.readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, self.err), daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def _read(self, stream: Any, lines: List[str]) -> None:
        for line in stream:
            with self.changed:
                lines.append(line)
                self.changed.notify_all()

    def wait_for(self, pattern: str, stream: str = "out", timeout: float = 20.0) -> re.Match:  # type: ignore[type-arg]
        """The first match of ``pattern`` in stdout (or stderr), waiting for the line."""
        lines = self.out if stream == "out" else self.err
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                found = re.search(pattern, "".join(lines), re.MULTILINE)
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._reading()):
                    raise AssertionError(
                        f"no {pattern!r} in {stream}:\n{''.join(self.out)}\n{''.join(self.err)}"
                    )
                self.changed.wait(min(left, 0.5))

    def _reading(self) -> bool:
        return any(reader.is_alive() for reader in self.readers)

    def stop(self, signum: int = signal.SIGINT, group: bool = False) -> int:
        if self.process.poll() is None:
            if group:
                os.killpg(self.process.pid, signum)
            else:
                self.process.send_signal(signum)
        code = self.process.wait(15)
        for reader in self.readers:
            reader.join(5)
        return code

    def kill(self) -> None:
        """Whatever happened: no process of this test outlives it (the reloader's child too)."""
        if self.process.poll() is None:
            for pid in children_of(self.process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.kill()
        self.process.wait(15)
        for reader in self.readers:
            reader.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    @property
    def stdout(self) -> str:
        return "".join(self.out)


@contextlib.contextmanager
def running(args: List[str], cwd: Path, new_session: bool = False) -> Iterator[Child]:
    child = Child(args, cwd, new_session)
    try:
        yield child
    finally:
        child.kill()


def served_port(child: Child) -> int:
    return int(child.wait_for(r"serving .* on http://127\.0\.0\.1:(\d+)/")[1])


def curl(*args: str) -> Tuple[int, dict, bytes]:  # type: ignore[type-arg]
    """``curl -si``: status, headers (lowercase names) and body."""
    assert CURL is not None
    result = subprocess.run(
        [CURL, "-si", "--max-time", "20", *args], capture_output=True, timeout=30, check=True
    )
    return parse_response(result.stdout)


def ask(port: int, path: str = "/") -> Optional[str]:
    """The body of ``GET path`` as text, or ``None`` when nothing answers."""
    try:
        status, _, body = parse_response(
            exchange(port, f"GET {path} HTTP/1.0\r\n\r\n".encode(), timeout=5)
        )
    except (OSError, IndexError, ValueError):
        return None
    return f"{status} {body.decode()}"


def wait_for_answer(port: int, expected: str, timeout: float = 20.0) -> float:
    """Seconds until ``GET /`` answers ``expected``; fails after ``timeout``."""
    start = time.monotonic()
    last = None
    while time.monotonic() - start < timeout:
        last = ask(port)
        if last == expected:
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"still {last!r} after {timeout} s, expected {expected!r}")


def children_of(pid: int) -> List[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(item) for item in text.split()]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>app</p>")
    (site / "hello.txt").write_text("hello")
    return site


def write_app(path: Path, answer: str, extra: str = "") -> None:
    path.write_text(
        textwrap.dedent(
            f"""
            {extra}
            def handler(request, response):
                response.data = {answer!r}
            """
        )
    )


# -- --header, --no-cache, --cors, --spa -----------------------------------------------------


@needs_curl
def test_header_and_no_cache_on_every_response(folder: Path) -> None:
    args = ["-p", "0", "-b", "127.0.0.1", "-q", "--no-cache"]
    args += ["--header", "X-Frame-Options: DENY", "-H", "Link:</a.css>; rel=preload"]
    with running(args, folder) as child:
        base = f"http://127.0.0.1:{served_port(child)}"
        answers = [curl(base + "/hello.txt"), curl(base + "/nothing"), curl("-I", base + "/")]
        assert child.stop() == 0
    assert [answer[0] for answer in answers] == [200, 404, 200]
    for _, headers, _ in answers:
        assert headers["x-frame-options"] == "DENY"
        assert headers["link"] == "</a.css>; rel=preload"
        assert headers["cache-control"] == "no-store"
    assert answers[0][2] == b"hello"


def test_no_cache_wins_over_the_application_own_cache_control(tmp_path: Path) -> None:
    (tmp_path / "cached.py").write_text(
        "def handler(request, response):\n"
        "    response.headers['Cache-Control'] = 'max-age=3600'\n"
        "    response.data = 'cached'\n"
    )
    with running(["cached:handler", "-p", "0", "-b", "127.0.0.1", "--no-cache"], tmp_path) as child:
        port = served_port(child)
        status, headers, body = parse_response(exchange(port, b"GET / HTTP/1.0\r\n\r\n"))
    assert status == 200 and body == b"cached"
    assert headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "header", ["NoColon", ": value", "Bad Name: x", " X-Lead: x", "X-Bell: a\x07b"]
)
def test_a_malformed_header_is_a_usage_error(folder: Path, header: str) -> None:
    result = subprocess.run(
        [PYTHON, "-m", "picohttp", "-p", str(free_port()), "--header", header],
        cwd=folder,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--header" in result.stderr and "usage:" in result.stderr
    assert "Traceback" not in result.stderr


@needs_curl
def test_cors_switch_answers_preflights_and_simple_requests(folder: Path) -> None:
    with running(
        ["-p", "0", "-b", "127.0.0.1", "-q", "--cors", "-H", "X-Extra: 1"], folder
    ) as child:
        url = f"http://127.0.0.1:{served_port(child)}/hello.txt"
        preflight = curl(
            "-X",
            "OPTIONS",
            "-H",
            "Origin: http://localhost:5173",
            "-H",
            "Access-Control-Request-Method: POST",
            "-H",
            "Access-Control-Request-Headers: X-Requested-With",
            url,
        )
        simple = curl("-H", "Origin: http://localhost:5173", url)
    assert preflight[0] == 204
    assert preflight[1]["access-control-allow-origin"] == "*"
    assert preflight[1]["access-control-allow-methods"] == "POST"
    assert preflight[1]["access-control-allow-headers"] == "X-Requested-With"
    assert preflight[1]["access-control-max-age"] == "7200"
    assert preflight[1]["x-extra"] == "1"  # --header reaches the preflight answers too
    assert simple[0] == 200 and simple[2] == b"hello"
    assert simple[1]["access-control-allow-origin"] == "*"


@needs_curl
def test_spa_switch_serves_index_for_routes_not_for_assets(folder: Path, tmp_path: Path) -> None:
    with running(
        ["-p", "0", "-b", "127.0.0.1", "-q", "--spa", "-d", str(folder)], tmp_path
    ) as child:
        base = f"http://127.0.0.1:{served_port(child)}"
        route = curl(base + "/users/42")
        asset = curl(base + "/missing.js")
        real = curl(base + "/hello.txt")
    assert route[0] == 200 and route[2] == b"<p>app</p>"
    assert route[1]["content-type"] == "text/html; charset=utf-8"
    assert asset[0] == 404
    assert real[2] == b"hello"


def test_spa_with_an_application_is_a_usage_error(tmp_path: Path) -> None:
    write_app(tmp_path / "app.py", "x")
    result = subprocess.run(
        [PYTHON, "-m", "picohttp", "app:handler", "--spa", "-p", str(free_port())],
        cwd=tmp_path,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "--spa" in result.stderr


def test_help_lists_the_new_switches() -> None:
    result = subprocess.run(
        [PYTHON, "-m", "picohttp", "--help"],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    for option in ("--header", "--cors", "--spa", "--no-cache", "--reload"):
        assert option in result.stdout


# -- -p 0 and the URLs it prints -----------------------------------------------------------


def test_port_zero_on_every_interface_prints_urls_that_work(folder: Path) -> None:
    with running(["-p", "0", "-q", "--bind", "::"], folder) as child:
        line = child.wait_for(r"^picohttp serving .*$")[0]
        urls = URL.findall(line)
        assert urls, line
        assert urls[0][0] == "127.0.0.1"  # the first one always works on this machine
        ports = {port for _, port in urls}
        assert len(ports) == 1 and ports != {"0"}
        port = int(ports.pop())
        for host, _ in urls:
            address = ipaddress.ip_address(host.strip("[]"))
            assert not address.is_unspecified, line  # never 0.0.0.0 or [::]
            # Each printed address is this machine's own: the request stays on it.
            status, _, body = parse_response(
                exchange(port, b"GET /hello.txt HTTP/1.0\r\n\r\n", host=str(address))
            )
            assert (status, body) == (200, b"hello"), host
        assert child.stop() == 0


def test_url_rules() -> None:
    any_v4 = _urls.listening_urls("0.0.0.0", 8000)
    assert any_v4[0] == "http://127.0.0.1:8000/"
    assert all("[" not in url for url in any_v4)  # an IPv4-only socket takes no IPv6
    for host in (None, "", "::", "0.0.0.0"):
        urls = _urls.listening_urls(host, 8000)
        assert urls[0] == "http://127.0.0.1:8000/"
        assert not any("0.0.0.0" in url or "[::]" in url for url in urls)
        assert len(urls) == len(set(urls))
    assert _urls.listening_urls("127.0.0.1", 81) == ["http://127.0.0.1:81/"]
    assert _urls.listening_urls("::1", 82) == ["http://[::1]:82/"]
    assert _urls.listening_urls("localhost", 83) == ["http://localhost:83/"]
    for address in _urls.lan_addresses(ipv6=True):
        parsed = ipaddress.ip_address(address)
        assert not (parsed.is_loopback or parsed.is_link_local or parsed.is_unspecified)
        # each is an address of this machine: it can be bound
        family = socket.AF_INET6 if parsed.version == 6 else socket.AF_INET
        with socket.socket(family) as sock:
            sock.bind((address, 0))


# -- --reload --------------------------------------------------------------------------------


@pytest.mark.slow
def test_reload_picks_up_an_edited_handler_on_the_same_port(tmp_path: Path) -> None:
    write_app(tmp_path / "app.py", "one")
    with running(
        ["app:handler", "-p", "0", "-b", "127.0.0.1", "-q", "--reload"], tmp_path
    ) as child:
        port = served_port(child)
        assert ask(port) == "200 one"
        first_child = children_of(child.process.pid)
        assert len(first_child) == 1
        took = []
        # Same size, same second: a stale .pyc must not be served ("one" -> "two").
        for answer in ("two", "six", "three"):
            write_app(tmp_path / "app.py", answer)
            took.append(wait_for_answer(port, f"200 {answer}"))
        assert child.stdout.count(f"http://127.0.0.1:{port}/") == 4  # one port throughout
        assert children_of(child.process.pid) != first_child
        assert not alive(first_child[0])
        assert child.stop() == 0
    print(f"\n--reload: new answer after {', '.join(f'{t:.2f}' for t in took)} s")
    assert max(took) < 6.0, took  # 2 s on a quiet machine; margin for a loaded one
    assert "app.py changed: restarting" in child.stderr
    assert "Traceback" not in child.stderr


@pytest.mark.slow
def test_a_syntax_error_is_reported_and_the_reloader_keeps_going(tmp_path: Path) -> None:
    write_app(tmp_path / "app.py", "good")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "helper.py").write_text("VALUE = 1\n")
    with running(
        ["app:handler", "-p", "0", "-b", "127.0.0.1", "-q", "--reload"], tmp_path
    ) as child:
        port = served_port(child)
        (tmp_path / "lib" / "helper.py").write_text("def broken(:\n    pass\n")
        report = child.wait_for(r"not restarting, lib/helper\.py has an error", "err")
        assert report
        child.wait_for(r"SyntaxError", "err")
        assert 'helper.py", line 1' in child.stderr
        assert ask(port) == "200 good"  # the previous version keeps serving
        (tmp_path / "lib" / "helper.py").write_text("VALUE = 2\n")
        write_app(tmp_path / "app.py", "fixed")
        wait_for_answer(port, "200 fixed")
        assert child.process.poll() is None
        assert child.stop() == 0
    assert "Traceback" not in child.stderr


@pytest.mark.slow
def test_an_application_that_fails_to_import_is_restarted_after_the_next_change(
    tmp_path: Path,
) -> None:
    write_app(tmp_path / "app.py", "start")
    with running(
        ["app:handler", "-p", "0", "-b", "127.0.0.1", "-q", "--reload"], tmp_path
    ) as child:
        port = served_port(child)
        write_app(tmp_path / "app.py", "never", extra="undefined_name  # a NameError at import")
        child.wait_for(r"the server exited with status 1; waiting for a change", "err")
        assert ask(port) is None  # nothing serves meanwhile...
        assert child.process.poll() is None  # ...but the reloader is still there
        write_app(tmp_path / "app.py", "back")
        wait_for_answer(port, "200 back")
        assert child.stop() == 0


@pytest.mark.slow
def test_a_broken_file_at_start_is_reported_briefly_and_waits_for_the_fix(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def handler(request, response)\n    pass\n")
    port = free_port()
    with running(
        ["app:handler", "-p", str(port), "-b", "127.0.0.1", "--reload"], tmp_path
    ) as child:
        child.wait_for(r"waiting for a change", "err")
        assert "cannot import 'app'" in child.stderr and "SyntaxError" in child.stderr
        assert "importlib" not in child.stderr  # the error, not the import machinery
        write_app(tmp_path / "app.py", "works")
        wait_for_port(port, timeout=20)
        assert ask(port) == "200 works"
        assert child.stop() == 0


@pytest.mark.slow
@pytest.mark.parametrize("how", ["signal to the reloader", "Ctrl-C in a terminal", "SIGTERM"])
def test_stopping_the_reloader_stops_its_server(tmp_path: Path, how: str) -> None:
    write_app(tmp_path / "app.py", "up")
    args = ["app:handler", "-p", "0", "-b", "127.0.0.1", "-q", "--reload"]
    with running(args, tmp_path, new_session=True) as child:
        port = served_port(child)
        assert ask(port) == "200 up"
        server = children_of(child.process.pid)
        assert len(server) == 1
        if how == "Ctrl-C in a terminal":  # the terminal signals the whole process group
            code = child.stop(signal.SIGINT, group=True)
        else:
            code = child.stop(signal.SIGTERM if how == "SIGTERM" else signal.SIGINT)
        assert code == 0
        assert not alive(server[0])
        assert ask(port) is None
    assert "Traceback" not in child.stderr


def test_reload_on_a_busy_port_fails_at_once(tmp_path: Path) -> None:
    write_app(tmp_path / "app.py", "x")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [
                PYTHON,
                "-m",
                "picohttp",
                "app:handler",
                "-p",
                str(port),
                "-b",
                "127.0.0.1",
                "--reload",
            ],
            cwd=tmp_path,
            env=python_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert "cannot listen on" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_the_application_does_not_inherit_the_reloader_marker(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "import os\n"
        "def handler(request, response):\n"
        "    response.data = repr(os.environ.get('PICOHTTP_RELOADER_CHILD'))\n"
    )
    with running(
        ["app:handler", "-p", "0", "-b", "127.0.0.1", "-q", "--reload"], tmp_path
    ) as child:
        port = served_port(child)
        # A picohttp --reload the application starts itself must supervise, not serve.
        assert ask(port) == "200 None"
        assert len(children_of(child.process.pid)) == 1
        assert child.stop() == 0
