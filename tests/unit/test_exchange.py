"""``run_handler``: whatever the handler does, one response comes back (no sockets)."""

from __future__ import annotations

import logging
import re
from typing import Any, Callable

import pytest

from picohttp import HttpRequest, HttpResponse
from picohttp._exchange import escape_for_log, run_handler


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


BROKEN: dict[str, Callable[[HttpRequest, HttpResponse], None]] = {
    "raises": lambda request, response: 1 / 0,  # type: ignore[dict-item]
    "headers-not-a-dict": lambda request, response: setattr(response, "headers", [("a", "b")]),
    "value-str-raises": lambda request, response: response.headers.update(X=Unprintable()),
    "json-too-deep": lambda request, response: setattr(response, "data", nested(100_000)),
    "crlf-in-header": lambda request, response: response.headers.update(X="a\r\nb"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_any_failure_becomes_a_logged_500(name: str, caplog: pytest.LogCaptureFixture) -> None:
    request = HttpRequest("GET", ["x"], uri="/x")
    with caplog.at_level(logging.ERROR, logger="picohttp"):
        head, body, status, _ = run_handler(BROKEN[name], (), request)
    assert status == 500
    assert head.startswith(b"HTTP/1.0 500 Internal Server Error\r\n")
    assert b"Traceback" not in head and head.endswith(b"\r\n\r\n")
    assert isinstance(body, bytes) and body.startswith(b"500 Internal Server Error: ")
    assert b"Traceback" not in body and b"Content-Length: %d\r\n" % len(body) in head
    records = [r for r in caplog.records if r.name == "picohttp" and r.levelno == logging.ERROR]
    assert len(records) == 1
    assert "/x" in records[0].getMessage()


@pytest.mark.parametrize("name", ["raises", "crlf-in-header"])
def test_a_failed_head_request_gets_the_500_head_without_content(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.CRITICAL, logger="picohttp"):
        head, body, status, _ = run_handler(BROKEN[name], (), HttpRequest("HEAD", ["x"]))
        get_head, content, _, _ = run_handler(BROKEN[name], (), HttpRequest("GET", ["x"]))
    assert status == 500
    assert body == b""
    assert head.endswith(b"\r\n\r\n") and head.count(b"\r\n\r\n") == 1  # nothing after it
    # The same fields as the GET answer, Content-Length included (the Date may have ticked).
    assert isinstance(content, bytes) and content
    assert b"Content-Length: %d\r\n" % len(content) in head
    assert re.sub(rb"Date: [^\r]*", b"", head) == re.sub(rb"Date: [^\r]*", b"", get_head)


def test_args_are_appended_to_the_call() -> None:
    seen: list[Any] = []

    def handler(request: HttpRequest, response: HttpResponse, *args: Any) -> None:
        seen.extend(args)
        response.data = "ok"

    _, body, status, _ = run_handler(handler, ("a", 2), HttpRequest())
    assert (seen, status, body) == (["a", 2], 200, b"ok")


def test_escape_for_log() -> None:
    assert escape_for_log("GET / HTTP/1.0") == "GET / HTTP/1.0"
    assert "\n" not in escape_for_log("GET /\n127.0.0.1 fake line")
    assert escape_for_log('a"b\x1b[31m') == 'a\\"b\\x1b[31m'
