"""Form bodies: what ``request.form`` and ``request.files`` hold.

``application/x-www-form-urlencoded`` is read like the query string, but a
field at a time (from the spooled file in ``READ_SIZE`` reads), each counted
as it is split: the first over ``MAX_FIELDS`` stops the parse.
``multipart/form-data`` (RFC 7578, framed as RFC 2046 says) goes through a
strict streaming parser: the body, in memory or spooled to a temporary file,
is read in 64 KiB pieces, and each file part is written to a temporary file
of its own as it is read, so no upload is ever held whole in memory (a text
field, at most ``MAX_FIELD_BYTES``, is).  When the whole body is in memory
(up to ``Limits.spool_threshold``, 64 KiB) its file parts stay in memory too.

Strict: the boundary must follow RFC 2046 (1-70 characters of its set), every
part needs ``Content-Disposition: form-data; name=...``, part heads are bounded
(``MAX_PART_HEADERS`` lines, ``MAX_PART_HEAD_BYTES`` bytes), a repeated
parameter or header is refused, and the closing delimiter must come.  Anything
malformed or truncated raises ``RemoteProtocolError(400)``; more than
``MAX_FIELDS`` fields or a text field over ``MAX_FIELD_BYTES``
``RemoteProtocolError(413)``.  The server answers that status when the handler
does not catch it (``_exchange.run_handler``).

Pure apart from the temporary files: no sockets, threads or clocks.  Imported
on the first use of ``request.form``/``request.files`` only.
"""

from __future__ import annotations

import io
import re

from ._errors import RemoteProtocolError
from ._grammar import ESCAPES, TOKEN, content_type_charset, text_codec
from ._headers import Headers
from ._target import unquote

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

KIB = 1024
#: Fields (urlencoded pairs or multipart parts) in one form; more is a 413.
#: Django and Werkzeug stop at 1,000 too: each costs far more memory than its bytes.
MAX_FIELDS = 1000
#: Bytes of one text field (a part without a filename), which is held in memory.
MAX_FIELD_BYTES = 1024 * KIB
#: Header lines of one part, and bytes of its header block.
MAX_PART_HEADERS = 16
MAX_PART_HEAD_BYTES = 8 * KIB
#: Bytes read from the body at a time.
READ_SIZE = 64 * KIB
#: Transport padding (spaces, tabs) allowed after a delimiter before its CRLF.
_MAX_PADDING = 1 * KIB

# RFC 2046 5.1.1: bchars, 1-70 of them, the last not a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
# ;name=token-or-"quoted string" (empty segments between semicolons allowed).
_PARAM = re.compile(
    r"(?:;[ \t]*)+([!#$%&'*+\-.^_`|~0-9A-Za-z]+)[ \t]*=[ \t]*"
    r"(\"(?:[^\"\\]|\\.)*\"|[^;\" \t]*)[ \t]*"
)
# Only \\ and \" are unescaped in a quoted string: browsers (WHATWG), curl and
# urllib3 send a backslash as is and a quote as %22, as cgi.parse_header and
# Werkzeug expect; RFC 9110's general quoted-pair would eat their backslashes.
_QUOTED_PAIR = re.compile(r'\\([\\"])')
# name, name*, name*N, name*N* (RFC 2231 sections, RFC 5987 extended values).
_EXTENDED = re.compile(r"(?P<base>[^*]+)(?:\*(?P<n>0|[1-9][0-9]{0,2}))?(?P<star>\*)?")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_BAD_HEAD_BYTES = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# One urlencoded field: a run of anything but "&".
_FIELD = re.compile(rb"[^&]+")


def _bad(reason: str) -> RemoteProtocolError:
    return RemoteProtocolError(400, reason)


class FormDict(dict):  # type: ignore[type-arg]  # dict[str, str] or dict[str, UploadedFile]
    """A ``dict`` with the last value sent for each name (as ``request.query``).

    ``getlist(name)`` gives every value sent under ``name``, in order (a
    ``<select multiple>``, several files from one ``<input type=file multiple>``),
    or ``[]``.
    """

    __slots__ = ("_lists",)

    def __init__(self) -> None:
        super().__init__()
        self._lists: Dict[str, List[Any]] = {}

    def _add(self, name: str, value: Any) -> None:
        values = self._lists.get(name)
        if values is None:
            self._lists[name] = [value]
        else:
            values.append(value)
        self[name] = value

    def getlist(self, name: str) -> List[Any]:
        """Every value sent under ``name``, in the order sent."""
        return list(self._lists.get(name, ()))

    def every(self) -> List[Any]:
        """Every value of every name (each upload, to close them all)."""
        return [value for values in self._lists.values() for value in values]


class UploadedFile:
    """One file part of a ``multipart/form-data`` body: ``request.files[name]``.

    ``filename``: the name the client gave, without any directory part (all up
    to the last ``/`` or ``\\`` is dropped, as Django and PHP do; ``.`` and
    ``..`` become ``""``); text the client chose, so never a path to trust.
    ``contentType``: the part's Content-Type (``application/octet-stream``
    when it sent none).  ``size``: bytes.  ``file``: a readable binary file
    at position 0 (a temporary file for uploads in bodies over 64 KiB).
    ``name``: the form field; ``headers``: the part's header fields.

    The file is closed once the handler returns: ``save()`` or copy it there.
    """

    __slots__ = ("contentType", "file", "filename", "headers", "name", "size")

    def __init__(
        self,
        name: str,
        filename: str,
        contentType: str,
        size: int,
        file: IO[bytes],
        headers: Optional[Headers] = None,
    ) -> None:
        self.name = name
        self.filename = filename
        self.contentType = contentType
        self.size = size
        self.file = file
        self.headers = headers if headers is not None else Headers()

    def save(self, destination: Union[str, Any]) -> None:
        """Write the whole upload to ``destination``: a path, or an open binary file.

        Starts from the first byte whatever was read from ``file`` before.
        """
        import shutil

        self.file.seek(0)
        if hasattr(destination, "write"):
            shutil.copyfileobj(self.file, destination, 256 * KIB)
            return
        with open(destination, "wb") as out:
            shutil.copyfileobj(self.file, out, 256 * KIB)

    def close(self) -> None:
        """Release the file (the server does it when the handler returns)."""
        self.file.close()

    def __repr__(self) -> str:
        return (
            f"<UploadedFile {self.name!r} {self.filename!r} {self.contentType} {self.size} bytes>"
        )


# -- header values with parameters -------------------------------------------


def parse_options(value: str) -> Tuple[str, Dict[str, str]]:
    """``'form-data; name="a"; filename*=UTF-8\'\'%C3%BC'`` -> ``("form-data", {...})``.

    The first item lowercased; parameter names lowercased; quoted strings
    unescaped (only a backslash before ``\\`` or ``"``); RFC 2231/5987 extended
    values (``name*``, ``name*0*``...) decoded and preferred over the plain
    ``name`` (RFC 6266 4.3).  A malformed list or a repeated parameter is a 400.
    """
    semicolon = value.find(";")
    first = value if semicolon < 0 else value[:semicolon]
    raw: Dict[str, str] = {}
    position = len(first)
    while position < len(value):
        match = _PARAM.match(value, position)
        if match is None:
            if value[position:].strip(" \t;"):
                raise _bad(f"malformed parameters in {value!r}")
            break
        key = match.group(1).lower()
        text = match.group(2)
        if text[:1] == '"':
            text = _QUOTED_PAIR.sub(r"\1", text[1:-1])
        if key in raw:
            raise _bad(f"parameter {key!r} repeated in {value!r}")
        raw[key] = text
        position = match.end()
    return first.strip(" \t").lower(), _combine(raw)


def _combine(raw: Dict[str, str]) -> Dict[str, str]:
    plain: Dict[str, str] = {}
    sections: Dict[str, Dict[int, Tuple[str, bool]]] = {}
    for key, text in raw.items():
        match = _EXTENDED.fullmatch(key)
        if match is None or (match.group("n") is None and match.group("star") is None):
            plain[key] = text
            continue
        number = int(match.group("n") or 0)
        pieces = sections.setdefault(match.group("base"), {})
        if number in pieces:  # name* and name*0* both: the same section twice
            raise _bad(f"parameter {match.group('base')!r} given twice")
        pieces[number] = (text, match.group("star") is not None)
    for base, pieces in sections.items():
        if sorted(pieces) != list(range(len(pieces))):
            raise _bad(f"parameter {base!r} has missing sections")
        plain[base] = _decode_sections([pieces[n] for n in range(len(pieces))])
    return plain


def _decode_sections(pieces: List[Tuple[str, bool]]) -> str:
    charset = "utf-8"
    chunks: List[bytes] = []
    for index, (text, encoded) in enumerate(pieces):
        if not encoded:
            chunks.append(text.encode("utf-8"))
            continue
        if index == 0:
            parts = text.split("'", 2)
            if len(parts) != 3 or not parts[0]:
                raise _bad(f"extended parameter {text!r} lacks charset'language'")
            charset = _text_codec(parts[0])
            text = parts[2]
        chunks.append(_percent_bytes(text))
    try:
        return b"".join(chunks).decode(charset, "replace")
    except UnicodeError:  # a codec that cannot decode with "replace": the client's error
        raise _bad(f"extended parameter cannot be decoded as {charset!r}") from None


def _text_codec(name: str) -> str:
    """The Python codec of a charset a client named; a 400 if it names none."""
    codec = text_codec(name)
    if codec is None:
        raise _bad(f"unknown charset {name!r}")
    return codec


def _decode_field(value: Union[bytes, bytearray], content_type: Optional[str]) -> str:
    """A text part's value, in the charset its Content-Type names, else UTF-8.

    A charset that is unknown, not a text encoding, or cannot decode with
    ``errors="replace"`` is ignored: the value is read as UTF-8, as with none.
    """
    charset = content_type_charset(content_type)
    if charset is not None:  # content_type_charset names text codecs only
        try:
            return value.decode(charset, "replace")
        except UnicodeError:
            pass
    return value.decode("utf-8", "replace")


def _percent_bytes(text: str) -> bytes:
    """Percent-decode to bytes; a ``%`` not followed by two hex digits stays as sent."""
    first, *rest = text.split("%")
    out = [first.encode("utf-8")]
    for piece in rest:
        byte = ESCAPES.get(piece[:2])
        if byte is None:
            out.append(b"%" + piece.encode("utf-8"))
        else:
            out.append(byte + piece[2:].encode("utf-8"))
    return b"".join(out)


# -- the request body -----------------------------------------------------------


def parse_form(
    content_type: Optional[str], body: Union[bytes, IO[bytes], None], fields: bool = True
) -> Tuple[Optional[FormDict], FormDict]:
    """``(form, files)`` of a request body with this Content-Type.

    ``body`` is ``bytes`` (held in memory) or a binary file (the spooled body,
    read from its start in ``READ_SIZE`` pieces).  Other content types, and
    requests without a body, give two empty dicts.  ``fields=False`` (only
    the files are wanted) leaves an urlencoded body unread and ``form`` ``None``.
    Raises ``RemoteProtocolError`` (400 or 413) for a form that cannot be read.
    """
    form, files = FormDict(), FormDict()
    if body is None or not content_type:
        return form, files
    media, params = parse_options(content_type)
    if media == "application/x-www-form-urlencoded":
        if not fields:
            return None, files  # it has no files; its fields wait until asked for
        _parse_urlencoded(body, form)
    elif media == "multipart/form-data":
        boundary = params.get("boundary")
        if boundary is None:
            raise _bad("multipart/form-data without a boundary parameter")
        if not _BOUNDARY.fullmatch(boundary):
            raise _bad(f"invalid multipart boundary {boundary!r} (RFC 2046: 1-70 characters)")
        if isinstance(body, bytes):
            source: IO[bytes] = io.BytesIO(body)
            spool = False
        else:
            body.seek(0)
            source, spool = body, True
        _Multipart(source, boundary.encode("ascii"), spool).parse(form, files)
    return form, files


def _parse_urlencoded(body: Union[bytes, IO[bytes]], form: FormDict) -> None:
    for count, piece in enumerate(_urlencoded_fields(body), 1):
        if count > MAX_FIELDS:  # before the rest of the body is read or split
            raise RemoteProtocolError(413, f"more than {MAX_FIELDS} fields in the form")
        name, _, value = piece.decode("utf-8", "replace").partition("=")
        form._add(unquote(name, True), unquote(value, True))


def _urlencoded_fields(body: Union[bytes, IO[bytes]]) -> Iterator[bytes]:
    """The non-empty ``&``-separated pieces of a body, one at a time.

    Never the whole body split at once: 16 MiB of ``xy&xy&...`` made into a
    list of 5.6 million strings cost 26 times the body (417 MiB) before the
    field count could refuse it.  A spooled body is read ``READ_SIZE`` at a
    time; only the piece that straddles two reads is carried over.  Empty
    pieces (``&&``) are skipped inside the regex engine, not one by one.
    (``&`` is ASCII, never inside a UTF-8 sequence, so splitting the bytes
    before decoding gives what decoding first would.)
    """
    if isinstance(body, bytes):
        for match in _FIELD.finditer(body):
            yield match.group()
        return
    body.seek(0)
    carry = bytearray()
    while True:
        chunk = body.read(READ_SIZE)
        if not chunk:
            break
        last = chunk.rfind(b"&")
        if last < 0:  # all of it belongs to the piece still open
            carry += chunk
            continue
        carry += chunk[:last]
        for match in _FIELD.finditer(carry):
            yield match.group()
        carry = bytearray(chunk[last + 1 :])
    if carry:
        yield bytes(carry)


class _Multipart:
    """One pass over a multipart body, from ``source`` in ``READ_SIZE`` reads."""

    __slots__ = ("_buf", "_delimiter", "_eof", "_marker", "_read", "_spool")

    def __init__(self, source: IO[bytes], boundary: bytes, spool: bool) -> None:
        self._read = source.read
        self._buf = bytearray()
        self._eof = False
        self._delimiter = b"--" + boundary
        # Every delimiter after the first starts a line: the CRLF before it
        # belongs to the delimiter, not to the part's content (RFC 2046 5.1.1).
        self._marker = b"\r\n--" + boundary
        self._spool = spool

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._read(READ_SIZE)
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    def _truncated(self) -> RemoteProtocolError:
        return _bad("multipart body ends before its closing delimiter")

    def parse(self, form: FormDict, files: FormDict) -> None:
        opened: List[IO[bytes]] = []
        try:
            self._skip_preamble()
            parts = 0
            while self._after_delimiter():
                parts += 1
                if parts > MAX_FIELDS:
                    raise RemoteProtocolError(413, f"more than {MAX_FIELDS} parts in the form")
                headers = self._read_part_head()
                name, filename = _disposition(headers)
                if filename is None:
                    value = bytearray()
                    self._read_content(value.extend, name)
                    form._add(name, _decode_field(value, headers.get("Content-Type")))
                    continue
                if self._spool:
                    import tempfile

                    sink: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed later
                else:
                    sink = io.BytesIO()
                opened.append(sink)
                size = self._read_content(sink.write, None)
                sink.seek(0)
                content_type = headers.get("Content-Type") or "application/octet-stream"
                files._add(name, UploadedFile(name, filename, content_type, size, sink, headers))
        except BaseException:
            for sink in opened:
                sink.close()
            raise

    def _skip_preamble(self) -> None:
        """Find the first delimiter: at the very start, or at a line start after a preamble."""
        buf = self._buf
        delimiter, marker = self._delimiter, self._marker
        while len(buf) < len(delimiter) and self._fill():
            pass
        if buf.startswith(delimiter):
            del buf[: len(delimiter)]
            return
        while True:
            index = buf.find(marker)
            if index >= 0:
                del buf[: index + len(marker)]
                return
            del buf[: max(0, len(buf) - len(marker) + 1)]  # the preamble is ignored
            if not self._fill():
                raise _bad("no multipart delimiter with the boundary of the Content-Type")

    def _after_delimiter(self) -> bool:
        """After a delimiter: True when a part follows, False at the closing one."""
        buf = self._buf
        while len(buf) < 2 and self._fill():
            pass
        if buf.startswith(b"--"):
            return False  # the close delimiter; the epilogue is ignored (RFC 2046)
        while True:
            end = buf.find(b"\r\n")
            if end >= 0:
                break
            if len(buf) > _MAX_PADDING:
                raise _bad("malformed multipart delimiter line")
            if not self._fill():
                raise self._truncated()
        if buf[:end].strip(b" \t"):
            raise _bad("malformed multipart delimiter line (text after the boundary)")
        del buf[: end + 2]
        return True

    def _read_part_head(self) -> Headers:
        buf = self._buf
        while True:
            if buf.startswith(b"\r\n"):
                end, skip = 0, 2  # no header fields at all
                break
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                skip = end + 4
                break
            if len(buf) > MAX_PART_HEAD_BYTES:
                raise _bad(f"multipart part head over {MAX_PART_HEAD_BYTES} bytes")
            if not self._fill():
                raise self._truncated()
        if end > MAX_PART_HEAD_BYTES:
            raise _bad(f"multipart part head over {MAX_PART_HEAD_BYTES} bytes")
        head = bytes(buf[:end])
        del buf[:skip]
        headers = Headers()
        if not head:
            return headers
        lines = head.split(b"\r\n")
        if len(lines) > MAX_PART_HEADERS:
            raise _bad(f"multipart part with more than {MAX_PART_HEADERS} header fields")
        for line in lines:
            name_bytes, colon, value_bytes = line.partition(b":")
            if not colon or not TOKEN.fullmatch(name_bytes.decode("latin-1")):
                raise _bad("malformed header field in a multipart part")
            value_bytes = value_bytes.strip(b" \t")
            if _BAD_HEAD_BYTES.search(value_bytes):
                raise _bad("control character in a multipart part's header")
            try:  # browsers, curl and requests send names as UTF-8
                value = value_bytes.decode("utf-8")
            except UnicodeDecodeError:
                value = value_bytes.decode("latin-1")
            name = name_bytes.decode("ascii")
            if name in headers:
                raise _bad(f"header {name!r} repeated in a multipart part")
            headers[name] = value
        return headers

    def _read_content(self, write: Callable[[Any], Any], field: Optional[str]) -> int:
        """Pass the part's content to ``write`` up to the next delimiter; return its size.

        ``field`` names a text field, held in memory and so limited to
        ``MAX_FIELD_BYTES``; ``None`` for a file part.
        """
        buf = self._buf
        marker = self._marker
        keep = len(marker) - 1  # a delimiter may straddle two reads
        size = 0
        while True:
            index = buf.find(marker)
            end = index if index >= 0 else len(buf) - keep
            if end > 0:
                size += end
                if field is not None and size > MAX_FIELD_BYTES:
                    raise RemoteProtocolError(
                        413,
                        f"form field {field!r} is over {MAX_FIELD_BYTES} bytes "
                        "(send large values as a file part, with a filename)",
                    )
                with memoryview(buf) as view, view[:end] as piece:
                    write(piece)
                del buf[:end]
            if index >= 0:
                del buf[: len(marker)]
                return size
            if not self._fill():
                raise self._truncated()


def _disposition(headers: Headers) -> Tuple[str, Optional[str]]:
    """The field name and, for a file part, its file name (``None`` for a text field)."""
    value = headers.get("Content-Disposition")
    if value is None:
        raise _bad("multipart part without Content-Disposition")
    kind, params = parse_options(value)
    if kind != "form-data":
        raise _bad(f"multipart part is {kind!r}, not form-data")
    name = params.get("name")
    if name is None:
        raise _bad("multipart part without a name")
    if _CONTROL.search(name):
        raise _bad("control character in a form field name")
    filename = params.get("filename")
    if filename is None:
        return name, None
    if _CONTROL.search(filename):
        raise _bad("control character in an uploaded file name")
    filename = filename.replace("\\", "/").rpartition("/")[2]
    return name, "" if filename in (".", "..") else filename
