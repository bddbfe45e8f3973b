"""Test a handler without a socket: ``picohttp.testing.Client``.

The client builds the bytes a real HTTP client would send, feeds them to the
server's own ``RequestParser``, calls the handler through the server's own
``run_handler`` (so an exception becomes the same logged 500), serializes the
response with the server's serializer and parses those bytes back.  Only the
socket is missing, so what a test sees is what a browser would get::

    from picohttp.testing import Client

    client = Client(requestHandler)
    response = client.get("/hello")
    assert response.status == 200 and response.text == "Hello world!"

A request the parser refuses (a malformed header, a body over ``maxBody``)
comes back as the 4xx a client would read from a socket; the handler is not
called.  Nothing here opens a socket, starts a thread or sleeps.
"""

from __future__ import annotations

import collections.abc
import json as _json

from ._errors import RemoteProtocolError
from ._exchange import answer_body_size, body_size, http_date_now, log_access, run_handler
from ._headers import Headers
from ._limits import KEYWORDS, Limits
from ._serializer import FileBody, StreamBody, error_head

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Iterable, List, Mapping, Optional, Tuple, Union

    from ._exchange import Handler
    from ._serializer import Body

    HeaderInput = Union[Mapping[str, Any], Iterable[Tuple[str, Any]], None]

__all__ = ["Client", "TestResponse"]


# A target may hold any visible ASCII; everything else is percent-encoded the
# way requests and browsers do before sending (a raw space would be a 400).
_TARGET_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))

_READ_SIZE = 64 * 1024  # what the server's loop reads per recv (_loop.RECV_SIZE)

_LIMIT_NAMES = {keyword: name for name, keyword in KEYWORDS.items()}


class TestResponse:
    """A response as a client would read it off the wire.

    ``status`` (int), ``reason`` and ``protocol`` from the status line;
    ``headers``: a case-insensitive ``dict`` (repeated fields joined with
    ``", "``; ``header_list`` keeps each field line); ``data``: the body as
    ``bytes`` (files read, streamed pieces collected, empty for ``HEAD``);
    ``raw``: head and body exactly as they would be sent.
    """

    __test__ = False  # not a pytest test class, whatever its name says

    __slots__ = ("data", "header_list", "headers", "protocol", "raw", "reason", "status")

    def __init__(self, raw: bytes) -> None:
        head, separator, body = raw.partition(b"\r\n\r\n")
        if not separator:
            raise ValueError("not an HTTP response: no blank line after the head")
        lines = head.decode("latin-1").split("\r\n")
        protocol, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        self.raw = raw
        self.protocol = protocol
        self.status = int(code)
        self.reason = reason
        self.header_list: List[Tuple[str, str]] = []
        self.headers = Headers()
        for line in lines[1:]:
            name, _, value = line.partition(":")
            value = value.strip(" \t")
            self.header_list.append((name, value))
            if name in self.headers:
                self.headers[name] = self.headers[name] + ", " + value
            else:
                self.headers[name] = value
        self.data = body

    @property
    def text(self) -> str:
        """The body decoded with the charset of its Content-Type (UTF-8 if none)."""
        from ._grammar import content_type_charset

        charset = content_type_charset(self.headers.get("Content-Type")) or "utf-8"
        return self.data.decode(charset, "replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return _json.loads(self.data)

    def __repr__(self) -> str:
        return f"<TestResponse {self.status} {len(self.data)} bytes>"


class Client:
    """Run ``handler(request, response, *args)`` in process, through the server's own code.

    ``Client(handler, *args)`` takes what ``HttpServer(port, handler, args)``
    takes.  Keywords: ``client`` (the ``request.client`` address the handler
    sees, default ``("127.0.0.1", 50000)``), ``errorHandler`` (as
    ``HttpServer``'s) and the request limits of
    ``HttpServer`` (``maxRequestLine``, ``maxHeaderBytes``, ``maxHeaders``,
    ``maxBody``).  Requests are sent as ``HTTP/1.1`` with ``Host: localhost``,
    as curl and requests send them.
    """

    def __init__(
        self,
        handler: Handler,
        *args: Any,
        client: Tuple[str, int] = ("127.0.0.1", 50000),
        errorHandler: Optional[Handler] = None,
        **limits: int,
    ) -> None:
        if not callable(handler):
            raise TypeError(f"handler must be callable, not {handler!r}")
        if errorHandler is not None:  # as HttpServer(errorHandler=...) does
            from ._errorhandler import with_error_handler

            handler = with_error_handler(handler, errorHandler)
        unknown = sorted(set(limits) - set(_LIMIT_NAMES))
        if unknown:
            raise TypeError(f"unknown Client keyword(s): {', '.join(unknown)}")
        self.handler = handler
        self.args = args
        self.client = client
        self.limits = Limits(**{_LIMIT_NAMES[keyword]: value for keyword, value in limits.items()})

    # -- the verbs ---------------------------------------------------------------

    def get(
        self,
        target: str,
        headers: HeaderInput = None,
        data: Any = None,
        *,
        json: Any = None,
        cookies: Optional[Mapping[str, str]] = None,
        auth: Optional[Tuple[str, str]] = None,
    ) -> TestResponse:
        """``GET target``."""
        return self.request("GET", target, headers, data, json=json, cookies=cookies, auth=auth)

    def head(
        self,
        target: str,
        headers: HeaderInput = None,
        data: Any = None,
        *,
        json: Any = None,
        cookies: Optional[Mapping[str, str]] = None,
        auth: Optional[Tuple[str, str]] = None,
    ) -> TestResponse:
        """``HEAD target``: the headers of the would-be GET, an empty body."""
        return self.request("HEAD", target, headers, data, json=json, cookies=cookies, auth=auth)

    def options(
        self,
        target: str,
        headers: HeaderInput = None,
        data: Any = None,
        *,
        json: Any = None,
        cookies: Optional[Mapping[str, str]] = None,
        auth: Optional[Tuple[str, str]] = None,
    ) -> TestResponse:
        """``OPTIONS target``."""
        return self.request("OPTIONS", target, headers, data, json=json, cookies=cookies, auth=auth)

    def delete(
        self,
        target: str,
        headers: HeaderInput = None,
        data: Any = None,
        *,
        json: Any = None,
        cookies: Optional[Mapping[str, str]] = None,
        auth: Optional[Tuple[str, str]] = None,
    ) -> TestResponse:
        """``DELETE target``."""
        return self.request("DELETE", target, headers, data, json=json, cookies=cookies, auth=auth)

    def post(
        self,
        target: str,
        headers: HeaderInput = None,
        data: Any = None,
        *,
        json: Any = None,
        cookies: Optional[Mapping[str, str]] = None,
        auth: Optional[Tuple[str, str]] = None,
    ) -> TestResponse:
        """``POST target`` with ``data`` as the body (see ``request``)."""
        return self.request("POST", target, headers, data, json=json, cookies=cookies, auth=auth)

    def put(
        self,
        target: str,
        headers: HeaderInput = None,
        data: Any = None,
        *,
        json: Any = None,
        cookies: Optional[Mapping[str, str]] = None,
        auth: Optional[Tuple[str, str]] = None,
    ) -> TestResponse:
        """``PUT target`` with ``data`` as the body (see ``request``)."""
        return self.request("PUT", target, headers, data, json=json, cookies=cookies, auth=auth)

    def patch(
        self,
        target: str,
        headers: HeaderInput = None,
        data: Any = None,
        *,
        json: Any = None,
        cookies: Optional[Mapping[str, str]] = None,
        auth: Optional[Tuple[str, str]] = None,
    ) -> TestResponse:
        """``PATCH target`` with ``data`` as the body (see ``request``)."""
        return self.request("PATCH", target, headers, data, json=json, cookies=cookies, auth=auth)

    def request(
        self,
        method: str,
        target: str,
        headers: HeaderInput = None,
        data: Any = None,
        *,
        json: Any = None,
        cookies: Optional[Mapping[str, str]] = None,
        auth: Optional[Tuple[str, str]] = None,
    ) -> TestResponse:
        """Send one request and return the response.

        ``target`` is the path and query (``"/items/a?x=1"``); characters a
        browser would escape (space, non-ASCII) are percent-encoded.
        ``headers``: a dict or a list of ``(name, value)`` pairs.  ``data``:
        ``str`` (sent as UTF-8), bytes, or a ``dict``/``list`` (sent as JSON
        with ``Content-Type: application/json``); ``Content-Length`` is added
        unless ``headers`` has one (or a Transfer-Encoding).  ``json``: any
        JSON value sent as the body (instead of ``data``), with that
        Content-Type.  ``cookies``: a dict sent as the ``Cookie`` field.
        ``auth``: ``(name, password)`` sent as Basic ``Authorization``.
        """
        return self.send(
            self.build(method, target, headers, data, json=json, cookies=cookies, auth=auth)
        )

    # -- bytes in, bytes out -----------------------------------------------------

    def build(
        self,
        method: str,
        target: str,
        headers: HeaderInput = None,
        data: Any = None,
        *,
        json: Any = None,
        cookies: Optional[Mapping[str, str]] = None,
        auth: Optional[Tuple[str, str]] = None,
    ) -> bytes:
        """The exact bytes ``request`` sends for these arguments (also usable over a socket)."""
        from urllib.parse import quote

        fields = _given_fields(headers)
        if json is not None:
            if data is not None:
                raise TypeError("give the body as data= or json=, not both")
            data = _json.dumps(json).encode("utf-8")
        names = {name.lower() for name, _ in fields}
        body = _encode_body(data)
        if (json is not None or isinstance(data, (dict, list))) and "content-type" not in names:
            fields.append(("Content-Type", "application/json"))
        if cookies:
            fields.append(
                ("Cookie", "; ".join(f"{name}={value}" for name, value in cookies.items()))
            )
        if auth is not None:
            fields.append(("Authorization", _basic(auth)))
        if "host" not in names:
            fields.insert(0, ("Host", "localhost"))
        if body is not None and not names & {"content-length", "transfer-encoding"}:
            fields.append(("Content-Length", str(len(body))))
        lines = [f"{method} {quote(target, safe=_TARGET_SAFE)} HTTP/1.1"]
        lines.extend(f"{name}: {value}" for name, value in fields)
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
        return head + (body or b"")

    def send(self, raw: bytes) -> TestResponse:
        """Answer ``raw`` request bytes as the server would answer a client that sent them."""
        from ._parser import RequestParser

        parser = RequestParser(self.limits, self.client)
        request = None
        try:
            # In pieces the size the server reads, so large bodies spool to a
            # temporary file here exactly when they would there.
            for start in range(0, len(raw), _READ_SIZE):
                request = parser.feed(raw[start : start + _READ_SIZE])
                if request is not None:
                    break  # anything after the request is ignored, as the server does
            if request is None:
                parser.eof()  # the client sent all it had: a half request is a 400
        except RemoteProtocolError as error:
            parser.discard()
            answer = error_head(error.status, error.reason, http_date_now())
            log_access(self.client, None, error.status, answer_body_size(answer))  # as the server
            return TestResponse(answer)
        if request is None:  # nothing at all was sent; a server would just close
            raise ValueError("no request in the bytes given")
        try:
            head, body, status, _ = run_handler(self.handler, self.args, request)
        finally:
            request.close()  # a spooled body and its uploads' temporary files
        log_access(self.client, request, status, body_size(body))
        return TestResponse(head + _read_body(body))


def _given_fields(headers: HeaderInput) -> List[Tuple[str, str]]:
    """The caller's header fields (a mapping or pairs) as ``(name, value)`` strings."""
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, collections.abc.Mapping) else headers
    return [(str(name), str(value)) for name, value in items]


def _basic(auth: Tuple[str, str]) -> str:
    import base64

    name, password = auth
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode("ascii")


def _encode_body(data: Any) -> Optional[bytes]:
    if data is None:
        return None
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (dict, list)):
        return _json.dumps(data).encode("utf-8")
    raise TypeError(f"data must be str, bytes, dict or list, not {type(data).__name__}")


def _read_body(body: Body) -> bytes:
    """What a client receives of ``body``: a file's region, a stream's pieces."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, FileBody):
        try:
            body.file.seek(body.offset)
            return bytes(body.file.read() if body.length is None else body.file.read(body.length))
        finally:
            body.close()
    assert isinstance(body, StreamBody)
    pieces: List[bytes] = []
    try:
        for piece in body.pieces():
            pieces.append(piece)
    except Exception:
        # Over a socket the head is already out: the client sees a cut-off
        # body and the server logs the failure.  The same happens here.
        import logging

        logging.getLogger("picohttp").exception("streamed response body failed")
    finally:
        body.close()
    return b"".join(pieces)
