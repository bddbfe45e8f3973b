"""``FileBody`` as ``response.data``: a region of a file, announced and sent exactly."""

from __future__ import annotations

import socket
import threading

from picohttp import HttpResponse
from picohttp._send import Writer
from picohttp._serializer import FileBody, serialize
from support import parse_response

DATE = "Thu, 01 Jan 2026 00:00:00 GMT"
CONTENT = bytes(range(256)) * 40  # 10240 bytes, every offset recognisable


def _file(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(CONTENT)
    return open(path, "rb")  # closed by the serializer or the Writer


def _send(head: bytes, body) -> bytes:
    """Send through the real Writer over a socket pair and return what arrived."""
    left, right = socket.socketpair()
    received = []

    def reader():
        while True:
            chunk = right.recv(65536)
            if not chunk:
                break
            received.append(chunk)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        writer = Writer(head, body)
        while not writer.write(left):
            pass
        left.shutdown(socket.SHUT_WR)
        thread.join(10)
    finally:
        left.close()
        right.close()
    return b"".join(received)


def test_file_body_region_sets_content_length_and_sends_only_the_region(tmp_path):
    file = _file(tmp_path)
    response = HttpResponse(status=206, data=FileBody(file, 1000, 300))
    head, body, status, length = serialize(response, "GET", DATE)
    assert status == 206 and length == 300
    assert b"Content-Length: 300\r\n" in head
    raw = _send(head, body)
    assert file.closed
    _, _, payload = parse_response(raw)
    assert payload == CONTENT[1000:1300]


def test_file_body_region_without_sendfile(tmp_path):
    file = _file(tmp_path)
    head, body, _, _ = serialize(HttpResponse(data=FileBody(file, 10, 5)), "GET", DATE)
    writer = Writer(head, body, zero_copy=False)
    left, right = socket.socketpair()
    with left, right:
        while not writer.write(left):
            pass
        left.shutdown(socket.SHUT_WR)
        raw = b""
        while chunk := right.recv(65536):
            raw += chunk
    assert parse_response(raw)[2] == CONTENT[10:15]
    assert file.closed


def test_file_body_without_length_runs_to_the_end(tmp_path):
    file = _file(tmp_path)
    head, body, _, length = serialize(HttpResponse(data=FileBody(file, 10000, None)), "GET", DATE)
    assert length == len(CONTENT) - 10000
    assert parse_response(_send(head, body))[2] == CONTENT[10000:]


def test_file_body_head_and_304_close_the_file_and_send_nothing(tmp_path):
    file = _file(tmp_path)
    head, body, _, _ = serialize(HttpResponse(data=FileBody(file, 0, 20)), "HEAD", DATE)
    assert b"Content-Length: 20\r\n" in head and body == b"" and file.closed
    file = _file(tmp_path)
    head, body, _, _ = serialize(HttpResponse(status=304, data=FileBody(file, 0, 20)), "GET", DATE)
    assert b"Content-Length" not in head and body == b"" and file.closed


def test_a_file_positioned_by_seek_still_streams_from_there(tmp_path):
    file = _file(tmp_path)
    file.seek(10200)
    head, body, _, length = serialize(HttpResponse(data=file), "GET", DATE)
    assert length == 40
    assert parse_response(_send(head, body))[2] == CONTENT[10200:]


def test_a_failing_handler_s_file_body_is_closed(tmp_path):
    from picohttp._exchange import run_handler
    from picohttp._message import HttpRequest

    opened = []

    def handler(request, response):
        opened.append(_file(tmp_path))
        response.data = FileBody(opened[0], 0, 10)
        raise RuntimeError("after choosing the body")

    _, _, status, _ = run_handler(handler, (), HttpRequest())
    assert status == 500 and opened[0].closed
