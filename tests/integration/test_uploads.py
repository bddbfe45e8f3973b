"""Uploads over real sockets: ``request.form`` and ``request.files`` with curl and requests.

Each test runs against a live server (both concurrency modes where it
matters).  The memory test runs the server in a child process and reads its
``VmRSS``/``VmHWM`` from ``/proc`` around a 12 MiB ``curl -F`` upload.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict

import pytest
import requests

from support import (
    connect,
    open_fds,
    parse_response,
    python_env,
    read_all,
    serving,
    wait_for_port,
    wait_until,
)

CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl not installed")


class Uploads:
    """Saves every file it gets into ``folder`` and answers what it saw, as JSON."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, request: Any, response: Any) -> None:
        saved = {}
        for name in request.files:
            for index, upload in enumerate(request.files.getlist(name)):
                target = self.folder / f"{name}-{index}.bin"
                upload.save(target)
                saved.setdefault(name, []).append(
                    {
                        "filename": upload.filename,
                        "contentType": upload.contentType,
                        "size": upload.size,
                        "saved": str(target),
                        "spooled": not hasattr(upload.file, "getvalue"),
                    }
                )
        response.data = {
            "form": request.form,
            "lists": {name: request.form.getlist(name) for name in request.form},
            "files": saved,
        }


def curl(*args: str) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    assert CURL is not None
    return subprocess.run(
        [CURL, "-sS", "--max-time", "30", *args], capture_output=True, timeout=60, check=False
    )


@needs_curl
def test_curl_form_with_fields_and_files(threads, tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(os.urandom(300_000))
    notes = tmp_path / "notes.txt"
    notes.write_text("first line\r\n--not a boundary\r\nlast line\n")
    out = tmp_path / "out"
    out.mkdir()
    with serving(Uploads(out), threads=threads) as server:
        result = curl(
            "-F", "title=Holiday ü",
            "-F", "tag=sea",
            "-F", "tag=sun",
            "-F", f"photo=@{photo};filename=my photo ü €.jpg;type=image/jpeg",
            "-F", f"notes=@{notes}",
            f"http://127.0.0.1:{server.port}/upload",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["form"] == {"title": "Holiday ü", "tag": "sun"}
    assert answer["lists"]["tag"] == ["sea", "sun"]
    [saved_photo] = answer["files"]["photo"]
    assert saved_photo["filename"] == "my photo ü €.jpg"
    assert saved_photo["contentType"] == "image/jpeg"
    assert saved_photo["size"] == 300_000
    assert Path(saved_photo["saved"]).read_bytes() == photo.read_bytes()
    [saved_notes] = answer["files"]["notes"]
    assert saved_notes["filename"] == "notes.txt"
    assert saved_notes["contentType"] == "text/plain"  # curl's guess from the extension
    assert Path(saved_notes["saved"]).read_bytes() == notes.read_bytes()


def test_requests_multipart_with_odd_filenames_and_repeats(threads, tmp_path):
    files = [
        ("doc", ("a file with spaces.txt", b"spaces")),
        ("doc", ("naïve résumé 履歴書.pdf", b"%PDF-1.4 non-ascii", "application/pdf")),
        ("doc", ('quote " and \\ back.txt', b"quoted")),
        ("blob", ("blob.bin", bytes(range(256)) * 1000)),
    ]
    with serving(Uploads(tmp_path), threads=threads) as server:
        reply = requests.post(
            f"http://127.0.0.1:{server.port}/",
            data=[("k", "v1"), ("k", "v2"), ("ü key", "ü value")],
            files=files,
            timeout=30,
        )
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["form"] == {"k": "v2", "ü key": "ü value"}
    assert answer["lists"]["k"] == ["v1", "v2"]
    docs = answer["files"]["doc"]
    # requests (urllib3 2) sends a quote as %22, as browsers do (not decoded: a "%"
    # is not escaped, so it would be ambiguous), and a backslash as is: the name
    # starts after it, as after any directory part (the file name is never a path).
    assert [doc["filename"] for doc in docs] == [
        "a file with spaces.txt",
        "naïve résumé 履歴書.pdf",
        " back.txt",
    ]

    assert docs[1]["contentType"] == "application/pdf"
    assert docs[0]["contentType"] == "application/octet-stream"  # requests sent none
    for doc, (_, (_, content, *_)) in zip(docs, files):
        assert Path(doc["saved"]).read_bytes() == content
    blob = answer["files"]["blob"][0]
    assert Path(blob["saved"]).read_bytes() == bytes(range(256)) * 1000
    assert blob["spooled"] is True  # a body over 64 KiB goes to a temporary file


def test_large_upload_parts_go_to_temporary_files_that_are_closed(threads, tmp_path):
    content = os.urandom(3 * 1024 * 1024)
    with serving(Uploads(tmp_path), threads=threads) as server:
        base = open_fds()
        for _ in range(3):
            reply = requests.post(
                f"http://127.0.0.1:{server.port}/",
                files={"a": ("a.bin", content), "b": ("b.bin", b"small")},
                timeout=30,
            )
            assert reply.status_code == 200
            assert reply.json()["files"]["a"][0]["spooled"] is True
            assert reply.json()["files"]["b"][0]["spooled"] is True
        assert (tmp_path / "a-0.bin").read_bytes() == content
        # The body's spool and each part's temporary file are closed after the handler.
        assert wait_until(lambda: open_fds() <= base), (open_fds(), base)


def test_chunked_multipart_from_a_generator(threads, tmp_path):
    boundary = "chunky"
    body = (
        b"--chunky\r\nContent-Disposition: form-data; name=f; filename=g.bin\r\n\r\n"
        + os.urandom(1_500_000)
        + b"\r\n--chunky--\r\n"
    )

    def pieces():
        for start in range(0, len(body), 100_000):
            yield body[start : start + 100_000]

    with serving(Uploads(tmp_path), threads=threads) as server:
        reply = requests.post(
            f"http://127.0.0.1:{server.port}/",
            data=pieces(),  # Transfer-Encoding: chunked
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            timeout=30,
        )
    assert reply.status_code == 200, reply.text
    saved = reply.json()["files"]["f"][0]
    assert Path(saved["saved"]).read_bytes() == body[body.index(b"\r\n\r\n") + 4 : -14]


@needs_curl
def test_urlencoded_with_curl_and_requests(threads, tmp_path):
    with serving(Uploads(tmp_path), threads=threads) as server:
        url = f"http://127.0.0.1:{server.port}/"
        result = curl("-d", "name=Ann+Lee&x=1", "--data-urlencode", "msg=a&b=c ü", "-d", "x=2", url)
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        assert answer["form"] == {"name": "Ann Lee", "x": "2", "msg": "a&b=c ü"}
        assert answer["lists"]["x"] == ["1", "2"]
        reply = requests.post(url, data={"city": "Zürich", "empty": ""}, timeout=10)
        assert reply.json() == {
            "form": {"city": "Zürich", "empty": ""},
            "lists": {"city": ["Zürich"], "empty": [""]},
            "files": {},
        }


def raw_post(port: int, body: bytes, content_type: str) -> bytes:
    head = (
        f"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    with connect(port) as sock:
        sock.sendall(head.encode() + body)
        return read_all(sock)


GOOD = (
    b"--xyz\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
    b'--xyz\r\nContent-Disposition: form-data; name="f"; filename="f.txt"\r\n\r\nabc\r\n'
    b"--xyz--\r\n"
)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (GOOD[:-9], "multipart/form-data; boundary=xyz", 400, b"before its closing delimiter"),
        (GOOD[:40], "multipart/form-data; boundary=xyz", 400, b"before its closing delimiter"),
        (GOOD, "multipart/form-data", 400, b"without a boundary"),
        (GOOD, "multipart/form-data; boundary=" + "x" * 71, 400, b"1-70 characters"),
        (GOOD, "multipart/form-data; boundary=other", 400, b"no multipart delimiter"),
        (
            GOOD.replace(b"Content-Disposition: form-data; name=a", b"Content-Type: text/plain"),
            "multipart/form-data; boundary=xyz",
            400,
            b"without Content-Disposition",
        ),
        (
            GOOD.replace(b"name=a", b"name=a; name=b"),
            "multipart/form-data; boundary=xyz",
            400,
            b"repeated",
        ),
        (
            b"--xyz\r\nContent-Disposition: form-data; name=a\r\n\r\n"
            + b"v" * (1024 * 1024 + 1)
            + b"\r\n--xyz--\r\n",
            "multipart/form-data; boundary=xyz",
            413,
            b"form field 'a' is over 1048576 bytes",
        ),
    ],
)
def test_malformed_and_truncated_forms_are_answered_400_not_500(
    threads, tmp_path, caplog, body, content_type, status, words
):
    with (
        caplog.at_level(logging.DEBUG, logger="picohttp"),
        serving(Uploads(tmp_path), threads=threads) as server,
    ):
        code, headers, text = parse_response(raw_post(server.port, body, content_type))
        assert (code, words in text) == (status, True), text
        assert headers["content-type"] == "text/plain; charset=utf-8"
        # The server goes on, and the same form done right works.
        good = raw_post(server.port, GOOD, "multipart/form-data; boundary=xyz")
        assert parse_response(good)[0] == 200
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert list(tmp_path.iterdir()) == [tmp_path / "f-0.bin"]  # only the good upload saved


def test_malformed_form_with_requests_is_a_400():
    def handler(request: Any, response: Any) -> None:
        response.data = request.form

    with serving(handler) as server:
        reply = requests.post(
            f"http://127.0.0.1:{server.port}/",
            data=b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nno end",
            headers={"Content-Type": "multipart/form-data; boundary=b"},
            timeout=10,
        )
    assert reply.status_code == 400
    assert reply.text == "400 Bad Request: multipart body ends before its closing delimiter\n"


def test_request_data_is_still_the_specs_str_for_a_spooled_upload():
    seen: Dict[str, Any] = {}

    def handler(request: Any, response: Any) -> None:
        seen["form"] = dict(request.form)
        seen["data"] = request.data

    content = bytes(range(256)) * 8192  # 2 MiB, not UTF-8: kept with surrogateescape
    with serving(handler) as server:
        reply = requests.post(
            f"http://127.0.0.1:{server.port}/",
            files={"f": ("f.bin", content)},
            data={"a": "1"},
            timeout=30,
        )
        assert reply.status_code == 200
    body = reply.request.body
    assert isinstance(seen["data"], str)
    assert seen["data"].encode("utf-8", "surrogateescape") == body
    assert seen["form"] == {"a": "1"}


# -- memory: a 12 MiB upload, server in a child process --------------------------------

SERVER = textwrap.dedent(
    """
    import sys
    import picohttp

    def handler(request, response):
        if request.path[0] == "upload":
            upload = request.files["file"]
            upload.save(sys.argv[1])
            response.data = {
                "filename": upload.filename,
                "size": upload.size,
                "form": request.form,
                # request.data was never decoded: the spool was never read whole
                "dataUntouched": type(request._data).__name__ == "object",
            }
        else:
            response.data = "ok"

    server = picohttp.HttpServer(0, handler, host="127.0.0.1", threads=sys.argv[2] == "1",
                                 block=False)
    print(server.port, flush=True)
    sys.stdin.read()  # serve until the test closes our stdin
    server.stop()
    """
)


def memory_kib(pid: int) -> Dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


@needs_curl
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_12_mib_curl_upload_saved_with_save_grows_rss_by_less_than_8_mb(threads, tmp_path):
    upload = tmp_path / "big upload ü.bin"
    upload.write_bytes(os.urandom(12 * 1024 * 1024))
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    saved = tmp_path / "saved.bin"
    process = subprocess.Popen(
        [sys.executable, str(script), str(saved), "1" if threads else "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=python_env(),
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        port = int(process.stdout.readline())
        wait_for_port(port, process=process)
        url = f"http://127.0.0.1:{port}/upload"
        # Warm up: the form parser, tempfile and shutil are imported by a first small
        # upload; what is measured is what an upload costs, not what an import does.
        small = tmp_path / "small.bin"
        small.write_bytes(os.urandom(2 * 1024 * 1024))
        assert curl("-F", f"file=@{small}", url).returncode == 0
        before = memory_kib(process.pid)
        result = curl("-F", f"file=@{upload}", "-F", "note=twelve", url)
        after = memory_kib(process.pid)
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        assert answer == {
            "filename": "big upload ü.bin",
            "size": 12 * 1024 * 1024,
            "form": {"note": "twelve"},
            "dataUntouched": True,
        }
        digest = hashlib.sha256(upload.read_bytes()).hexdigest()
        assert hashlib.sha256(saved.read_bytes()).hexdigest() == digest
        growth_kib = after["VmHWM"] - before["VmRSS"]
        print(
            f"\n12 MiB upload (threads={threads}): VmRSS {before['VmRSS']} -> "
            f"{after['VmRSS']} KiB, peak VmHWM {after['VmHWM']} KiB: "
            f"grew by {growth_kib / 1024:.1f} MiB at most"
        )
        assert growth_kib < 8 * 1000, (before, after)  # 8 MB
    finally:
        if process.stdin is not None:
            process.stdin.close()
        process.wait(timeout=15)
        if process.stdout is not None:
            process.stdout.close()
