"""An https:// client on the plain-HTTP port: one WARNING that says so, and a close.

Without the check, a ClientHello is an incomplete request head: the client
would wait for a ServerHello and the server for a blank line, until
``headTimeout``, and then get a 408 in plain text that TLS clients show as
garbage ("wrong version number").  The check sits on the parser's error and
incomplete-head paths only.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import ssl
import subprocess
import time
from typing import List

import pytest

from picohttp import HttpRequest, HttpResponse, RemoteProtocolError
from picohttp._limits import Limits
from picohttp._parser import RequestParser, TlsHandshakeError, parse_request
from support import connect, exchange, parse_response, read_all, serving, wait_until

HINT = "this port speaks HTTP, not HTTPS"


def hello(request: HttpRequest, response: HttpResponse) -> None:
    response.data = "hello"


def client_hello() -> bytes:
    """A real ClientHello, as Python's ssl module writes it (no socket needed)."""
    context = ssl.create_default_context()
    outgoing = ssl.MemoryBIO()
    tls = context.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname="x")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def warnings_logged(caplog: pytest.LogCaptureFixture) -> List[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("picohttp") and HINT in r.getMessage()]


def test_curl_https_to_the_plain_port(threads: bool, caplog: pytest.LogCaptureFixture) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    caplog.set_level(logging.DEBUG, logger="picohttp")
    with serving(hello, threads=threads, headTimeout=30) as server:
        started = time.monotonic()
        result = subprocess.run(
            [curl, "-sS", "--max-time", "20", f"https://127.0.0.1:{server.port}/"],
            capture_output=True,
            text=True,
        )
        elapsed = time.monotonic() - started
        assert result.returncode == 35, result.stderr  # curl: TLS connect error
        assert elapsed < 5  # closed at once, not at the 30 s headTimeout
        assert wait_until(lambda: len(warnings_logged(caplog)) == 1)
        assert parse_response(exchange(server.port, b"GET / HTTP/1.0\r\n\r\n"))[2] == b"hello"
    (record,) = warnings_logged(caplog)
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert "\n" not in record.getMessage()
    assert "127.0.0.1" in record.getMessage()
    others = [r for r in caplog.records if r.levelno >= logging.WARNING and r is not record]
    assert not others
    refused = [r for r in caplog.records if r.name == "picohttp.access" and '"-" 400' in r.msg]
    assert not refused  # no access-log line for an exchange that never was HTTP


def test_python_ssl_client_gets_a_close_not_a_page(
    threads: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="picohttp")
    with serving(hello, threads=threads, headTimeout=30) as server:
        context = ssl.create_default_context()
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        started = time.monotonic()
        with pytest.raises((ssl.SSLError, ConnectionError)):
            context.wrap_socket(raw, server_hostname="127.0.0.1")
        raw.close()
        assert time.monotonic() - started < 5
        assert wait_until(lambda: len(warnings_logged(caplog)) == 1)


@pytest.mark.parametrize("cut", [1, 2, 5, 40])
def test_a_client_hello_in_pieces(
    cut: int, threads: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="picohttp")
    hello_bytes = client_hello()
    with serving(hello, threads=threads, headTimeout=30) as server:
        with connect(server.port) as client:
            client.sendall(hello_bytes[:cut])
            if cut < 2:  # one byte is not enough to tell: the server waits for more
                time.sleep(0.2)
                assert not warnings_logged(caplog)
            client.sendall(hello_bytes[cut:])
            assert read_all(client, 10) == b""  # a close, no HTTP answer
        assert wait_until(lambda: len(warnings_logged(caplog)) == 1)


# -- the parser's side --------------------------------------------------------------


def test_parser_raises_on_the_first_two_bytes() -> None:
    parser = RequestParser(Limits())
    assert parser.feed(b"\x16") is None  # could still be anything
    with pytest.raises(TlsHandshakeError) as caught:
        parser.feed(b"\x03\x01\x02\x00")
    assert caught.value.status == 400


def test_a_whole_client_hello_that_looks_like_a_head_is_still_recognised() -> None:
    # A ClientHello holds random bytes: one may contain a blank line ("\n\n").
    data = client_hello()
    data = data[:40] + b"\r\n\r\n" + data[40:]
    with pytest.raises(TlsHandshakeError):
        parse_request(data)
    with pytest.raises(TlsHandshakeError):
        RequestParser().feed(data)


def test_a_real_client_hello_fed_whole() -> None:
    data = client_hello()
    assert data[:2] == b"\x16\x03"
    # The fast path declines it (no blank line) or recognises it; never a request.
    with contextlib.suppress(TlsHandshakeError):
        assert parse_request(data) is None
    with pytest.raises(TlsHandshakeError):
        RequestParser().feed(data)


def test_other_binary_garbage_is_still_a_400() -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        RequestParser().feed(b"\x17\x03\x01 GET / HTTP/1.0\r\n\r\n")
    assert type(caught.value) is RemoteProtocolError
    assert caught.value.status == 400
