"""Writing one response to a socket: resumable and non-blocking, or streamed.

``Writer`` holds what is left of a response (buffers, then a file region) and
``write(sock)`` sends as much as the socket takes without blocking, so the
selector thread can finish a slow reader's download while no worker waits.
Files leave by ``os.sendfile`` (zero copy) where the OS and the socket allow
it, else by 256 KiB reads.  ``send_stream`` is the blocking path for iterator
bodies, which only a thread that may block can pull.
"""

from __future__ import annotations

import os
import socket
import struct

from ._serializer import STREAM_CHUNK, FileBody, StreamBody

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, List, Optional, Tuple, Type

    from ._serializer import Body

#: Per-call non-blocking I/O: accepted sockets stay in blocking mode (no
#: fcntl/ioctl per connection) and every send/recv says "don't wait".  Where
#: the flag is missing (Windows), the loop switches each socket instead.
DONTWAIT: int = getattr(socket, "MSG_DONTWAIT", 0)

#: Exceptions meaning "the socket would block", for plain and TLS sockets alike
#: (``TlsSocket`` raises ``BlockingIOError`` where ``ssl`` would raise its own).
WOULD_BLOCK: Tuple[Type[BaseException], ...] = (BlockingIOError, InterruptedError)

#: Bodies up to this size are joined to the head and leave in one send.
JOIN_LIMIT = 64 * 1024

_HAVE_SENDFILE = hasattr(os, "sendfile")
#: Flags for the buffers before a file leaves by sendfile: more is coming (Linux).
_HEAD_FLAGS: int = DONTWAIT | getattr(socket, "MSG_MORE", 0)
_HAVE_PREAD = hasattr(os, "pread")
_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on with a zero timeout


class Writer:
    """What remains to be sent of one response; ``write`` resumes where it stopped."""

    __slots__ = ("_buffers", "_file", "_offset", "_position", "_remaining", "_zero_copy", "sent")

    def __init__(self, head: bytes, body: Body, zero_copy: bool = True) -> None:
        self._file: Optional[Any] = None
        self._offset = 0
        self._remaining: Optional[int] = 0
        self.sent = 0
        self._position = 0
        self._zero_copy = zero_copy and _HAVE_SENDFILE
        if type(body) is bytes:
            if len(body) <= JOIN_LIMIT:
                self._buffers: List[bytes] = [head + body] if body else [head]
            else:
                self._buffers = [head, body]
        else:
            assert isinstance(body, FileBody)
            self._buffers = [head]
            self._file = body.file
            self._offset = body.offset
            self._remaining = body.length
            if self._zero_copy:
                try:
                    body.file.fileno()
                except (OSError, AttributeError, ValueError):
                    self._zero_copy = False

    def write(self, sock: Any) -> bool:
        """Send without blocking; ``True`` once everything is out.

        Raises ``OSError`` when the client is gone (reset, broken pipe).
        """
        buffers = self._buffers
        while buffers:
            buffer = buffers[0]
            position = self._position
            # The head of a file that sendfile sends next waits for its first bytes
            # (MSG_MORE, as nginx's tcp_nopush): one segment, one wake-up of the client.
            flags = _HEAD_FLAGS if self._zero_copy and self._remaining else DONTWAIT
            try:
                sent = sock.send(memoryview(buffer)[position:] if position else buffer, flags)
            except WOULD_BLOCK:
                return False
            self.sent += sent
            position += sent
            if position < len(buffer):
                self._position = position
                return False
            buffers.pop(0)
            self._position = 0
        if self._file is None:
            return True
        return self._write_file(sock)

    def _write_file(self, sock: Any) -> bool:
        file = self._file
        assert file is not None
        if self._zero_copy and sock.gettimeout() != 0.0:
            sock.setblocking(False)  # sendfile has no per-call flag
        while self._remaining is None or self._remaining > 0:
            want = STREAM_CHUNK if self._remaining is None else min(self._remaining, 1 << 30)
            sent = self._send_chunk(sock, file, want)
            if sent is None:
                return False  # the socket would block
            if sent == 0:
                break  # the file ended (or shrank under us): stop at its end
            self._offset += sent
            self.sent += sent
            if self._remaining is not None:
                self._remaining -= sent
        self.close()
        if self._remaining:
            raise ConnectionAbortedError("file ended before its announced length")
        return True

    def _send_chunk(self, sock: Any, file: Any, want: int) -> Optional[int]:
        """Send up to ``want`` bytes of the file from ``_offset``: bytes sent, 0 at the
        file's end, ``None`` when the socket would block."""
        if self._zero_copy:
            try:
                return os.sendfile(sock.fileno(), file.fileno(), self._offset, want)
            except WOULD_BLOCK:
                return None
            except OSError as exc:
                if exc.errno not in (22, 38, 45, 95):  # EINVAL, ENOSYS, ENOTSUP: no sendfile here
                    raise
                self._zero_copy = False
        file.seek(self._offset)
        chunk = file.read(min(want, STREAM_CHUNK))
        if not chunk:
            return 0
        try:
            return int(sock.send(chunk, DONTWAIT))
        except WOULD_BLOCK:
            return None

    def close(self) -> None:
        """Release the file, if any (idempotent)."""
        file, self._file = self._file, None
        if file is not None:
            file.close()


class StreamWriter(Writer):
    """A ``Writer`` for an iterator body: the next piece is pulled only once the last is out.

    For ``threads=False``, where the loop thread sends: a client that reads
    slowly then holds only its own connection, never the loop (``send_stream``
    would block it for up to ``writeTimeout`` per piece).  The iterator's
    errors propagate from ``write`` like any other non-``OSError`` failure.
    """

    __slots__ = ("_pieces", "_stream")

    def __init__(self, head: bytes, stream: StreamBody) -> None:
        super().__init__(head, b"")
        self._stream: Optional[StreamBody] = stream
        self._pieces = stream.pieces()

    def write(self, sock: Any) -> bool:
        while super().write(sock):  # everything pulled so far is out: pull the next piece
            try:
                piece = next(self._pieces, None)
            except Exception:
                raise
            except BaseException as exc:  # SystemExit, GeneratorExit: the handler's, not ours
                if isinstance(exc, KeyboardInterrupt):
                    raise
                raise RuntimeError(f"the stream raised {type(exc).__name__}") from exc
            if piece is None:
                self.close()
                return True
            self._buffers.append(piece)
        return False

    def close(self) -> None:
        super().close()
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()


def read_small_file(body: FileBody) -> Optional[bytes]:
    """The bytes of a file region of at most ``JOIN_LIMIT``, read at once; ``None`` to stream it.

    A small file then leaves joined to the head in one send, like a small
    ``bytes`` body: one segment and one wake-up of the client instead of two
    (head by ``send``, file by ``sendfile``).  Measured on the 4 KiB static
    benchmark: see the README's performance section.  The file is closed
    when its bytes are returned; on ``None`` (no descriptor, or it changed
    size under us) it stays open for the ``Writer``, which handles both.
    """
    length = body.length
    if length is None or length > JOIN_LIMIT or not _HAVE_PREAD:
        return None
    try:
        data = os.pread(body.file.fileno(), length, body.offset)
    except (OSError, AttributeError, ValueError):
        return None
    if len(data) != length:
        return None
    try:  # noqa: SIM105 - the bytes are read: a file that fails to close must not cost them
        body.file.close()
    except Exception:
        pass
    return data


def abort(sock: Any) -> None:
    """Make the coming ``close()`` send an RST: the client must not take a cut response as whole."""
    try:  # noqa: SIM105 - the socket may already be gone
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
    except OSError:
        pass


def send_stream(sock: Any, head: bytes, stream: StreamBody, timeout: float) -> int:
    """Send ``head`` then each piece of ``stream`` as it is produced; blocking.

    The generator is closed however this ends, so a client that leaves stops
    it (it sees ``GeneratorExit`` at its ``yield``).  Returns the bytes sent.
    """
    sock.settimeout(timeout)
    sent = 0
    try:
        sock.sendall(head)
        sent = len(head)
        for piece in stream.pieces():
            sock.sendall(piece)
            sent += len(piece)
    finally:
        stream.close()
    return sent
