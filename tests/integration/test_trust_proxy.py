"""``trustProxy``: X-Forwarded-For / X-Forwarded-Proto over real sockets, never by default.

The client connects from 127.0.0.2 (all of 127/8 is loopback on Linux) so that
its own address, the proxy's entry and the socket peer are told apart.
"""

from __future__ import annotations

import json
import logging
import socket
from typing import Any, Dict

import pytest

import picohttp
from support import parse_response, read_all, serving


def show(request: picohttp.HttpRequest, response: picohttp.HttpResponse) -> None:
    response.data = {
        "client": list(request.client),
        "scheme": request.scheme,
        "forwarded": request.headers.get("X-Forwarded-For"),
    }


def ask(port: int, headers: str = "", source: str = "127.0.0.2") -> Dict[str, Any]:
    with socket.socket() as sock:
        sock.settimeout(10)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        sock.sendall(f"GET /x HTTP/1.0\r\n{headers}\r\n".encode())
        port = sock.getsockname()[1]
        status, _, body = parse_response(read_all(sock))
    assert status == 200
    return dict(json.loads(body), port=port)


SPOOFED = "X-Forwarded-For: 6.6.6.6, 203.0.113.9\r\nX-Forwarded-Proto: https\r\n"


def test_by_default_the_fields_are_only_headers(threads: bool) -> None:
    with serving(show, threads=threads) as server:
        seen = ask(server.port, SPOOFED)
    assert seen["client"] == ["127.0.0.2", seen["port"]]  # the socket's peer
    assert seen["scheme"] == "http"
    assert seen["forwarded"] == "6.6.6.6, 203.0.113.9"


def test_trusted_the_nearest_proxy_entry_is_the_client(threads: bool) -> None:
    with serving(show, threads=threads, trustProxy=True) as server:
        assert server.trustProxy is True
        seen = ask(server.port, SPOOFED)
        bare = ask(server.port)  # a request that did not come through the proxy
        junk = ask(server.port, "X-Forwarded-For: unknown\r\nX-Forwarded-Proto: gopher\r\n")
    assert (seen["client"], seen["scheme"]) == (["203.0.113.9", 0], "https")
    assert seen["forwarded"] == "6.6.6.6, 203.0.113.9"  # the header itself is untouched
    assert (bare["client"], bare["scheme"]) == (["127.0.0.2", bare["port"]], "http")
    assert (junk["client"], junk["scheme"]) == (["127.0.0.2", junk["port"]], "http")


def test_two_trusted_proxies(threads: bool) -> None:
    with serving(show, threads=threads, trustProxy=2) as server:
        seen = ask(server.port, "X-Forwarded-For: 1.1.1.1, 6.6.6.6, 10.0.0.2\r\n")
        short = ask(server.port, "X-Forwarded-For: 6.6.6.6\r\n")
    assert seen["client"] == ["6.6.6.6", 0]
    assert short["client"] == ["127.0.0.2", short["port"]]


def test_the_access_log_shows_the_forwarded_client(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="picohttp.access"):
        with serving(show, trustProxy=True) as server:
            ask(server.port, SPOOFED)
        with serving(show) as server:
            ask(server.port, SPOOFED)
    lines = [r.getMessage() for r in caplog.records if r.name == "picohttp.access"]
    assert [line.split()[0] for line in lines] == ["203.0.113.9", "127.0.0.2"]


def test_a_mounted_handler_sees_the_scheme() -> None:
    router = picohttp.Router()
    router.mount("/", show)
    for trust, scheme in ((False, "http"), (True, "https")):
        with serving(router, trustProxy=trust) as server:
            assert ask(server.port, SPOOFED)["scheme"] == scheme


def test_a_bad_value_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="trustProxy"):
        picohttp.HttpServer(0, show, host="127.0.0.1", start=False, trustProxy="yes")
