"""One application with every kind of response, for the WSGI differential tests.

``router`` is served both by picohttp's server (in the test process) and, as
``varied_wsgi:application``, by gunicorn and waitress; the answers must agree.
Paths under ``/static/`` are ``staticResource`` on the working directory.
"""

from __future__ import annotations

import picohttp
import picohttp.wsgi

MAX_BODY = 4096  # small, so that a 413 costs a few kilobytes


def echo(request, response):
    """What the handler saw, as JSON."""
    body = request.body
    response.data = {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "protocol": request.protocol,
        "uri": request.uri,
        "headers": sorted(request.headers.items()),
        "data": request.data,
        "body length": None if body is None else len(body),
        "client": request.client[0],
        "scheme": request.scheme,
    }


def kinds(request, response, kind):
    if kind == "text":
        response.data = "héllo wörld\n"
    elif kind == "html":
        response.data = "  <p>hi</p>"
    elif kind == "json":
        response.data = {"k": ["ü", 1], "n": None}
    elif kind == "bytes":
        response.data = b"\x00\xff\r\n"
    elif kind == "empty":
        response.data = None
    elif kind == "latin":
        response.headers["Content-Type"] = "text/plain; charset=latin-1"
        response.data = "café"
    elif kind == "no-content":
        response.status = 204
        response.data = "dropped"
    elif kind == "not-modified":
        response.status = 304
        response.headers["ETag"] = '"v1"'
    elif kind == "unknown-status":
        response.status = 799
        response.data = "odd"
    elif kind == "cookies":
        response.headers["Set-Cookie"] = ["a=1; Path=/", "b=2; HttpOnly"]
        response.headers["X-Custom"] = "ünïcode"  # not Latin-1: sent as its UTF-8 bytes
        response.data = "cookies"
    elif kind == "own-date":
        response.headers["Date"] = "Thu, 01 Jan 2015 00:00:00 GMT"
        response.data = "dated"
    elif kind == "raise":
        raise KeyError("boom")
    elif kind == "splitting":
        response.headers["X-Evil"] = "a\r\nInjected: 1"
        response.data = "never sent"
    elif kind == "stream":
        response.headers["Content-Type"] = "text/plain; charset=utf-8"
        response.data = iter(["a", b"b", "ç", "", b"d" * 100_000])
    elif kind == "file":
        file = open("site/big.bin", "rb")  # noqa: SIM115 - the server closes it
        file.seek(3)
        response.data = file
    else:
        response.status = 404
        response.data = f"no kind {kind}\n"


router = picohttp.Router()
router.route("GET", "/kind/{kind}")(kinds)
router.mount("/echo", echo)
router.mount("/static", picohttp.staticResource, staticBase="site")

application = picohttp.wsgi.application(router, maxBody=MAX_BODY)
