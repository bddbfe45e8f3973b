"""Where a request body collects while it arrives.

Small bodies stay in memory; a body larger than ``Limits.spool_threshold``
(1 MiB by default) goes to an anonymous temporary file as each piece arrives,
so a 16 MiB upload never sits whole in memory.  ``HttpRequest.body`` reads the
file only when a handler asks for it.  No sockets here: the server feeds bytes.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import IO, List, Optional, Union


class BodySink:
    """Collects body bytes; ``result()`` gives ``bytes`` or a rewound file."""

    __slots__ = ("_chunks", "_file", "_threshold", "size")

    def __init__(self, threshold: int, expected: Optional[int] = None) -> None:
        self._threshold = threshold
        self._chunks: List[bytes] = []
        self._file: Optional[IO[bytes]] = None
        self.size = 0
        if expected is not None and expected > threshold:
            self._spool()

    def _spool(self) -> None:
        import tempfile  # only uploads pay for this import

        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the request
        for chunk in self._chunks:
            self._file.write(chunk)
        self._chunks = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        if self._file is None:
            self._chunks.append(bytes(data))
            if self.size > self._threshold:
                self._spool()
        else:
            self._file.write(data)

    def result(self) -> Union[bytes, IO[bytes]]:
        if self._file is None:
            return b"".join(self._chunks)
        self._file.flush()
        self._file.seek(0)
        return self._file

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._chunks = []
