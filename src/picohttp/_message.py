"""``HttpRequest`` and ``HttpResponse``: the spec's two objects, nothing more.

Both use ``__slots__`` (one of each is made per request, on the hot path).
``HttpRequest.data`` is decoded from the raw body only when a handler reads
it, so a server answering GETs never pays for a decode it does not use.
"""

from __future__ import annotations

import codecs

from ._headers import Headers

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import IO, Any, Dict, List, Optional, Tuple, Union

    from ._forms import FormDict

    Body = Union[bytes, IO[bytes], None]

_UNSET: Any = object()


def content_type_charset(content_type: Optional[str]) -> Optional[str]:
    """The ``charset`` parameter of a Content-Type, if Python knows that codec."""
    if not content_type or "charset" not in content_type.lower():
        return None
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').strip()
            try:
                info = codecs.lookup(charset)
            except LookupError:
                return None
            # base64, rot13, zlib_codec...: codecs Python knows that are not text encodings.
            return info.name if getattr(info, "_is_text_encoding", True) else None
    return None


class HttpRequest:
    """One parsed request, as the spec describes it.

    ``method``, ``protocol``: as sent (``"GET"``, ``"HTTP/1.1"``).
    ``path``: the target's path split on ``/`` and percent-decoded per segment.
    ``query``: ``dict`` of the query string (``+`` is space, last repeat wins).
    ``headers``: case-insensitive ``dict`` (``Headers``); repeats joined by ``", "``.
    ``data``: the body as ``str`` (charset from Content-Type, else UTF-8, with
    ``surrogateescape``) when a valid ``Content-Length`` > 0 came with it, else ``None``.

    Beyond the spec: ``body`` (the raw bytes, or ``None``), ``uri`` (the request
    target as sent), ``client`` (the peer's ``(host, port)``), ``scheme``
    (``"http"``, or what a trusted proxy or the WSGI server reports), and
    ``form`` and ``files`` (the fields and uploads of a form body, parsed on first use).
    """

    __slots__ = (
        "_body",
        "_data",
        "_files",
        "_form",
        "_scheme",
        "client",
        "headers",
        "method",
        "path",
        "protocol",
        "query",
        "uri",
    )

    def __init__(
        self,
        method: str = "GET",
        path: Optional[List[str]] = None,
        query: Optional[Dict[str, str]] = None,
        protocol: str = "HTTP/1.0",
        headers: Optional[Dict[str, str]] = None,
        data: Optional[str] = None,
        *,
        uri: Optional[str] = None,
        body: Body = None,
        client: Optional[Tuple[str, int]] = None,
        scheme: str = "http",
    ) -> None:
        self.method = method
        self.path = [""] if path is None else path
        self.query = {} if query is None else query
        self.protocol = protocol
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.uri = uri if uri is not None else "/" + "/".join(self.path)
        self.client = client
        self._body = body
        self._data = _UNSET if data is None else data
        self._scheme = scheme

    @property
    def scheme(self) -> str:
        """``"http"`` or ``"https"``: how the client reached the server (or its proxy)."""
        try:
            return self._scheme
        except AttributeError:  # the parser's fast path never sets it: plain HTTP
            return "http"

    @scheme.setter
    def scheme(self, value: str) -> None:
        self._scheme = value

    @property
    def body(self) -> Optional[bytes]:
        """The raw request body, or ``None`` when the request carried none."""
        body = self._body
        if body is None and self._data is not _UNSET and self._data is not None:
            body = self._body = str(self._data).encode("utf-8", "surrogateescape")
        if body is None or isinstance(body, bytes):
            return body
        body.seek(0)  # a spooled body (a file): read it whole only when asked
        return body.read()

    @property
    def data(self) -> Optional[str]:
        """The body decoded to ``str``, or ``None`` (see the class docstring)."""
        data = self._data
        if data is _UNSET:
            body = self.body
            if not body:
                data = None
            else:
                charset = content_type_charset(self.headers.get("Content-Type")) or "utf-8"
                try:
                    data = body.decode(charset, "surrogateescape")
                except UnicodeError:  # e.g. UTF-16 with an odd byte count: the client's error
                    data = body.decode("utf-8", "surrogateescape")
            self._data = data
        return data

    @data.setter
    def data(self, value: Optional[str]) -> None:
        self._data = value

    @property
    def form(self) -> FormDict:
        """The fields of a form body: ``dict[str, str]``, the last value per name.

        For ``application/x-www-form-urlencoded`` and ``multipart/form-data``
        bodies (file parts are in ``files``); empty for anything else.
        ``form.getlist(name)`` gives every value sent under a name.  Parsed on
        first use, streaming from a spooled body; a malformed form raises
        ``RemoteProtocolError`` (400, or 413 over a limit), which the server
        answers with that status unless the handler catches it.
        """
        form: Optional[FormDict] = getattr(self, "_form", None)  # unset by the parser
        if form is None:
            form = self._parse_form(fields=True)[0]
            assert form is not None
        return form

    @property
    def files(self) -> FormDict:
        """The file parts of a ``multipart/form-data`` body: ``dict[str, UploadedFile]``.

        Each has ``filename``, ``contentType``, ``size``, ``file`` (readable,
        binary) and ``save(path)``; ``files.getlist(name)`` gives every file
        sent under a name.  Closed once the handler returns.
        """
        files = getattr(self, "_files", None)
        return self._parse_form(fields=False)[1] if files is None else files

    def _parse_form(self, fields: bool) -> Tuple[Optional[FormDict], FormDict]:
        from ._forms import parse_form  # only servers that read forms import it

        body = self._body
        source = body if body is not None and not isinstance(body, bytes) else self.body
        form, files = parse_form(self.headers.get("Content-Type"), source, fields)
        if form is not None:  # None: only the files were asked for, of an urlencoded body
            self._form = form
        self._files = files
        return form, files

    def _release(self) -> None:
        """Close a spooled body and the temporary files of its uploads (handler done)."""
        body = self._body
        if body is not None and not isinstance(body, bytes):
            body.close()
        files = getattr(self, "_files", None)
        if files:
            for upload in files._every():
                upload.file.close()

    def __repr__(self) -> str:
        return f"<HttpRequest {self.method} {self.uri} {self.protocol}>"


class HttpResponse:
    """What the handler fills in; the server turns it into bytes on the wire.

    ``protocol`` (default ``"HTTP/1.0"``), ``status`` (default 200, any int
    from 100 to 999), ``headers`` (a fresh case-insensitive dict), ``data``
    (``None``, ``str``, bytes-like, an open binary file, or a ``dict``/``list``
    sent as JSON). ``Content-Length``, ``Date`` and a default ``Content-Type``
    are added by the server; see the README's response table.
    """

    __slots__ = ("_headers", "data", "protocol", "status")

    def __init__(
        self,
        protocol: str = "HTTP/1.0",
        status: int = 200,
        headers: Optional[Dict[str, Any]] = None,
        data: Any = None,
    ) -> None:
        self.protocol = protocol
        self.status = status
        self._headers = headers
        self.data = data

    @property
    def headers(self) -> Dict[str, Any]:
        """The response's header fields (made on first use: most handlers never touch them)."""
        headers = self._headers
        if headers is None:
            headers = self._headers = Headers()
        return headers

    @headers.setter
    def headers(self, value: Dict[str, Any]) -> None:
        self._headers = value

    def __repr__(self) -> str:
        return f"<HttpResponse {self.status} {type(self.data).__name__}>"
