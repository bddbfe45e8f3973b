"""``picohttp.wsgi`` under ``wsgiref.simple_server``, validated, over real sockets.

wsgiref passes no raw target (no ``RAW_URI``/``REQUEST_URI``), so here the
adapter rebuilds it from ``PATH_INFO``; every call goes through
``wsgiref.validate.validator`` and any complaint of the validator (an
assertion, or a warning: warnings are errors in this suite) fails the test.
The answers must equal picohttp's own server's for the same bytes.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.validate import validator

import pytest
from test_wsgi_adapter import RESPONSE_CASES, kinds

import picohttp.wsgi
from support import exchange, parse_http, serving

IGNORED = {"date", "server", "connection"}


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Recording:
    """The validated iterable; what goes wrong while iterating or closing it is kept."""

    def __init__(self, result: Any, errors: List[BaseException]) -> None:
        self._result = result
        self._errors = errors

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._result
        except BaseException as exc:
            self._errors.append(exc)
            raise

    def close(self) -> None:
        try:
            self._result.close()
        except BaseException as exc:
            self._errors.append(exc)
            raise


@contextlib.contextmanager
def wsgiref_serving(app: Any) -> Iterator[tuple]:  # type: ignore[type-arg]
    errors: List[BaseException] = []
    validated = validator(app)

    def checked(environ: Dict[str, Any], start_response: Any) -> Any:
        try:
            return Recording(validated(environ, start_response), errors)
        except BaseException as exc:
            errors.append(exc)
            raise

    server: WSGIServer = make_server("127.0.0.1", 0, checked, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port, errors
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def comparable(raw: bytes, method: str) -> tuple:  # type: ignore[type-arg]
    status, reason, headers, body = parse_http(raw, method)
    return status, reason, [(n, v) for n, v in headers if n not in IGNORED], body


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    (tmp_path / "data.bin").write_bytes(bytes(range(256)) * 40)
    return tmp_path


def test_wsgiref_answers_as_picohttp_does(directory: Path, caplog: Any) -> None:
    requests = []
    for method, target, headers in RESPONSE_CASES:
        fields = "".join(f"{name}: {value}\r\n" for name, value in headers)
        requests.append((method, f"{method} {target} HTTP/1.0\r\n{fields}\r\n".encode()))
    with caplog.at_level("CRITICAL", logger="picohttp"):
        with serving(kinds, directory) as server:
            expected = [exchange(server.port, raw) for _, raw in requests]
        with wsgiref_serving(picohttp.wsgi.application(kinds, directory)) as (port, errors):
            answers = [exchange(port, raw) for _, raw in requests]
    assert errors == []
    for (method, raw), want, got in zip(requests, expected, answers):
        mine, theirs = comparable(got, method), comparable(want, method)
        if ("content-length", "0") in mine[2] and not any(
            n == "content-length" for n, _ in theirs[2]
        ):
            # wsgiref's own: it announces an empty body when the application gives no length
            # and sends nothing (a 204, a 304, a HEAD of a stream).
            mine[2].remove(("content-length", "0"))
        assert mine == theirs, raw
        dates = [v for n, v in parse_http(got, method)[2] if n == "date"]
        assert len(dates) == 1, raw


def test_paths_and_bodies_arrive_as_picohttp_parses_them() -> None:
    def echo(request: Any, response: Any) -> None:
        response.data = [request.method, request.path, request.query, request.data]

    requests = [
        b"GET /%C3%A9t%C3%A9/caf%C3%A9/?q=a+b&x=%C3%BC&y HTTP/1.0\r\n\r\n",
        b"GET /a%20b/%ZZ/50%25 HTTP/1.0\r\n\r\n",
        b"PUT /p HTTP/1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: 6\r\n\r\n\xc3\xbc \xe2\x98\x80",
        b"PUT /l HTTP/1.0\r\nContent-Type: text/plain; charset=latin-1\r\n"
        b"Content-Length: 4\r\n\r\ncaf\xe9",
    ]
    with serving(echo) as server:
        expected = [exchange(server.port, raw) for raw in requests]
    with wsgiref_serving(picohttp.wsgi.application(echo)) as (port, errors):
        answers = [exchange(port, raw) for raw in requests]
    assert errors == []
    for raw, want, got in zip(requests, expected, answers):
        assert parse_http(got)[3] == parse_http(want)[3], raw
