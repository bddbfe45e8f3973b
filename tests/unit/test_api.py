"""The public API is the spec's, exactly: names, parameter order, defaults."""

from __future__ import annotations

import inspect

import picohttp


def parameters(function: object) -> list[tuple[str, object]]:
    return [(p.name, p.default) for p in inspect.signature(function).parameters.values()]  # type: ignore[arg-type]


EMPTY = inspect.Parameter.empty


def test_public_names() -> None:
    for name in ("HttpServer", "HttpRequest", "HttpResponse", "staticResource"):
        assert name in picohttp.__all__
        assert getattr(picohttp, name).__doc__
    assert isinstance(picohttp.__version__, str)


def test_http_server_signature() -> None:
    spec = parameters(picohttp.HttpServer)[:6]
    assert spec == [
        ("port", 80),
        ("handler", picohttp.staticResource),
        ("args", ()),
        ("threads", True),
        ("start", True),
        ("block", True),
    ]
    # Everything after the spec's six is keyword-only, so positional calls stay the spec's.
    extra = list(inspect.signature(picohttp.HttpServer).parameters.values())[6:]
    assert extra and all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in extra)
    assert {p.name for p in extra} >= {"host", "maxThreads", "maxBody"}
    assert callable(picohttp.HttpServer.start)
    assert callable(picohttp.HttpServer.stop)


def test_static_resource_signature() -> None:
    assert parameters(picohttp.staticResource)[:5] == [
        ("request", EMPTY),
        ("response", EMPTY),
        ("staticBase", ""),
        ("defaultResource", "index.html"),
        ("defaultMime", "text/plain"),
    ]
    # Anything picohttp adds comes after the spec's five and is optional.
    assert all(default is not EMPTY for _, default in parameters(picohttp.staticResource)[5:])


def test_http_request_fields_in_the_spec_order() -> None:
    names = [name for name, _ in parameters(picohttp.HttpRequest)]
    assert names[:6] == ["method", "path", "query", "protocol", "headers", "data"]
    request = picohttp.HttpRequest("PUT", ["a"], {"q": "1"}, "HTTP/1.1", {"X": "y"}, "body")
    assert (request.method, request.path, request.query, request.protocol) == (
        "PUT",
        ["a"],
        {"q": "1"},
        "HTTP/1.1",
    )
    assert request.headers["x"] == "y"
    assert request.data == "body"
    assert request.body == b"body"


def test_http_response_defaults() -> None:
    assert [name for name, _ in parameters(picohttp.HttpResponse)] == [
        "protocol",
        "status",
        "headers",
        "data",
    ]
    first, second = picohttp.HttpResponse(), picohttp.HttpResponse()
    assert (first.protocol, first.status, first.headers, first.data) == ("HTTP/1.0", 200, {}, None)
    assert first.headers is not second.headers  # a fresh dict per response
    first.headers["content-type"] = "x"
    assert first.headers["Content-Type"] == "x"  # case-insensitive, like the request's
    assert picohttp.HttpResponse("HTTP/1.1", 404, {"A": "b"}, "d").status == 404
