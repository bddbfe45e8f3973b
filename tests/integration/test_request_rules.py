"""design.md section 1, request side: what a handler sees, over real sockets and clients.

The echo handler answers with JSON of everything it saw, so each test sends a
request with one client (raw socket, ``requests``, ``http.client``, ``curl``)
and checks the handler's view of it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import socket
import subprocess
from typing import Any, Dict, Iterator

import pytest
import requests

from picohttp import HttpRequest, HttpResponse
from support import connect, exchange, parse_response, read_all, serving


def echo(request: HttpRequest, response: HttpResponse) -> None:
    body = request.body
    data = request.data
    response.data = {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "protocol": request.protocol,
        "headers": list(request.headers.items()),
        "headers_type": type(request.headers).__name__,
        "headers_is_dict": isinstance(request.headers, dict),
        "content_type": [
            request.headers.get("content-type"),
            request.headers.get("CONTENT-TYPE"),
            "content-TYPE" in request.headers,
        ],
        "data_type": type(data).__name__,
        "data": None if data is None else data.encode("utf-8", "surrogateescape").hex(),
        "body_type": type(body).__name__,
        "body": None if body is None else body.hex() if len(body) < 4096 else None,
        "body_size": None if body is None else len(body),
        "body_sha256": None if body is None else hashlib.sha256(body).hexdigest(),
        "uri": request.uri,
        "client": list(request.client) if request.client else None,
    }


def seen(raw: bytes, port: int, host: str = "127.0.0.1") -> Dict[str, Any]:
    status, headers, body = parse_response(exchange(port, raw, host=host))
    assert status == 200, body
    assert headers["content-type"] == "application/json"
    result: Dict[str, Any] = json.loads(body)
    return result


def text_of(hex_data: str) -> str:
    return bytes.fromhex(hex_data).decode("utf-8", "surrogateescape")


@pytest.fixture
def server(threads: bool) -> Iterator[Any]:
    with serving(echo, threads=threads) as running:
        yield running


def test_path_split_then_decoded_per_segment(server: Any) -> None:
    cases = {
        b"/": [""],
        b"/a/b": ["a", "b"],
        b"/a/": ["a", ""],
        b"/a%2Fb/c%20d": ["a/b", "c d"],
        b"/caf%C3%A9//x": ["café", "", "x"],
        b"/%2e%2e/x": ["..", "x"],
    }
    for target, path in cases.items():
        view = seen(b"GET " + target + b" HTTP/1.0\r\n\r\n", server.port)
        assert view["path"] == path, target
        assert view["uri"] == target.decode()


def test_query_rules(server: Any) -> None:
    target = b"/q?a=1&a=2&blank&e=&sp=x+y%2Bz&k%C3%A9=%E2%98%83"
    view = seen(b"GET " + target + b" HTTP/1.0\r\n\r\n", server.port)
    assert view["query"] == {"a": "2", "blank": "", "e": "", "sp": "x y+z", "ké": "☃"}
    assert view["path"] == ["q"]


def test_query_from_requests_params(server: Any) -> None:
    params = {"name": "Zoë & co", "plus": "1+1=2", "empty": ""}
    reply = requests.get(f"http://127.0.0.1:{server.port}/search", params=params, timeout=10)
    assert reply.json()["query"] == params


def test_method_exactly_as_sent(server: Any) -> None:
    for method in ("PROPFIND", "get", "M-SEARCH", "DELETE"):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request(method, "/m")
        view = json.loads(connection.getresponse().read())
        connection.close()
        assert view["method"] == method


def test_protocol_as_sent(server: Any) -> None:
    assert seen(b"GET / HTTP/1.0\r\n\r\n", server.port)["protocol"] == "HTTP/1.0"
    assert seen(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", server.port)["protocol"] == "HTTP/1.1"


def test_headers_case_insensitive_names_as_sent_repeats_joined(server: Any) -> None:
    view = seen(
        b"GET / HTTP/1.0\r\nX-MiXeD-Case: kept\r\ncontent-type: text/x\r\n"
        b"Accept: a\r\nACCEPT: b\r\n\r\n",
        server.port,
    )
    assert view["headers"] == [
        ["X-MiXeD-Case", "kept"],
        ["content-type", "text/x"],
        ["Accept", "a, b"],
    ]
    assert view["content_type"] == ["text/x", "text/x", True]
    assert view["headers_is_dict"]


def test_data_is_str_and_body_the_raw_bytes(server: Any) -> None:
    url = f"http://127.0.0.1:{server.port}/items/1"
    view = requests.put(url, json={"k": "vé"}, timeout=10).json()
    assert view["data_type"] == "str"
    assert json.loads(text_of(view["data"])) == {"k": "vé"}
    assert bytes.fromhex(view["body"]) == json.dumps({"k": "vé"}).encode()
    assert view["body_type"] == "bytes"


def test_data_uses_the_charset_the_client_names(server: Any) -> None:
    url = f"http://127.0.0.1:{server.port}/"
    view = requests.post(
        url,
        data="héllo wörld".encode("latin-1"),
        headers={"Content-Type": "text/plain; charset=ISO-8859-1"},
        timeout=10,
    ).json()
    assert text_of(view["data"]) == "héllo wörld"
    assert bytes.fromhex(view["body"]) == "héllo wörld".encode("latin-1")


def test_undecodable_body_loses_nothing(server: Any) -> None:
    body = b"ok \xff\xfe\x00 end"
    raw = b"POST / HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    view = seen(raw, server.port)
    assert bytes.fromhex(view["data"]) == body  # data encodes back to the very bytes
    assert bytes.fromhex(view["body"]) == body


def test_a_charset_the_client_names_cannot_break_the_handler(server: Any) -> None:
    for charset in (b"base64", b"utf-16"):
        raw = (
            b"POST / HTTP/1.0\r\nContent-Type: text/plain; charset=%s\r\n" % charset
            + b"Content-Length: 3\r\n\r\nabc"
        )
        view = seen(raw, server.port)
        assert view["data_type"] == "str"


def test_body_without_content_length_is_ignored(server: Any) -> None:
    view = seen(b"POST / HTTP/1.0\r\nContent-Type: text/plain\r\n\r\nnot a body", server.port)
    assert view["data"] is None
    assert view["body"] is None


def test_content_length_zero_means_no_data(server: Any) -> None:
    view = seen(b"POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n", server.port)
    assert view["data"] is None


def test_chunked_body_from_a_generator(server: Any) -> None:
    def pieces() -> Iterator[bytes]:
        yield b"first,"
        yield b"second,"
        yield "third é".encode()

    url = f"http://127.0.0.1:{server.port}/upload"
    view = requests.post(url, data=pieces(), timeout=10).json()
    assert text_of(view["data"]) == "first,second,third é"
    assert ["Transfer-Encoding", "chunked"] in view["headers"]


def test_large_body_arrives_whole(server: Any) -> None:
    body = bytes(range(256)) * 8192  # 2 MiB: spooled to a file on the way
    url = f"http://127.0.0.1:{server.port}/big"
    view = requests.put(url, data=body, timeout=30).json()
    assert view["body_size"] == len(body)
    assert view["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_expect_100_continue(server: Any) -> None:
    with connect(server.port) as sock:
        sock.sendall(
            b"PUT /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
        )
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):
            chunk = sock.recv(1)
            assert chunk, "closed before 100 Continue"
            interim += chunk
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"hello")
        status, _, body = parse_response(read_all(sock))
    assert status == 200
    assert text_of(json.loads(body)["data"]) == "hello"


def test_absolute_form_target(server: Any) -> None:
    raw = b"GET http://example.com/a/b?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"
    view = seen(raw, server.port)
    assert (view["path"], view["query"]) == (["a", "b"], {"x": "1"})
    assert view["uri"] == "http://example.com/a/b?x=1"


def test_client_address(server: Any) -> None:
    with connect(server.port) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        local = sock.getsockname()
        _, _, body = parse_response(read_all(sock))
    assert json.loads(body)["client"] == ["127.0.0.1", local[1]]


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 in this Python")
def test_client_address_ipv6_and_dual_stack() -> None:
    with serving(echo, host="::1") as server:
        with connect(server.port, "::1") as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            local = sock.getsockname()
            view = json.loads(parse_response(read_all(sock))[2])
        assert view["client"] == ["::1", local[1]]
    if not socket.has_dualstack_ipv6():
        pytest.skip("no dual-stack sockets on this OS")
    with serving(echo, host=None) as server:
        with connect(server.port, "127.0.0.1") as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            local = sock.getsockname()
            view = json.loads(parse_response(read_all(sock))[2])
        assert view["client"] == ["127.0.0.1", local[1]]  # not ::ffff:127.0.0.1


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_put_and_query(server: Any) -> None:
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "10",
            "-X",
            "PUT",
            "-H",
            "Content-Type: text/plain; charset=utf-8",
            "--data-binary",
            "ünïcode body",
            f"http://127.0.0.1:{server.port}/c%2Fd/e?x=1&y",
        ],
        capture_output=True,
        check=True,
        timeout=20,
    )
    view = json.loads(result.stdout)
    assert view["method"] == "PUT"
    assert view["path"] == ["c/d", "e"]
    assert view["query"] == {"x": "1", "y": ""}
    assert text_of(view["data"]) == "ünïcode body"
    assert view["protocol"] == "HTTP/1.1"
