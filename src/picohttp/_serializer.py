"""Sans-I/O response serializer: ``HttpResponse`` in, head bytes and a body out.

``serialize`` is the one place that decides what each kind of ``data`` means
(after bottle's ``_cast``), so the rules of the README's response table live
here and nowhere else:

=====================  ==========================================================
``data``               sent as
=====================  ==========================================================
``None``               no body (``Content-Length: 0``)
``str``                UTF-8 (or the charset the handler's Content-Type names);
                       Content-Type ``text/html`` if it starts with ``<``,
                       else ``text/plain``, both with ``charset=utf-8``
bytes-like             as is; no Content-Type is invented (browsers sniff)
``dict`` / ``list``    JSON, ``Content-Type: application/json``
open binary file       streamed from its current position (``sendfile``)
``FileBody``           ``length`` bytes of its file from ``offset`` (a range)
iterator / generator   each piece as it comes, no Content-Length; close ends it
=====================  ==========================================================

The server always writes ``Content-Length`` (replacing the handler's),
``Connection: close`` and, unless the handler set one, ``Date``.  1xx, 204
and 304 carry no body and no Content-Length; a ``HEAD`` gets the head of the
would-be GET.  A header name that is not a token, or a value with CR, LF, NUL
or another control byte, raises ``LocalProtocolError``: it is never written.

The body comes back as ``bytes``, a ``FileBody`` or a ``StreamBody``; the body
code only needs ``len()``-like facts and ``read``/``fileno``, so a file can
leave by ``sendfile`` (after h11/_writers.py).
"""

from __future__ import annotations

import io
import os
import re

from ._errors import LocalProtocolError
from ._grammar import BAD_VALUE, TOKEN, content_type_charset
from ._message import HttpResponse

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Dict, Iterator, List, Optional, Tuple, Union


# RFC 9110 reason phrases, built once (uvicorn builds its table at import too).
REASONS: Dict[int, str] = {
    100: "Continue", 101: "Switching Protocols", 102: "Processing", 103: "Early Hints",
    200: "OK", 201: "Created", 202: "Accepted", 203: "Non-Authoritative Information",
    204: "No Content", 205: "Reset Content", 206: "Partial Content", 207: "Multi-Status",
    208: "Already Reported", 226: "IM Used",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Found", 303: "See Other",
    304: "Not Modified", 305: "Use Proxy", 307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 409: "Conflict",
    410: "Gone", 411: "Length Required", 412: "Precondition Failed",
    413: "Content Too Large", 414: "URI Too Long", 415: "Unsupported Media Type",
    416: "Range Not Satisfiable", 417: "Expectation Failed", 418: "I'm a Teapot",
    421: "Misdirected Request", 422: "Unprocessable Content", 423: "Locked",
    424: "Failed Dependency", 425: "Too Early", 426: "Upgrade Required",
    428: "Precondition Required", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 451: "Unavailable For Legal Reasons",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
    506: "Variant Also Negotiates", 507: "Insufficient Storage", 508: "Loop Detected",
    510: "Not Extended", 511: "Network Authentication Required",
}  # fmt: skip

_BAD_PROTOCOL = re.compile(r"[\x00-\x20\x7f]")
# Names the serializer itself writes: a handler's value for these is replaced.
_FRAMING = frozenset(("content-length", "connection", "transfer-encoding"))
_TEXT_TYPES = ("text/", "application/javascript", "application/xml", "image/svg+xml")

_known_names: Dict[str, str] = {}  # checked header name -> itself; bounded below
# (name, str value) -> its checked "name: value\r\n" line, for fields other than
# Content-Type, Date and framing: a static file's validators, a handler's fixed
# headers.  Cleared when full (a site's ETags change; its fixed fields recur).
_checked_lines: Dict[Tuple[str, str], str] = {}
_checked_types: Dict[Tuple[str, str], str] = {}  # the same for Content-Type: its checked value

STREAM_CHUNK = 256 * 1024


class FileBody:
    """A file to send from ``offset``: ``length`` bytes, or to EOF when ``None``.

    Also accepted as ``response.data``, to send part of a file (a 206 answer
    to a ``Range``) by ``sendfile`` without reading it: the server then
    announces ``length`` as Content-Length (measured from ``offset`` to the
    end of the file when ``None``) and closes ``file`` afterwards.
    """

    __slots__ = ("file", "length", "offset")

    def __init__(self, file: Any, offset: int, length: Optional[int]) -> None:
        self.file = file
        self.offset = offset
        self.length = length

    def close(self) -> None:
        self.file.close()


class StreamBody:
    """An iterator of ``str``/``bytes`` pieces, sent as they are produced."""

    __slots__ = ("_first", "iterator")

    def __init__(self, iterator: Iterator[Any]) -> None:
        self.iterator = iterator
        self._first = b""

    def prime(self) -> None:
        """Take the first non-empty piece now, before the head is sent.

        An iterator that raises (or yields a wrong type) at once then fails
        while a 500 can still be answered instead of a 200 cut short.
        """
        for piece in self.iterator:
            self._first = _piece_bytes(piece)
            if self._first:
                return

    def pieces(self) -> Iterator[bytes]:
        if self._first:
            yield self._first
            self._first = b""
        for piece in self.iterator:
            piece = _piece_bytes(piece)
            if piece:
                yield piece

    def close(self) -> None:
        close = getattr(self.iterator, "close", None)
        if close is not None:
            close()


def _piece_bytes(piece: Any) -> bytes:
    if isinstance(piece, str):
        return piece.encode("utf-8")
    if not isinstance(piece, (bytes, bytearray, memoryview)):
        raise LocalProtocolError(
            f"a streamed response yielded {type(piece).__name__}, not str or bytes"
        )
    return bytes(piece)


if TYPE_CHECKING:
    Body = Union[bytes, FileBody, StreamBody]


def _check_name(name: Any) -> str:
    if type(name) is str and name in _known_names:
        return name
    if not isinstance(name, str) or not TOKEN.fullmatch(name):
        raise LocalProtocolError(f"invalid response header name {name!r}")
    if len(_known_names) < 1024:
        _known_names[name] = name
    return name


def _check_value(name: str, value: Any) -> str:
    text: str
    if type(value) is str:
        text = value
    elif isinstance(value, bytes):
        text = value.decode("latin-1")
    else:
        text = str(value)
    if BAD_VALUE.search(text):
        raise LocalProtocolError(f"control character in response header {name}: {text!r}")
    return text


def _is_text_type(content_type: str) -> bool:
    return content_type.lower().startswith(_TEXT_TYPES)


def _file_body(data: Any) -> Tuple[FileBody, Optional[int]]:
    if isinstance(data, io.TextIOBase):
        raise LocalProtocolError("response.data is a text-mode file: open it with 'rb'")
    if getattr(data, "closed", False) is True:
        raise LocalProtocolError("response.data is a closed file")
    try:
        offset = data.tell()
    except (OSError, AttributeError, ValueError):
        offset = 0
    length: Optional[int] = None
    try:
        size = os.fstat(data.fileno()).st_size
        length = max(0, size - offset)
    except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
        try:
            end = data.seek(0, 2)
            data.seek(offset)
            length = max(0, end - offset)
        except (OSError, AttributeError, ValueError):
            length = None
    return FileBody(data, offset, length), length


def _encode_text(text: str, content_type: Optional[str]) -> bytes:
    charset = content_type_charset(content_type, any_text=True) if content_type else None
    if charset is None or charset == "utf-8":
        return text.encode("utf-8", "surrogateescape")
    try:
        return text.encode(charset)
    except UnicodeError as exc:
        raise LocalProtocolError(f"response text cannot be encoded as {charset}: {exc}") from None


_status_lines: Dict[Tuple[Any, Any], str] = {}  # (protocol, status) -> checked status line


def _status_line(protocol: Any, status: Any) -> str:
    """``"HTTP/1.0 200 OK\r\n"``, checked once per (protocol, status) pair and cached."""
    line = _status_lines.get((protocol, status))
    if line is not None and type(status) is int:
        return line
    if isinstance(status, bool) or not isinstance(status, int):
        raise LocalProtocolError(f"response.status must be an int, not {status!r}")
    if not 100 <= status <= 999:
        raise LocalProtocolError(f"response.status {status} is not a three-digit code")
    if type(protocol) is not str or not protocol or _BAD_PROTOCOL.search(protocol):
        raise LocalProtocolError(f"invalid response.protocol {protocol!r}")
    line = f"{protocol} {int(status)} {REASONS.get(status, '')}\r\n"
    if len(_status_lines) < 256:
        _status_lines[(protocol, status)] = line
    return line


def serialize(
    response: HttpResponse, method: str, date: str
) -> Tuple[bytes, Body, int, Optional[int]]:
    """Turn a response into ``(head, body, status, content_length)``.

    ``method`` is the request's (``HEAD`` drops the body); ``date`` the
    current ``Date`` value, cached by the caller.  For ``HEAD``, 1xx, 204 and
    304 the returned body is ``b""`` and any file or stream is closed.
    """
    status = response.status
    data = response.data
    if type(data) is str and response.headers_given is None and method != "HEAD":
        # The common answer (text, no handler headers, a plain status): no checks to make.
        line = _PLAIN_STATUS_LINES.get(status) if response.protocol == "HTTP/1.0" else None
        if line is not None and type(status) is int and data and not data[0].isspace():
            try:
                text_body = data.encode()
            except UnicodeEncodeError:
                text_body = data.encode("utf-8", "surrogateescape")
            fields = f"{_HTML if data[0] == '<' else _TEXT}{len(text_body)}\r\n"
            return build_head(line, fields, date), text_body, status, len(text_body)
    return _serialize_checked(response, method, date)


def _serialize_checked(
    response: HttpResponse, method: str, date: str
) -> Tuple[bytes, Body, int, Optional[int]]:
    """``serialize`` for every response its fast path does not take: each part checked."""
    status = response.status
    status_line = _status_line(response.protocol, status)
    fields, content_type, has_date = _handler_fields(response.headers_given)
    body, length, content_type = cast_body(response.data, content_type)
    if content_type is not None:
        fields += f"Content-Type: {content_type}\r\n"
    if status < 200 or status == 204 or status == 304:
        _close_body(body)  # RFC 9110 6.4.1: no content, and no Content-Length either
        body, length = b"", None
    elif length is not None:
        fields += f"Content-Length: {length}\r\n"
    if method == "HEAD":
        _close_body(body)
        body = b""
    return build_head(status_line, fields, None if has_date else date), body, status, length


def _handler_fields(headers: Optional[Dict[str, Any]]) -> Tuple[str, Optional[str], bool]:
    """The handler's header fields, checked: ``(lines, its Content-Type, whether it set Date)``.

    The framing fields (Content-Length, Connection, Transfer-Encoding) are
    the serializer's own and dropped; Content-Type is returned apart, as a
    charset may be added to it.
    """
    content_type: Optional[str] = None
    has_date = False
    if not headers:
        return "", content_type, has_date
    lines: List[str] = []
    for name, value in headers.items():
        if type(value) is str:  # a field checked before (a static file's, say): as it was
            line = _checked_lines.get((name, value))
            if line is not None:
                lines.append(line)
                continue
        _check_name(name)
        folded = name.lower()
        if folded in _FRAMING:
            continue
        if folded == "content-type":
            content_type = _content_type(name, value)
            continue
        if folded == "date":
            has_date = True
        if isinstance(value, (list, tuple)):  # several fields, e.g. Set-Cookie
            lines.extend(f"{name}: {_check_value(name, item)}\r\n" for item in value)
        else:
            lines.append(_field_line(name, value, remember=folded != "date"))
    return "".join(lines), content_type, has_date


def _content_type(name: str, value: Any) -> str:
    """A handler's Content-Type, checked (once per distinct ``str`` value)."""
    if type(value) is not str:
        return _check_value(name, value)
    checked = _checked_types.get((name, value))
    if checked is None:
        checked = _check_value(name, value)
        if len(_checked_types) >= 256:
            _checked_types.clear()
        _checked_types[(name, value)] = checked
    return checked


def _field_line(name: str, value: Any, remember: bool) -> str:
    """``"Name: value\\r\\n"``, checked; a ``str`` field is remembered for next time."""
    line = f"{name}: {_check_value(name, value)}\r\n"
    if remember and type(value) is str:
        if len(_checked_lines) >= 1024:
            _checked_lines.clear()
        _checked_lines[(name, value)] = line
    return line


def cast_body(data: Any, content_type: Optional[str]) -> Tuple[Body, Optional[int], Optional[str]]:
    """What ``response.data`` is sent as: ``(body, length or None, Content-Type or None)``.

    The one place each kind of ``data`` is given its meaning (the table of the
    module docstring, after bottle's ``_cast``).  ``content_type`` is the
    handler's, kept unless a ``str`` body adds its charset.
    """
    kind = type(data)
    if kind is bytes:
        return data, len(data), content_type
    if data is None:
        return b"", 0, content_type
    if isinstance(data, str):
        # A str subclass (markupsafe.Markup, a str Enum member) counts as its characters.
        return _cast_text(data if kind is str else str.__str__(data), content_type)
    if isinstance(data, (bytes, bytearray, memoryview)):
        body = bytes(data)
        return body, len(body), content_type
    if isinstance(data, (dict, list)):
        body = _json_bytes(data)
        return body, len(body), content_type or "application/json"
    if kind is FileBody:
        if data.length is not None:
            return data, data.length, content_type
        data.file.seek(data.offset)
        return (*_file_body(data.file), content_type)
    if hasattr(data, "read"):
        return (*_file_body(data), content_type)
    if hasattr(data, "__next__"):
        return StreamBody(data), None, content_type
    raise LocalProtocolError(
        f"cannot send response.data of type {kind.__name__}: use str, bytes, "
        "dict, list, an open binary file or an iterator"
    )


def _cast_text(data: str, content_type: Optional[str]) -> Tuple[bytes, int, Optional[str]]:
    if content_type is None:
        if data:
            first = data[:1]
            if first.isspace():
                first = data.lstrip()[:1]
            content_type = "text/html; charset=utf-8" if first == "<" else _PLAIN
        encoded = data.encode("utf-8", "surrogateescape")
    else:
        if _is_text_type(content_type) and "charset" not in content_type.lower():
            content_type += "; charset=utf-8"
        encoded = _encode_text(data, content_type)
    return encoded, len(encoded), content_type


def _json_bytes(data: Any) -> bytes:
    import json  # lazily: a server that never sends JSON never imports it

    try:
        return json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogateescape")
    except (TypeError, ValueError) as exc:
        raise LocalProtocolError(f"response.data is not JSON-serialisable: {exc}") from None


#: The fields every answer carries, whoever made it (serialize's two paths and
#: error_head): a new default response header is one more line here.
DEFAULT_FIELDS = "Connection: close\r\n"
_PLAIN = "text/plain; charset=utf-8"
_TEXT = f"Content-Type: {_PLAIN}\r\nContent-Length: "
_HTML = "Content-Type: text/html; charset=utf-8\r\nContent-Length: "
_END = DEFAULT_FIELDS + "\r\n"
# HTTP/1.0 status lines of every status that has a body, for the fast path.
_PLAIN_STATUS_LINES = {
    status: f"HTTP/1.0 {status} {reason}\r\n"
    for status, reason in REASONS.items()
    if status >= 200 and status not in (204, 304)
}
_tail: List[str] = ["", ""]  # [date, "Date: <date>\r\n" + DEFAULT_FIELDS + "\r\n"]


def build_head(status_line: str, fields: str, date: Optional[str]) -> bytes:
    """The one head builder: status line, ``fields``, ``Date`` (unless ``None``), the defaults.

    ``fields`` are complete lines (each ending in CRLF); ``date`` is ``None``
    when the handler set its own Date.  Values beyond Latin-1 leave as their
    UTF-8 bytes.
    """
    tail = _tail
    if date is None:
        end = _END
    elif tail[0] == date:
        end = tail[1]
    else:
        end = tail[1] = f"Date: {date}\r\n{_END}"
        tail[0] = date
    text = f"{status_line}{fields}{end}"
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")  # non-Latin-1 header values: send their UTF-8 bytes


def _close_body(body: Body) -> None:
    if not isinstance(body, bytes):
        body.close()


def error_head(status: int, reason: str, date: str, retry_after: Optional[int] = None) -> bytes:
    """A complete short plain-text response for a protocol error or a 500.

    ``retry_after``: seconds for a ``Retry-After`` field (a 503 for want of resources).
    """
    message = f"{status} {REASONS.get(status, '')}: {reason}\n".encode("utf-8", "replace")
    retry = "" if retry_after is None else f"Retry-After: {retry_after}\r\n"
    fields = f"{_TEXT}{len(message)}\r\n{retry}"
    return build_head(f"HTTP/1.0 {status} {REASONS.get(status, '')}\r\n", fields, date) + message
