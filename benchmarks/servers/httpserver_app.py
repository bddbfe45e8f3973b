"""The standard library's ``http.server.ThreadingHTTPServer``, as ``python -m http.server`` runs it.

    python httpserver_app.py PORT FILES

``/hello`` and ``/big`` as in picohttp_app.py; anything else is
``SimpleHTTPRequestHandler`` over FILES (``/4k.txt``, 404 otherwise).  The
per-request log line is switched off, as every server's access log is here.
"""

import functools
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HELLO = b"Hello world!"


class Handler(SimpleHTTPRequestHandler):
    big = b""

    def do_GET(self) -> None:
        if self.path == "/hello":
            self._send(HELLO, "text/plain; charset=utf-8")
        elif self.path == "/big":
            self._send(self.big, "application/octet-stream")
        else:
            super().do_GET()

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    port, files = int(sys.argv[1]), sys.argv[2]
    Handler.big = Path(files, "big.bin").read_bytes()
    handler = functools.partial(Handler, directory=files)
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
