"""Run a picohttp handler under any WSGI server: ``picohttp.wsgi.application(handler, *args)``.

The same handler then runs unchanged under gunicorn, waitress, uWSGI or
mod_wsgi, behind nginx or a load balancer, on as many machines as needed::

    # wsgi_app.py, served with: gunicorn --workers 4 wsgi_app:application
    import picohttp.wsgi
    from app import requestHandler

    application = picohttp.wsgi.application(requestHandler)

The request is built from the WSGI environ as picohttp's server builds it from
the wire (the path split and decoded from the raw target, headers, body,
client), and the response goes through the server's own ``run_handler`` and
serializer: a handler that raises gets the same bare 500, and the status
line, header fields (``Date`` included) and body are those picohttp would
send, less ``Connection`` and the other hop-by-hop fields, which WSGI leaves
to the server.  Files go out through ``wsgi.file_wrapper`` (``sendfile`` under
gunicorn) when the server offers it; iterators piece by piece.

Not imported by ``import picohttp``: only WSGI deployments pay for it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from urllib.parse import quote

from ._body import read_body
from ._errors import RemoteProtocolError
from ._exchange import http_date_now, run_handler
from ._forwarded import apply_forwarded, proxy_hops
from ._headers import Headers
from ._limits import Limits
from ._message import HttpRequest
from ._serializer import FileBody, StreamBody, error_head
from ._target import parse_target

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

    from ._serializer import Body

    StartResponse = Callable[..., Any]

__all__ = ["application"]

log = logging.getLogger("picohttp")

# RFC 9110 7.6.1 and PEP 3333: a WSGI application must not send these; the
# server owns the connection.  ("trailers" is the name wsgiref checks for.)
_HOP_BY_HOP = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    )
)
_BLOCK = 256 * 1024
# Characters a path keeps unescaped when it is rebuilt from PATH_INFO
# (RFC 3986 pchar and "/"; quote() keeps letters, digits and "-._~" anyway).
_PATH_SAFE = "/!$&'()*+,;=:@"
# environ key -> header name (HTTP_X_FORWARDED_FOR -> X-Forwarded-For), bounded below
_names: Dict[str, str] = {}


def application(
    handler: Union[Callable[..., Any], str],
    *args: Any,
    trustProxy: Union[bool, int] = False,
    maxBody: int = Limits.max_body,
) -> Callable[[Dict[str, Any], StartResponse], Iterable[bytes]]:
    """A WSGI application that calls ``handler(request, response, *args)`` per request.

    ``handler`` is a function, or ``"module:function"`` to import (so a server
    can be told ``'picohttp.wsgi:application("app:handler")'`` on its command
    line).  ``args`` are what ``HttpServer`` takes as ``args``.  ``maxBody``
    bounds the request body as the server's keyword does (413 beyond it).
    ``trustProxy`` (``True``, or the number of proxies in front) makes
    ``request.client`` and ``request.scheme`` those the proxies report in
    ``X-Forwarded-For`` / ``X-Forwarded-Proto``, on top of what the WSGI server
    reports (``REMOTE_ADDR``, ``wsgi.url_scheme``); never by default.
    """
    if isinstance(handler, str):
        handler = _import(handler)
    if not callable(handler):
        raise TypeError(f"handler must be callable, not {handler!r}")
    return _Application(handler, tuple(args), Limits(max_body=maxBody), proxy_hops(trustProxy))


def _import(spec: str) -> Callable[..., Any]:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{spec!r} is not module:function")
    target: Any = importlib.import_module(module_name)
    for name in attribute.split("."):
        target = getattr(target, name)
    return target  # type: ignore[no-any-return]


class _Application:
    """The WSGI callable ``application`` returns (see the module docstring)."""

    def __init__(
        self, handler: Callable[..., Any], args: Tuple[Any, ...], limits: Limits, hops: int
    ) -> None:
        self.handler = handler
        self.args = args
        self.limits = limits
        self.hops = hops

    def __repr__(self) -> str:
        name = getattr(self.handler, "__qualname__", None) or repr(self.handler)
        return f"<picohttp.wsgi.application {name}>"

    def __call__(self, environ: Dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            request = build_request(environ, self.limits)
        except RemoteProtocolError as error:
            # What the server's parser would have answered for the same request.
            log.debug("%s: %d %s", environ.get("REMOTE_ADDR"), error.status, error.reason)
            head = error_head(error.status, error.reason, http_date_now())
            return _respond(environ, start_response, head, b"")
        if self.hops:
            apply_forwarded(request, self.hops)
        try:
            head, body, _, _ = run_handler(self.handler, self.args, request)
        finally:
            request.close()  # a spooled body and its uploads' temporary files, as the server
        return _respond(environ, start_response, head, body)


# -- environ -> HttpRequest -------------------------------------------------------


def build_request(environ: Dict[str, Any], limits: Limits) -> HttpRequest:
    """The ``HttpRequest`` picohttp's server would make for the request ``environ`` describes.

    Raises ``RemoteProtocolError`` where the server would refuse the request
    (a malformed or too large body).
    """
    target = request_target(environ)
    path, query = parse_target(target)
    headers = _headers(environ)
    body = read_body(
        environ.get("wsgi.input"),
        environ.get("CONTENT_LENGTH"),
        "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower(),
        limits,
    )
    address = environ.get("REMOTE_ADDR") or "-"
    if address[:7] == "::ffff:" and "." in address:
        address = address[7:]  # an IPv4 client of a dual-stack server, shown as the server does
    try:
        port = int(environ.get("REMOTE_PORT") or 0)
    except ValueError:
        port = 0
    return HttpRequest(
        environ.get("REQUEST_METHOD", "GET"),
        path,
        query,
        environ.get("SERVER_PROTOCOL") or "HTTP/1.0",
        headers,
        uri=target,
        body=body,
        client=(address, port),
        scheme=environ.get("wsgi.url_scheme") or "http",
    )


def request_target(environ: Dict[str, Any]) -> str:
    """The request target as the client sent it (still percent-encoded).

    gunicorn (``RAW_URI``), waitress, uWSGI and Apache (``REQUEST_URI``) pass
    it on.  Otherwise it is rebuilt from ``SCRIPT_NAME`` + ``PATH_INFO``, which
    PEP 3333 gives already decoded (its bytes tunnelled as Latin-1), so it is
    encoded again; a ``%2F`` inside a segment then reads as ``/``, as the
    server cannot tell them apart any more.
    """
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw and (raw[0] == "/" or raw == "*" or raw[:4].lower() == "http"):
        return _ascii(raw)
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    try:
        data = path.encode("latin-1")
    except UnicodeEncodeError:  # a server that decoded as UTF-8, against PEP 3333
        data = path.encode("utf-8", "surrogateescape")
    target = quote(data, safe=_PATH_SAFE)
    if target[:1] != "/":
        target = "/" + target
    query = environ.get("QUERY_STRING")
    return target + "?" + _ascii(query) if query else target


def _ascii(text: str) -> str:
    """Percent-encode the bytes of ``text`` beyond ASCII (the server refuses them raw)."""
    if text.isascii():
        return text
    try:
        data = text.encode("latin-1")
    except UnicodeEncodeError:
        data = text.encode("utf-8", "surrogateescape")
    return "".join(chr(byte) if byte < 0x80 else f"%{byte:02X}" for byte in data)


def _header_name(key: str) -> str:
    """``HTTP_X_FORWARDED_FOR`` -> ``X-Forwarded-For`` (the name as most clients spell it)."""
    name = _names.get(key)
    if name is None:
        bare = key[5:] if key[:5] == "HTTP_" else key
        name = "-".join(part.capitalize() for part in bare.split("_"))
        if len(_names) < 512:
            _names[key] = name
    return name


def _headers(environ: Dict[str, Any]) -> Headers:
    headers = Headers()
    for key, value in environ.items():
        if key[:5] == "HTTP_":
            # Some servers keep these too; CONTENT_TYPE and CONTENT_LENGTH are the real ones.
            if key != "HTTP_CONTENT_TYPE" and key != "HTTP_CONTENT_LENGTH":
                headers[_header_name(key)] = value
        elif (key == "CONTENT_TYPE" or key == "CONTENT_LENGTH") and value:
            headers[_header_name(key)] = value
    return headers


# -- serialized response -> WSGI ---------------------------------------------------


def _respond(
    environ: Dict[str, Any],
    start_response: StartResponse,
    head: bytes,
    body: Body,
) -> Iterable[bytes]:
    """Pass the serializer's head to ``start_response`` and return the body as WSGI wants it."""
    # The head is what picohttp would write on the wire: Latin-1 text (or the UTF-8
    # bytes of a value beyond Latin-1, which Latin-1 decoding carries unchanged, as
    # PEP 3333's native strings do).
    head, _, rest = head.partition(b"\r\n\r\n")
    if rest:  # a complete error answer (error_head): its short body came with the head
        body = rest
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 1)[1]
    headers: List[Tuple[str, str]] = []
    for line in lines[1:]:
        name, _, value = line.partition(": ")
        folded = name.lower()
        if folded in _HOP_BY_HOP:
            continue
        headers.append((name, value))
    try:
        start_response(status, headers)
    except BaseException:
        _close(body)
        raise
    if type(body) is bytes:
        return [body] if body else []
    if isinstance(body, StreamBody):
        return _Pieces(body)
    assert isinstance(body, FileBody)
    return _file(environ, body)


def _close(body: Body) -> None:
    if not isinstance(body, bytes):
        body.close()


class _Pieces:
    """An iterator body: each piece as the handler produces it; ``close`` closes it."""

    def __init__(self, body: StreamBody) -> None:
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        return self._body.pieces()

    def close(self) -> None:
        self._body.close()


class _FilePart:
    """``length`` bytes of a file from its current position (a range, or no file_wrapper)."""

    def __init__(self, file: Any, length: Optional[int]) -> None:
        self._file = file
        self._length = length

    def __iter__(self) -> Iterator[bytes]:
        left = self._length
        while left is None or left > 0:
            piece = self._file.read(_BLOCK if left is None else min(left, _BLOCK))
            if not piece:
                return
            if left is not None:
                left -= len(piece)
            yield piece

    def close(self) -> None:
        self._file.close()


def _file(environ: Dict[str, Any], body: FileBody) -> Iterable[bytes]:
    file, length = body.file, body.length
    # Not seekable: it is where it is, and is sent from there.
    with contextlib.suppress(AttributeError, OSError, ValueError):
        file.seek(body.offset)
    wrapper = environ.get("wsgi.file_wrapper")
    # file_wrapper sends to the end of the file; a range (a 206) must stop earlier.
    if wrapper is not None and length is not None and _ends_at(file, body.offset + length):
        return wrapper(file, _BLOCK)  # type: ignore[no-any-return]
    return _FilePart(file, length)


def _ends_at(file: Any, end: int) -> bool:
    try:
        return bool(os.fstat(file.fileno()).st_size == end)
    except (AttributeError, OSError, ValueError):
        return False  # no real file behind it: no sendfile to gain either
