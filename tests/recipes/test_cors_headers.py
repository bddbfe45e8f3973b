"""``picohttp.withHeaders`` and ``picohttp.cors`` over real sockets, with curl and requests.

Preflights are sent the way a browser sends them (``OPTIONS`` with ``Origin``
and ``Access-Control-Request-Method``); the wrappers are composed with
``Router``, ``staticResource`` (and its ``.gz`` twins, which bring their own
``Vary``) and each other, and must pass ``HttpServer``'s ``args``, ``Router``
captures and ``mount`` keywords through to the handler they wrap.
"""

from __future__ import annotations

import functools
import gzip
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import requests

import picohttp
from picohttp import Router, cors, staticResource, withHeaders
from picohttp.testing import Client
from support import exchange, parse_response, serving

CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")
APP = "http://localhost:3000"


def curl_head(*args: str) -> Tuple[int, List[Tuple[str, str]], bytes]:
    """``curl -si``: the status, every header line (repeats kept) and the body."""
    assert CURL is not None
    result = subprocess.run(
        [CURL, "-si", "--max-time", "20", *args], capture_output=True, timeout=30, check=True
    )
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields.append((name, value.strip()))
    return int(lines[0].split()[1]), fields, body


def field(fields: List[Tuple[str, str]], name: str) -> List[str]:
    return [value for key, value in fields if key.lower() == name.lower()]


class Recorder:
    """A handler that records what it was called with and answers from it."""

    def __init__(self) -> None:
        self.calls: List[Tuple[str, Tuple[Any, ...], Dict[str, Any]]] = []
        self.lock = threading.Lock()

    def __call__(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> None:
        with self.lock:
            self.calls.append((request.method, args, kwargs))
        response.data = {"method": request.method, "args": list(args), "kwargs": kwargs}


# -- cors: any origin --------------------------------------------------------------------


@needs_curl
def test_preflight_from_curl_is_answered_without_the_handler(threads: bool) -> None:
    handler = Recorder()
    with serving(cors(handler), threads=threads) as server:
        status, fields, body = curl_head(
            "-X",
            "OPTIONS",
            "-H",
            f"Origin: {APP}",
            "-H",
            "Access-Control-Request-Method: PUT",
            "-H",
            "Access-Control-Request-Headers: content-type, x-token",
            f"http://127.0.0.1:{server.port}/items/pen",
        )
    assert status == 204
    assert body == b""
    assert field(fields, "Access-Control-Allow-Origin") == ["*"]
    assert field(fields, "Access-Control-Allow-Methods") == ["PUT"]
    assert field(fields, "Access-Control-Allow-Headers") == ["content-type, x-token"]
    assert field(fields, "Access-Control-Max-Age") == ["7200"]
    assert field(fields, "Content-Length") == []  # a 204 has no body
    assert handler.calls == []


@needs_curl
def test_simple_request_from_curl_gets_the_header_and_the_handler_answer(threads: bool) -> None:
    handler = Recorder()
    with serving(cors(handler), threads=threads) as server:
        status, fields, body = curl_head("-H", f"Origin: {APP}", f"http://127.0.0.1:{server.port}/")
    assert status == 200
    assert field(fields, "Access-Control-Allow-Origin") == ["*"]
    assert field(fields, "Vary") == []  # the same answer for every origin
    assert body == b'{"method": "GET", "args": [], "kwargs": {}}'


def test_every_response_gets_the_header_with_requests_even_without_origin() -> None:
    def handler(request: Any, response: Any) -> None:
        response.status = 404 if request.path[0] == "missing" else 200
        response.data = "here" if response.status == 200 else "not here"

    with serving(cors(handler)) as server:
        base = f"http://127.0.0.1:{server.port}"
        found = requests.get(base + "/", timeout=10)
        missing = requests.get(base + "/missing", headers={"Origin": APP}, timeout=10)
        posted = requests.post(base + "/", data="x", headers={"Origin": APP}, timeout=10)
        head = requests.head(base + "/", timeout=10)
    for reply in (found, missing, posted, head):
        assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert missing.status_code == 404 and missing.text == "not here"


def test_a_plain_options_request_reaches_the_handler() -> None:
    handler = Recorder()
    with serving(cors(handler)) as server:
        url = f"http://127.0.0.1:{server.port}/"
        without_method = requests.options(url, headers={"Origin": APP}, timeout=10)
        without_origin = requests.options(
            url, headers={"Access-Control-Request-Method": "PUT"}, timeout=10
        )
    assert [call[0] for call in handler.calls] == ["OPTIONS", "OPTIONS"]
    for reply in (without_method, without_origin):
        assert reply.status_code == 200
        assert reply.json()["method"] == "OPTIONS"
        assert reply.headers["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Methods" not in reply.headers


# -- cors: a list of origins ----------------------------------------------------------------


@needs_curl
def test_listed_origin_is_echoed_with_vary_and_others_get_nothing(threads: bool) -> None:
    handler = Recorder()
    allowed = cors(handler, origins=["http://localhost:3000", "https://app.example/"])
    with serving(allowed, threads=threads) as server:
        url = f"http://127.0.0.1:{server.port}/"
        _, listed, _ = curl_head("-H", "Origin: http://localhost:3000", url)
        _, slash, _ = curl_head("-H", "Origin: https://app.example", url)
        _, other, _ = curl_head("-H", "Origin: http://evil.example", url)
        _, none, _ = curl_head(url)
        status, preflight, _ = curl_head(
            "-X",
            "OPTIONS",
            "-H",
            "Origin: http://localhost:3000",
            "-H",
            "Access-Control-Request-Method: DELETE",
            url,
        )
    assert field(listed, "Access-Control-Allow-Origin") == ["http://localhost:3000"]
    assert field(slash, "Access-Control-Allow-Origin") == ["https://app.example"]
    assert field(other, "Access-Control-Allow-Origin") == []
    assert field(none, "Access-Control-Allow-Origin") == []
    for fields in (listed, slash, other, none):
        assert field(fields, "Vary") == ["Origin"]  # caches must not mix the answers
    assert status == 204
    assert field(preflight, "Access-Control-Allow-Origin") == ["http://localhost:3000"]
    assert field(preflight, "Access-Control-Allow-Methods") == ["DELETE"]
    assert field(preflight, "Access-Control-Allow-Headers") == []  # none were asked for
    assert field(preflight, "Vary") == [
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
    ]
    assert [call[0] for call in handler.calls] == ["GET"] * 4


def test_preflight_from_an_unlisted_origin_goes_to_the_handler() -> None:
    router = Router()

    @router.route("PUT", "/items/{name}")
    def put(request: Any, response: Any, name: str) -> None:
        response.status = 201

    with serving(cors(router, origins="http://localhost:3000")) as server:
        reply = requests.options(
            f"http://127.0.0.1:{server.port}/items/pen",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "PUT"},
            timeout=10,
        )
    assert reply.status_code == 405  # the router's own answer: no CORS grant
    assert reply.headers["Allow"] == "PUT"
    assert "Access-Control-Allow-Origin" not in reply.headers
    assert reply.headers["Vary"] == "Origin"


def test_bad_origins_and_arguments_are_refused_at_once() -> None:
    handler = Recorder()
    for origins, error in (
        ("localhost:3000", ValueError),
        (["https://ok.example", "example.com"], ValueError),
        (["*"], ValueError),
        ([], ValueError),
        ([3000], TypeError),
    ):
        with pytest.raises(error):
            cors(handler, origins=origins)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        cors(handler, maxAge=-1)
    with pytest.raises(TypeError):
        cors("not a handler")  # type: ignore[arg-type]
    assert cors(handler, origins="null") is not None  # sandboxed iframes, file:// pages


def test_max_age_is_configurable() -> None:
    client = Client(cors(Recorder(), maxAge=60))
    reply = client.options("/", {"Origin": APP, "Access-Control-Request-Method": "GET"})
    assert reply.status == 204
    assert reply.headers["Access-Control-Max-Age"] == "60"


# -- composition ---------------------------------------------------------------------------


def test_server_args_router_captures_and_mount_keywords_pass_through(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "hello.txt").write_text("hello")
    inner = Recorder()
    router = Router()
    router.route("GET", "/items/{name}")(cors(withHeaders(inner, {"X-Inner": "1"})))
    router.mount("/static", cors(staticResource), staticBase=str(tmp_path / "site"))
    router.mount("/plain", withHeaders(inner, {"X-Mounted": "yes"}), "mount-arg", flag=True)
    with serving(router, "server-arg") as server:
        base = f"http://127.0.0.1:{server.port}"
        item = requests.get(base + "/items/pen", timeout=10)
        static = requests.get(base + "/static/hello.txt", timeout=10)
        mounted = requests.get(base + "/plain/x", timeout=10)
    assert item.json() == {"method": "GET", "args": ["server-arg"], "kwargs": {"name": "pen"}}
    assert item.headers["Access-Control-Allow-Origin"] == "*"
    assert item.headers["X-Inner"] == "1"
    assert static.text == "hello"
    assert static.headers["Access-Control-Allow-Origin"] == "*"
    assert static.headers["Content-Type"] == "text/plain; charset=utf-8"
    # mount's own arguments, not HttpServer's (as for any mounted handler)
    assert mounted.json() == {"method": "GET", "args": ["mount-arg"], "kwargs": {"flag": True}}
    assert mounted.headers["X-Mounted"] == "yes"


def test_router_still_refuses_a_wrapped_function_without_its_capture() -> None:
    def no_name(request: Any, response: Any) -> None:
        pass

    router = Router()
    with pytest.raises(TypeError, match="no parameter name"):
        router.route("GET", "/items/{name}")(cors(no_name))


def test_static_resource_with_args_and_a_gz_twin_merges_vary(tmp_path: Path) -> None:
    (tmp_path / "app.js").write_text("console.log(1);\n" * 50)
    (tmp_path / "app.js.gz").write_bytes(gzip.compress((tmp_path / "app.js").read_bytes()))
    handler = cors(staticResource, origins=[APP])
    with serving(handler, str(tmp_path)) as server:
        reply = requests.get(
            f"http://127.0.0.1:{server.port}/app.js", headers={"Origin": APP}, timeout=10
        )
        etag = reply.headers["ETag"]
        revalidated = requests.get(
            f"http://127.0.0.1:{server.port}/app.js",
            headers={"Origin": APP, "If-None-Match": etag},
            timeout=10,
        )
    assert reply.status_code == 200
    assert reply.headers["Content-Encoding"] == "gzip"
    assert reply.text == "console.log(1);\n" * 50
    assert reply.headers["Vary"] == "Accept-Encoding, Origin"
    assert reply.headers["Access-Control-Allow-Origin"] == APP
    assert revalidated.status_code == 304
    assert revalidated.headers["Vary"] == "Accept-Encoding, Origin"
    assert revalidated.headers["Access-Control-Allow-Origin"] == APP


def test_order_decides_whether_extra_headers_reach_preflights() -> None:
    preflight = {"Origin": APP, "Access-Control-Request-Method": "PATCH"}
    outside = Client(withHeaders(cors(Recorder()), {"X-Outer": "1"}))
    inside = Client(cors(withHeaders(Recorder(), {"X-Inner": "1"})))
    answered = outside.options("/", preflight)
    assert answered.status == 204 and answered.headers["X-Outer"] == "1"
    bypassed = inside.options("/", preflight)
    assert bypassed.status == 204 and "X-Inner" not in bypassed.headers
    assert inside.get("/").headers["X-Inner"] == "1"


# -- withHeaders -----------------------------------------------------------------------------


def test_with_headers_on_every_response_from_router_and_static(
    tmp_path: Path, threads: bool
) -> None:
    (tmp_path / "page.html").write_text("<p>page</p>")
    router = Router()

    @router.route("GET", "/api")
    def api(request: Any, response: Any) -> None:
        response.data = {"ok": True}

    router.mount("/", functools.partial(staticResource, staticBase=str(tmp_path)))
    security = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}
    with serving(withHeaders(router, security), threads=threads) as server:
        base = f"http://127.0.0.1:{server.port}"
        replies = [
            requests.get(base + "/api", timeout=10),
            requests.post(base + "/api", timeout=10),  # 405 from the router
            requests.get(base + "/page.html", timeout=10),
            requests.head(base + "/page.html", timeout=10),
            requests.get(base + "/nothing.html", timeout=10),  # 404 from staticResource
        ]
    assert [reply.status_code for reply in replies] == [200, 405, 200, 200, 404]
    for reply in replies:
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert reply.headers["X-Frame-Options"] == "DENY"


def test_the_handler_own_header_wins_and_repeats_are_separate_lines() -> None:
    def handler(request: Any, response: Any) -> None:
        response.headers["cache-control"] = "max-age=60"
        response.data = "x"

    def replaced(request: Any, response: Any) -> None:
        response.headers = {"CACHE-CONTROL": "private"}  # a plain dict, not Headers
        response.data = "y"

    extra = [
        ("Cache-Control", "no-store"),
        ("Link", "</a.css>; rel=preload"),
        ("Link", "</b.js>; rel=preload"),
    ]
    with serving(withHeaders(handler, extra)) as server:
        with_headers = parse_response(exchange(server.port, b"GET / HTTP/1.0\r\n\r\n"))
    raw_client = Client(withHeaders(handler, extra))
    reply = raw_client.get("/")
    assert [v for k, v in reply.header_list if k.lower() == "cache-control"] == ["max-age=60"]
    assert [v for k, v in reply.header_list if k == "Link"] == [
        "</a.css>; rel=preload",
        "</b.js>; rel=preload",
    ]
    assert with_headers[1]["cache-control"] == "max-age=60"
    plain = Client(withHeaders(replaced, extra)).get("/")
    assert [v for k, v in plain.header_list if k.lower() == "cache-control"] == ["private"]
    assert plain.text == "y"


@pytest.mark.parametrize(
    "headers",
    [
        {"Bad Name": "x"},
        {"X-Split": "a\r\nSet-Cookie: stolen=1"},
        {"X-Nul": "a\0b"},
        {"": "x"},
        {"X-Number": 3},
    ],
)
def test_with_headers_refuses_what_could_not_be_sent(headers: Dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        withHeaders(Recorder(), headers)


def test_wrappers_are_named_after_what_they_wrap_for_the_logs() -> None:
    def requestHandler(request: Any, response: Any) -> None:
        pass

    wrapped = withHeaders(cors(requestHandler), {"X-A": "1"})
    assert wrapped.__qualname__ == f"withHeaders(cors({requestHandler.__qualname__}))"
    assert wrapped.__wrapped__.__wrapped__ is requestHandler  # type: ignore[attr-defined]
    assert picohttp.withHeaders is withHeaders and "cors" in picohttp.__all__
