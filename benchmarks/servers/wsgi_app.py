"""A WSGI application for gunicorn and waitress: ``wsgi_app:app``, files from $BENCH_FILES.

``/hello`` -> "Hello world!", ``/big`` -> big.bin (256 KiB) from memory, and a
plain file name under $BENCH_FILES (``/4k.txt``) through ``wsgi.file_wrapper``,
WSGI's way to serve a file (gunicorn turns it into ``sendfile``; waitress
reads it in blocks).  Anything else is a 404.
"""

import mimetypes
import os
from pathlib import Path

FILES = Path(os.environ["BENCH_FILES"])
HELLO = b"Hello world!"
BIG = (FILES / "big.bin").read_bytes()
NOT_FOUND = b"Not Found"


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/hello":
        return _reply(start_response, HELLO, "text/plain; charset=utf-8")
    if path == "/big":
        return _reply(start_response, BIG, "application/octet-stream")
    name = path[1:]
    file = FILES / name
    if name and "/" not in name and not name.startswith(".") and file.is_file():
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        start_response(
            "200 OK",
            [("Content-Type", content_type), ("Content-Length", str(file.stat().st_size))],
        )
        return environ["wsgi.file_wrapper"](open(file, "rb"), 65536)
    return _reply(start_response, NOT_FOUND, "text/plain", "404 Not Found")


def _reply(start_response, body, content_type, status="200 OK"):
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
