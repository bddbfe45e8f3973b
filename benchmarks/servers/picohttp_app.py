"""picohttp serving the benchmark's three scenarios.

    python picohttp_app.py PORT FILES [KEYWORD=VALUE ...]

``/hello`` answers as the specification's hello example does ("Hello world!"),
``/big`` sends FILES/big.bin (256 KiB) from memory, and every other path goes
to ``staticResource`` over FILES (``/4k.txt``; a 404 for what is not there).
Extra arguments are ``HttpServer`` keywords, e.g. ``threads=False``.
"""

import ast
import sys
from pathlib import Path

import picohttp


def requestHandler(request, response, files, big):
    if request.path[0] == "hello":
        response.data = "Hello world!"
    elif request.path[0] == "big":
        response.data = big
    else:
        picohttp.staticResource(request, response, files)


def main() -> None:
    port, files = int(sys.argv[1]), sys.argv[2]
    keywords = {}
    for argument in sys.argv[3:]:
        name, _, value = argument.partition("=")
        keywords[name] = ast.literal_eval(value)
    big = Path(files, "big.bin").read_bytes()
    picohttp.HttpServer(port, requestHandler, args=(files, big), host="127.0.0.1", **keywords)


if __name__ == "__main__":
    main()
