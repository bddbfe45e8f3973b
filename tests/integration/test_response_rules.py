"""design.md section 1, response side: what a client receives, over real sockets."""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import logging
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
import requests

from picohttp import HttpRequest, HttpResponse
from support import exchange, parse_response, serving, wait_until

Handler = Callable[[HttpRequest, HttpResponse], None]


def raw_get(port: int, path: str = "/", method: str = "GET") -> bytes:
    return exchange(port, f"{method} {path} HTTP/1.0\r\n\r\n".encode())


def header_lines(raw: bytes) -> List[str]:
    head = raw.partition(b"\r\n\r\n")[0].decode("latin-1")
    return head.split("\r\n")[1:]


def test_default_status_200_and_content_length(threads: bool) -> None:
    def handler(request: HttpRequest, response: HttpResponse) -> None:
        response.data = "Hello world!"

    with serving(handler, threads=threads) as server:
        raw = raw_get(server.port)
    assert raw.startswith(b"HTTP/1.0 200 OK\r\n")
    status, headers, body = parse_response(raw)
    assert (status, body, headers["content-length"]) == (200, b"Hello world!", "12")
    assert headers["connection"] == "close"


def test_non_ascii_text_length_in_bytes_and_no_mojibake(threads: bool) -> None:
    text = "Grüße, 世界! ☃ 😀"

    def handler(request: HttpRequest, response: HttpResponse) -> None:
        response.data = text

    with serving(handler, threads=threads) as server:
        reply = requests.get(f"http://127.0.0.1:{server.port}/", timeout=10)
    assert int(reply.headers["Content-Length"]) == len(text.encode("utf-8")) == len(reply.content)
    assert len(text) < len(reply.content)
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert reply.text == text  # requests decodes with the charset the server named


def test_html_str_renders_as_html() -> None:
    page = "<!doctype html><title>t</title><p>héllo</p>"

    def handler(request: HttpRequest, response: HttpResponse) -> None:
        response.data = page

    with serving(handler) as server:
        reply = requests.get(f"http://127.0.0.1:{server.port}/", timeout=10)
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert reply.text == page


def test_any_int_status_with_its_reason_or_an_empty_one(threads: bool) -> None:
    def handler(request: HttpRequest, response: HttpResponse) -> None:
        response.status = int(request.path[0])
        response.data = "x"

    with serving(handler, threads=threads) as server:
        assert raw_get(server.port, "/201").startswith(b"HTTP/1.0 201 Created\r\n")
        assert raw_get(server.port, "/418").startswith(b"HTTP/1.0 418 I'm a Teapot\r\n")
        assert raw_get(server.port, "/299").startswith(b"HTTP/1.0 299 \r\n")
        assert raw_get(server.port, "/799").startswith(b"HTTP/1.0 799 \r\n")


def test_head_gets_get_headers_without_a_body(threads: bool) -> None:
    def handler(request: HttpRequest, response: HttpResponse) -> None:
        response.data = "<p>body é</p>"

    with serving(handler, threads=threads) as server:
        got = raw_get(server.port, "/", "GET")
        head = raw_get(server.port, "/", "HEAD")
        reply = requests.head(f"http://127.0.0.1:{server.port}/", timeout=10)
    assert head.endswith(b"\r\n\r\n")  # nothing after the head
    assert parse_response(head)[2] == b""
    get_fields = [f for f in header_lines(got) if not f.startswith("Date:")]
    head_fields = [f for f in header_lines(head) if not f.startswith("Date:")]
    assert head_fields == get_fields
    assert "Content-Length: 14" in head_fields
    assert reply.headers["Content-Length"] == "14"
    assert reply.content == b""


@pytest.mark.parametrize("status", [204, 304, 100, 103])
def test_no_body_statuses(status: int, threads: bool) -> None:
    def handler(request: HttpRequest, response: HttpResponse) -> None:
        response.status = status
        response.data = "this must not be sent"
        response.headers["Content-Length"] = "21"

    with serving(handler, threads=threads) as server:
        raw = raw_get(server.port)
    code, headers, body = parse_response(raw)
    assert code == status
    assert body == b""
    assert "content-length" not in headers
    assert raw.endswith(b"\r\n\r\n")


def test_204_with_http_client() -> None:
    def handler(request: HttpRequest, response: HttpResponse) -> None:
        response.status = 204
        response.data = "ignored"

    with serving(handler) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("DELETE", "/thing")
        reply = connection.getresponse()
        assert (reply.status, reply.read()) == (204, b"")
        connection.close()


def test_date_added_unless_set() -> None:
    fixed = "Mon, 01 Jan 2024 00:00:00 GMT"

    def handler(request: HttpRequest, response: HttpResponse) -> None:
        if request.path[0] == "fixed":
            response.headers["date"] = fixed

    with serving(handler) as server:
        before = time.time()
        _, headers, _ = parse_response(raw_get(server.port))
        after = time.time()
        _, fixed_headers, _ = parse_response(raw_get(server.port, "/fixed"))
    sent = email.utils.parsedate_to_datetime(headers["date"]).timestamp()
    assert headers["date"].endswith(" GMT")
    assert before - 1 <= sent <= after + 1
    assert fixed_headers["date"] == fixed


def test_dict_and_list_as_json(threads: bool) -> None:
    payloads: Dict[str, Any] = {"dict": {"a": [1, 2], "é": None}, "list": [1, "two", {}]}

    def handler(request: HttpRequest, response: HttpResponse) -> None:
        response.data = payloads[request.path[0]]

    with serving(handler, threads=threads) as server:
        for name, payload in payloads.items():
            reply = requests.get(f"http://127.0.0.1:{server.port}/{name}", timeout=10)
            assert reply.headers["Content-Type"] == "application/json"
            assert reply.json() == payload


def test_bytes_like_sent_as_is(threads: bool) -> None:
    blob = bytes(range(256))
    kinds = {"bytes": blob, "bytearray": bytearray(blob), "memoryview": memoryview(blob)}

    def handler(request: HttpRequest, response: HttpResponse) -> None:
        response.data = kinds[request.path[0]]

    with serving(handler, threads=threads) as server:
        for kind in kinds:
            _, headers, body = parse_response(raw_get(server.port, "/" + kind))
            assert body == blob
            assert headers["content-length"] == "256"
            assert "content-type" not in headers


def test_open_file_is_streamed_and_closed(tmp_path: Path, threads: bool) -> None:
    content = bytes(range(256)) * 20000  # 5 MB: more than one send
    path = tmp_path / "big.bin"
    path.write_bytes(content)
    opened: List[Any] = []

    def handler(request: HttpRequest, response: HttpResponse) -> None:
        file = open(path, "rb")  # noqa: SIM115 - picohttp closes it
        if request.path[0] == "offset":
            file.seek(1000)
        opened.append(file)
        response.data = file

    with serving(handler, threads=threads) as server:
        reply = requests.get(f"http://127.0.0.1:{server.port}/", timeout=30)
        assert reply.headers["Content-Length"] == str(len(content))
        assert hashlib.sha256(reply.content).digest() == hashlib.sha256(content).digest()
        reply = requests.get(f"http://127.0.0.1:{server.port}/offset", timeout=30)
        assert reply.content == content[1000:]
        assert wait_until(lambda: all(file.closed for file in opened), timeout=5)


def test_handler_content_length_is_replaced() -> None:
    def handler(request: HttpRequest, response: HttpResponse) -> None:
        response.headers["Content-Length"] = "1000"
        response.data = "short"

    with serving(handler) as server:
        _, headers, body = parse_response(raw_get(server.port))
    assert (headers["content-length"], body) == ("5", b"short")


def test_list_header_values_give_several_lines() -> None:
    def handler(request: HttpRequest, response: HttpResponse) -> None:
        response.headers["Set-Cookie"] = ["a=1; Path=/", "b=2; HttpOnly"]

    with serving(handler) as server:
        lines = header_lines(raw_get(server.port))
        reply = requests.get(f"http://127.0.0.1:{server.port}/", timeout=10)
    assert [line for line in lines if line.startswith("Set-Cookie")] == [
        "Set-Cookie: a=1; Path=/",
        "Set-Cookie: b=2; HttpOnly",
    ]
    assert reply.cookies.get("a") == "1" and reply.cookies.get("b") == "2"


SPLITTING: Dict[str, Handler] = {
    "value-crlf": lambda rq, rs: rs.headers.update({"X-Next": "a\r\nSet-Cookie: evil=1"}),
    "value-lf": lambda rq, rs: rs.headers.update({"Location": "/x\nSet-Cookie: evil=1"}),
    "name-crlf": lambda rq, rs: rs.headers.update({"Set-Cookie: evil=1\r\nX": "y"}),
    "value-nul": lambda rq, rs: rs.headers.update({"X": "a\0evil=1"}),
    "content-type": lambda rq, rs: rs.headers.update({"Content-Type": "text/html\r\n\r\nevil=1"}),
    "list-item": lambda rq, rs: rs.headers.update({"Set-Cookie": ["ok=1", "x\r\nevil=1"]}),
    "bad-charset": lambda rq, rs: (
        rs.headers.update({"Content-Type": "text/plain; charset=idna"})
        or setattr(rs, "data", "evil=1" * 20)
    ),
    "status-type": lambda rq, rs: setattr(rs, "status", "200 OK\r\nSet-Cookie: evil=1"),
    "data-type": lambda rq, rs: setattr(rs, "data", 3.14),
    "headers-type": lambda rq, rs: setattr(rs, "headers", "Set-Cookie: evil=1"),
}


@pytest.mark.parametrize("case", list(SPLITTING))
def test_unsendable_responses_are_500_and_logged(
    case: str, threads: bool, caplog: pytest.LogCaptureFixture
) -> None:
    def handler(request: HttpRequest, response: HttpResponse) -> None:
        if request.path[0] == "bad":
            SPLITTING[case](request, response)
            if response.data is None:
                response.data = "body"
        else:
            response.data = "still serving"

    with (
        caplog.at_level(logging.ERROR, logger="picohttp"),
        serving(handler, threads=threads) as server,
    ):
        raw = raw_get(server.port, "/bad")
        after = parse_response(raw_get(server.port, "/good"))
    status, headers, body = parse_response(raw)
    assert status == 500
    assert body.startswith(b"500 Internal Server Error")
    assert b"evil" not in raw
    assert "set-cookie" not in headers
    assert after[0] == 200 and after[2] == b"still serving"
    records = [r for r in caplog.records if r.name == "picohttp" and r.levelno >= logging.ERROR]
    assert len(records) == 1, [r.getMessage() for r in records]
    assert "/bad" in records[0].getMessage()
