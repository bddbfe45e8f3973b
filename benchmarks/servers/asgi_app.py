"""A bare ASGI application for uvicorn: ``asgi_app:app``, files from $BENCH_FILES.

No framework on top, so uvicorn's own cost is what is measured.  ``/hello``
and ``/big`` as in wsgi_app.py; a plain file name under $BENCH_FILES
(``/4k.txt``) is read whole on each request and sent as the body (what a
minimal ASGI app does; Starlette would read it in a thread).  Run it with
``--lifespan off``: there is nothing to set up.
"""

import mimetypes
import os
from pathlib import Path

FILES = Path(os.environ["BENCH_FILES"])
HELLO = b"Hello world!"
BIG = (FILES / "big.bin").read_bytes()


async def app(scope, receive, send):
    path = scope["path"]
    if path == "/hello":
        await _reply(send, 200, HELLO, b"text/plain; charset=utf-8")
        return
    if path == "/big":
        await _reply(send, 200, BIG, b"application/octet-stream")
        return
    name = path[1:]
    file = FILES / name
    if name and "/" not in name and not name.startswith(".") and file.is_file():
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        await _reply(send, 200, file.read_bytes(), content_type.encode())
        return
    await _reply(send, 404, b"Not Found", b"text/plain")


async def _reply(send, status, body, content_type):
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
