"""Where a request body collects while it arrives.

At most ``Limits.spool_threshold`` bytes of a body (64 KiB, nginx's
``client_body_buffer_size`` is 8-16 KiB) are ever held in memory: a body
announced larger goes to an anonymous temporary file from its first byte, and
a chunked body moves there once it passes the threshold.  So a connection
trickling a 1 MiB body costs at most 64 KiB, and 300 of them under 20 MiB,
not 300 MiB.  ``HttpRequest.body`` reads the file only when a handler asks for
it.  No sockets here: the server feeds bytes.
"""

from __future__ import annotations

import contextlib

from ._errors import RemoteProtocolError
from ._limits import limit_error

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import IO, Any, Optional, Union

    from ._limits import Limits

_MAX_CL_DIGITS = 19  # anything longer overflows a signed 64-bit length
_BLOCK = 256 * 1024  # bytes asked of a body stream at a time


def parse_content_length(value: str) -> int:
    """Content-Length from the field's value (repeats arrive joined by ", ")."""
    lengths = set()
    for piece in value.split(","):
        piece = piece.strip(" \t")
        # str.isdigit() also accepts '²' and other non-ASCII digits: check ASCII first.
        if not (piece.isascii() and piece.isdigit()) or len(piece) > _MAX_CL_DIGITS:
            raise RemoteProtocolError(400, f"invalid Content-Length {value!r}")
        lengths.add(int(piece))
    if len(lengths) != 1:
        raise RemoteProtocolError(400, "conflicting Content-Length values")
    return lengths.pop()


def read_body(
    stream: Any, content_length: Optional[str], chunked: bool, limits: Limits
) -> Union[bytes, IO[bytes], None]:
    """A body from a blocking stream (a WSGI server's ``wsgi.input``), framed as the parser frames.

    ``content_length``: the field's value, or ``None``; ``chunked``: the
    server in front decoded a chunked body and gives it without a length, to
    read to its end.  Same rules as the parser: ``maxBody`` (413), a body
    cut short (400), at most ``limits.spool_threshold`` bytes in memory.
    Returns ``None`` when the request framed no body.
    """
    if content_length:
        length = parse_content_length(content_length)
        if length > limits.max_body:
            raise limit_error(413, f"body of {length} bytes", "max_body", limits.max_body)
        if stream is None:
            raise RemoteProtocolError(400, "no input stream for the request body")
        return _read_length(stream, length, limits)
    if stream is None or not chunked:
        return None  # no framed body: ignored, as the spec says
    return _read_to_end(stream, limits)


def _read_length(stream: Any, length: int, limits: Limits) -> Union[bytes, IO[bytes]]:
    sink = BodySink(limits.spool_threshold, length)
    left = length
    while left:
        piece = stream.read(min(left, _BLOCK))
        if not piece:
            sink.discard()
            raise RemoteProtocolError(400, "connection closed before the end of the request body")
        sink.write(piece)
        left -= len(piece)
    return sink.result()


def _read_to_end(stream: Any, limits: Limits) -> Union[bytes, IO[bytes]]:
    sink = BodySink(limits.spool_threshold)
    while True:
        piece = stream.read(_BLOCK)
        if not piece:
            return sink.result()
        if sink.size + len(piece) > limits.max_body:
            sink.discard()
            raise limit_error(413, "chunked body", "max_body", limits.max_body)
        sink.write(piece)


class BodySink:
    """Collects body bytes; ``result()`` gives ``bytes`` or a rewound file."""

    __slots__ = ("_buffer", "_file", "_threshold", "size")

    def __init__(self, threshold: int, expected: Optional[int] = None) -> None:
        self._threshold = threshold
        # One bytearray, not a list of the pieces received: a body trickled
        # a byte at a time (or sent as 1-byte chunks) would otherwise cost a
        # 33-byte object header per byte, 2.6 MiB for 64 KiB of body.
        self._buffer = bytearray()
        self._file: Optional[IO[bytes]] = None
        self.size = 0
        if expected is not None and expected > threshold:
            self._spool()

    def _spool(self) -> IO[bytes]:
        import tempfile  # only uploads pay for this import

        file = self._file = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the request
        if self._buffer:
            file.write(self._buffer)
        self._buffer = bytearray()
        return file

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        file = self._file
        if file is None:
            if self.size <= self._threshold:
                self._buffer += data
                return
            file = self._spool()
        file.write(data)

    def result(self) -> Union[bytes, IO[bytes]]:
        if self._file is None:
            data = bytes(self._buffer)
            self._buffer = bytearray()
            return data
        self._file.flush()
        self._file.seek(0)
        return self._file

    def discard(self) -> None:
        """Drop what was stored; never raises.

        On a full disk the close's flush of the spool file fails with ENOSPC
        again; the descriptor is closed all the same (``BufferedWriter.close``
        closes its raw file whatever the flush did), and the bytes are unwanted.
        """
        file, self._file = self._file, None
        self._buffer = bytearray()
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()
