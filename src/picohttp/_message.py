"""``HttpRequest`` and ``HttpResponse``: the spec's two objects, nothing more.

Both use ``__slots__`` (one of each is made per request, on the hot path).
``HttpRequest.data`` is decoded from the raw body only when a handler reads
it, so a server answering GETs never pays for a decode it does not use.
"""

from __future__ import annotations

from ._errors import HttpError
from ._grammar import content_type_charset
from ._headers import Headers
from ._target import QueryDict

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import IO, Any, Dict, List, Optional, Tuple, Union

    from ._forms import FormDict

    Body = Union[bytes, IO[bytes], None]

_UNSET: Any = object()
#: True once any request parsed a form: only then can a request hold uploads to close
#: (``close`` then looks for them; until then it pays nothing for them).
_forms_parsed = False

_NO_SLOT: Any = object()  # a slot never set (not _UNSET, which _data holds until decoded)
# Methods whose unframed extra bytes are no body (the client is not expected to send one).
_NO_BODY_METHODS = frozenset(("GET", "HEAD"))


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
    ``form`` and ``files`` (the fields and uploads of a form body, parsed on first use),
    ``json`` (a JSON body, parsed on first use), ``cookies`` (the ``Cookie``
    field as a ``dict``) and ``user`` (the name ``basicAuth`` let in, else ``None``).
    """

    __slots__ = (
        "_body",
        "_cookies",
        "_data",
        "_files",
        "_form",
        "_json",
        "_query",
        "_scheme",
        "_user",
        "client",
        "headers",
        "method",
        "path",
        "protocol",
        "uri",
    )

    _query: QueryDict  # unset until read when the target had no query string

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
        self.query = QueryDict() if query is None else query
        self.protocol = protocol
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.uri = uri if uri is not None else "/" + "/".join(self.path)
        self.client = client
        self._body = body
        self._data = _UNSET if data is None else data
        self._scheme = scheme

    @classmethod
    def parsed(
        cls,
        method: str,
        path: List[str],
        query: Optional[QueryDict],
        protocol: str,
        headers: Headers,
        target: str,
        client: Optional[Tuple[str, int]],
    ) -> HttpRequest:
        """A request from a head the parser has checked: ``__init__`` without its conversions.

        The parser's hot path makes one per request, so the rarely read slots
        (``_query`` when there was no query string, ``_scheme``, ``_user``,
        ``_cookies``, ``_form``, ``_files``, ``_json``) stay unset and their
        properties give the default when read; the body comes with
        ``attach_body`` once it is in.
        """
        request = cls.__new__(cls)
        request.method = method
        request.path = path
        if query is not None:
            request._query = query
        request.protocol = protocol
        request.headers = headers
        request.uri = target
        request.client = client
        request._body = None
        request._data = _UNSET
        return request

    def attach_body(self, body: Body) -> None:
        """Give the request its body as the parser framed it: bytes, a spooled file, or ``None``.

        ``None`` means the head framed no body (no Content-Length, not
        chunked); ``b""`` a framed, empty one.
        """
        self._body = body

    @property
    def unread_body(self) -> bool:
        """True when the client may still be sending bytes the server will not read.

        A request whose method may carry a body (not GET or HEAD) but whose head
        framed none: whatever follows is not a body (RFC 9112 6.3), yet the
        client may be sending it, so the server drains before it closes
        (lingers) rather than let the kernel reset the answer away.
        """
        return self._body is None and self.method not in _NO_BODY_METHODS

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
    def query(self) -> QueryDict:
        """The query string as the spec's ``dict``; ``query.getlist(name)`` gives every value."""
        try:
            return self._query
        except AttributeError:  # no query string: the parser leaves it unset, made when read
            query = self._query = QueryDict()
            return query

    @query.setter
    def query(self, value: Dict[str, str]) -> None:
        self._query = value if isinstance(value, QueryDict) else QueryDict(value)

    @property
    def user(self) -> Optional[str]:
        """The user name ``basicAuth`` checked for this request, else ``None``."""
        return getattr(self, "_user", None)  # unset by the parser: nobody signed in

    @user.setter
    def user(self, value: Optional[str]) -> None:
        self._user = value

    @property
    def cookies(self) -> Dict[str, str]:
        """The cookies the client sent: ``dict`` of name -> value, parsed on first use.

        Read from the ``Cookie`` field (RFC 6265 section 5.4) without ever
        raising: a pair that cannot be read is left out and the others stay;
        when a name repeats, the first (most specific path) wins.
        """
        cookies: Optional[Dict[str, str]] = getattr(self, "_cookies", None)
        if cookies is None:
            from ._cookies import parse_cookies  # only servers that read cookies import it

            cookies = self._cookies = parse_cookies(self.headers.get("Cookie"))
        return cookies

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or ``None``; parsed on first use.

        ``None`` when the request has no body, an empty one, or a Content-Type
        other than ``application/json`` or ``*/*+json``.  A body that is not
        valid JSON, or not UTF-8, raises ``HttpError(400)`` with the parser's
        position in its message, which the server answers unless the handler
        catches it.
        """
        value = getattr(self, "_json", _UNSET)
        if value is _UNSET:
            value = self._json = self._parse_json()
        return value

    def _parse_json(self) -> Any:
        content_type = self.headers.get("Content-Type")
        if not content_type:
            return None
        media = content_type.partition(";")[0].strip().lower()
        if media != "application/json" and not (media.endswith("+json") and "/" in media):
            return None
        body = self.body
        if not body:
            return None
        import json  # lazily: a server that never reads JSON never imports it

        try:
            text = body.decode("utf-8-sig")  # JSON is UTF-8 (RFC 8259 section 8.1)
        except UnicodeDecodeError as exc:
            raise HttpError(
                400, f"the JSON body is not UTF-8: byte 0x{body[exc.start]:02x} at {exc.start}"
            ) from None
        try:
            return json.loads(text)
        except RecursionError:  # "[[[[..." deeper than the interpreter's stack
            raise HttpError(400, "the JSON body is nested too deeply") from None
        except ValueError as exc:  # JSONDecodeError: "Expecting value: line 1 column 5 (char 4)"
            raise HttpError(400, f"the body is not valid JSON: {exc}") from None

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

        global _forms_parsed
        _forms_parsed = True
        body = self._body
        source = body if body is not None and not isinstance(body, bytes) else self.body
        form, files = parse_form(self.headers.get("Content-Type"), source, fields)
        if form is not None:  # None: only the files were asked for, of an urlencoded body
            self._form = form
        self._files = files
        return form, files

    def with_path(self, path: List[str]) -> HttpRequest:
        """A shallow copy with another ``path`` (the body is shared): a mount's view of it."""
        sub = HttpRequest.__new__(HttpRequest)
        for slot in HttpRequest.__slots__:
            value = getattr(self, slot, _NO_SLOT)
            if value is not _NO_SLOT:  # _scheme, _form, _files...: set only when used
                setattr(sub, slot, value)
        sub.path = path
        return sub

    def adopt_forms(self, sub: HttpRequest) -> None:
        """Take the form and uploads ``sub`` (a ``with_path`` copy) parsed: ``close`` frees them."""
        for slot in ("_form", "_files"):
            value = getattr(sub, slot, None)
            if value is not None:
                setattr(self, slot, value)

    def close(self) -> None:
        """Free what the request holds on disk: a spooled body and its uploads' temporary files.

        Called once the handler is done, by the server, the test client and
        the WSGI adapter alike; calling it again does nothing more.
        """
        body = self._body
        if body is not None and not isinstance(body, bytes):
            body.close()
        if _forms_parsed:  # else no request has uploads: no slot lookup that would raise
            files = getattr(self, "_files", None)  # unset: the uploads were never parsed
            if files:
                for upload in files.every():
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

    ``redirect``, ``setCookie`` and ``deleteCookie`` fill it for the common
    cases.  ``request`` is the request being answered (set by the server,
    else ``None``): ``setCookie`` marks cookies ``Secure`` when it came over HTTPS.
    """

    __slots__ = ("_error_message", "data", "headers_given", "protocol", "request", "status")

    def __init__(
        self,
        protocol: str = "HTTP/1.0",
        status: int = 200,
        headers: Optional[Dict[str, Any]] = None,
        data: Any = None,
    ) -> None:
        self.protocol = protocol
        self.status = status
        #: The header fields as set so far, or ``None`` while no one touched
        #: ``headers`` (read by the serializer without making an empty dict).
        self.headers_given: Optional[Dict[str, Any]] = headers
        self.data = data
        self.request: Optional[HttpRequest] = None

    @property
    def headers(self) -> Dict[str, Any]:
        """The response's header fields (made on first use: most handlers never touch them)."""
        headers = self.headers_given
        if headers is None:
            headers = self.headers_given = Headers()
        return headers

    @headers.setter
    def headers(self, value: Dict[str, Any]) -> None:
        self.headers_given = value

    def redirect(self, location: str, status: int = 303) -> None:
        """Answer ``status`` (302, 303, 307 or 308) sending the client to ``location``.

        ``location`` is a URL or a path, relative ones stay relative (the
        browser resolves them against the request's URL); spaces and
        non-ASCII characters are percent-encoded.  303, the default, makes the
        browser follow with a GET (what a form's POST wants); 307 (temporary)
        and 308 (permanent) keep the method and body; 302 is the old, vaguer
        temporary one.  A short text body says where to go, for clients that
        do not follow.
        """
        if status not in (302, 303, 307, 308):
            raise ValueError(f"redirect status is 302, 303, 307 or 308, not {status!r}")
        if not isinstance(location, str) or not location:
            raise ValueError(f"redirect needs a location (a URL or a path), not {location!r}")
        if any(ord(char) < 0x20 or char == "\x7f" for char in location):
            raise ValueError(f"control character in redirect location {location!r}")
        if not location.isascii() or " " in location:
            from urllib.parse import quote

            location = quote(location, safe="".join(chr(c) for c in range(0x21, 0x7F)))
        self.status = status
        self.headers["Location"] = location
        self.data = f"Redirecting to {location}\n"

    def setCookie(
        self,
        name: str,
        value: str,
        maxAge: Any = None,
        expires: Any = None,
        path: Optional[str] = "/",
        domain: Optional[str] = None,
        secure: Optional[bool] = None,
        httpOnly: bool = True,
        sameSite: Optional[str] = "Lax",
    ) -> None:
        """Send a ``Set-Cookie`` field; call it once per cookie.

        ``maxAge``: seconds (an int or a ``timedelta``) the cookie lives;
        ``expires``: when it ends (a ``datetime``, naive meaning UTC, a POSIX
        timestamp or an HTTP-date string); neither: until the browser closes.
        ``path``, ``domain``: where the browser sends it back (``None`` leaves
        the attribute out).  ``secure``: sent back over HTTPS only; ``None``
        means True when this request came over HTTPS (TLS, or a trusted
        proxy's ``X-Forwarded-Proto``).  ``httpOnly``: hidden from JavaScript.
        ``sameSite``: ``"Lax"``, ``"Strict"``, ``"None"`` (needs ``secure``) or
        ``None``.  A name that is not a token, or a value with a space,
        ``"``, ``,``, ``;``, ``\\``, a control or a non-ASCII character, raises
        ``ValueError``: encode such values first.
        """
        from ._cookies import set_cookie_value

        if secure is None:
            secure = self._from_https()
        self._add_cookie(
            set_cookie_value(name, value, maxAge, expires, path, domain, secure, httpOnly, sameSite)
        )

    def deleteCookie(self, name: str, path: Optional[str] = "/") -> None:
        """Make the browser forget cookie ``name`` (set with this ``path``): it expires now."""
        from ._cookies import deleted_cookie_value

        self._add_cookie(deleted_cookie_value(name, path, self._from_https()))

    def _from_https(self) -> bool:
        request = self.request
        return request is not None and request.scheme == "https"

    def _add_cookie(self, field: str) -> None:
        # Each cookie is its own Set-Cookie line (RFC 6265 section 3: never
        # folded with commas): a list value, which the serializer writes one
        # line per item.  headers stays the spec's dict for everything else.
        headers = self.headers
        present = headers.get("Set-Cookie")
        if present is None:
            headers["Set-Cookie"] = [field]
        elif isinstance(present, list):
            present.append(field)
        else:
            headers["Set-Cookie"] = (
                [*present, field] if isinstance(present, tuple) else [present, field]
            )

    def mark_error(self, message: str) -> None:
        """Say that this response is an error answer picohttp made (the Router's 404/405...).

        The server then passes it through ``errorHandler``, when it has one,
        with ``message``; a status a handler sets itself is its own answer.
        """
        self._error_message = message

    @property
    def error_message(self) -> Optional[str]:
        """The message ``mark_error`` gave, or ``None`` for an ordinary response."""
        return getattr(self, "_error_message", None)

    def __repr__(self) -> str:
        return f"<HttpResponse {self.status} {type(self.data).__name__}>"
