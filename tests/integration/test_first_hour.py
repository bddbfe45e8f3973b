"""The first hour with picohttp, as a new user meets it: scripts run with ``python``, the
command line, and the mistakes that used to pass in silence.

Each test runs a child process (or a real server) and reads what the user reads:
stderr, the exit status, the answers over a socket.
"""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import List

import pytest

import picohttp
from support import (
    PYTHON,
    ROOT,
    exchange,
    free_port,
    parse_response,
    python_env,
    serving,
    wait_for_port,
)

LISTENING = re.compile(
    r"^picohttp serving on (?P<urls>http://127\.0\.0\.1:(?P<port>\d+)/.*)  \(Ctrl-C to stop\)$"
)


def get(port: int, path: str = "/", host: str = "127.0.0.1") -> tuple:
    status, _, body = parse_response(
        exchange(port, f"GET {path} HTTP/1.0\r\n\r\n".encode(), host=host)
    )
    return status, body


def run_script(tmp_path: Path, code: str) -> subprocess.Popen:  # type: ignore[type-arg]
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.Popen(
        [PYTHON, str(script)],
        cwd=tmp_path,
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def interrupt(process: subprocess.Popen) -> tuple:  # type: ignore[type-arg]
    """Ctrl-C, as a terminal sends it; the exit status and the rest of stdout and stderr."""
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    return process.returncode, stdout, stderr


HELLO = """\
    import logging
    import sys
    import picohttp

    def requestHandler(request, response):
        response.data = "Hello world!"

    if len(sys.argv) > 1:
        logging.basicConfig(level=getattr(logging, sys.argv[1]), format="%(name)s|%(message)s")
    picohttp.HttpServer({port}, requestHandler, host="127.0.0.1")
"""


# -- python app.py says where it listens ------------------------------------------


def test_python_app_py_says_where_it_listens_on_stderr(tmp_path: Path) -> None:
    port = free_port()
    process = run_script(tmp_path, HELLO.format(port=port))
    try:
        assert process.stderr is not None
        line = process.stderr.readline().rstrip("\n")  # printed before the first request
        found = LISTENING.match(line)
        assert found, line
        assert int(found["port"]) == port
        assert found["urls"] == f"http://127.0.0.1:{port}/"  # bound to one address: that one
        assert get(port, "/") == (200, b"Hello world!")
    finally:
        status, stdout, rest = interrupt(process)
    assert status == 0
    assert stdout == ""  # the library never prints to stdout
    assert rest == ""  # one line, then nothing: no access log, no traceback at Ctrl-C


def test_the_line_is_an_ordinary_record_once_logging_is_configured(tmp_path: Path) -> None:
    for level, shown in (("WARNING", False), ("INFO", True)):
        port = free_port()
        process = subprocess.Popen(
            [PYTHON, "-c", textwrap.dedent(HELLO.format(port=port)), level],
            cwd=tmp_path,
            env=python_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for_port(port, process=process)
            assert get(port, "/")[0] == 200
        finally:
            status, _, stderr = interrupt(process)
        assert status == 0, stderr
        records = [line for line in stderr.splitlines() if "serving on" in line]
        if shown:  # through the application's own handler and format, once
            assert records == [
                f"picohttp.listening|picohttp serving on http://127.0.0.1:{port}/  (Ctrl-C to stop)"
            ], stderr
        else:
            assert records == [] and stderr == "", stderr


SAYS_WHETHER_SIGNALS_ARE_HANDLED = """\
    import logging
    import signal
    import picohttp

    class Check(logging.Handler):
        def emit(self, record):
            handled = [
                signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
                signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL,
            ]
            print("handled" if all(handled) else f"not yet: {{handled}}", flush=True)

    logging.getLogger("picohttp.listening").addHandler(Check())
    logging.getLogger("picohttp.listening").setLevel(logging.INFO)
    picohttp.HttpServer({port}, lambda request, response: None, host="127.0.0.1")
"""


def test_the_line_comes_once_ctrl_c_and_sigterm_stop_quietly(tmp_path: Path) -> None:
    # Whoever waits for the line and then signals (a test, a supervisor script)
    # must get the quiet stop, never the default handler's traceback or death.
    process = run_script(tmp_path, SAYS_WHETHER_SIGNALS_ARE_HANDLED.format(port=free_port()))
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "handled\n"
    finally:
        status, _, stderr = interrupt(process)
    assert status == 0, stderr


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_at_once_after_the_command_line_says_where_stops_quietly(
    tmp_path: Path, signum: int, workers: str
) -> None:
    for attempt in range(3):
        path = tmp_path / f"app{attempt}.sock"
        process = subprocess.Popen(
            [PYTHON, "-m", "picohttp", "--bind", f"unix:{path}", "-q", "--workers", workers],
            cwd=tmp_path,
            env=python_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        assert f"on unix:{path}" in process.stdout.readline()
        process.send_signal(signum)  # at once: no request, no pause
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr
        assert not path.exists()  # the socket file went with the server


def test_every_interface_lists_urls_that_work(tmp_path: Path) -> None:
    port = free_port()
    process = run_script(tmp_path, HELLO.format(port=port).replace(', host="127.0.0.1"', ""))
    try:
        assert process.stderr is not None
        line = process.stderr.readline().rstrip("\n")
        found = LISTENING.match(line)
        assert found, line
        hosts = re.findall(r"http://(\[[^\]]+\]|[^:/]+):\d+/", found["urls"])
        assert hosts[0] == "127.0.0.1" and "0.0.0.0" not in hosts and "[::]" not in hosts
        for host in hosts:
            assert get(port, "/", host.strip("[]")) == (200, b"Hello world!"), host
    finally:
        status, _, _ = interrupt(process)
    assert status == 0


# -- warnings for what would otherwise fail in silence ------------------------------


def warnings_of(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_handler_that_returns_its_answer_is_warned_about_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def flask_habit(request, response):  # type: ignore[no-untyped-def]
        return "Hello world!"

    caplog.set_level(logging.WARNING, logger="picohttp")
    with serving(flask_habit) as server:
        for _ in range(3):
            assert get(server.port) == (200, b"")  # what the client gets: an empty 200
    warned = warnings_of(caplog)
    assert len(warned) == 1, warned
    assert "flask_habit returned a value" in warned[0]
    assert "set response.data" in warned[0]


def test_a_routed_function_that_returns_is_named_too(caplog: pytest.LogCaptureFixture) -> None:
    router = picohttp.Router()

    @router.route("GET", "/items/{name}")
    def item(request, response, name):  # type: ignore[no-untyped-def]
        return {"name": name}

    @router.route("GET", "/ok")
    def ok(request, response):  # type: ignore[no-untyped-def]
        response.data = "ok"

    caplog.set_level(logging.WARNING, logger="picohttp")
    with serving(router) as server:
        assert get(server.port, "/ok") == (200, b"ok")
        assert warnings_of(caplog) == []  # a handler that returns None costs no warning
        assert get(server.port, "/items/a") == (200, b"")
        assert get(server.port, "/items/b") == (200, b"")
    warned = warnings_of(caplog)
    assert len(warned) == 1 and "item returned a value" in warned[0], warned


def test_a_static_base_that_does_not_exist_is_warned_about_once_with_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<h1>home</h1>")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the app started from another folder
    caplog.set_level(logging.WARNING, logger="picohttp")
    with serving(picohttp.staticResource, "site") as server:
        for path in ("/", "/index.html", "/"):
            assert get(server.port, path)[0] == 404
    warned = warnings_of(caplog)
    assert len(warned) == 1, warned
    assert f"staticBase='site' is {elsewhere / 'site'}, which does not exist" in warned[0]
    assert f"working directory, {elsewhere}" in warned[0]


def test_a_missing_fallback_is_warned_about_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "index.html").write_text("<h1>home</h1>")
    router = picohttp.Router()
    router.mount("/", picohttp.staticResource, staticBase=str(tmp_path), fallback="app.html")
    caplog.set_level(logging.WARNING, logger="picohttp")
    with serving(router) as server:
        assert get(server.port, "/") == (200, b"<h1>home</h1>")
        assert warnings_of(caplog) == []  # an existing file: no warning
        assert get(server.port, "/users/1")[0] == 404
        assert get(server.port, "/users/2")[0] == 404
    warned = warnings_of(caplog)
    assert len(warned) == 1, warned
    assert f"fallback='app.html' is {tmp_path / 'app.html'}, which does not exist" in warned[0]


# -- picohttp module:function and a module that serves when imported ----------------


def picohttp_cli(args: List[str], cwd: Path) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return subprocess.run(
        [PYTHON, "-m", "picohttp", *args],
        cwd=cwd,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_module_that_serves_when_imported_is_refused_with_the_guard_to_add(
    tmp_path: Path,
) -> None:
    module_port = free_port()
    (tmp_path / "hello.py").write_text(
        "import picohttp\n\n"
        "def requestHandler(request, response):\n"
        '    response.data = "Hello world!"\n\n'
        f"picohttp.HttpServer({module_port}, requestHandler)\n"
    )
    result = picohttp_cli(["hello:requestHandler", "-p", str(free_port())], tmp_path)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("picohttp: error: 'hello' starts a server when it is imported")
    assert "(hello.py, line 6)" in last
    assert 'if __name__ == "__main__":' in last
    assert "Traceback" not in result.stderr


def test_the_readme_first_handler_is_guarded_and_serves_from_the_command_line(
    tmp_path: Path,
) -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("Save this as `hello.py`", 1)[1].split("```python\n", 1)[1]
    code = block.split("```", 1)[0]
    assert 'if __name__ == "__main__":' in code
    (tmp_path / "hello.py").write_text(code)
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, "-m", "picohttp", "hello:requestHandler", "-p", str(port), "-q"],
        cwd=tmp_path,
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port, process=process)
        assert get(port, "/hello") == (200, b"Hello world!")
    finally:
        status, stdout, stderr = interrupt(process)
    assert status == 0, stderr
    assert f"http://127.0.0.1:{port}/" in stdout


# -- the command line -----------------------------------------------------------------


def test_version(tmp_path: Path) -> None:
    result = picohttp_cli(["--version"], tmp_path)
    assert (result.returncode, result.stdout) == (0, f"picohttp {picohttp.__version__}\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["99999"], "argument PORT: '99999' is not a port: give a number from 1 to 65535"),
        (["-p", "99999"], "argument -p/--port: '99999' is not a port"),
        (["-p", "http"], "argument -p/--port: 'http' is not a port"),
        (["8007", "-p", "8008"], "the port is given twice (8007 and -p 8008): give it once"),
        (["8007", "8008"], "the port is given twice (8007 and 8008): give it once"),
        (["--workers", "0"], "argument --workers: '0' is not a number of 1 or more"),
        (["--max-threads", "-1"], "argument --max-threads:"),
        (["nosuchmodule:handler"], "cannot import 'nosuchmodule'"),
        (["os:nothing_here"], "'os' has no attribute 'nothing_here'"),
        (["--certfile", "missing.pem"], "cannot use missing.pem as a certificate"),
        (["--keyfile", "key.pem"], "--keyfile needs --certfile"),
    ],
)
def test_bad_arguments_are_usage_errors(tmp_path: Path, args: List[str], message: str) -> None:
    result = picohttp_cli(args, tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("usage: picohttp")
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("picohttp: error: "), last
    assert message in last, last
    assert "Traceback" not in result.stderr


def test_a_certificate_without_its_key_says_to_give_keyfile(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    cert = trustme.CA().issue_cert("localhost")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "server.pem"))
    result = picohttp_cli(["-p", "0", "--certfile", "server.pem"], tmp_path)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("picohttp: error: server.pem holds no private key"), last
    assert "--keyfile" in last


def test_a_busy_port_hint_is_phrased_for_the_command_line(tmp_path: Path) -> None:
    with serving(lambda request, response: None) as server:
        result = picohttp_cli(["-p", str(server.port)], tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"picohttp: cannot listen on 127.0.0.1:{server.port}")
    assert "-p 0 for a free one" in result.stderr
    assert "port=0" not in result.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="127.0.0.2 is loopback only on Linux")
def test_the_command_line_binds_127_0_0_1_unless_told_otherwise(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hello")
    for extra, reachable_elsewhere in (([], False), (["--bind", "0.0.0.0"], True)):
        port = free_port()
        process = subprocess.Popen(
            [PYTHON, "-m", "picohttp", str(port), "-q", *extra],
            cwd=tmp_path,
            env=python_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for_port(port, process=process)
            assert get(port, "/hello.txt") == (200, b"hello")
            # 127.0.0.2 is this machine too, but not the address bound by default.
            if reachable_elsewhere:
                assert get(port, "/hello.txt", host="127.0.0.2") == (200, b"hello")
            else:
                with pytest.raises(ConnectionRefusedError):
                    get(port, "/hello.txt", host="127.0.0.2")
        finally:
            status, stdout, stderr = interrupt(process)
        assert status == 0, stderr
        if not extra:
            assert stdout.startswith(f"picohttp serving {tmp_path} on http://127.0.0.1:{port}/  (")


def test_busy_port_hint_in_python_says_port_0(tmp_path: Path) -> None:
    with serving(lambda request, response: None) as server, pytest.raises(OSError) as caught:
        picohttp.HttpServer(server.port, host="127.0.0.1", start=False)
    assert "port=0 for a free one" in str(caught.value)


def test_examples_readme_says_how_to_run_each_example_on_its_port() -> None:
    text = (ROOT / "examples" / "README.md").read_text()
    ports = {"hello_server.py": 8080, "rest_server.py": 8765, "static_server.py": 80}
    assert sorted(p.name for p in (ROOT / "examples").glob("*.py")) == sorted(ports)
    for name, port in ports.items():
        assert f"## `{name}`: port {port}\n" in text, name
        assert f"examples/{name}" in text, name
    assert "CAP_NET_BIND_SERVICE" in text and "sudo" in text  # port 80 needs either


@pytest.mark.parametrize(
    ("call", "last_line"),
    [
        (
            'picohttp.HttpServer({port}, picohttp.staticResource, args="site")',
            "TypeError: HttpServer(...): args must be a tuple or a list, not str 'site': "
            "for one argument write args=('site',)",
        ),
        (
            "picohttp.HttpServer({port}, lambda request: None)",
            "TypeError: HttpServer(...): <lambda>(request) cannot be called as "
            "<lambda>(request, response): too many positional arguments. A handler takes "
            "(request, response), then one parameter for each item of args",
        ),
        (
            "picohttp.HttpServer({port}, threads=4)",
            "TypeError: HttpServer(...): threads must be True or False, not 4 "
            "(to cap the handler threads, write maxThreads=4)",
        ),
    ],
    ids=["args-string", "handler-arity", "threads-int"],
)
def test_python_app_py_with_a_mistake_stops_at_once_saying_the_fix(
    tmp_path: Path, call: str, last_line: str
) -> None:
    """As the user meets it: the script ends at start, not with a 500 per request."""
    port = free_port()
    (tmp_path / "app.py").write_text("import picohttp\n" + call.format(port=port) + "\n")
    result = subprocess.run(
        [PYTHON, "app.py"],
        cwd=tmp_path,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == last_line
    assert "picohttp serving" not in result.stderr  # it never listened


def test_the_readme_first_line_and_serve_agree_on_the_interface(tmp_path: Path) -> None:
    """README's first command says 127.0.0.1; ./serve (run here) prints and binds just that."""
    lines = (ROOT / "README.md").read_text().splitlines()
    first = next(line for line in lines if line.startswith("./serve "))
    assert "http://127.0.0.1:8000/" in first and "this machine only" in first
    (tmp_path / "hello.txt").write_text("hello")
    port = free_port()
    process = subprocess.Popen(
        [str(ROOT / "serve"), str(port), "-q"],
        cwd=tmp_path,
        env={**python_env(), "PYTHON": PYTHON},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port, process=process)
        assert get(port, "/hello.txt") == (200, b"hello")
    finally:
        status, stdout, _ = interrupt(process)
    assert status == 0
    assert stdout.split(" on ", 1)[1].startswith(f"http://127.0.0.1:{port}/  (Ctrl-C")
