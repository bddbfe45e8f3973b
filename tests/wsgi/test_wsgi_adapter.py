"""``picohttp.wsgi``: environ in, the server's own request; the server's own answer out.

Every application call here goes through ``wsgiref.validate.validator`` (PEP
3333's checker; its warnings are errors in this suite), and each answer is
compared with what ``picohttp.testing.Client`` (the server's parser, handler
call and serializer, without a socket) gives for the same request.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple
from wsgiref.util import FileWrapper
from wsgiref.validate import validator

import pytest

import picohttp
import picohttp.wsgi
from picohttp import HttpRequest, HttpResponse
from picohttp._limits import Limits
from picohttp.testing import Client
from picohttp.wsgi import build_request, request_target
from support import PYTHON, parse_request, python_env, request_snapshot

Fields = List[Tuple[str, str]]


def environ_for(
    method: str,
    target: str,
    headers: Sequence[Tuple[str, str]] = (),
    body: bytes = b"",
    raw_uri: bool = True,
    **extra: Any,
) -> Dict[str, Any]:
    """The environ a PEP 3333 server makes for a request (as waitress makes it).

    ``REQUEST_URI`` is the target as sent (waitress, uWSGI and Apache pass it
    on; gunicorn calls it ``RAW_URI``); ``raw_uri=False`` leaves it out.
    """
    path, _, query = target.partition("?")
    environ: Dict[str, Any] = {
        "REQUEST_URI": target,
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        # Percent-decoded bytes, carried in a str as Latin-1 (PEP 3333 "native strings").
        "PATH_INFO": urllib.parse.unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        environ[key] = value
    environ.update(extra)
    if not raw_uri:
        del environ["REQUEST_URI"]
    return environ


class Answer:
    def __init__(self, status: str, headers: Fields, body: bytes, iterable: Any) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.iterable = iterable  # what the application returned, before the validator wrapped it


def call(app: Any, environ: Dict[str, Any]) -> Answer:
    """Run ``app`` under the validator the way a server does, close() included."""
    returned: List[Any] = []

    def unwrapped(environ: Dict[str, Any], start_response: Any) -> Iterable[bytes]:
        returned.append(app(environ, start_response))
        return returned[0]  # type: ignore[no-any-return]

    started: List[Tuple[str, Fields]] = []

    def start_response(status: str, headers: Fields, exc_info: Any = None) -> Any:
        started.append((status, headers))
        return lambda data: None

    result = validator(unwrapped)(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        result.close()  # type: ignore[attr-defined]
    return Answer(started[0][0], started[0][1], body, returned[0])


def client_answer(
    handler: Any, method: str, target: str, headers: Fields, body: Optional[bytes], *args: Any
) -> Tuple[str, Fields, bytes]:
    """What picohttp's server sends for the request, as (status, fields, body)."""
    sent = Client(handler, *args).request(method, target, headers=headers, data=body)
    fields = [(n, v) for n, v in sent.header_list if n.lower() != "connection"]
    return f"{sent.status} {sent.reason}", fields, sent.data


def without_date(fields: Fields) -> Fields:
    return [(n, v) for n, v in fields if n.lower() != "date"]


# -- responses -----------------------------------------------------------------------


def kinds(request: HttpRequest, response: HttpResponse, directory: Path) -> None:
    kind = request.path[0]
    if kind == "text":
        response.data = "héllo\n"
    elif kind == "html":
        response.data = "<p>hi</p>"
    elif kind == "json":
        response.data = {"k": ["ü", 1]}
    elif kind == "bytes":
        response.headers["Content-Type"] = "application/octet-stream"
        response.data = b"\x00\xff"
    elif kind == "latin":
        response.headers["Content-Type"] = "text/plain; charset=latin-1"
        response.data = "café"
    elif kind == "file":
        file = open(directory / "data.bin", "rb")  # noqa: SIM115 - the adapter closes it
        file.seek(2)
        response.headers["Content-Type"] = "application/octet-stream"
        response.data = file
    elif kind == "range":
        response.headers["Content-Type"] = "application/octet-stream"
        request.path = ["data.bin"]
        picohttp.staticResource(request, response, str(directory))
    elif kind == "stream":
        response.headers["Content-Type"] = "text/plain; charset=utf-8"
        response.data = iter(["a", b"b", "", "ç"])
    elif kind == "no-content":
        response.status = 204
    elif kind == "not-modified":
        response.status = 304
        response.headers["ETag"] = '"v1"'
    elif kind == "unknown-status":
        response.status = 799
        response.data = "odd"
    elif kind == "cookies":
        response.headers["Set-Cookie"] = ["a=1", "b=2"]
        response.headers["X-Text"] = "ünïcode ☀"
        response.data = "c"
    elif kind == "hop-by-hop":
        for name in ("Keep-Alive", "Upgrade", "TE", "Trailer", "Proxy-Authenticate"):
            response.headers[name] = "x"
        response.headers["Connection"] = "keep-alive"
        response.headers["Transfer-Encoding"] = "chunked"
        response.data = "hop"
    elif kind == "raise":
        raise ValueError("boom")
    elif kind == "splitting":
        response.headers["X-Evil"] = "a\r\nInjected: 1"
        response.data = "never"
    else:
        response.status = 404
        response.data = "nothing here"


RESPONSE_CASES = [
    ("GET", "/text", []),
    ("GET", "/html", []),
    ("GET", "/json", []),
    ("GET", "/bytes", []),
    ("GET", "/latin", []),
    ("GET", "/file", []),
    ("GET", "/range", [("Range", "bytes=3-6")]),
    ("GET", "/range", [("Range", "bytes=99-")]),
    ("GET", "/stream", []),
    ("GET", "/no-content", []),
    ("GET", "/not-modified", []),
    ("GET", "/unknown-status", []),
    ("GET", "/cookies", []),
    ("GET", "/raise", []),
    ("GET", "/splitting", []),
    ("GET", "/missing", []),
    ("HEAD", "/text", []),
    ("HEAD", "/file", []),
    ("HEAD", "/stream", []),
    ("HEAD", "/raise", []),
]


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    (tmp_path / "data.bin").write_bytes(bytes(range(256)) * 40)
    return tmp_path


@pytest.mark.parametrize(("method", "target", "headers"), RESPONSE_CASES)
def test_each_kind_of_answer_is_the_servers_own(
    method: str, target: str, headers: Fields, directory: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = picohttp.wsgi.application(kinds, directory)
    with caplog.at_level(logging.CRITICAL, logger="picohttp"):
        answer = call(app, environ_for(method, target, [("Host", "localhost"), *headers]))
        status, fields, body = client_answer(kinds, method, target, headers, None, directory)
    assert answer.status == status
    assert without_date(answer.headers) == without_date(fields)
    assert len([n for n, _ in answer.headers if n == "Date"]) == 1
    assert answer.body == body


def test_hop_by_hop_fields_never_reach_the_wsgi_server(directory: Path) -> None:
    # The validator itself refuses them (an AssertionError): that it passes is the test.
    answer = call(picohttp.wsgi.application(kinds, directory), environ_for("GET", "/hop-by-hop"))
    assert [name for name, _ in answer.headers] == ["Content-Type", "Content-Length", "Date"]
    assert answer.body == b"hop"


def test_a_whole_file_goes_through_wsgi_file_wrapper(directory: Path) -> None:
    app = picohttp.wsgi.application(kinds, directory)
    answer = call(app, environ_for("GET", "/file", **{"wsgi.file_wrapper": FileWrapper}))
    assert isinstance(answer.iterable, FileWrapper)  # gunicorn sends these with sendfile
    assert answer.body == (directory / "data.bin").read_bytes()[2:]
    assert answer.iterable.filelike.closed


def test_a_range_is_cut_to_its_length_not_sent_to_the_end_of_the_file(directory: Path) -> None:
    app = picohttp.wsgi.application(kinds, directory)
    environ = environ_for("GET", "/range", [("Range", "bytes=3-6")])
    environ["wsgi.file_wrapper"] = FileWrapper
    answer = call(app, environ)
    assert not isinstance(answer.iterable, FileWrapper)  # it would send to the end of the file
    assert answer.status == "206 Partial Content"
    assert answer.body == bytes([3, 4, 5, 6])


def test_an_iterator_is_passed_on_piece_by_piece_and_closed() -> None:
    produced: List[str] = []
    closed: List[bool] = []

    def pieces() -> Iterable[str]:
        try:
            for piece in ("one", "two", "three"):
                produced.append(piece)
                yield piece
        finally:
            closed.append(True)

    def handler(request: HttpRequest, response: HttpResponse) -> None:
        response.headers["Content-Type"] = "text/plain"
        response.data = pieces()

    app = picohttp.wsgi.application(handler)
    started: List[str] = []
    result = app(environ_for("GET", "/"), lambda status, headers: started.append(status))
    iterator = iter(result)
    assert started == ["200 OK"]
    assert produced == ["one"]  # primed before start_response, as the server does
    assert next(iterator) == b"one"
    assert produced == ["one"]  # the next piece only when asked for
    assert next(iterator) == b"two"
    result.close()  # type: ignore[attr-defined]  # a client gone after two pieces
    assert closed == [True]
    assert produced == ["one", "two"]


def test_the_rest_example_under_the_validator(tmp_path: Path, monkeypatch: Any) -> None:
    """The spec's REST handler: every answer equals the test client's, state and all."""
    from support import example_handler

    monkeypatch.chdir(tmp_path)
    handler, args = example_handler("rest_server.py")
    wsgi_handler, wsgi_args = example_handler("rest_server.py")
    app = picohttp.wsgi.application(wsgi_handler, *wsgi_args)
    client = Client(handler, *args)
    utf8 = [("Content-Type", "text/plain; charset=utf-8")]
    for method, target, headers, body in [
        ("PUT", "/pen", utf8, b"blue"),
        ("PUT", "/%C3%A9t%C3%A9", utf8, "été ☀".encode()),
        ("GET", "/", [], None),
        ("GET", "/%C3%A9t%C3%A9", [], None),
        ("DELETE", "/pen", [], None),
        ("DELETE", "/pen", [], None),
        ("POST", "/x", utf8, b"x"),
    ]:
        sent = client.request(method, target, headers=headers, data=body)
        fields = [*headers, ("Content-Length", str(len(body)))] if body is not None else headers
        # The validator insists on a Content-Type in every answer but 204/304; the REST
        # example sends none with its empty 404 and 501 answers (HTTP does not require
        # one): those are checked without it.
        app_call = call if sent.headers.get("Content-Type") else call_unvalidated
        answer = app_call(app, environ_for(method, target, fields, body or b""))
        assert answer.status == f"{sent.status} {sent.reason}", (method, target)
        assert answer.body == sent.data


def call_unvalidated(app: Any, environ: Dict[str, Any]) -> Answer:
    started: List[Tuple[str, Fields]] = []
    result = app(environ, lambda status, headers: started.append((status, headers)))
    body = b"".join(result)
    getattr(result, "close", lambda: None)()
    return Answer(started[0][0], started[0][1], body, result)


# -- requests -------------------------------------------------------------------------


def seen(handler_args: List[HttpRequest]) -> Any:
    def handler(request: HttpRequest, response: HttpResponse) -> None:
        request.body  # noqa: B018 - read it before the adapter closes a spooled body
        handler_args.append(request)
        response.data = "seen"

    return handler


REQUEST_CASES = [
    ("GET", "/", [], b""),
    ("GET", "/a/b/", [], b""),
    ("GET", "/%C3%A9t%C3%A9/caf%C3%A9?q=a+b&x=%C3%BC&y&q=2", [], b""),
    ("GET", "/%ZZ/%ff/a%25b", [], b""),
    ("GET", "/a/?", [], b""),
    ("PUT", "/items/pen", [("Content-Type", "text/plain; charset=utf-8")], "ü ☀".encode()),
    ("PUT", "/latin", [("Content-Type", "text/plain; charset=latin-1")], b"caf\xe9"),
    ("POST", "/raw", [("Content-Type", "application/octet-stream")], b"\xff\x00"),
    ("POST", "/empty", [("Content-Type", "text/plain")], b""),
    ("DELETE", "/x", [("X-Custom-Header", "caf\xe9"), ("Accept", "*/*")], b""),
]


@pytest.mark.parametrize(("method", "target", "headers", "body"), REQUEST_CASES)
def test_the_request_is_the_one_the_parser_makes(
    method: str, target: str, headers: Fields, body: bytes
) -> None:
    fields = [("Host", "localhost"), *headers]
    if body or method in ("PUT", "POST"):
        fields.append(("Content-Length", str(len(body))))
    raw = f"{method} {target} HTTP/1.1\r\n".encode() + b"".join(
        f"{name}: {value}\r\n".encode("latin-1") for name, value in fields
    )
    expected = parse_request(raw + b"\r\n" + body)
    seen_requests: List[HttpRequest] = []
    environ = environ_for(method, target, fields, body, REMOTE_PORT="5000")
    call_unvalidated(picohttp.wsgi.application(seen(seen_requests)), environ)
    got = seen_requests[0]
    assert request_snapshot(got) == request_snapshot(expected)
    assert got.scheme == expected.scheme == "http"
    # From PATH_INFO alone (no raw target): the same request, the target normalised.
    seen_requests.clear()
    environ = environ_for(method, target, fields, body, raw_uri=False, REMOTE_PORT="5000")
    call_unvalidated(picohttp.wsgi.application(seen(seen_requests)), environ)
    rebuilt = seen_requests[0]
    assert request_snapshot(rebuilt)[:5] == request_snapshot(expected)[:5]
    assert request_snapshot(rebuilt)[6:] == request_snapshot(expected)[6:]
    again = (raw + b"\r\n" + body).replace(target.encode(), rebuilt.uri.encode(), 1)
    assert parse_request(again).path == got.path  # the rebuilt target means the same path


def test_raw_uri_or_request_uri_is_preferred_to_path_info() -> None:
    # PATH_INFO has lost the difference between "/" and "%2F"; the raw target has not.
    environ = environ_for("GET", "/a%2Fb/c?x=1", raw_uri=False)
    assert environ["PATH_INFO"] == "/a/b/c"
    assert request_target(environ) == "/a/b/c?x=1"
    for key in ("RAW_URI", "REQUEST_URI"):
        with_raw = dict(environ, **{key: "/a%2Fb/c?x=1"})
        assert request_target(with_raw) == "/a%2Fb/c?x=1"
        request = build_request(with_raw, Limits())
        assert (request.path, request.query, request.uri) == (
            ["a/b", "c"],
            {"x": "1"},
            "/a%2Fb/c?x=1",
        )
    absolute = dict(environ, RAW_URI="http://example.com/a%2Fb?x=1")
    assert build_request(absolute, Limits()).path == ["a/b"]


def test_path_info_is_quoted_again_from_its_latin_1_tunnelled_bytes() -> None:
    environ = environ_for(
        "GET", "/", raw_uri=False, SCRIPT_NAME="/app", PATH_INFO="/\xc3\xa9t\xc3\xa9/50%/a b"
    )
    request = build_request(environ, Limits())
    assert request.path == ["app", "été", "50%", "a b"]
    assert request.uri == "/app/%C3%A9t%C3%A9/50%25/a%20b"
    # A server that decoded the path as UTF-8 (against PEP 3333) is understood too.
    utf8 = environ_for("GET", "/", raw_uri=False, PATH_INFO="/☀")
    assert build_request(utf8, Limits()).path == ["☀"]
    raw_non_ascii = environ_for("GET", "/", raw_uri=False, RAW_URI="/\xc3\xa9?q=\xc3\xbc")
    request = build_request(raw_non_ascii, Limits())
    assert (request.path, request.query, request.uri) == (["é"], {"q": "ü"}, "/%C3%A9?q=%C3%BC")


def test_headers_client_and_scheme() -> None:
    environ = environ_for(
        "GET",
        "/",
        [("X-Forwarded-For", "6.6.6.6"), ("Content-Type", "text/plain")],
        HTTP_CONTENT_TYPE="ignored",  # some servers keep it too; CONTENT_TYPE is the one
        CONTENT_LENGTH="",
        REMOTE_ADDR="::ffff:10.0.0.7",
        REMOTE_PORT="4321",
        **{"wsgi.url_scheme": "https"},
    )
    request = build_request(environ, Limits())
    assert dict(request.headers) == {"X-Forwarded-For": "6.6.6.6", "Content-Type": "text/plain"}
    assert request.headers["x-forwarded-for"] == "6.6.6.6"
    assert request.client == ("10.0.0.7", 4321)  # never the forwarded one by default
    assert request.scheme == "https"
    bare = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "wsgi.input": io.BytesIO()}
    request = build_request(bare, Limits())
    assert (request.client, request.protocol, request.scheme) == (("-", 0), "HTTP/1.0", "http")


# -- bodies ---------------------------------------------------------------------------


class Input:
    """A wsgi.input that records reads and can refuse them."""

    def __init__(self, data: bytes, refuse: bool = False) -> None:
        self._data = io.BytesIO(data)
        self.refuse = refuse
        self.reads: List[int] = []

    def read(self, size: int = -1) -> bytes:
        if self.refuse:
            raise AssertionError("the body was read")
        self.reads.append(size)
        return self._data.read(min(size, 3) if size > 0 else size)  # short reads, as sockets do


def body_seen(environ: Dict[str, Any], **keywords: Any) -> Tuple[str, Optional[HttpRequest]]:
    requests: List[HttpRequest] = []
    answer = call_unvalidated(picohttp.wsgi.application(seen(requests), **keywords), environ)
    return answer.status, (requests[0] if requests else None)


def test_the_body_is_read_up_to_content_length_and_no_further() -> None:
    stream = Input(b"0123456789 and the next request")
    status, request = body_seen(
        environ_for("PUT", "/", CONTENT_LENGTH="10", **{"wsgi.input": stream})
    )
    assert status == "200 OK" and request is not None
    assert request.body == b"0123456789"
    assert all(0 < size <= 10 for size in stream.reads)  # never read() without a bound


def test_body_errors_answer_as_the_parser_would(caplog: pytest.LogCaptureFixture) -> None:
    cases = [
        ({"CONTENT_LENGTH": "+5"}, b"hello", "400 Bad Request"),
        ({"CONTENT_LENGTH": "5, 6"}, b"hello!", "400 Bad Request"),
        ({"CONTENT_LENGTH": "10"}, b"short", "400 Bad Request"),
    ]
    for extra, data, status in cases:
        got, request = body_seen(environ_for("PUT", "/", **extra, **{"wsgi.input": Input(data)}))
        assert (got, request) == (status, None), extra
    refusing = Input(b"x" * 100, refuse=True)
    environ = environ_for("PUT", "/", CONTENT_LENGTH="101", **{"wsgi.input": refusing})
    answer = call_unvalidated(picohttp.wsgi.application(seen([]), maxBody=100), environ)
    assert answer.status == "413 Content Too Large"  # decided before reading a byte
    assert answer.body == Client(seen([]), maxBody=100).put("/", data=b"x" * 101).data


def test_a_chunked_body_is_read_to_its_end_within_max_body() -> None:
    chunked = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": Input(b"hello world")}
    status, request = body_seen(environ_for("POST", "/", **chunked))
    assert request is not None and request.body == b"hello world"
    chunked["wsgi.input"] = Input(b"x" * 101)
    status, request = body_seen(environ_for("POST", "/", **chunked), maxBody=100)
    assert (status, request) == ("413 Content Too Large", None)
    # Without Content-Length or a chunked body there is none, whatever wsgi.input holds.
    status, request = body_seen(environ_for("POST", "/", **{"wsgi.input": Input(b"stray")}))
    assert request is not None and request.body is None and request.data is None


def test_a_large_body_is_spooled_to_a_file_and_closed_afterwards() -> None:
    data = bytes(range(256)) * 8192  # 2 MiB, above the 1 MiB spool threshold
    files: List[Any] = []

    def handler(request: HttpRequest, response: HttpResponse) -> None:
        files.append(request._body)
        response.data = str(len(request.body or b""))

    environ = environ_for(
        "PUT", "/", CONTENT_LENGTH=str(len(data)), **{"wsgi.input": io.BytesIO(data)}
    )
    answer = call(picohttp.wsgi.application(handler), environ)
    assert answer.body == str(len(data)).encode()
    assert hasattr(files[0], "read") and files[0].closed


# -- trustProxy, loading, import cost ---------------------------------------------------


def test_trust_proxy_takes_the_proxy_entry_of_x_forwarded_for() -> None:
    headers = [("X-Forwarded-For", "6.6.6.6, 203.0.113.9"), ("X-Forwarded-Proto", "https")]
    environ = environ_for("GET", "/", headers, REMOTE_ADDR="127.0.0.1")
    assert body_seen(dict(environ))[1].client == ("127.0.0.1", 50000)  # type: ignore[union-attr]
    trusted = body_seen(dict(environ), trustProxy=True)[1]
    assert trusted is not None
    assert (trusted.client, trusted.scheme) == (("203.0.113.9", 0), "https")
    two = body_seen(dict(environ), trustProxy=2)[1]
    assert two is not None and two.client == ("6.6.6.6", 0)
    with pytest.raises(ValueError, match="trustProxy"):
        picohttp.wsgi.application(seen([]), trustProxy=-1)


def test_a_handler_can_be_named_as_module_function(tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "wsgi_named_app.py").write_text(
        "def handler(request, response, greeting):\n    response.data = greeting\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    app = picohttp.wsgi.application("wsgi_named_app:handler", "hi")
    assert call(app, environ_for("GET", "/")).body == b"hi"
    assert repr(app) == "<picohttp.wsgi.application handler>"
    with pytest.raises(ValueError, match="module:function"):
        picohttp.wsgi.application("wsgi_named_app")
    with pytest.raises(TypeError, match="callable"):
        picohttp.wsgi.application(42)  # type: ignore[arg-type]


def test_import_picohttp_does_not_import_the_adapter() -> None:
    code = "import sys, picohttp; print(json.dumps(sorted(m for m in sys.modules if 'wsgi' in m)))"
    result = subprocess.run(
        [PYTHON, "-c", "import json; " + code],
        env=python_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(result.stdout) == []
    assert sys.modules.get("picohttp.wsgi") is picohttp.wsgi
