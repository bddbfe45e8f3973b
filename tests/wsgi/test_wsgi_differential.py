"""The same handler under picohttp's server and, through ``picohttp.wsgi``, under real
gunicorn and waitress processes: every answer must be the same.

Each request is sent as raw bytes to picohttp's own server (in this process)
and to the WSGI servers, and the answers are compared after parsing them with
``http.client``: status code, reason phrase, every header field (sorted by
name, as waitress sends them; repeated fields in their order) and the body,
ignoring only what each server adds of its own (``Date``, ``Server``,
``Connection``).  Each WSGI answer must also carry exactly one ``Date``.

The specification's REST example keeps its items in a dict per process, so a
``PUT`` answered by one gunicorn worker is unknown to the other.  Hence:

- the requests that change nothing (reads of a fresh, empty store, 404s, 501s,
  400s) go to gunicorn with 2 workers, and each is answered by *both*
  workers: a first connection is opened and left silent, which holds one sync
  worker in its read, so the same request on a second connection must be
  answered by the other worker; then the first connection sends it too.  The
  access log (with each worker's pid) proves each worker answered each one;
- the stateful sequence (create, read, update, delete) goes to gunicorn with 1
  worker and to waitress (one process, threads), in the same order as to
  picohttp, and the ``test.json`` each leaves behind must be identical.

``REQUESTS_SENT`` counts every request the tests in this module send; the
count is written to ``test-artifacts/wsgi-differential-requests.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

from support import (
    ARTIFACTS,
    PYTHON,
    ROOT,
    child_server,
    connect,
    example_handler,
    exchange,
    free_port,
    gunicorn_options,
    parse_http,
    python_env,
    read_all,
    serving,
)

HERE = Path(__file__).resolve().parent
IGNORED = {"date", "server", "connection"}
REQUESTS_SENT = {"picohttp": 0, "gunicorn": 0, "waitress": 0}

Case = Tuple[str, bytes]  # (method, raw request)


@pytest.fixture(scope="module", autouse=True)
def count_requests() -> Iterator[None]:
    yield
    ARTIFACTS.mkdir(exist_ok=True)
    counts = dict(REQUESTS_SENT, total=sum(REQUESTS_SENT.values()))
    (ARTIFACTS / "wsgi-differential-requests.json").write_text(json.dumps(counts) + "\n")


def require(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        pytest.skip(f"{module} is not installed (the dev extra installs it: ./check does)")


def wsgi_env() -> Dict[str, str]:
    env = python_env()
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT / "tests"), env["PYTHONPATH"]])
    return env


def gunicorn(app: str, port: int, workers: int, access_log: Optional[Path] = None) -> List[str]:
    argv = [PYTHON, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}"]
    argv += gunicorn_options()
    if access_log is not None:
        argv += ["--access-logfile", str(access_log), "--access-logformat", "%(p)s %(m)s %(s)s"]
    return [*argv, app]


def waitress(app: str, port: int) -> List[str]:
    return [PYTHON, "-m", "waitress", f"--listen=127.0.0.1:{port}", app]


def request(
    method: str,
    target: str,
    headers: Sequence[Tuple[str, str]] = (),
    body: Optional[bytes] = None,
    version: str = "HTTP/1.0",
) -> Case:
    lines = [f"{method} {target} {version}"]
    if version == "HTTP/1.1":
        lines += ["Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body is not None and not any(name == "Transfer-Encoding" for name, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return method, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def send(server: str, port: int, raw: bytes) -> bytes:
    REQUESTS_SENT[server] += 1
    return exchange(port, raw, timeout=30)


def comparable(raw: bytes, method: str) -> Tuple[Any, ...]:
    status, reason, headers, body = parse_http(raw, method)
    # By name, stable (repeated fields keep their order): waitress sorts the fields it sends.
    fields = sorted(((n, v) for n, v in headers if n not in IGNORED), key=lambda field: field[0])
    return status, reason, fields, body


def same(expected: bytes, got: bytes, case: Case, server: str) -> None:
    method, raw = case
    want, have = comparable(expected, method), comparable(got, method)
    assert have == want, f"{server} differs on {raw[:200]!r}:\n{have}\nexpected\n{want}"
    dates = [value for name, value in parse_http(got, method)[2] if name == "date"]
    assert len(dates) == 1, f"{server}: {len(dates)} Date fields on {raw[:80]!r}"


def answered_by_both_workers(port: int, raw: bytes) -> Tuple[bytes, bytes]:
    """The answers of both sync workers: one is held by a silent connection meanwhile."""
    with connect(port, timeout=30) as held:
        second = send("gunicorn", port, raw)  # the held worker cannot take it
        REQUESTS_SENT["gunicorn"] += 1
        held.sendall(raw)
        first = read_all(held, timeout=30)
    return first, second


# -- the specification's REST example ----------------------------------------------

UTF8 = ("Content-Type", "text/plain; charset=utf-8")

# Requests that leave a fresh (empty) store unchanged.
REST_STATELESS: List[Case] = [
    request("GET", "/"),
    request("GET", "/", version="HTTP/1.1"),
    request("GET", "/?x=1&y=%C3%BC&z"),
    request("GET", "/missing"),
    request("GET", "/%C3%A9t%C3%A9"),  # /été
    request("GET", "/a%2Fb/c"),
    request("GET", "/missing", [("Accept", "text/plain"), ("X-Forwarded-For", "6.6.6.6")]),
    request("GET", "http://127.0.0.1/missing"),  # absolute form
    request("HEAD", "/"),
    request("HEAD", "/missing"),
    request("POST", "/pen", [UTF8], b"blue"),
    request("PATCH", "/pen", [UTF8], b"red"),
    request("PROPFIND", "/"),
    request("OPTIONS", "/"),
    request("PUT", "/", [UTF8], b"no name"),
    request("PUT", "/?name=pen", [UTF8], b"no name either"),
    request("DELETE", "/missing"),
    request("DELETE", "/"),
    request("DELETE", "/%C3%A9t%C3%A9", version="HTTP/1.1"),
]

# A create/read/update/delete sequence; answers depend on the requests before.
REST_STATEFUL: List[Case] = [
    request("PUT", "/pen", [UTF8], b"blue"),
    request("GET", "/pen"),
    request("PUT", "/cup", [UTF8], "ünïcode".encode()),
    request("PUT", "/%C3%A9t%C3%A9", [UTF8], "summer ☀".encode(), version="HTTP/1.1"),
    request("GET", "/%C3%A9t%C3%A9"),
    request("PUT", "/latin", [("Content-Type", "text/plain; charset=latin-1")], b"caf\xe9"),
    request("GET", "/latin"),
    request("PUT", "/raw", [], b"\xff\xfe\x00 not utf-8"),
    request("GET", "/raw"),
    request("PUT", "/empty", [UTF8], b""),
    request("GET", "/empty"),
    request("PUT", "/unframed"),  # no Content-Length: no body (the spec)
    request("GET", "/"),
    request("PUT", "/pen", [UTF8], b"red"),
    request("GET", "/pen"),
    request("HEAD", "/pen"),
    request("DELETE", "/pen"),
    request("GET", "/pen"),
    request("DELETE", "/pen"),
    request("POST", "/cup", [UTF8], b"x"),
    request("GET", "/"),
]


@pytest.fixture
def rest_picohttp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tuple[int, Path]]:
    """The REST example on picohttp's own server, its data file in its own directory."""
    directory = tmp_path / "picohttp"
    directory.mkdir()
    monkeypatch.chdir(directory)  # the example writes test.json in the working directory
    handler, args = example_handler("rest_server.py")
    with serving(handler, *args) as server:
        yield server.port, directory


def test_rest_example_stateless_requests_on_two_gunicorn_workers_and_waitress(
    tmp_path: Path, rest_picohttp: Tuple[int, Path]
) -> None:
    require("gunicorn")
    require("waitress")
    pico, _ = rest_picohttp
    expected = [send("picohttp", pico, raw) for _, raw in REST_STATELESS]
    gunicorn_dir, waitress_dir = tmp_path / "gunicorn", tmp_path / "waitress"
    gunicorn_dir.mkdir()
    waitress_dir.mkdir()
    access_log = gunicorn_dir / "access.log"
    port = free_port()
    with child_server(
        gunicorn("rest_wsgi:application", port, 2, access_log), port, gunicorn_dir, wsgi_env()
    ):
        for case, want in zip(REST_STATELESS, expected):
            first, second = answered_by_both_workers(port, case[1])
            same(want, first, case, "gunicorn (held worker)")
            same(want, second, case, "gunicorn (other worker)")
    pids: Dict[str, int] = {}
    for line in access_log.read_text().splitlines():
        pid = line.split()[0]
        pids[pid] = pids.get(pid, 0) + 1
    assert sorted(pids.values()) == [len(REST_STATELESS)] * 2, pids  # each worker, each request

    port = free_port()
    with child_server(waitress("rest_wsgi:application", port), port, waitress_dir, wsgi_env()):
        for case, want in zip(REST_STATELESS, expected):
            same(want, send("waitress", port, case[1]), case, "waitress")
    for directory in (gunicorn_dir, waitress_dir):
        assert not (directory / "test.json").exists()  # nothing was stored anywhere


def test_rest_example_stateful_sequence_on_gunicorn_and_waitress(
    tmp_path: Path, rest_picohttp: Tuple[int, Path]
) -> None:
    require("gunicorn")
    require("waitress")
    pico, pico_dir = rest_picohttp
    gunicorn_dir, waitress_dir = tmp_path / "gunicorn", tmp_path / "waitress"
    gunicorn_dir.mkdir()
    waitress_dir.mkdir()
    gunicorn_port, waitress_port = free_port(), free_port()
    with (
        child_server(
            gunicorn("rest_wsgi:application", gunicorn_port, 1),
            gunicorn_port,
            gunicorn_dir,
            wsgi_env(),
        ),
        child_server(
            waitress("rest_wsgi:application", waitress_port),
            waitress_port,
            waitress_dir,
            wsgi_env(),
        ),
    ):
        for case in REST_STATEFUL:
            want = send("picohttp", pico, case[1])
            same(want, send("gunicorn", gunicorn_port, case[1]), case, "gunicorn")
            same(want, send("waitress", waitress_port, case[1]), case, "waitress")
    stored = json.loads((pico_dir / "test.json").read_text())
    assert stored == {
        "cup": "ünïcode",
        "été": "summer ☀",
        "latin": "café",
        "raw": "\udcff\udcfe\x00 not utf-8",
        "empty": None,
        "unframed": None,
    }
    for directory in (gunicorn_dir, waitress_dir):
        assert (directory / "test.json").read_text() == (pico_dir / "test.json").read_text()


# -- every kind of response -------------------------------------------------------------


def varied_cases(etag: str, last_modified: str) -> List[Case]:
    kinds = ["text", "html", "json", "bytes", "empty", "latin", "no-content", "not-modified"]
    kinds += ["unknown-status", "cookies", "own-date", "raise", "splitting", "stream", "file"]
    kinds += ["nothing"]
    cases = [request("GET", f"/kind/{kind}") for kind in kinds]
    cases += [request("HEAD", f"/kind/{kind}") for kind in ("text", "stream", "file", "raise")]
    cases += [
        request("GET", "/static/page.html"),
        request("HEAD", "/static/page.html"),
        request("GET", "/static/"),
        request("GET", "/static/sub"),
        request("GET", "/static/sub?x=1"),
        request("GET", "/static/missing.txt"),
        request("GET", "/static/../varied_secret.txt"),
        request("GET", "/static/big.bin"),
        request("GET", "/static/big.bin", [("Range", "bytes=2-5")]),
        request("GET", "/static/big.bin", [("Range", "bytes=-100")]),
        request("GET", "/static/big.bin", [("Range", "bytes=99999999-")]),
        request("GET", "/static/big.bin", [("If-None-Match", etag)]),
        request("GET", "/static/big.bin", [("If-Modified-Since", last_modified)]),
        request("POST", "/static/page.html", [UTF8], b"x"),
        request("GET", "/echo/a%2Fb/%C3%A9t%C3%A9/%ZZ/?q=a+b&x=%C3%BC&y&q=2"),
        request("GET", "/echo", version="HTTP/1.1"),
        request("GET", "http://example.com/echo/abs?x=1"),
        request("GET", "/echo/h", [("Accept", "*/*"), ("X-Custom-Header", "caf\xe9")]),
        request("PUT", "/echo/utf8", [UTF8], "ünïcode ☀".encode()),
        request("PUT", "/echo/latin", [("Content-Type", "text/plain; charset=latin-1")], b"\xe9"),
        request("POST", "/echo/bytes", [("Content-Type", "application/octet-stream")], b"\xff\x00"),
        request("POST", "/echo/empty", [], b""),
        request("POST", "/echo/unframed"),
        request("POST", "/echo/full", [], b"x" * 4096),
        request("POST", "/echo/too-big", [], b"x" * 4097),
        request(
            "POST",
            "/echo/chunked",
            [("Transfer-Encoding", "chunked")],
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            version="HTTP/1.1",
        ),
    ]
    return cases


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory of every server: ``site/`` for staticResource, one file outside."""
    (tmp_path / "site" / "sub").mkdir(parents=True)
    (tmp_path / "site" / "page.html").write_text("<p>page</p>")
    (tmp_path / "site" / "index.html").write_text("<h1>index</h1>")
    (tmp_path / "site" / "sub" / "index.html").write_text("<p>sub</p>")
    (tmp_path / "site" / "big.bin").write_bytes(os.urandom(2 * 1024 * 1024 + 7))
    (tmp_path / "varied_secret.txt").write_text("never served")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_kind_of_response_on_gunicorn_and_waitress(site: Path) -> None:
    require("gunicorn")
    require("waitress")
    import varied_wsgi

    with serving(varied_wsgi.router, maxBody=varied_wsgi.MAX_BODY) as server:
        pico = server.port
        _, _, headers, _ = parse_http(send("picohttp", pico, request("GET", "/static/big.bin")[1]))
        etag, last_modified = dict(headers)["etag"], dict(headers)["last-modified"]
        cases = varied_cases(etag, last_modified)
        expected = [send("picohttp", pico, raw) for _, raw in cases]
    statuses = {parse_http(raw, case[0])[0] for case, raw in zip(cases, expected)}
    assert statuses >= {200, 204, 206, 301, 304, 404, 405, 413, 416, 500, 799}  # all kinds ran

    gunicorn_port, waitress_port = free_port(), free_port()
    with (
        child_server(
            gunicorn("varied_wsgi:application", gunicorn_port, 2), gunicorn_port, site, wsgi_env()
        ),
        child_server(
            waitress("varied_wsgi:application", waitress_port), waitress_port, site, wsgi_env()
        ),
    ):
        for case, want in zip(cases, expected):
            same(want, send("gunicorn", gunicorn_port, case[1]), case, "gunicorn")
            got = send("waitress", waitress_port, case[1])
            if b"Transfer-Encoding: chunked" in case[1]:
                # waitress decodes a chunked body itself and tells the application it came
                # with a Content-Length instead: the handler sees the same body, other headers.
                assert without_framing(got) == without_framing(want)
            else:
                same(want, got, case, "waitress")


def without_framing(raw: bytes) -> Dict[str, Any]:
    """The echo of a request, without the framing fields and the length of the echo itself."""
    echo = json.loads(parse_http(raw)[3])
    framing = ("Content-Length", "Transfer-Encoding")
    echo["headers"] = [field for field in echo["headers"] if field[0] not in framing]
    return dict(echo)
