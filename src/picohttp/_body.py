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

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import IO, Optional, Union


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
        if self._file is not None:
            self._file.close()
            self._file = None
        self._buffer = bytearray()
