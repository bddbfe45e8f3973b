"""The test client and a real socket give the same bytes for the same request.

Each case is sent twice: through ``picohttp.testing.Client`` and, as the very
bytes ``Client.build`` makes, over a real connection to an ``HttpServer`` (in
both concurrency modes).  The two responses must be identical apart from the
``Date`` value.
"""

from __future__ import annotations

import re

import pytest

from picohttp.testing import Client
from support import echo, exchange, hello, serving


def varied(request, response, directory):
    """One handler, many response kinds, chosen by the first path segment."""
    kind = request.path[0]
    if kind == "file":
        file = open(directory / "data.bin", "rb")  # noqa: SIM115 - the server closes it
        file.seek(2)
        response.data = file
    elif kind == "stream":
        response.data = iter(["a", b"b", "ç"])
    elif kind == "broken-stream":

        def pieces():
            yield "start"
            raise ValueError("cut")

        response.data = pieces()
    elif kind == "json":
        response.data = {"k": ["ü", 1]}
    elif kind == "html":
        response.data = "<p>héllo</p>"
    elif kind == "nocontent":
        response.status = 204
        response.data = "dropped"
    elif kind == "odd":
        response.status = 799
        response.headers["Set-Cookie"] = ["a=1", "b=2"]
        response.data = b"\x00\xff"
    elif kind == "raise":
        raise KeyError("boom")
    elif kind == "splitting":
        response.headers["X-Evil"] = "a\r\nInjected: 1"
    else:
        response.status = 404


def without_date(raw: bytes) -> bytes:
    return re.sub(rb"\r\nDate: [^\r]*", b"", raw)


def both(client: Client, server_port: int, raw: bytes) -> tuple:
    return without_date(client.send(raw).raw), without_date(exchange(server_port, raw))


ECHO_CASES = [
    ("GET", "/", None, None),
    ("GET", "/a%2Fb/c/?x=1+2&y=%C3%A9&z", {"Accept": "*/*"}, None),
    ("GET", "/café au lait", None, None),
    ("PUT", "/item", {"Content-Type": "text/plain; charset=latin-1"}, "grüße".encode("latin-1")),
    ("POST", "/json", None, {"a": [1, 2, "ü"]}),
    ("PROPFIND", "/dav", [("X-A", "1"), ("x-a", "2")], None),
    ("DELETE", "/item/1", None, None),
    ("HEAD", "/", None, None),
]


@pytest.mark.parametrize(("method", "target", "headers", "data"), ECHO_CASES)
def test_echo_requests_match(threads, method, target, headers, data):
    client = Client(echo)
    raw = client.build(method, target, headers, data)
    with serving(echo, threads=threads) as server:
        in_process, over_socket = both(client, server.port, raw)
    assert in_process == over_socket
    assert in_process.startswith(b"HTTP/1.0 200 OK\r\n")


@pytest.mark.parametrize(
    "kind",
    ["file", "stream", "broken-stream", "json", "html", "nocontent", "odd", "raise", "splitting"],
)
def test_response_kinds_match(threads, tmp_path, kind):
    (tmp_path / "data.bin").write_bytes(b"0123456789")
    client = Client(varied, tmp_path)
    with serving(varied, tmp_path, threads=threads) as server:
        for method in ("GET", "HEAD"):
            raw = client.build(method, f"/{kind}")
            in_process, over_socket = both(client, server.port, raw)
            if kind == "broken-stream" and method == "GET":
                # Cut by a reset: bytes the client had not read yet when the reset came
                # are dropped by its kernel, so over a socket the answer may end early.
                head = in_process.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
                assert over_socket.startswith(head) and in_process.startswith(over_socket)
                continue
            assert in_process == over_socket, (method, kind)


def test_spec_hello_matches(threads):
    client = Client(hello)
    with serving(hello, threads=threads) as server:
        for target in ("/hello", "/goodbye", "/"):
            in_process, over_socket = both(client, server.port, client.build("GET", target))
            assert in_process == over_socket


@pytest.mark.parametrize(
    "raw",
    [
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET /\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",  # no Host
        b"GET / HTTP/1.0\r\nBad Name: x\r\n\r\n",
        b"GET / HTTP/1.0\r\nX: a\x00b\r\n\r\n",
        b"POST / HTTP/1.0\r\nContent-Length: 1_0\r\n\r\n0123456789",
        b"POST / HTTP/1.0\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"POST / HTTP/1.0\r\nContent-Length: 11\r\n\r\n01234567890",  # over maxBody=10
        b"GET /" + b"a" * 300 + b" HTTP/1.0\r\n\r\n",  # over maxRequestLine=256
        b"GET / HTTP/1.0\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(21)) + b"\r\n",
    ],
)
def test_protocol_errors_and_edge_requests_match(threads, raw):
    limits = {"maxBody": 10, "maxRequestLine": 256, "maxHeaders": 20}
    client = Client(echo, **limits)
    with serving(echo, threads=threads, **limits) as server:
        in_process, over_socket = both(client, server.port, raw)
    assert in_process == over_socket
