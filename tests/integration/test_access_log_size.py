"""The access log's size field is the body bytes the client received (issue 15).

Each case asks with a real client (requests, http.client, curl, a raw socket for
a request the parser refuses) and compares the logged size with the body bytes
that client actually got: 0 for HEAD, the error text's length for an error
answer, whoever made it (the handler's RemoteProtocolError, a handler failure,
the parser), and ``-`` only for a stream, whose length is unknown when it starts.
"""

from __future__ import annotations

import http.client
import logging
import re
import subprocess

import pytest
import requests

import picohttp
from support import exchange, parse_response, serving

ACCESS = re.compile(r'"(?P<line>[^"]*)" (?P<status>\d{3}) (?P<size>\d+|-)$')


def handler(request, response, folder):
    name = request.path[0]
    if name == "text":
        response.data = "hello, access log"
    elif name == "missing":
        raise picohttp.RemoteProtocolError(404, "no such thing here")
    elif name == "boom":
        raise RuntimeError("handler failure")
    elif name == "stream":
        response.data = iter(["one ", "two"])
    elif name == "empty":
        response.status = 204
    else:
        picohttp.staticResource(request, response, folder)


@pytest.fixture
def logged(caplog, tmp_path, threads):
    """A server and a function giving the (line, status, size) of each access line so far."""
    (tmp_path / "page.html").write_bytes(b"<p>" + b"x" * 100_000 + b"</p>")  # sendfile path
    (tmp_path / "small.txt").write_bytes(b"small file\n")  # joined to the head

    def lines():
        found = []
        for record in caplog.records:
            if record.name == "picohttp.access":
                match = ACCESS.search(record.getMessage())
                assert match, record.getMessage()
                found.append((match["line"], int(match["status"]), match["size"]))
        return found

    caplog.set_level(logging.INFO, logger="picohttp.access")  # undone by caplog at the end
    with serving(handler, str(tmp_path), threads=threads) as server:
        yield server.port, lines


def only(lines, line):
    [entry] = [entry for entry in lines() if entry[0] == line]
    return entry


def test_get_of_text_and_files_logs_the_bytes_received(logged):
    port, lines = logged
    for path in ("/text", "/small.txt", "/page.html"):
        reply = requests.get(f"http://127.0.0.1:{port}{path}", timeout=10)
        assert reply.status_code == 200
        assert only(lines, f"GET {path} HTTP/1.1") == (
            f"GET {path} HTTP/1.1",
            200,
            str(len(reply.content)),
        )


@pytest.mark.parametrize("path", ["/text", "/small.txt", "/page.html", "/boom", "/missing"])
def test_head_logs_zero_bytes(logged, path):
    port, lines = logged
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("HEAD", path)
        reply = connection.getresponse()
        assert reply.read() == b""
        announced = int(reply.getheader("Content-Length"))
    finally:
        connection.close()
    assert announced > 0  # the head tells the size of the GET's body: not what was sent
    assert only(lines, f"HEAD {path} HTTP/1.1")[1:] == (reply.status, "0")


@pytest.mark.parametrize(
    ("path", "status"), [("/missing", 404), ("/boom", 500), ("/nothing-here", 404)]
)
def test_error_answers_log_their_length(logged, path, status):
    port, lines = logged
    result = subprocess.run(
        [
            "curl",
            "-s",
            "-o",
            "-",
            "-w",
            "\n%{http_code} %{size_download}",
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        timeout=30,
        check=True,
    )
    code, downloaded = result.stdout.rsplit(b"\n", 1)[1].split()
    assert int(code) == status
    assert int(downloaded) > 0
    assert only(lines, f"GET {path} HTTP/1.1") == (
        f"GET {path} HTTP/1.1",
        status,
        downloaded.decode(),
    )


def test_a_request_the_parser_refuses_logs_its_answers_length(logged):
    port, lines = logged
    status, _, body = parse_response(exchange(port, b"GET / HTTP/9.9\r\n\r\n"))
    assert status == 505 and body
    assert lines() == [("-", 505, str(len(body)))]


def test_no_body_and_stream(logged):
    port, lines = logged
    reply = requests.get(f"http://127.0.0.1:{port}/empty", timeout=10)
    assert (reply.status_code, reply.content) == (204, b"")
    assert only(lines, "GET /empty HTTP/1.1")[1:] == (204, "0")
    reply = requests.get(f"http://127.0.0.1:{port}/stream", timeout=10)
    assert reply.content == b"one two"
    assert only(lines, "GET /stream HTTP/1.1")[1:] == (200, "-")  # logged as it starts
