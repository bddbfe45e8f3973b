"""``Expect: 100-continue``: curl uploads get their ``100 Continue`` (or their 413) at once.

curl waits for the interim answer before it sends a body it announced with
``Expect`` (itself for bodies over 1 MiB, or when told with ``-H``), and sends
the body anyway after ``--expect100-timeout`` (1 s by default): a server that
stays silent costs every upload that second.  The tests raise curl's timeout to
5 s and require the whole upload to finish in under 2.5 s, so a missing
``100 Continue`` cannot pass, even on a loaded machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import Any, Tuple

import pytest

from picohttp._parser import parse_request
from support import connect, serving

CURL = shutil.which("curl")
pytestmark = pytest.mark.skipif(CURL is None, reason="curl not installed")

STALL = 5  # curl's --expect100-timeout in these tests
BOUND = 2.5  # seconds an upload may take; a missed 100 Continue takes STALL


def size_of_body(request: Any, response: Any) -> None:
    if request.files:
        response.data = f"{request.files['file'].size}\n"
    else:
        response.data = f"{len(request.body or b'')}\n"


def timed_curl(*args: str) -> Tuple[float, subprocess.CompletedProcess]:  # type: ignore[type-arg]
    assert CURL is not None
    start = time.monotonic()
    result = subprocess.run(
        [CURL, "-sS", "-v", "--expect100-timeout", str(STALL), "--max-time", "30", *args],
        capture_output=True,
        timeout=60,
        check=False,
    )
    return time.monotonic() - start, result


@pytest.mark.parametrize(
    ("size", "how"),
    [
        (4 * 1024, ["-H", "Expect: 100-continue", "--data-binary"]),  # asked for explicitly
        (3 * 1024 * 1024, ["--data-binary"]),  # curl asks by itself over 1 MiB
        (3 * 1024 * 1024, ["-F"]),
    ],
    ids=["4KiB-explicit", "3MiB-data-binary", "3MiB-form"],
)
def test_curl_upload_gets_100_continue_at_once(threads, tmp_path, size, how):
    upload = tmp_path / "upload.bin"
    upload.write_bytes(os.urandom(size))
    with serving(size_of_body, threads=threads) as server:
        url = f"http://127.0.0.1:{server.port}/upload"
        argument = f"file=@{upload}" if how[-1] == "-F" else f"@{upload}"
        elapsed, result = timed_curl(*how, argument, url)
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, stderr
    assert "> Expect: 100-continue" in stderr
    assert "< HTTP/1.1 100 Continue" in stderr
    assert result.stdout == f"{size}\n".encode()
    print(f"\n{size} bytes with Expect: 100-continue (threads={threads}): {elapsed:.3f} s")
    assert elapsed < BOUND, f"{elapsed:.2f} s: the 100 Continue did not come at once"


@pytest.mark.parametrize("how", ["--data-binary", "-F"])
def test_curl_upload_over_max_body_gets_413_at_once_without_sending_it(threads, tmp_path, how):
    upload = tmp_path / "upload.bin"
    upload.write_bytes(os.urandom(2 * 1024 * 1024))
    with serving(size_of_body, threads=threads, maxBody=1_000_000) as server:
        url = f"http://127.0.0.1:{server.port}/upload"
        argument = f"file=@{upload}" if how == "-F" else f"@{upload}"
        elapsed, result = timed_curl(
            "-H", "Expect: 100-continue", how, argument, "-w", "\n%{http_code} %{size_upload}", url
        )  # fmt: skip
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, stderr
    assert "100 Continue" not in stderr
    body, _, summary = result.stdout.decode().rpartition("\n")
    code, uploaded = summary.split()
    assert code == "413"
    assert uploaded == "0"  # curl never sent the body
    assert "exceeds maxBody=1000000 (raise it with HttpServer(maxBody=...))" in body
    assert elapsed < BOUND


def test_a_head_with_expect_and_no_body_yet_leaves_the_fast_path():
    """The accept-time fast path must hand such a request to the parser that sends 100."""
    head = b"PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
    assert parse_request(head) is None
    request, leftover = parse_request(head + b"hello") or (None, None)
    assert request is not None and request.body == b"hello" and leftover == 0


def test_100_continue_comes_before_any_byte_of_the_body(threads):
    with serving(size_of_body, threads=threads) as server, connect(server.port) as sock:
        sock.sendall(
            b"PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
        )
        interim = sock.recv(1024)  # the socket's timeout bounds this wait
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 200 OK\r\n") and answer.endswith(b"\r\n\r\n5\n")
