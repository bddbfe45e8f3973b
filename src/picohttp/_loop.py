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
- pauses accepting the same way when the process is out of descriptors
  (EMFILE/ENFILE): until a connection closes, or ``ACCEPT_RETRY`` seconds
  pass (the descriptors may be the application's), one log line per pause;
- never dies of one connection: a fault of the machine while a body is
  stored (a full disk, no descriptor for the spool) is answered 507 or 503,
  and anything unexpected while handling one connection's event closes that
  connection with one logged traceback;
- is woken by other threads through a socket pair (``call_soon``), never by
  polling.
"""

from __future__ import annotations

import _socket
import collections
import errno
import heapq
import itertools
import logging
import selectors
import socket
import time

from ._errors import RemoteProtocolError
from ._exchange import answer_body_size, http_date_now, log_access
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

# Connection phases.  OPENING: before READING, while an ``Opener`` (TLS) sets the connection up.
READING, HANDLING, WRITING, LINGERING, CLOSED, OPENING = range(6)

#: How long a closing connection is drained of what the client still sends.
LINGER_TIMEOUT = 2.0
#: Connections accepted per wake-up before reads and writes get their turn.
ACCEPT_BATCH = 64
RECV_SIZE = 64 * 1024
#: Seconds between tries of accept() while the process is out of descriptors and
#: no connection of ours closes to free one (they are the application's).
ACCEPT_RETRY = 0.25
#: accept() errors that mean "out of descriptors or kernel memory": accepting pauses.
ACCEPT_STARVED = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))
#: Seconds a client is asked to wait (``Retry-After``) after a 503 for want of descriptors.
RETRY_AFTER = 1
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

_ACCEPT = object()
_WAKE = object()
_DONE = -1.0  # _after_events: the stop is complete (a timeout is never negative)


class Connection:
    """One client connection and where it stands."""

    __slots__ = (
        "body_floor",
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
        # When the body must be complete if no byte of it came: the deadline of
        # ``minBodyRate`` is this plus the bytes received over the rate.
        self.body_floor: Optional[float] = None


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


def fault_answer(exc: BaseException) -> Tuple[int, str, Optional[int]]:
    """``(status, reason, retry_after)`` for a fault of the machine while a request is read.

    A full disk (or quota) while the body is spooled is 507 Insufficient
    Storage, which says exactly that; no descriptor or memory left is 503 with
    ``Retry-After`` (the client may try again soon); anything else is 500.
    """
    number = getattr(exc, "errno", None)
    if number in (errno.ENOSPC, errno.EDQUOT):
        return 507, "no space left to store the request body", None
    if number in ACCEPT_STARVED or isinstance(exc, MemoryError):
        return 503, "the server is out of resources; try again shortly", RETRY_AFTER
    return 500, "the request body could not be stored", None


class Opener:
    """What happens to an accepted socket before its request is read (TLS: the handshake).

    The loop's one accept loop calls ``accepted`` for each new socket (the
    connection is counted open already); the opener makes a ``Connection`` in
    the ``OPENING`` phase and drives it with the loop's public methods
    (``want``, ``read``, ``start_writing``, ``close``).  ``step`` gets the
    selector's events while the connection is ``OPENING``, ``timed_out`` its
    deadline (the loop closes the connection after it).  A stop closes every
    ``OPENING`` connection: no request has come yet.
    """

    def attach(self, loop: Loop) -> None:
        """Called once by the loop that will call the other methods."""
        raise NotImplementedError

    def accepted(self, fd: int, address: Any, now: float) -> None:
        """A new connection (descriptor ``fd`` from ``accept``); the loop counts it open."""
        raise NotImplementedError

    def step(self, conn: Connection, now: float) -> None:
        """The selector reported ``conn`` (``OPENING``) ready."""
        raise NotImplementedError

    def timed_out(self, conn: Connection) -> None:
        """``conn`` (``OPENING``) passed its deadline; the loop closes it next."""
        raise NotImplementedError


class Loop:
    """The selector loop of one server (see the module docstring).

    ``opener``: what happens after accept instead of the plain path (TLS).
    """

    def __init__(
        self,
        listener: socket.socket,
        limits: Limits,
        dispatch: Callable[[Any, Tuple[str, int], HttpRequest, int], None],
        max_connections: int,
        stop_timeout: float,
        opener: Optional[Opener] = None,
    ) -> None:
        self.limits = limits
        self._listener = listener
        # (fd, address) straight from C: socket.accept's Python layer (two enum
        # conversions and a socket.socket __init__) costs more than the syscall.
        self._accept_fd = getattr(listener, "_accept")  # noqa: B009
        self._family = listener.family
        self._opener = opener
        # What one accepted socket becomes: read at once (plain), or the opener's.
        self._start: Callable[[int, Any, float], None] = (
            self._start_plain if opener is None else opener.accepted
        )
        if opener is not None:
            opener.attach(self)
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
        #: Called after each pass over ``select``'s events, before closes are counted and
        #: timers run (threads=True: the requests of the pass go to the workers together).
        self.after_pass: Optional[Callable[[], None]] = None
        self._pool_check_at: Optional[float] = None
        self._tick: Optional[Callable[[], object]] = None
        self._tick_every = 0.0
        self._tick_at: Optional[float] = None
        # Out of descriptors at accept: since when, how many accepts failed, the open
        # count then (a close below it frees one), and when to try again regardless.
        self._starved_since: Optional[float] = None
        self._accept_failures = 0
        self._starved_open = 0
        self._retry_accept_at: Optional[float] = None
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

    def every(self, seconds: float, function: Callable[[], object]) -> None:
        """Run ``function`` on the loop thread every ``seconds`` (systemd's watchdog ping).

        From the loop thread itself, so a loop that is stuck stops the calls.
        Set before ``run()``.
        """
        self._tick = function
        self._tick_every = seconds
        self._tick_at = time.monotonic() + seconds

    def hand_over(
        self, sock: Any, client: Tuple[str, int], writer: Optional[Writer], linger: bool
    ) -> None:
        """``adopt`` on the loop thread; safe from any thread."""
        self.call_soon(self.adopt, sock, client, writer, linger)

    def request_stop(self) -> None:
        """Begin a graceful stop; safe from any thread and from signal handlers."""
        self.call_soon(self._begin_stop)

    def wake_fileno(self) -> int:
        """The descriptor whose byte wakes the loop (``signal.set_wakeup_fd`` may write it)."""
        return self._wake_writer.fileno()

    def stop_time_left(self) -> float:
        """Seconds left of the stop timeout the loop began counting at the stop (>= 0)."""
        return max(0.0, self._stop_deadline - time.monotonic())

    # -- the loop --------------------------------------------------------------

    def run(self) -> None:
        """Serve until a stop completes."""
        import threading

        self.thread_id = threading.get_ident()
        if not self._stopping:
            self._resume_accepting()
        select = self._selector.select
        timeout = self._timeout()
        while True:
            events = select(timeout)
            now = time.monotonic()
            for key, _mask in events:
                target = key.data
                try:
                    if target is _ACCEPT:
                        self._accept(now)
                    elif target is _WAKE:
                        self._run_calls()
                    else:
                        self._on_event(target, now)
                except Exception:  # one connection's fault: it ends, the loop goes on
                    self._event_failed(target)
            timeout = self._after_events(now)
            if timeout == _DONE:
                break
        self.close_all()

    def _timeout(self) -> Optional[float]:
        """How long ``select`` may wait: until the earliest deadline, or for ever."""
        heap = self._heap
        at = heap[0][0] if heap else None
        if self._stopping:
            at = _earlier(at, self._stop_deadline)
        if self._pool_check_at is not None:
            at = _earlier(at, self._pool_check_at)
        if self._tick_at is not None:
            at = _earlier(at, self._tick_at)
        if self._retry_accept_at is not None and self._may_wait_to_retry():
            at = _earlier(at, self._retry_accept_at)
        return None if at is None else max(0.0, at - time.monotonic())

    def _after_events(self, now: float) -> Optional[float]:
        """Count closes, resume accepting, expire deadlines, run timers.

        Returns the next ``select`` timeout (``_timeout``), or ``_DONE`` once a stop is complete.
        """
        if self.after_pass is not None:
            self.after_pass()
        released = self._released
        while released:
            released.popleft()
            self.open -= 1
        if not self._accepting and not self._stopping and self.open < self._max_connections:
            self._maybe_resume_accepting(now)
        heap = self._heap
        if heap and heap[0][0] <= now:
            self._expire(now)
        check_at = self._pool_check_at
        if check_at is not None and now >= check_at and self.pool_check is not None:
            self._check_pool(now)
        if self._tick_at is not None and now >= self._tick_at:
            self._tick_at = now + self._tick_every
            self._tick()  # type: ignore[misc]  # set together with _tick_at
        if self._stopping and (self.open <= 0 or now >= self._stop_deadline):
            return _DONE
        return self._timeout()

    def _maybe_resume_accepting(self, now: float) -> None:
        """Below the cap and not stopping: accept again, unless a pause for descriptors holds."""
        if self._starved_since is None:
            self._resume_accepting()
        elif self._may_retry_accept(now):
            self._resume_accepting()
            self._retry_accept(now)

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
            try:
                function(*args)
            except Exception:  # one hand-off failed: the others still run
                log.exception("picohttp's loop failed to run %r", function)

    def _check_pool(self, now: float) -> None:
        try:
            again = self.pool_check is not None and self.pool_check(now)
        except Exception:  # no thread could start (memory): queued requests wait for the others
            log.exception("picohttp could not start another handler thread")
            again = True
        self._pool_check_at = now + STUCK_AFTER if again else None

    def _event_failed(self, target: Any) -> None:
        """Something unexpected while handling ``target``'s event: log it once, close it."""
        if isinstance(target, Connection):
            log.exception("unexpected error on the connection from %s; closed", target.client[0])
            try:
                abort(target.sock)
                self.close(target)
            except Exception:
                log.debug("closing the failed connection failed too", exc_info=True)
        else:
            log.exception("unexpected error in picohttp's loop; serving goes on")

    # -- accepting -------------------------------------------------------------

    def _resume_accepting(self) -> None:
        self._selector.register(self._listener, EVENT_READ, _ACCEPT)
        self._accepting = True

    def _pause_accepting(self) -> None:
        if self._accepting:
            self._selector.unregister(self._listener)
            self._accepting = False

    def accept_failed(self, exc: OSError, now: float) -> None:
        """``accept()`` raised ``exc`` (not "would block"); shared by the plain and TLS loops.

        Out of descriptors or kernel memory, accepting pauses: new clients wait
        in the backlog until one of our connections closes, or ``ACCEPT_RETRY``
        seconds pass (the descriptors may be held by the application, and then
        no close of ours frees one).  Never a spin: one log line per pause and
        one, with the count, when it ends (``accept_recovered``).
        """
        if exc.errno not in ACCEPT_STARVED:  # ECONNABORTED and the like: that client only
            log.debug("accept failed (%s)", exc)
            return
        if self._starved_since is None:
            self._starved_since = now
            self._accept_failures = 0
            log.warning(
                "accept failed (%s); accepting pauses until a descriptor is freed "
                "(%d connection(s) open)",
                exc,
                self.open,
            )
        self._accept_failures += 1
        self._starved_open = self.open
        self._retry_accept_at = now + ACCEPT_RETRY
        self._pause_accepting()

    def accept_recovered(self, now: float) -> None:
        """The backlog is drained with no accept failing: a pause for descriptors is over."""
        since = self._starved_since
        if since is not None:
            self._starved_since = None
            self._retry_accept_at = None
            log.warning(
                "accepting again after %.1f s out of descriptors (%d accept(s) failed)",
                now - since,
                self._accept_failures,
            )

    def _retry_accept(self, now: float) -> None:
        """Try at once: the pause ends only on an accept that finds the backlog empty.

        (The selector would not say so: with no client waiting, the listener is
        never readable, and accept() at EMFILE fails even then.)
        """
        try:
            self._accept(now)
        except Exception:
            self._event_failed(_ACCEPT)

    def _may_wait_to_retry(self) -> bool:
        """Paused for descriptors, and nothing else keeps accepting paused (the cap, a stop)."""
        return not self._accepting and not self._stopping and self.open < self._max_connections

    def _may_retry_accept(self, now: float) -> bool:
        """Paused for descriptors: has one of ours closed since, or is it time to try anyway?"""
        retry_at = self._retry_accept_at
        return self.open < self._starved_open or (retry_at is not None and now >= retry_at)

    def _accept(self, now: float) -> None:
        """Accept up to ``ACCEPT_BATCH`` connections; each goes to ``_start``."""
        accept = self._accept_fd
        start = self._start
        for _ in range(ACCEPT_BATCH):
            if self.open >= self._max_connections:
                self._pause_accepting()
                return
            try:
                fd, address = accept()
            except WOULD_BLOCK:
                if self._starved_since is not None:
                    self.accept_recovered(now)
                return
            except OSError as exc:  # EMFILE, ENFILE, ENOBUFS: out of descriptors or memory
                self.accept_failed(exc, now)
                if not self._accepting:
                    return
                continue
            self.open += 1
            start(fd, address, now)

    def _start_plain(self, fd: int, address: Any, now: float) -> None:
        """A plain connection: read at once, and dispatch when the whole request is here."""
        sock = _socket.socket(self._family, _socket.SOCK_STREAM, 0, fd)
        if not DONTWAIT:
            sock.setblocking(False)
        client = address if len(address) == 2 else client_address(address)
        limits = self.limits
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
            return
        except OSError:
            self.close(Connection(sock, client, None))
            return
        except Exception:  # MemoryError, a bug: this connection only (the try costs nothing)
            log.exception("unexpected error on the connection from %s; closed", client[0])
            self.close(Connection(sock, client, None))
            return
        if parsed is not None:
            self._dispatch(sock, client, parsed[0], parsed[1])
            return
        conn = Connection(sock, client, RequestParser(limits, client))
        conn.deadline = now + limits.head_timeout
        if data is None:
            self.want(conn, EVENT_READ)
        else:
            self._received(conn, data, now)

    # -- reading -------------------------------------------------------------

    def _on_event(self, conn: Connection, now: float) -> None:
        phase = conn.phase
        if phase == READING:
            self.read(conn, now)
        elif phase == WRITING:
            self._write(conn, now)
        elif phase == LINGERING:
            self._drain(conn)
        elif phase == OPENING and self._opener is not None:
            self._opener.step(conn, now)

    def read(self, conn: Connection, now: float) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE, DONTWAIT)
        except WOULD_BLOCK:
            self.want(conn, EVENT_READ)
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
        except (OSError, MemoryError) as exc:  # storing the body: full disk, no descriptor
            self._store_failed(conn, exc, now)
            return
        if request is None:
            if parser.head_done:
                limits = self.limits
                deadline = now + limits.read_timeout
                # minBodyRate: the body gets headTimeout from the end of the head, and one
                # second more per minBodyRate bytes that came, so a trickle cannot hold a
                # slot for long while any real upload, however slow its link, goes on.
                floor = conn.body_floor
                if floor is None:
                    floor = now + limits.head_timeout - parser.received / limits.min_body_rate
                    conn.body_floor = floor
                body_deadline = floor + parser.received / limits.min_body_rate
                conn.deadline = body_deadline if body_deadline < deadline else deadline
                if parser.expect_continue and not conn.continued:
                    conn.continued = True
                    try:  # noqa: SIM105 - see call_soon
                        conn.sock.send(_CONTINUE, DONTWAIT)
                    except OSError:  # would block, or gone: the read timeout settles it
                        pass
            self.want(conn, EVENT_READ)
            return
        self.unwatch(conn)
        conn.phase = HANDLING  # the loop lets go of this Connection; the socket goes on
        self._dispatch(conn.sock, conn.client, request, parser.leftover)

    def _store_failed(self, conn: Connection, exc: BaseException, now: float) -> None:
        """The machine failed us while a body was stored: answer 507, 503 or 500, once logged."""
        if conn.parser is not None:
            conn.parser.discard()
        status, reason, retry_after = fault_answer(exc)
        log.warning("%s: request body not stored (%s); answered %d", conn.client[0], exc, status)
        conn.linger = True  # the rest of the body may still be coming
        head = error_head(status, reason, http_date_now(), retry_after=retry_after)
        log_access(conn.client, None, status, answer_body_size(head))
        self.start_writing(conn, Writer(head, b""))

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
        answer = error_head(error.status, error.reason, http_date_now())
        log_access(conn.client, None, error.status, answer_body_size(answer))
        conn.linger = True  # the client may still be sending what we refused
        self.start_writing(conn, Writer(answer, b""))

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
            self.want(conn, EVENT_WRITE)
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
            self.want(conn, EVENT_READ)
            return
        except OSError:
            pass
        self.close(conn)

    # -- bookkeeping ------------------------------------------------------------

    def want(self, conn: Connection, mask: int) -> None:
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

    def unwatch(self, conn: Connection) -> None:
        if conn.mask:
            self._selector.unregister(conn.sock)
            conn.mask = 0
        conn.deadline = None

    def close(self, conn: Connection) -> None:
        """Close ``conn`` on the loop thread."""
        if conn.phase == CLOSED:
            return
        self.unwatch(conn)
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
        parser = conn.parser
        if conn.phase == READING and parser is not None and parser.received:
            rate = self.limits.min_body_rate
            floor = conn.body_floor
            if floor is not None and floor + parser.received / rate <= now:
                reason = f"the request body came slower than {rate} bytes/s (minBodyRate)"
                log.info("%s: %s; answered 408", conn.client[0], reason)
            else:
                what = "request body" if parser.head_done else "request head"
                reason = f"timed out waiting for the {what}"
            self._reject(conn, RemoteProtocolError(408, reason), now)
        else:
            if conn.phase == OPENING and self._opener is not None:
                self._opener.timed_out(conn)
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
            if isinstance(conn, Connection) and (
                conn.phase == OPENING
                or (conn.phase == READING and conn.parser is not None and not conn.parser.head_done)
            ):
                self.close(conn)  # no request yet: nothing in flight to finish
            elif isinstance(conn, Connection) and type(conn.writer) is StreamWriter:
                # A stream (threads=False) may never end: closing the writer closes
                # its generator, which sees GeneratorExit at its yield.
                self.close(conn)
        if self.stop_hook is not None:
            self.stop_hook()

    def close_all(self, interrupted: bool = False) -> None:
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


def _earlier(at: Optional[float], other: float) -> float:
    return other if at is None or other < at else at
