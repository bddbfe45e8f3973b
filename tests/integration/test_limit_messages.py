"""Errors that help: a 413, 431 or 414 tells the client which ``HttpServer`` keyword raises it.

Real clients (requests, curl) must actually read that answer, also when the
server refuses a request before the client finished sending it (the lingering
close drains the rest, so the client sees the message rather than a reset).
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
import requests

from support import serving


def echo(request: Any, response: Any) -> None:
    response.data = f"{len(request.body or b'')}\n"


def hint(keyword: str, value: int) -> str:
    return f"exceeds {keyword}={value} (raise it with HttpServer({keyword}=...))"


def test_413_from_content_length_names_max_body(threads):
    with serving(echo, threads=threads, maxBody=100_000) as server:
        reply = requests.post(f"http://127.0.0.1:{server.port}/", data=b"x" * 2_000_000, timeout=30)
    assert reply.status_code == 413
    assert reply.text == (
        "413 Content Too Large: body of 2000000 bytes " + hint("maxBody", 100000) + "\n"
    )


def test_413_of_a_chunked_body_names_max_body(threads):
    def pieces():
        for _ in range(30):
            yield b"y" * 10_000

    with serving(echo, threads=threads, maxBody=100_000) as server:
        reply = requests.post(f"http://127.0.0.1:{server.port}/", data=pieces(), timeout=30)
    assert reply.status_code == 413
    assert hint("maxBody", 100000) in reply.text


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_413_with_curl_names_max_body(threads, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"z" * 300_000)
    with serving(echo, threads=threads, maxBody=100_000) as server:
        result = subprocess.run(
            ["curl", "-sS", "--data-binary", f"@{big}", f"http://127.0.0.1:{server.port}/"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert hint("maxBody", 100000) in result.stdout.decode()


def test_431_for_too_many_fields_names_max_headers(threads):
    headers = {f"X-Field-{n}": "v" for n in range(120)}
    with serving(echo, threads=threads) as server:
        reply = requests.get(f"http://127.0.0.1:{server.port}/", headers=headers, timeout=10)
    assert reply.status_code == 431
    assert reply.text == (
        "431 Request Header Fields Too Large: number of header fields "
        + hint("maxHeaders", 100)
        + "\n"
    )


def test_431_for_a_large_head_names_max_header_bytes(threads):
    with serving(echo, threads=threads, maxHeaderBytes=16_384) as server:
        reply = requests.get(
            f"http://127.0.0.1:{server.port}/", headers={"Cookie": "c" * 20_000}, timeout=10
        )
    assert reply.status_code == 431
    assert hint("maxHeaderBytes", 16384) in reply.text


def test_414_names_max_request_line(threads):
    with serving(echo, threads=threads) as server:
        reply = requests.get(f"http://127.0.0.1:{server.port}/" + "a" * 9000, timeout=10)
    assert reply.status_code == 414
    assert hint("maxRequestLine", 8192) in reply.text
