"""Streamed responses on threads of their own, so streams never starve ordinary requests.

A streamed response (``response.data`` an iterator: server-sent events, a
generated download) may last for hours, and its generator may block between
pieces, so only a thread that may block can pull it.  Were that thread a
handler worker, 32 open ``EventSource`` tabs would hold all ``maxThreads``
workers and a plain ``GET`` would wait until one closed.  So with
``threads=True`` the worker runs the handler and hands the stream to a
thread of its own (``hand_off``), then goes back to the pool.  That thread
takes the first piece before the head is sent (a generator that fails at
once is still a 500; one that waits for its first event holds no worker),
writes the access log line, and sends; the loop then closes the connection.

``Streams`` counts those threads: at most ``maxStreams`` at once (each holds
a connection and ~22 KiB); past that a stream is refused with 503 and
``Retry-After`` before its head is sent.  A client that stops reading is
still cut off after ``writeTimeout`` per piece (``send_stream``).

At a stop (``stop()``, Ctrl-C, SIGTERM) every stream's socket is shut down:
the client sees the end at once, a thread blocked in a send wakes with an
error, and the generator gets ``GeneratorExit`` at its ``yield`` (its
``finally`` runs) as soon as it is back there.  The connection no longer
counts as in flight, so an open ``EventSource`` does not delay the stop.  A
generator blocked in its own wait (``time.sleep``, ``queue.get``) cannot be
interrupted: the stop gives such generators ``STREAM_GRACE`` seconds to
reach their next ``yield``, then leaves them to end with the process.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from logging import INFO

from ._exchange import (
    access_log,
    answer_body_size,
    body_size,
    http_date_now,
    log_access,
    prime_stream,
)
from ._send import Writer, abort, send_stream
from ._serializer import StreamBody, error_head

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Callable, Dict, Optional, Tuple

    from ._exchange import Handler
    from ._loop import Loop
    from ._message import HttpRequest
    from ._serializer import Body

    Answer = Tuple[bytes, Body, int, Optional[int]]

log = logging.getLogger("picohttp")

#: The default cap on open streams (``maxStreams``).
MAX_STREAMS = 256
#: Seconds a client refused at the cap is told to wait (``Retry-After``).
RETRY_AFTER = 5
#: Seconds a stop waits, at most, for stream generators to reach their next ``yield``.
STREAM_GRACE = 1.0


class OpenStream:
    """One stream's connection, as long as its thread sends on it."""

    __slots__ = ("released", "sock", "thread")

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.thread: Any = None
        #: True once a stop has counted the connection closed for the loop.
        self.released = False


class Streams:
    """The streams of one server: at most ``limit`` at once, each on its own thread.

    ``loop`` finishes each connection when its stream ends (a lingering close)
    and counts the open ones; ``write_timeout`` bounds each piece's send.
    """

    def __init__(self, limit: int, loop: Loop, write_timeout: float) -> None:
        self.limit = limit
        self._loop = loop
        self._release = loop.released
        self._write_timeout = write_timeout
        self._lock = threading.Lock()
        self._open: Dict[OpenStream, None] = {}  # insertion-ordered set
        self._reserved = 0
        self._stopping = False
        self._refusing = False  # at the cap since the last refusal was logged
        self._numbers = itertools.count(1)

    def reserve(self) -> bool:
        """Claim a place for one stream; False at the cap or once a stop began."""
        with self._lock:
            if self._stopping or len(self._open) + self._reserved >= self.limit:
                return False
            self._reserved += 1
            return True

    def hand_off(
        self,
        sock: Any,
        client: Tuple[str, int],
        request: HttpRequest,
        answer: Answer,
        handler: Handler,
        linger: bool,
    ) -> None:
        """Send ``answer`` (a streamed body) on a thread of its own, or answer 503 at the cap.

        ``answer`` is ``run_handler(..., prime=False)``'s: its first piece is
        taken on the stream's thread (an event source may wait long for its
        first event).  ``linger``: the client may still be sending, so the
        loop drains before it closes.
        """
        if self.reserve() and self.start(
            sock, self._send, client, request, answer, handler, linger
        ):
            return
        body = answer[1]
        try:  # not started yet: closing it runs none of its code
            if isinstance(body, StreamBody):
                body.close()
        except Exception:
            log.debug("closing a refused stream's generator failed", exc_info=True)
        if self.first_refusal():
            log.warning(
                "maxStreams=%d streams are open: new ones are answered 503 until one ends",
                self.limit,
            )
        head = error_head(
            503,
            f"too many open streams (maxStreams={self.limit}); try again later",
            http_date_now(),
            retry_after=RETRY_AFTER,
        )
        if access_log.isEnabledFor(INFO):
            log_access(client, request, 503, answer_body_size(head))
        loop = self._loop
        loop.call_soon(loop.adopt, sock, client, Writer(head, b""), linger)

    def _send(
        self,
        stream: OpenStream,
        client: Tuple[str, int],
        request: HttpRequest,
        answer: Answer,
        handler: Handler,
        linger: bool,
    ) -> None:
        """The stream's thread: first piece, access log, every piece, then the loop's close."""
        sock = stream.sock
        # A 500 instead if the iterator fails at once: no head has left yet.
        head, body, status, _ = prime_stream(handler, request, answer)
        if access_log.isEnabledFor(INFO):
            log_access(client, request, status, body_size(body))
        failed = False
        try:
            if isinstance(body, StreamBody):
                send_stream(sock, head, body, self._write_timeout)
            else:  # the 500 of a stream that failed at once: head and its short text
                sock.settimeout(self._write_timeout)
                sock.sendall(head + body if type(body) is bytes else head)
        except OSError as exc:  # the client left, stopped reading, or a stop shut it down
            log.debug("%s: streamed response ended early (%s)", client[0], exc)
        except BaseException:
            # The head is out: no 500 can follow.  A reset tells the client
            # the response is incomplete (a clean close would look complete).
            log.exception("streamed response to %s %s failed midway", request.method, request.uri)
            failed = True
        if not self.end(stream):
            sock.close()  # a stop shut it down and counted it closed already
            return
        if failed:
            abort(sock)
            sock.close()
            self._release()
            return
        sock.setblocking(False)  # back to the loop's mode for a lingering close
        loop = self._loop
        loop.call_soon(loop.adopt, sock, client, None, linger)

    def first_refusal(self) -> bool:
        """True for the first refusal since the streams were last below the cap (log it once)."""
        with self._lock:
            first = not self._refusing
            self._refusing = True
            return first

    def start(self, sock: Any, target: Callable[..., None], *args: Any) -> bool:
        """Run ``target(stream, *args)`` on a new thread, in the place ``reserve()`` claimed.

        ``target`` must call ``end(stream)`` when it is done with the socket.
        Returns False (the place is given back) when no thread can be started.
        """
        stream = OpenStream(sock)
        thread = threading.Thread(
            target=self._run,
            args=(target, stream, args),
            name=f"picohttp-stream-{next(self._numbers)}",
            daemon=True,  # a generator blocked in its own wait must not keep the process
        )
        stream.thread = thread
        with self._lock:
            self._reserved -= 1
            self._open[stream] = None
            late = self._stopping  # a stop began since reserve(): it missed this one
            if late:
                self._shut(stream)
        if late:
            self._release()
        try:
            thread.start()
        except RuntimeError:  # "can't start new thread": out of memory or a thread limit
            with self._lock:
                self._open.pop(stream, None)
            if stream.released:  # counted closed already: nothing is left to answer on
                sock.close()
                return True
            return False
        return True

    def _run(self, target: Callable[..., None], stream: OpenStream, args: Any) -> None:
        try:
            target(stream, *args)
        except BaseException:  # the thread ends here: nothing may escape as a bare traceback
            log.exception("unexpected error in a picohttp stream thread")
            mine = self.end(stream)
            stream.sock.close()  # idempotent: the target may have closed it
            if mine:
                self._release()

    def end(self, stream: OpenStream) -> bool:
        """``stream`` is done; True if its connection is still the caller's to finish.

        False when a stop has already shut it down and counted it: the caller
        then only closes the socket.  Idempotent.
        """
        with self._lock:
            present = stream in self._open
            self._open.pop(stream, None)
            self._refusing = False
            return present and not stream.released

    def stop(self) -> int:
        """Refuse new streams and shut every open one down; returns how many."""
        with self._lock:
            self._stopping = True
            streams = [stream for stream in self._open if not stream.released]
            for stream in streams:
                self._shut(stream)
        for _ in streams:
            self._release()
        return len(streams)

    @staticmethod
    def _shut(stream: OpenStream) -> None:
        """Shut ``stream``'s socket down and mark it counted closed (under the lock)."""
        stream.released = True
        # On a duplicate of the descriptor: shutdown acts on the connection
        # itself, and a TLS socket's own shutdown() would first write its
        # close_notify, which blocks (for writeTimeout) on a client that does not
        # read, and would use the TLS state the stream's thread is using.
        raw: Any = None
        try:
            raw = socket.socket(fileno=os.dup(stream.sock.fileno()))
        except OSError:  # no descriptor left, or a platform whose sockets are no fds (Windows)
            if hasattr(stream.sock, "ssl"):
                return  # TLS: writeTimeout still ends it
        try:  # wakes a send blocked on a client that does not read
            (raw or stream.sock).shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # the client is gone already
        finally:
            if raw is not None:
                raw.close()

    def join(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for the stream threads; returns how many still run."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = [stream.thread for stream in self._open]
        current = threading.current_thread()
        running = 0
        for thread in threads:
            if thread is current:
                continue
            thread.join(max(0.0, deadline - time.monotonic()))
            running += thread.is_alive()
        return running

    def owns(self, ident: int) -> bool:
        """True if the thread ``ident`` is one of the stream threads."""
        with self._lock:
            return any(stream.thread.ident == ident for stream in self._open)
