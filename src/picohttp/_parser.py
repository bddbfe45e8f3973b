"""Sans-I/O request parser: bytes in, an ``HttpRequest`` or a precise error out.

Strategy (after h11/_readers.py):
- ``RequestParser.feed(data)`` takes whatever the socket gave and returns the
  finished ``HttpRequest``, or ``None`` while more bytes are needed, or raises
  ``RemoteProtocolError(status, reason)``.  It never touches a socket, a clock
  or a thread; the server owns all of those, which keeps this module fuzzable.
- Only new bytes are searched for the blank line that ends the head, so a head
  trickled in one byte at a time costs O(n), not O(n^2).
- Strict where leniency has let requests be smuggled (see design.md section 2):
  tokens are checked byte by byte, Content-Length must be plain digits,
  Transfer-Encoding is refused on HTTP/1.0 and next to Content-Length, a bare
  CR or a folded line is an error.  Lenient only where RFC 9112 allows it: a
  bare LF ends a line, as nginx accepts, and empty lines before the request
  line are skipped.
- Limits are checked as bytes arrive, before any bigger buffer is kept.
"""

from __future__ import annotations

import operator
import re

from ._body import BodySink, parse_content_length
from ._errors import RemoteProtocolError
from ._headers import Headers
from ._limits import DEFAULT_LIMITS, Limits, limit_error
from ._message import HttpRequest
from ._target import parse_target

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Dict, List, Optional, Tuple

# RFC 9110 5.6.2: tchar.  bytes.translate(None, ALLOWED) leaves only the bytes
# that are not allowed, so "is every byte legal" is one C call.
_TCHAR = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Request target: visible ASCII only (RFC 3986 characters; no space, no controls).
_TARGET_CHARS = bytes(range(0x21, 0x7F))
# Field value: HTAB, SP, VCHAR and obs-text (RFC 9110 5.5); no CR, LF, NUL or DEL.
_VALUE_CHARS = b"\t" + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))
_HEX = b"0123456789abcdefABCDEF"
_DIGITS = b"0123456789"

# Parser states.
_HEAD, _BODY, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _DONE = range(7)

_MAX_CHUNK_LINE = 4096  # a chunk-size line, extensions included

# RFC 9112 7.1, exactly: chunk-size, then *( BWS ";" BWS name [ BWS "=" BWS value ] )
# with name a token and value a token or a quoted-string, then CRLF.  Each
# repetition starts with its own ";", so the match is linear (no backtracking
# blow-up).  A whole line matched in one C call keeps tiny chunks cheap.
_TOKEN_CLASS = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_CHUNK_LINE = re.compile(
    rb"([0-9A-Fa-f]{1,16})(?:[ \t]*;[ \t]*"
    + _TOKEN_CLASS
    + rb"(?:[ \t]*=[ \t]*(?:"
    + _TOKEN_CLASS
    + rb"|"
    + _QUOTED
    + rb"))?)*\r\n"
)
# Bytes a chunk line or a trailer line may hold before its line end: HTAB, SP,
# VCHAR, obs-text.  Checked on each new piece of an unfinished line, so a NUL
# or a bare CR is refused when it arrives, not when (or if) the line ends.
_LINE_CHARS = _VALUE_CHARS
_CHUNK_OUT_FLUSH = 65536  # tiny chunks are gathered and handed to the sink this many at once


#: A TLS handshake record (content type 22, version 3.x): a ClientHello sent by
#: an https:// client.  Never the start of a request (0x16 is not a method byte).
_TLS_RECORD = b"\x16\x03"


class TlsHandshakeError(RemoteProtocolError):
    """A TLS handshake arrived where HTTP was expected: close, with no HTTP answer.

    Raised only on the error and incomplete-head paths (never by the fast
    path's happy case), so detecting it costs ordinary requests nothing.
    """

    def __init__(self) -> None:
        super().__init__(400, "a TLS handshake on a plain-HTTP port")


def _find_head_end(buf: bytes, start: int) -> Tuple[int, int]:
    """Find the blank line ending the head: (end of the last field line, start of the body)."""
    crlf = buf.find(b"\n\r\n", start)
    lf = buf.find(b"\n\n", start)
    if lf >= 0 and (crlf < 0 or lf < crlf):
        return lf, lf + 2
    if crlf >= 0:
        return crlf, crlf + 3
    return -1, -1


def _skip_blank_lines(buf: Any) -> Any:
    """Drop empty lines (CRLF or LF) before the request line (RFC 9112 2.2).

    A CR not followed by LF is a bare CR, refused here as anywhere in the head;
    a CR at the very end is kept, since its LF may be in the next read.
    """
    stripped = buf.lstrip(b"\r\n")
    skipped = bytes(buf[: len(buf) - len(stripped)])
    if not stripped and skipped[-1:] == b"\r":
        skipped, stripped = skipped[:-1], b"\r"
    if b"\r" in skipped.replace(b"\r\n", b""):
        raise RemoteProtocolError(400, "bare CR before the request line")
    return stripped


def _head_limit_error(buf: Any, length: int, limits: Limits) -> Optional[RemoteProtocolError]:
    """The 414 or 431 for a head of ``length`` bytes so far, or None; a bare CR seen earlier wins.

    Errors are reported in the order a byte-at-a-time client would meet them,
    so the answer does not depend on how the head was split into reads: a bare
    CR is known once the byte after it arrives, a long request line at
    ``max_request_line + 2`` bytes without a LF, a long head at
    ``max_header_bytes + 1``.
    """
    if length > limits.max_request_line + 1 and buf.find(b"\n", 0, limits.max_request_line + 2) < 0:
        error = limit_error(414, "request line", "max_request_line", limits.max_request_line)
        at = limits.max_request_line + 2
    elif length > limits.max_header_bytes:
        error = limit_error(431, "request head", "max_header_bytes", limits.max_header_bytes)
        at = limits.max_header_bytes + 1
    else:
        return None
    return _bare_cr_error(buf, 0, min(length, at), at) or error


def _bare_cr_error(
    buf: Any, start: int, stop: int, before: Optional[int]
) -> Optional[RemoteProtocolError]:
    """A 400 if ``buf[start:stop]`` holds a CR followed by a byte other than LF, else None.

    A CR that is the last byte received is not (yet) bare.  With ``before``,
    only a bare CR known within the first ``before`` bytes counts.
    """
    crs = buf.count(b"\r", start, stop)
    if not crs or crs == buf.count(b"\r\n", start, stop + 1):
        return None
    at = buf.find(b"\r", start, stop)
    while at >= 0:
        if at + 1 >= len(buf):
            return None  # its LF may be in the next read
        if buf[at + 1] != 0x0A:
            if before is not None and at + 2 > before:
                return None
            return RemoteProtocolError(400, "bare CR in the request head")
        at = buf.find(b"\r", at + 2, stop)
    return None


_FRAMING = frozenset(("content-length", "transfer-encoding", "host", "expect"))
_NO_FRAMING: Dict[str, str] = {}  # shared, never written to
# Bound once: a classmethod looked up per call costs the fast path a bound-method object.
_new_request = HttpRequest.parsed
_new_headers = Headers.trusted
_HOST = frozenset(("host",))
_PLAIN_VERSIONS = frozenset(("HTTP/1.1", "HTTP/1.0"))
_HOST_ONLY: Dict[str, str] = {"host": "-"}  # shared marker: one Host (comma-free), nothing else

_SPLIT_FIELD = operator.methodcaller("split", ": ", 1)
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Tokens seen before (methods, field names) -> lowercase; names repeat across
# requests, so most are checked once.  Bounded: a flood of odd names only
# sends later new names through the regex again.
_known_tokens: Dict[str, str] = {}
_KNOWN_TOKENS_MAX = 512


def _is_token(text: str) -> bool:
    if text in _known_tokens:
        return True
    if _TOKEN_RE.fullmatch(text) is None:
        return False
    if len(_known_tokens) < _KNOWN_TOKENS_MAX:
        _known_tokens[text] = text.lower()
    return True


def parse_head(
    head: bytes, limits: Limits = DEFAULT_LIMITS
) -> Tuple[str, str, str, Headers, Dict[str, str]]:
    """Parse a request head (its lines, each ending in LF; no blank line) into its parts.

    Returns ``(method, target, protocol, headers, framing)`` where ``framing``
    maps the lowercased names of the fields that decide the body
    (content-length, transfer-encoding, host, expect) to their values.
    """
    request, framing = _make_request(head, limits, None)
    if framing is _HOST_ONLY:
        framing = {"host": request.headers["host"]}
    return request.method, request.uri, request.protocol, request.headers, framing


def _make_request(
    head: bytes, limits: Limits, client: Optional[Tuple[str, int]]
) -> Tuple[HttpRequest, Dict[str, str]]:
    """An ``HttpRequest`` (without its body yet) and the framing fields of its head.

    This is the fast path for the common shape (CRLF line ends, origin-form
    target, HTTP/1.0 or 1.1): whole-buffer C calls rule out bad bytes, bare CR
    and bare LF first.  Anything else goes to ``_parse_head_strictly``, which
    either finds the precise error or parses the rarer valid forms.
    """
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    if len(lines) < 2 or lines.pop():  # the last line must end in CRLF too
        return _make_request_strictly(head, limits, client)
    # One C call each rules out: controls (bare CR and LF included, since the
    # CRLFs are gone), DEL, tabs and Latin-1 oddities (isprintable);
    # whitespace around field values (": " is the only separator allowed here).
    if (
        not text.replace("\r\n", "").isprintable()
        or len(lines) > limits.max_headers + 1
        or ":  " in text
        or " \r\n" in text
    ):
        return _make_request_strictly(head, limits, client)
    parts = _plain_parts(lines, limits)
    if parts is None:
        return _make_request_strictly(head, limits, client)
    method, target, version, headers, names = parts
    framing_names = _FRAMING.intersection(names)
    framing: Dict[str, str]
    if not framing_names:
        framing = _NO_FRAMING
    elif framing_names == _HOST and "," not in dict.__getitem__(headers, names["host"]):
        framing = _HOST_ONLY  # the common HTTP/1.1 head: a Host, no body
    else:
        framing = {name: dict.__getitem__(headers, names[name]) for name in framing_names}
    if "%" in target or "?" in target or "#" in target:
        path, query = parse_target(target)
    else:  # the common plain path: no decoding, no query
        path, query = target[1:].split("/"), None  # request.query is made if read
    return _new_request(method, path, query, version, headers, target, client), framing


def _plain_parts(
    lines: List[str], limits: Limits
) -> Optional[Tuple[str, str, str, Headers, Dict[object, Any]]]:
    """Method, target, version, ``Headers`` and their names index of a head of the common shape.

    ``lines`` are the head's lines without their CRLF (the first is taken
    off).  ``None`` for anything the precise path must judge: another
    request-line shape, a repeated field, a name that is not a token, a field
    line without ``": "``.
    """
    request_line = lines[0]
    parts = request_line.split(" ")
    if len(parts) != 3 or len(request_line) > limits.max_request_line:
        return None
    method, target, version = parts
    known = _known_tokens
    if (
        version not in _PLAIN_VERSIONS
        or target[:1] != "/"
        or not target.isascii()
        or (method not in known and not _is_token(method))
    ):
        return None
    fields: Dict[str, str] = {}
    names: Dict[object, Any] = {}
    del lines[0]
    for line in lines:
        name, colon, value = line.partition(": ")
        folded = known.get(name)
        if folded is None:
            if not colon or not _is_token(name):
                return None
            folded = name.lower()
        elif not colon:
            return None
        if folded in names:  # a repeated field: joined on the precise path
            return None
        names[folded] = name
        fields[name] = value
    return method, target, version, _new_headers(fields, names), names


def _make_request_strictly(
    head: bytes, limits: Limits, client: Optional[Tuple[str, int]]
) -> Tuple[HttpRequest, Dict[str, str]]:
    """``_make_request`` for heads its fast path declines (and for the precise errors)."""
    method, target, version, headers, framing = _parse_head_strictly(head, limits)
    path, query = parse_target(target)
    return _new_request(method, path, query, version, headers, target, client), framing


def _parse_head_strictly(
    head: bytes, limits: Limits
) -> Tuple[str, str, str, Headers, Dict[str, str]]:
    """The slow, precise path: raise the exact error, or parse what the fast path left out."""
    lines = (head[:-1] if head[-1:] == b"\n" else head).split(b"\n")
    method, target, version = _strict_request_line(head, lines[0], limits)
    headers, framing = _strict_fields(lines, limits)
    return method.decode("ascii"), target.decode("ascii"), version.decode("ascii"), headers, framing


def _strict_request_line(head: bytes, line: bytes, limits: Limits) -> List[bytes]:
    """``[method, target, version]`` of the request line, or the precise error for it."""
    if head[:2] == _TLS_RECORD:
        raise TlsHandshakeError()
    if line[-1:] == b"\r":
        line = line[:-1]
    bare = _bare_cr_error(head, 0, len(head), None)
    if bare is not None:  # first unless the 414 was known sooner, as a trickled head meets them
        raise _head_limit_error(head, len(head), limits) or bare
    if len(line) > limits.max_request_line:
        raise limit_error(414, "request line", "max_request_line", limits.max_request_line)
    parts = line.split(b" ")
    if len(parts) != 3:
        raise RemoteProtocolError(400, "malformed request line")
    _check_request_parts(*parts)
    return parts


def _check_version(version: bytes) -> None:
    """A 400 for a malformed HTTP-version, a 505 for one other than 1.x."""
    if (
        len(version) != 8
        or version[:5] != b"HTTP/"
        or version[5] not in _DIGITS
        or version[6] != 0x2E
        or version[7] not in _DIGITS
    ):
        raise RemoteProtocolError(400, "malformed HTTP version")
    if version[5] != 0x31:
        raise RemoteProtocolError(505, "only HTTP/1.x is supported")


def _check_request_parts(method: bytes, target: bytes, version: bytes) -> None:
    """Raise the precise error for a bad method, target or version (RFC 9112 3)."""
    if not method or method.translate(None, _TCHAR):
        raise RemoteProtocolError(400, "malformed method")
    if not target or target.translate(None, _TARGET_CHARS):
        raise RemoteProtocolError(400, "malformed request target")
    first = target[:1]
    if first != b"/" and target != b"*":
        lowered = target[:8].lower()
        if not (lowered.startswith(b"http://") or lowered.startswith(b"https://")):
            raise RemoteProtocolError(400, "request target is not /path, http(s)://... or *")
    _check_version(version)
    if target == b"*" and method != b"OPTIONS":  # RFC 9112 3.2.4: asterisk-form is for OPTIONS
        raise RemoteProtocolError(400, "the target * is only for OPTIONS")


def _strict_fields(lines: List[bytes], limits: Limits) -> Tuple[Headers, Dict[str, str]]:
    """The header fields (``lines[1:]``), repeats joined, and the framing ones; or the error."""
    if len(lines) - 1 > limits.max_headers:
        raise limit_error(431, "number of header fields", "max_headers", limits.max_headers)
    fields: Dict[str, str] = {}
    names: Dict[object, Any] = {}
    for raw in lines[1:]:
        if raw[-1:] == b"\r":
            raw = raw[:-1]
        name_bytes, colon, value_bytes = raw.partition(b":")
        if not colon or not name_bytes or name_bytes.translate(None, _TCHAR):
            # No colon, empty name, whitespace before the colon, obs-fold, controls.
            raise RemoteProtocolError(400, "malformed header field")
        value_bytes = value_bytes.strip(b" \t")
        if value_bytes.translate(None, _VALUE_CHARS):
            raise RemoteProtocolError(400, "control character in header value")
        name = name_bytes.decode("ascii")
        value = value_bytes.decode("latin-1")
        folded = name.lower()
        if folded in names:
            stored = names[folded]
            fields[stored] = fields[stored] + ", " + value
        else:
            names[folded] = name
            fields[name] = value
    framing = {name: fields[names[name]] for name in _FRAMING.intersection(names)}
    return Headers.trusted(fields, names), framing


_CHUNKED = -1


def _body_length(framing: Dict[str, str], protocol: str, limits: Limits) -> int:
    """How the body is framed: its length (0: none), or ``_CHUNKED``; raises for bad framing."""
    host = framing.get("host")
    if host is None:
        if protocol != "HTTP/1.0":
            raise RemoteProtocolError(400, "HTTP/1.1 request without a Host header")
    elif "," in host:  # repeats were joined with ", "; a host name has no comma
        raise RemoteProtocolError(400, "more than one Host header")
    length_text = framing.get("content-length")
    codings = framing.get("transfer-encoding")
    if codings is not None:
        if protocol == "HTTP/1.0":
            raise RemoteProtocolError(400, "Transfer-Encoding in an HTTP/1.0 request")
        if length_text is not None:
            raise RemoteProtocolError(400, "both Transfer-Encoding and Content-Length")
        if codings.strip(" \t").lower() != "chunked":
            raise RemoteProtocolError(501, "only the chunked transfer coding is supported")
        return _CHUNKED
    if length_text is None:
        return 0
    length = parse_content_length(length_text)
    if length > limits.max_body:
        raise limit_error(413, f"body of {length} bytes", "max_body", limits.max_body)
    return length


def parse_request(
    data: bytes, limits: Limits = DEFAULT_LIMITS, client: Optional[Tuple[str, int]] = None
) -> Optional[Tuple[HttpRequest, int]]:
    """Parse a request that arrived whole in one read: ``(request, leftover)``, or ``None``.

    The server's first read usually holds the entire request; this spares it a
    ``RequestParser``.  ``None`` means "not whole, or not simple": feed the same
    bytes to a ``RequestParser``, which gives the same answer for every input
    (it shares this function's parts) and handles what this one declines.
    ``leftover`` counts the bytes after the request.  Raises
    ``RemoteProtocolError`` like the parser.
    """
    end = data.find(b"\n\r\n")
    if (
        end < 0
        or end > limits.max_header_bytes
        or data[0] in b"\r\n"
        or data.find(b"\n\n", 0, end) >= 0
    ):
        return None  # incomplete, over a limit, bare-LF ends or leading blank lines
    try:
        request, framing = _make_request(data[: end + 1], limits, client)
    except RemoteProtocolError:
        # In LF LF CR LF the head ended at the LF LF, one byte before ``end``: the
        # "head" given was one line too long.  Checked here, on the error path
        # only, so that a plain GET pays nothing for it.
        if data[end - 1 : end] == b"\n":
            return None
        raise
    available = len(data) - end - 3
    if framing is _HOST_ONLY or (framing is _NO_FRAMING and request.protocol == "HTTP/1.0"):
        return request, available
    length = _body_length(framing, request.protocol, limits)
    body_start = end + 3
    if length == 0:
        if "content-length" in framing:
            request.attach_body(b"")  # a framed, empty body: there is a body, and it is empty
        return request, available
    if length == _CHUNKED or length > available:
        return None
    request.attach_body(data[body_start : body_start + length])
    return request, available - length


class RequestParser:
    """Parse one request from bytes fed in as they arrive.

    ``feed(data)`` returns the ``HttpRequest`` once complete, else ``None``;
    ``eof()`` tells the parser the client stopped sending.  Both raise
    ``RemoteProtocolError`` with the status to answer.  After the head is in,
    ``head_done`` is true and ``expect_continue`` says whether the client
    waits for ``100 Continue`` before sending its body.  ``leftover`` counts
    bytes received beyond the request (the server must drain them before it
    closes, or the kernel's reset could destroy the response in flight).
    """

    __slots__ = (
        "_buf",
        "_chunk_left",
        "_client",
        "_request",
        "_scanned",
        "_sink",
        "_state",
        "_trailer_bytes",
        "_trailer_fields",
        "expect_continue",
        "leftover",
        "limits",
        "received",
    )

    def __init__(
        self, limits: Limits = DEFAULT_LIMITS, client: Optional[Tuple[str, int]] = None
    ) -> None:
        self.limits = limits
        self._client = client
        self._buf = bytearray()
        self._scanned = 0
        self._state = _HEAD
        self._request: Optional[HttpRequest] = None
        self._sink: Optional[BodySink] = None
        self._chunk_left = 0
        self._trailer_bytes = 0
        self._trailer_fields = 0
        self.expect_continue = False
        self.leftover = 0
        self.received = 0

    @property
    def head_done(self) -> bool:
        """True once the request head has been parsed (the body may still be due)."""
        return self._state != _HEAD

    @property
    def done(self) -> bool:
        return self._state == _DONE

    def feed(self, data: bytes) -> Optional[HttpRequest]:
        """Take the next bytes from the client; return the request once complete."""
        self.received += len(data)
        state = self._state
        if state == _HEAD:
            return self._feed_head(data)
        if state == _DONE:
            self.leftover += len(data)
            return None
        if state == _BODY:
            return self._feed_body(data)
        self._buf += data
        return self._feed_chunked()

    def eof(self) -> None:
        """The client closed its side: raise if a request was left half sent."""
        if self._state == _DONE:
            return
        if self._state == _HEAD and not self._buf.strip(b"\r\n"):
            return  # nothing (or only blank lines) was sent: nothing to answer
        if self._sink is not None:
            self._sink.discard()
        what = "request head" if self._state == _HEAD else "request body"
        raise RemoteProtocolError(400, f"connection closed before the end of the {what}")

    def discard(self) -> None:
        """Free a spooled body of a request that will not be handled."""
        if self._sink is not None:
            self._sink.discard()
            self._sink = None

    # -- head ---------------------------------------------------------------

    def _feed_head(self, data: bytes) -> Optional[HttpRequest]:
        buf: Any
        if self._buf:
            self._buf += data  # a bytearray: amortised O(1) appends while trickled
            buf = self._buf
        else:
            buf = data
        if buf[:1] in (b"\r", b"\n"):
            buf = _skip_blank_lines(buf)
            self._buf = bytearray(buf)
            self._scanned = 0
        end, body_start = _find_head_end(buf, self._scanned)
        limits = self.limits
        if end < 0:
            self._head_unfinished(buf)
            return None
        if end > limits.max_header_bytes:
            error = _head_limit_error(buf, end + 1, limits)
            assert error is not None
            raise error
        self._buf = bytearray()
        request, framing = _make_request(bytes(buf[: end + 1]), limits, self._client)
        self._request = request
        rest = buf[body_start:]
        protocol = request.protocol
        if not framing and protocol == "HTTP/1.0":
            return self._finish(None, len(rest))  # the common case: nothing to frame
        length = _body_length(framing, protocol, limits)
        if length == _CHUNKED:
            self._set_expect(framing, protocol)
            self._sink = BodySink(limits.spool_threshold)
            self._state = _CHUNK_SIZE
            self._buf = bytearray(rest)
            self._scanned = 0  # from here on: how much of an unfinished chunk line was checked
            return self._feed_chunked()
        if length <= len(rest):
            body = bytes(rest[:length]) if length or "content-length" in framing else None
            return self._finish(body, len(rest) - length)
        self._set_expect(framing, protocol)
        self._sink = BodySink(limits.spool_threshold, length)
        self._chunk_left = length
        self._state = _BODY
        return self._feed_body(rest)

    def _head_unfinished(self, buf: Any) -> None:
        """Keep a head still coming in; refuse it now if what came already is wrong."""
        if buf[:2] == _TLS_RECORD:  # the client waits for a ServerHello: do not wait with it
            raise TlsHandshakeError()
        # A bare CR is refused now, not at the head timeout (a CR at the very
        # end may still get its LF); only new bytes are searched.
        error = _head_limit_error(buf, len(buf), self.limits)
        if error is None:
            error = _bare_cr_error(buf, self._scanned, len(buf), None)
        if error is not None:
            raise error
        if not isinstance(buf, bytearray):
            self._buf = bytearray(buf)
        self._scanned = max(0, len(buf) - 2)

    def _set_expect(self, framing: Dict[str, str], protocol: str) -> None:
        expect = framing.get("expect")
        if expect is not None and protocol != "HTTP/1.0":
            self.expect_continue = expect.strip().lower() == "100-continue"

    def _finish(self, body: Any, leftover: int) -> HttpRequest:
        request = self._request
        assert request is not None
        if body is not None:
            request.attach_body(body)
        self._state = _DONE
        self.leftover = leftover
        self._sink = None
        return request

    # -- body with Content-Length --------------------------------------------

    def _feed_body(self, data: bytes) -> Optional[HttpRequest]:
        sink = self._sink
        assert sink is not None
        left = self._chunk_left
        if len(data) < left:
            sink.write(data)
            self._chunk_left = left - len(data)
            return None
        sink.write(data[:left])
        return self._finish(sink.result(), len(data) - left)

    # -- chunked body (HTTP/1.1 clients such as requests with a generator) ---

    def _feed_chunked(self) -> Optional[HttpRequest]:
        """Decode what the buffer holds of a chunked body (RFC 9112 7.1).

        CPU per byte is bounded whatever the chunking: a whole chunk line is one
        regex match, a tiny chunk's line, data and CRLF are taken in one pass of
        the loop, their data is gathered and handed to the sink in large
        pieces, the buffer is compacted once per call, and an unfinished line
        is only searched in its new bytes (``_scanned``).
        """
        assert self._sink is not None
        buf = self._buf
        size = len(buf)
        pos = 0  # consume by index and compact once: slicing per chunk would be O(n^2)
        out = bytearray()  # data of small chunks, for the sink in one piece
        # Each step takes what it can from buf at pos, sets the next state and
        # returns the new position, or -1 while it waits for more bytes.
        steps = (None, None, self._chunk_line, self._chunk_data, self._chunk_crlf, self._trailer)
        try:
            while pos < size:
                pos_after = steps[self._state](buf, pos, out)  # type: ignore[misc]
                if pos_after < 0:
                    break
                pos = pos_after
                if self._state == _DONE:
                    return self._finish(self._sink.result(), size - pos)
            return None
        finally:
            if self._state != _DONE:
                if out:
                    self._sink.write(bytes(out))
                if pos:
                    del buf[:pos]

    def _chunk_line(self, buf: bytearray, pos: int, out: bytearray) -> int:
        """A chunk-size line, and the whole chunk with its CRLF when it is all there."""
        match = None if self._scanned else _CHUNK_LINE.match(buf, pos)
        if match is None:
            match = self._chunk_line_slowly(buf, pos)
            if match is None:
                return -1
        end = match.end()
        if end - pos > _MAX_CHUNK_LINE + 2:  # it came whole, in one read
            raise RemoteProtocolError(400, "chunk line too long")
        chunk = int(match.group(1), 16)
        sink = self._sink
        assert sink is not None
        pending = len(out)
        if sink.size + pending + chunk > self.limits.max_body:
            raise limit_error(413, "chunked body", "max_body", self.limits.max_body)
        if chunk == 0:
            self._state = _TRAILER
            return end
        if pending >= _CHUNK_OUT_FLUSH:
            sink.write(bytes(out))
            out.clear()
        pos = end
        if chunk > len(buf) - pos:  # the data goes on in the next reads
            self._chunk_left = chunk
            self._state = _CHUNK_DATA
            return pos
        out += buf[pos : pos + chunk]
        pos += chunk
        if buf[pos : pos + 2] == b"\r\n":
            return pos + 2  # the common case, without another pass of the loop
        self._state = _CHUNK_END
        return pos

    def _chunk_line_slowly(self, buf: bytearray, pos: int) -> Optional[re.Match[bytes]]:
        """A chunk line the one-call match did not take: unfinished (``None``), or the error."""
        size = len(buf)
        start = pos + self._scanned
        if buf.find(b"\n", start) < 0 and size - pos <= _MAX_CHUNK_LINE + 1:
            # Unfinished: check only its new bytes (inline, as a line
            # trickled a byte at a time comes here once per byte).
            tail = size - 1 if buf[size - 1] == 0x0D else size
            if tail > start and buf[start:tail].translate(None, _LINE_CHARS):
                _check_line_bytes(buf, start, size, "chunk line")  # raises
            self._scanned = (tail if tail > start else start) - pos
            return None
        newline = self._line_end(buf, pos, _MAX_CHUNK_LINE, "chunk line")
        if newline < 0:
            return None
        match = _CHUNK_LINE.match(buf, pos, newline + 1)
        if match is None or match.end() != newline + 1:
            raise _chunk_line_error(bytes(buf[pos : newline + 1]))
        return match

    def _chunk_data(self, buf: bytearray, pos: int, out: bytearray) -> int:
        """More of a chunk whose data goes on past the reads so far."""
        take = min(self._chunk_left, len(buf) - pos)
        if len(out) >= _CHUNK_OUT_FLUSH:
            assert self._sink is not None
            self._sink.write(bytes(out))
            out.clear()
        out += buf[pos : pos + take]
        self._chunk_left -= take
        if self._chunk_left == 0:
            self._state = _CHUNK_END
        return pos + take

    def _chunk_crlf(self, buf: bytearray, pos: int, out: bytearray) -> int:
        """The CRLF after a chunk's data, exactly."""
        size = len(buf)
        if buf[pos] != 0x0D or (pos + 1 < size and buf[pos + 1] != 0x0A):
            raise RemoteProtocolError(400, "missing CRLF after chunk data")
        if pos + 1 == size:
            return -1  # the LF may be in the next read
        self._state = _CHUNK_SIZE
        return pos + 2

    def _trailer(self, buf: bytearray, pos: int, out: bytearray) -> int:
        """A trailer line: held to the rules of header fields, checked and dropped.

        The empty line ends the body: the state becomes ``_DONE``.
        """
        budget = self.limits.max_header_bytes - self._trailer_bytes
        newline = self._line_end(buf, pos, budget, "trailer section", status=431)
        if newline < 0:
            return -1
        line = bytes(buf[pos:newline])
        if line[-1:] == b"\r":
            line = line[:-1]
        if line:
            self._check_trailer_field(line)
        else:
            if out:
                assert self._sink is not None
                self._sink.write(bytes(out))
                out.clear()
            self._state = _DONE
        return newline + 1

    def _line_end(self, buf: bytearray, pos: int, limit: int, what: str, status: int = 400) -> int:
        """Where the line starting at ``pos`` ends (its LF), or -1 while it is unfinished.

        Only bytes not seen before are searched.  An unfinished line is refused
        as soon as it holds a byte no line may hold (a NUL, a control, a CR
        not followed by LF) or grows past ``limit``; whichever a client sending
        byte by byte would meet first is the answer, however the reads fell.
        """
        start = pos + self._scanned
        newline = buf.find(b"\n", start)
        end = len(buf) if newline < 0 else newline
        if end - pos > limit + 1:
            _check_line_bytes(buf, start, pos + limit + 1, what)
            if status == 431:
                raise limit_error(431, what, "max_header_bytes", self.limits.max_header_bytes)
            raise RemoteProtocolError(status, f"{what} too long")
        if newline >= 0:
            self._scanned = 0
            return newline
        self._scanned = _check_line_bytes(buf, start, end, what) - pos
        return -1

    def _check_trailer_field(self, line: bytes) -> None:
        """A trailer field follows the rules of a header field; then it is dropped."""
        name, colon, value = line.partition(b":")
        if (
            not colon
            or not name
            or name.translate(None, _TCHAR)  # obs-fold, whitespace before the colon
            or value.strip(b" \t").translate(None, _VALUE_CHARS)  # bare CR, NUL...
        ):
            raise RemoteProtocolError(400, "malformed trailer field")
        self._trailer_bytes += len(line)
        self._trailer_fields += 1
        limits = self.limits
        if self._trailer_bytes > limits.max_header_bytes:
            raise limit_error(431, "trailer section", "max_header_bytes", limits.max_header_bytes)
        if self._trailer_fields > limits.max_headers:
            raise limit_error(431, "number of trailer fields", "max_headers", limits.max_headers)


def _check_line_bytes(buf: bytearray, start: int, end: int, what: str) -> int:
    """Refuse a NUL, a control or a bare CR in ``buf[start:end]``; return where checking stopped.

    A CR as the last byte so far is not yet bare (its LF may come next): the
    returned index is before it, so the next read checks it again.
    """
    tail = end - 1 if buf[end - 1 : end] == b"\r" else end
    if tail > start and buf[start:tail].translate(None, _LINE_CHARS):
        if b"\r" in buf[start:tail]:
            raise RemoteProtocolError(400, f"bare CR in a {what}")
        raise RemoteProtocolError(400, f"control character in a {what}")
    return max(tail, start)


def _chunk_line_error(line: bytes) -> RemoteProtocolError:
    """The precise complaint about a whole chunk line the grammar refused."""
    if line[-2:] != b"\r\n":
        return RemoteProtocolError(400, "chunk line ends in a bare LF, not CRLF")
    body = line[:-2]
    if b"\r" in body:
        return RemoteProtocolError(400, "bare CR in a chunk line")
    if body.translate(None, _LINE_CHARS):
        return RemoteProtocolError(400, "control character in a chunk line")
    size, semicolon, _ = body.partition(b";")
    digits = size.rstrip(b" \t")
    if not digits or digits.translate(None, _HEX) or len(digits) > 16:
        return RemoteProtocolError(400, "malformed chunk size")
    if not semicolon:
        return RemoteProtocolError(400, "whitespace after the chunk size")
    return RemoteProtocolError(400, "malformed chunk extension")
