"""Under a real gunicorn, no upload temporary file outlives its request.

The WSGI adapter frees a request as picohttp's own server does
(``request.close()``): the spooled body and every upload's temporary file,
even when the application keeps a reference to the request (here: the last
request, as a debugging page might), which would otherwise hold them open
until the garbage collector ran.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List

import pytest

from support import (
    PYTHON,
    child_pids,
    child_server,
    exchange,
    free_port,
    gunicorn_options,
    parse_response,
    python_env,
    wait_until,
)

APP = """
import picohttp.wsgi

kept = []


def handler(request, response):
    upload = request.files["upload"]
    kept[:] = [request]  # the application keeps the request: nothing is freed by refcount
    response.data = f"{upload.filename} {upload.size}\\n"


application = picohttp.wsgi.application(handler)
"""

UPLOAD = b"u" * (300 * 1024)  # over the 64 KiB spool threshold: body and part go to files


def multipart_request() -> bytes:
    boundary = b"cleanup-boundary"
    body = (
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="upload"; filename="big.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + UPLOAD + b"\r\n"
        b"--" + boundary + b"--\r\n"
    )
    return (
        b"POST /upload HTTP/1.0\r\nHost: test\r\n"
        b"Content-Type: multipart/form-data; boundary=" + boundary + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


def files_open_in(pid: int, directory: Path) -> List[str]:
    """The files process ``pid`` holds open under ``directory`` (unlinked ones included)."""
    held = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed while we looked
        if target.startswith(str(directory) + "/"):
            held.append(target)
    return held


def test_no_upload_temp_file_survives_a_request_under_gunicorn(tmp_path: Path) -> None:
    pytest.importorskip("gunicorn")
    spool = tmp_path / "spool"
    spool.mkdir()
    (tmp_path / "cleanup_app.py").write_text(APP)
    env = python_env()
    env["TMPDIR"] = str(spool)  # tempfile puts the body and the upload here
    port = free_port()
    command = [
        PYTHON, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}",
        "--worker-tmp-dir", str(tmp_path),  # gunicorn's heartbeat file: not in the spool
        *gunicorn_options(), "cleanup_app:application",
    ]  # fmt: skip
    with child_server(command, port, tmp_path, env=env) as server:
        wait_until(lambda: len(child_pids(server.pid)) == 1, timeout=30)
        (worker,) = child_pids(server.pid)
        for _ in range(3):
            status, _, body = parse_response(exchange(port, multipart_request()))
            assert (status, body) == (200, f"big.bin {len(UPLOAD)}\n".encode())
            # The adapter closes before it hands the answer to gunicorn: once the
            # answer is in, nothing of the request may still be open in the spool.
            assert files_open_in(worker, spool) == []
        assert os.listdir(spool) == []  # nor left on disk by name
