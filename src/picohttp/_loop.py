"""The selector thread: accept, read request heads, enforce deadlines, finish writes.

One thread owns the listening socket and a ``selectors`` loop.  It never
blocks on a client: it accepts, reads whatever bytes have arrived into each
connection's ``RequestParser``, and hands a *complete* request on, so a slow
or stalled client costs a few hundred bytes and no thread.  What happens to a
complete request is the ``dispatch`` callback's business (``_server.py``): a
worker thread for ``threads=True``, this very thread for ``threads=False``.

The loop also
- answers protocol errors (the parser's 4xx) itself and never calls the handler;
- finishes responses a worker could not send at once (``Writer``), so a slow
  reader holds no worker either;
- drains a connection before closing it when the client may still be sending
  (a lingering close, as nginx does), so the kernel's reset never destroys a
  response the client has not read yet;
- keeps one heap of deadlines (head, body read, write, linger), pushing a
  connection at most once and re-pushing lazily when its deadline moved;
- caps open connections: at the cap the listening socket leaves the selector
  and new clients wait in the kernel's backlog until one closes;
- is woken by other threads through a socket pair (``call_soon``), never by
  polling.
"""

from __future__ import annotations

import _socket
import collections
import heapq
import itertools
import logging
import selectors
import socket
import time

from ._errors import RemoteProtocolError
from ._exchange import http_date_now, log_access
from ._limits import Limits
from ._message import HttpRequest
from ._parser import RequestParser, TlsHandshakeError, parse_request
from ._pool import STUCK_AFTER
from ._send import DONTWAIT, WOULD_BLOCK, StreamWriter, Writer, abort
from ._serializer import error_head

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Callable, Deque, List, Optional, Tuple

log = logging.getLogger("picohttp")

EVENT_READ = selectors.EVENT_READ
EVENT_WRITE = selectors.EVENT_WRITE

# Connection phases.
READING, HANDLING, WRITING, LINGERING, CLOSED = range(5)

#: How long a closing connection is drained of what the client still sends.
LINGER_TIMEOUT = 2.0
#: Connections accepted per wake-up before reads and writes get their turn.
ACCEPT_BATCH = 64
RECV_SIZE = 64 * 1024
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

_ACCEPT = object()
_WAKE = object()


class Connection:
    """One client connection and where it stands."""

    __slots__ = (
        "client",
        "continued",
        "deadline",
        "heap_at",
        "linger",
        "mask",
        "parser",
        "phase",
        "sock",
        "writer",
    )

    def __init__(self, sock: Any, client: Tuple[str, int], parser: Optional[RequestParser]) -> None:
        self.sock = sock  # a _socket.socket: the C type, without socket.socket's Python layer
        self.client = client
        self.parser = parser
        self.phase = READING
        self.deadline: Optional[float] = None
        self.heap_at: Optional[float] = None  # deadline of this connection's live heap entry
        self.mask = 0
        self.writer: Optional[Writer] = None
        self.linger = False
        self.continued = False


def client_address(address: Any) -> Tuple[str, int]:
    """``(host, port)`` of a peer, IPv4-mapped IPv6 (``::ffff:1.2.3.4``) shown as IPv4."""
    if type(address) is tuple:
        if len(address) == 2:
            return address
        host = address[0]
        if host[:7] == "::ffff:" and "." in host:
            host = host[7:]
        return host, address[1]
    return (str(address) or "-", 0)


class Loop:
    """The selector loop of one server (see the module docstring)."""

    def __init__(
        self,
        listener: socket.socket,
        limits: Limits,
        dispatch: Callable[[Any, Tuple[str, int], HttpRequest, int], None],
        max_connections: int,
        stop_timeout: float,
    ) -> None:
        self.limits = limits
        self._listener = listener
        # (fd, address) straight from C: socket.accept's Python layer (two enum
        # conversions and a socket.socket __init__) costs more than the syscall.
        self._accept_fd = getattr(listener, "_accept")  # noqa: B009
        self._family = listener.family
        self._dispatch = dispatch
        self._max_connections = max_connections
        self._stop_timeout = stop_timeout
        self._selector = selectors.DefaultSelector()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._selector.register(self._wake_reader, EVENT_READ, _WAKE)
        self._calls: Deque[Tuple[Callable[..., None], Tuple[Any, ...]]] = collections.deque()
        self._wake_pending = False
        self._released: Deque[None] = collections.deque()
        self._heap: List[Tuple[float, int, Connection]] = []
        self._sequence = itertools.count()
        self.open = 0
        self._accepting = False
        self._stopping = False
        self._stop_deadline = 0.0
        self.thread_id: Optional[int] = None
        #: The worker pool's ``check``, run when ``check_pool_soon`` asked (threads=True).
        self.pool_check: Optional[Callable[[float], bool]] = None
        self._pool_check_at: Optional[float] = None
        #: Called on the loop thread when a stop begins (threads=True: shut the streams down).
        self.stop_hook: Optional[Callable[[], object]] = None

    # -- other threads ---------------------------------------------------------

    def call_soon(self, function: Callable[..., None], *args: Any) -> None:
        """Run ``function(*args)`` on the loop thread; safe from any thread."""
        self._calls.append((function, args))
        if not self._wake_pending:
            self._wake_pending = True
            try:  # noqa: SIM105 - contextlib.suppress costs more on this path
                self._wake_writer.send(b"\0")
            except OSError:
                pass  # full (a wake-up is already pending) or closed (stopping)

    def released(self) -> None:
        """A worker closed a connection; callable from any thread."""
        self._released.append(None)
        if not self._accepting:
            self.call_soon(_noop)  # at the cap, or stopping: the loop must count it now

    def check_pool_soon(self) -> None:
        """Every worker is busy: see in ``STUCK_AFTER`` seconds whether more are needed."""
        if self._pool_check_at is None:
            self._pool_check_at = time.monotonic() + STUCK_AFTER

    def request_stop(self) -> None:
        """Begin a graceful stop; safe from any thread and from signal handlers."""
        self.call_soon(self._begin_stop)

    # -- the loop --------------------------------------------------------------

    def run(self) -> None:
        """Serve until a stop completes."""
        import threading

        self.thread_id = threading.get_ident()
        if not self._stopping:
            self._resume_accepting()
        select = self._selector.select
        heap = self._heap
        while True:
            if heap:
                timeout: Optional[float] = max(0.0, heap[0][0] - time.monotonic())
            else:
                timeout = None
            if self._stopping:
                remaining = max(0.0, self._stop_deadline - time.monotonic())
                timeout = remaining if timeout is None else min(timeout, remaining)
            if self._pool_check_at is not None:
                remaining = max(0.0, self._pool_check_at - time.monotonic())
                timeout = remaining if timeout is None else min(timeout, remaining)
            events = select(timeout)
            now = time.monotonic()
            for key, _mask in events:
                target = key.data
                if target is _ACCEPT:
                    self._accept(now)
                elif target is _WAKE:
                    self._run_calls()
                else:
                    self._on_event(target, now)
            released = self._released
            while released:
                released.popleft()
                self.open -= 1
            if not self._accepting and not self._stopping and self.open < self._max_connections:
                self._resume_accepting()
            if heap and heap[0][0] <= now:
                self._expire(now)
            check_at = self._pool_check_at
            if check_at is not None and now >= check_at and self.pool_check is not None:
                self._pool_check_at = now + STUCK_AFTER if self.pool_check(now) else None
            if self._stopping and (self.open <= 0 or now >= self._stop_deadline):
                break
        self._close_all()

    def _run_calls(self) -> None:
        try:
            while self._wake_reader.recv(4096):
                pass
        except OSError:
            pass
        self._wake_pending = False
        calls = self._calls
        while calls:
            function, args = calls.popleft()
            function(*args)

    # -- accepting -------------------------------------------------------------

    def _resume_accepting(self) -> None:
        self._selector.register(self._listener, EVENT_READ, _ACCEPT)
        self._accepting = True

    def _pause_accepting(self) -> None:
        if self._accepting:
            self._selector.unregister(self._listener)
            self._accepting = False

    def _accept(self, now: float) -> None:
        accept = self._accept_fd
        family = self._family
        make_socket = _socket.socket
        limits = self.limits
        dispatch = self._dispatch
        for _ in range(ACCEPT_BATCH):
            if self.open >= self._max_connections:
                self._pause_accepting()
                return
            try:
                fd, address = accept()
            except WOULD_BLOCK:
                return
            except OSError as exc:  # EMFILE, ENFILE, ENOBUFS: out of descriptors or memory
                log.warning("accept failed (%s); pausing until a connection closes", exc)
                if self.open > 0:
                    self._pause_accepting()
                return
            self.open += 1
            sock = make_socket(family, _socket.SOCK_STREAM, 0, fd)
            if not DONTWAIT:
                sock.setblocking(False)
            client = address if len(address) == 2 else client_address(address)
            # The fast path: the whole request is already here (TCP_DEFER_ACCEPT
            # makes that the rule), so no Connection, parser or selector entry.
            try:
                data = sock.recv(RECV_SIZE, DONTWAIT)
                parsed = parse_request(data, limits, client) if data else None
            except WOULD_BLOCK:
                data = None
                parsed = None
            except RemoteProtocolError as error:
                conn = Connection(sock, client, RequestParser(limits, client))
                self._reject(conn, error, now)
                continue
            except OSError:
                sock.close()
                self.open -= 1
                continue
            if parsed is not None:
                dispatch(sock, client, parsed[0], parsed[1])
                continue
            conn = Connection(sock, client, RequestParser(limits, client))
            conn.deadline = now + limits.head_timeout
            if data is None:
                self._want(conn, EVENT_READ)
            else:
                self._received(conn, data, now)

    # -- reading -------------------------------------------------------------

    def _on_event(self, conn: Connection, now: float) -> None:
        phase = conn.phase
        if phase == READING:
            self._read(conn, now)
        elif phase == WRITING:
            self._write(conn, now)
        elif phase == LINGERING:
            self._drain(conn)

    def _read(self, conn: Connection, now: float) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE, DONTWAIT)
        except WOULD_BLOCK:
            self._want(conn, EVENT_READ)
            return
        except OSError:
            self.close(conn)  # reset by the client: a normal event
            return
        self._received(conn, data, now)

    def _received(self, conn: Connection, data: bytes, now: float) -> None:
        parser = conn.parser
        assert parser is not None
        try:
            if not data:
                parser.eof()
                self.close(conn)  # nothing half-sent: the client just went away
                return
            request = parser.feed(data)
        except RemoteProtocolError as error:
            self._reject(conn, error, now)
            return
        if request is None:
            if parser.head_done:
                conn.deadline = now + self.limits.read_timeout
                if parser.expect_continue and not conn.continued:
                    conn.continued = True
                    try:  # noqa: SIM105 - see call_soon
                        conn.sock.send(_CONTINUE, DONTWAIT)
                    except OSError:  # would block, or gone: the read timeout settles it
                        pass
            self._want(conn, EVENT_READ)
            return
        self._unwatch(conn)
        conn.phase = HANDLING  # the loop lets go of this Connection; the socket goes on
        self._dispatch(conn.sock, conn.client, request, parser.leftover)

    def _reject(self, conn: Connection, error: RemoteProtocolError, now: float) -> None:
        """Answer a protocol error ourselves; the handler never sees the request."""
        if conn.parser is not None:
            conn.parser.discard()
        if type(error) is TlsHandshakeError:  # an HTTP answer would be garbage to a TLS client
            log.warning(
                "%s sent a TLS handshake, but this port speaks HTTP, not HTTPS "
                "(use an http:// URL, or serve HTTPS with HttpServer(tls=...)); closed",
                conn.client[0],
            )
            conn.linger = True
            self.finish(conn)
            return
        log.debug("%s: %d %s", conn.client[0], error.status, error.reason)
        log_access(conn.client, None, error.status, None)
        conn.linger = True  # the client may still be sending what we refused
        self.start_writing(
            conn, Writer(error_head(error.status, error.reason, http_date_now()), b"")
        )

    # -- writing ---------------------------------------------------------------

    def start_writing(self, conn: Connection, writer: Writer) -> None:
        """Send ``writer`` on the loop thread (the loop owns ``conn`` from now on)."""
        conn.writer = writer
        conn.phase = WRITING
        conn.deadline = time.monotonic() + self.limits.write_timeout
        self._write(conn, time.monotonic())

    def adopt(
        self, sock: Any, client: Tuple[str, int], writer: Optional[Writer], linger: bool
    ) -> None:
        """Take over a socket whose response started elsewhere: finish ``writer``, then close.

        ``linger``: the client may still be sending, so drain before closing.
        """
        conn = Connection(sock, client, None)
        conn.phase = HANDLING
        conn.linger = linger
        if writer is not None:
            self.start_writing(conn, writer)
        else:
            self.finish(conn)

    def _write(self, conn: Connection, now: float) -> None:
        writer = conn.writer
        assert writer is not None
        before = writer.sent
        try:
            done = writer.write(conn.sock)
        except OSError as exc:
            log.debug("%s: client went away during the response (%s)", conn.client[0], exc)
            self.close(conn)
            return
        except Exception:  # the body's file failed: the loop must not die of it
            log.exception("sending the response to %s failed", conn.client[0])
            abort(conn.sock)
            self.close(conn)
            return
        if not done:
            if writer.sent != before:
                conn.deadline = now + self.limits.write_timeout
            self._want(conn, EVENT_WRITE)
            return
        conn.writer = None
        self.finish(conn)

    def finish(self, conn: Connection) -> None:
        """The response is out: close, or drain first if the client may still send."""
        if not conn.linger:
            self.close(conn)
            return
        try:
            conn.sock.shutdown(_socket.SHUT_WR)
        except OSError:
            self.close(conn)
            return
        conn.phase = LINGERING
        conn.deadline = time.monotonic() + LINGER_TIMEOUT
        self._drain(conn)

    def _drain(self, conn: Connection) -> None:
        try:
            while True:
                data = conn.sock.recv(RECV_SIZE, DONTWAIT)
                if not data:
                    break
        except WOULD_BLOCK:
            self._want(conn, EVENT_READ)
            return
        except OSError:
            pass
        self.close(conn)

    # -- bookkeeping ------------------------------------------------------------

    def _want(self, conn: Connection, mask: int) -> None:
        """Wait for ``mask`` on ``conn`` and watch its deadline."""
        if conn.mask != mask:
            if conn.mask:
                self._selector.modify(conn.sock, mask, conn)
            else:
                self._selector.register(conn.sock, mask, conn)
            conn.mask = mask
        deadline = conn.deadline
        if deadline is not None and (conn.heap_at is None or deadline < conn.heap_at):
            # A later deadline is picked up when the earlier entry pops; an
            # earlier one needs its own entry (the old one is then stale).
            conn.heap_at = deadline
            heapq.heappush(self._heap, (deadline, next(self._sequence), conn))

    def _unwatch(self, conn: Connection) -> None:
        if conn.mask:
            self._selector.unregister(conn.sock)
            conn.mask = 0
        conn.deadline = None

    def close(self, conn: Connection) -> None:
        """Close ``conn`` on the loop thread."""
        if conn.phase == CLOSED:
            return
        self._unwatch(conn)
        if conn.writer is not None:
            conn.writer.close()
            conn.writer = None
        if conn.parser is not None:
            conn.parser.discard()
        conn.phase = CLOSED
        conn.sock.close()
        self.open -= 1

    def _expire(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, _, conn = heapq.heappop(heap)
            if at != conn.heap_at:
                continue  # stale: superseded by an earlier deadline's entry
            conn.heap_at = None
            deadline = conn.deadline
            if deadline is None or conn.phase in (CLOSED, HANDLING):
                continue
            if deadline > now:  # moved on since it was pushed: watch the new one
                conn.heap_at = deadline
                heapq.heappush(heap, (deadline, next(self._sequence), conn))
                continue
            self._time_out(conn, now)

    def _time_out(self, conn: Connection, now: float) -> None:
        if conn.phase == READING and conn.parser is not None and conn.parser.received:
            what = "request body" if conn.parser.head_done else "request head"
            self._reject(conn, RemoteProtocolError(408, f"timed out waiting for the {what}"), now)
        else:
            log.debug("%s: timed out (phase %d), closing", conn.client[0], conn.phase)
            self.close(conn)

    # -- stopping ------------------------------------------------------------

    def _begin_stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._stop_deadline = time.monotonic() + self._stop_timeout
        self._pause_accepting()
        self._listener.close()  # new connections are refused from here on
        for key in list(self._selector.get_map().values()):
            conn = key.data
            if (
                isinstance(conn, Connection)
                and conn.phase == READING
                and conn.parser is not None
                and not conn.parser.head_done
            ):
                self.close(conn)  # no request yet: nothing in flight to finish
            elif isinstance(conn, Connection) and type(conn.writer) is StreamWriter:
                # A stream (threads=False) may never end: closing the writer closes
                # its generator, which sees GeneratorExit at its yield.
                self.close(conn)
        if self.stop_hook is not None:
            self.stop_hook()

    def _close_all(self, interrupted: bool = False) -> None:
        """Close every connection and the loop's own sockets; say what was cut short.

        ``interrupted``: a second Ctrl-C cut the stop short (the timeout did not run out).
        """
        dropped = 0
        for key in list(self._selector.get_map().values()):
            conn = key.data
            if isinstance(conn, Connection):
                dropped += 1
                self.close(conn)
        if dropped or self.open > 0:
            count = max(dropped, self.open)
            if interrupted:
                log.warning("interrupted again: stopped with %d connection(s) still open", count)
            elif self._stopping and time.monotonic() >= self._stop_deadline:
                log.warning(
                    "stopped with %d connection(s) still open after the %.1f s stop timeout",
                    count,
                    self._stop_timeout,
                )
            else:
                log.warning("closed %d connection(s) still open", count)
        self._selector.close()
        self._wake_reader.close()
        self._wake_writer.close()


def _noop() -> None:
    pass
