"""microdot on CPython (its asyncio server).

    python microdot_app.py PORT FILES

``/hello`` and ``/big`` as in picohttp_app.py; a plain file name under FILES
(``/4k.txt``) through microdot's ``send_file``; anything else is microdot's 404.
``send_file`` sends no Content-Length (the body ends when the connection
closes, which wrk counts as a read error on every response), so the app adds
it, as a careful application would.
"""

import os
import sys
from pathlib import Path

from microdot import Microdot, send_file

app = Microdot()
FILES = ""
BIG = b""


@app.route("/hello")
async def hello(request):
    return "Hello world!"


@app.route("/big")
async def big(request):
    return BIG, 200, {"Content-Type": "application/octet-stream"}


@app.route("/<name>")
async def static(request, name):
    path = os.path.join(FILES, name)
    if name.startswith(".") or not os.path.isfile(path):
        return "Not found", 404
    response = send_file(path)
    response.headers["Content-Length"] = str(os.path.getsize(path))
    return response


def main() -> None:
    global FILES, BIG
    port, FILES = int(sys.argv[1]), sys.argv[2]
    BIG = Path(FILES, "big.bin").read_bytes()
    app.run(host="127.0.0.1", port=port)


if __name__ == "__main__":
    main()
