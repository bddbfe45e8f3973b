"""Issue 13's pure-module answers, as a client gets them over a real socket.

One test per item: chunk lines held to RFC 9112 7.1, a bare CR answered at
once, asterisk-form for OPTIONS only, path bytes kept, huge Range numbers,
form codecs, X-Forwarded-For entries that are no address, and the CPU cost of
tiny chunks.  The pure rules themselves are tested in tests/unit and replayed
from tests/corpus; here the point is what the client sees and that the
handler is never given what it should not get.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Iterator, List

import pytest
import requests
from attack import Recorder, exchange_raw, picohttp_log, time_answer

import picohttp
from support import connect, parse_response, read_all, serving

CHUNKED = b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"


# -- 1. chunk lines -------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"5;a\rb\r\n",  # a bare CR inside an extension
        b"5;a\0b\r\n",  # a NUL inside an extension
        b"5 \r\n",  # whitespace after the size, no extension
        b"5\n",  # a bare LF ending the line
        b"5;\r\n",  # an extension cut short
        b"5;a=\r\n",
        b'5;a="x\r\n',
    ],
)
def test_a_malformed_chunk_line_is_400_and_no_smuggled_request_is_handled(threads, line):
    """Before issue 13 these were 200, and the handler's body could hold a second request."""
    recorder = Recorder()
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n"
    with serving(recorder, threads=threads) as server:
        raw = exchange_raw(server.port, CHUNKED + line + b"hello\r\n0\r\n\r\n" + smuggled)
    assert parse_response(raw)[0] == 400
    assert recorder.calls == []  # neither the chunked request nor the smuggled one


def test_extensions_as_the_rfc_writes_them_still_reach_the_handler(threads):
    recorder = Recorder()
    body = b'5 ; name = "quoted \\" value" ;flag\r\nhello\r\n0;x=1\r\nX-Sum: 5\r\n\r\n'
    with serving(recorder, threads=threads) as server:
        raw = exchange_raw(server.port, CHUNKED + body)
    assert parse_response(raw)[0] == 200
    assert recorder.bodies == [b"hello"]


# -- 2. a bare CR is answered at once ------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\rX",  # in the request line
        b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb",  # in a header value
        CHUNKED + b"5\rhello",  # in a chunk-size line
        CHUNKED + b"0\r\nX-Sum: a\rb",  # in a trailer field
    ],
    ids=["request-line", "header", "chunk-line", "trailer"],
)
def test_a_bare_cr_with_nothing_after_it_is_answered_at_once(threads, data):
    """The client sends no LF and stays silent: the 400 comes long before the head timeout."""
    with (
        serving(Recorder(), threads=threads, headTimeout=60.0, readTimeout=60.0) as server,
        connect(server.port) as sock,
    ):
        sock.sendall(data)
        elapsed, raw = time_answer(sock, timeout=20.0)  # before: the 60 s timeout, a 408
    assert parse_response(raw)[0] == 400
    assert elapsed < 20.0


# -- 3. asterisk-form ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "M-SEARCH"])
def test_asterisk_form_is_400_except_for_options(threads, method):
    recorder = Recorder()
    with serving(recorder, threads=threads) as server:
        refused = exchange_raw(server.port, f"{method} * HTTP/1.1\r\nHost: h\r\n\r\n".encode())
        options = exchange_raw(server.port, b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n")
    assert parse_response(refused)[0] == 400
    assert parse_response(options)[0] == 200
    assert [request.method for request in recorder.calls] == ["OPTIONS"]
    assert recorder.calls[0].path == ["*"]


# -- 4. path bytes ---------------------------------------------------------------------


def _segments(request: picohttp.HttpRequest, response: picohttp.HttpResponse) -> None:
    response.headers["Content-Type"] = "application/json"
    response.data = json.dumps(
        {
            "bytes": [s.encode("utf-8", "surrogateescape").hex() for s in request.path],
            "uri": request.uri,
        }
    )


def test_percent_escapes_that_are_not_utf8_keep_every_byte(threads):
    with serving(_segments, threads=threads) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("GET", "/%91/a%C3%A9/%FF%FEz?q=1")
        response = connection.getresponse()
        seen = json.loads(response.read())
        connection.close()
    assert response.status == 200
    # Before: "\ufffd" for %91, so the handler could not tell %91 from %FE.
    assert seen["bytes"] == ["91", "61c3a9", "fffe7a"]
    assert seen["uri"] == "/%91/a%C3%A9/%FF%FEz?q=1"  # the raw target, as sent


@pytest.fixture
def odd_names(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "plain.txt").write_bytes(b"plain")
    os.mkdir(tmp_path / "dir")
    (Path(os.fsdecode(bytes(tmp_path) + b"/\xff.txt"))).write_bytes(b"latin-1 name")
    yield tmp_path


def test_static_serves_a_file_whose_name_is_not_utf8_and_404s_a_missing_one(threads, odd_names):
    def handler(request: picohttp.HttpRequest, response: picohttp.HttpResponse) -> None:
        picohttp.staticResource(request, response, str(odd_names))

    with serving(handler, threads=threads) as server, picohttp_log() as log:
        answers = {
            target: parse_response(
                exchange_raw(server.port, f"GET {target} HTTP/1.0\r\n\r\n".encode())
            )
            for target in ("/%FF.txt", "/%91", "/%91/", "/dir/%91", "/plain.txt%91", "/%C3%28")
        }
    assert answers["/%FF.txt"][0] == 200
    assert answers["/%FF.txt"][2] == b"latin-1 name"  # before: a 404 (the name was U+FFFD)
    for target in ("/%91", "/%91/", "/dir/%91", "/plain.txt%91", "/%C3%28"):
        assert answers[target][0] == 404, target
    assert log.errors() == []  # no traceback, no 500


# -- 5. Range with huge numbers ---------------------------------------------------------


def test_a_range_with_a_5000_digit_number_is_416_or_the_file_never_500(threads, tmp_path):
    (tmp_path / "f.txt").write_bytes(b"0123456789")

    def handler(request: picohttp.HttpRequest, response: picohttp.HttpResponse) -> None:
        picohttp.staticResource(request, response, str(tmp_path))

    huge = "9" * 5000
    with serving(handler, threads=threads) as server, picohttp_log() as log:
        statuses = {}
        bodies = {}
        for name, value in {
            "first": f"bytes={huge}-",
            "last": f"bytes=2-{huge}",
            "suffix": f"bytes=-{huge}",
            "zeros": "bytes=" + "0" * 5000 + "3-4",
        }.items():
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            connection.request("GET", "/f.txt", headers={"Range": value})
            response = connection.getresponse()
            statuses[name], bodies[name] = response.status, response.read()
            connection.close()
    # Before: 500 with a traceback ("Exceeds the limit (4300 digits) for integer string").
    assert statuses == {"first": 416, "last": 206, "suffix": 206, "zeros": 206}
    assert bodies["last"] == b"23456789"
    assert bodies["suffix"] == b"0123456789"
    assert bodies["zeros"] == b"34"
    assert log.errors() == []


# -- 6. form codecs ----------------------------------------------------------------------


def _form(request: picohttp.HttpRequest, response: picohttp.HttpResponse) -> None:
    response.data = {
        "form": dict(request.form),
        "files": {name: upload.filename for name, upload in request.files.items()},
    }


@pytest.mark.parametrize("charset", ["idna", "undefined", "punycode", "rot13", "base64", "zlib"])
def test_a_part_charset_that_is_no_text_encoding_falls_back_to_utf8(threads, charset):
    with serving(_form, threads=threads) as server, picohttp_log() as log:
        answer = requests.post(
            f"http://127.0.0.1:{server.port}/",
            files={"a": (None, "caf\u00e9".encode(), f"text/plain; charset={charset}")},
            timeout=10,
        )
    assert answer.status_code == 200  # before: 500 for idna and undefined
    assert answer.json()["form"] == {"a": "caf\u00e9"}
    assert log.errors() == []


@pytest.mark.parametrize("charset", ["undefined", "idna", "rot13", "no-such-charset"])
def test_a_filename_star_in_a_codec_that_is_no_charset_is_400(threads, charset):
    body = (
        b"--B\r\nContent-Disposition: form-data; name=\"f\"; filename*=%s''x.txt\r\n\r\n"
        b"data\r\n--B--\r\n" % charset.encode()
    )
    head = b"POST / HTTP/1.0\r\nContent-Type: multipart/form-data; boundary=B\r\n"
    with serving(_form, threads=threads) as server, picohttp_log() as log:
        raw = exchange_raw(server.port, head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    assert parse_response(raw)[0] == 400  # before: 500 for undefined and idna
    assert log.errors() == []


# -- 7. X-Forwarded-For ---------------------------------------------------------------------


def _client(request: picohttp.HttpRequest, response: picohttp.HttpResponse) -> None:
    response.data = {"client": request.client[0]}


def _ask_forwarded(port: int, value: bytes) -> str:
    raw = exchange_raw(port, b"GET / HTTP/1.0\r\nX-Forwarded-For: " + value + b"\r\n\r\n")
    status, _, body = parse_response(raw)
    assert status == 200
    return str(json.loads(body)["client"])


def test_only_an_ip_address_is_taken_from_x_forwarded_for_and_the_rest_is_logged_escaped(
    caplog: pytest.LogCaptureFixture,
):
    from picohttp import _forwarded

    _forwarded._warned = False
    bad: List[bytes] = [b"fe80::1%eth0", b"fe80::1%\x85\x9b31mred", b"[::1%lo]:80", b"1.2.3.4:x"]
    with caplog.at_level(logging.DEBUG, logger="picohttp"):  # noqa: SIM117 - Python 3.9
        with serving(_client, trustProxy=True) as server:
            clients = [_ask_forwarded(server.port, value) for value in bad]
            good = _ask_forwarded(server.port, b"2001:db8::7")
    # Before: "fe80::1%eth0" (and its C1 control) became request.client.
    assert clients == ["127.0.0.1"] * len(bad)
    assert good == "2001:db8::7"
    refusals = [r for r in caplog.records if "X-Forwarded-For entry" in r.getMessage()]
    assert len(refusals) == len(bad)
    assert [r.levelno for r in refusals] == [logging.WARNING] + [logging.DEBUG] * (len(bad) - 1)
    lines = [r.getMessage() for r in caplog.records]
    assert all(line.isascii() and line.isprintable() for line in lines), lines
    assert "fe80::1%\\x85\\x9b31mred" in refusals[1].getMessage()  # C1 controls escaped
    access = [r.getMessage() for r in caplog.records if r.name == "picohttp.access"]
    assert access and all(line.startswith("127.0.0.1 - - [") for line in access[:-1])
    assert access[-1].startswith("2001:db8::7 - - [")


# -- 8. tiny chunks ----------------------------------------------------------------------------


def test_tiny_chunks_cost_bounded_cpu_per_chunk(threads):
    """20,000 one-byte chunks, one per send: the body arrives whole, and the whole process
    (client, loop and handler, all in this process) spends well under a millisecond a chunk."""
    recorder = Recorder()
    count = 20_000
    with serving(recorder, threads=threads) as server, connect(server.port) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(CHUNKED)
        start = time.process_time()
        for _ in range(count):
            sock.sendall(b"1\r\nx\r\n")
        sock.sendall(b"0\r\n\r\n")
        raw = read_all(sock, timeout=60)
        cpu = time.process_time() - start
    assert parse_response(raw)[0] == 200
    assert recorder.bodies == [b"x" * count]
    assert cpu / count < 0.001, f"{cpu / count * 1e6:.0f} us of CPU per chunk"
