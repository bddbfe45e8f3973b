"""``HttpServer``: bind in the constructor, serve, stop in order.

The public class wires the pieces together: the listening socket (bound and
listening before the constructor returns, so a busy or privileged port fails
at once), the selector ``Loop``, and what happens to each complete request,
on a ``WorkerPool`` thread (``threads=True``) or on the loop thread itself
(``threads=False``: strictly one at a time, in arrival order, and the loop
still reads every other client's head without blocking).
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import threading
from logging import INFO

from ._filecache import set_limit as set_file_cache_limit
from ._forwarded import proxy_hops
from ._limits import Limits
from ._loop import Loop
from ._respond import Responder, preparer
from ._service import Service
from ._static import kept_answerer, staticResource
from ._streams import MAX_STREAMS, STREAM_GRACE, Streams
from ._systemd import has_terminal
from ._unix import DEFAULT_MODE

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    import ssl
    from typing import Any, List, Optional, Sequence, Tuple, Union

    from ._exchange import Handler
    from ._loop import Opener
    from ._pool import WorkerPool
    from ._workers import Supervisor

log = logging.getLogger("picohttp")
#: Where a blocking server says where it listens (see ``HttpServer._announce``).
listening_log = logging.getLogger("picohttp.listening")

_UNSET: Any = object()
#: Seconds after Ctrl-C or SIGTERM before a stop still waiting for handlers says so.
SAY_WAITING_AFTER = 0.5


def _default_max_connections() -> int:
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return 1000
    if soft == resource.RLIM_INFINITY:
        return 10000
    # Leave descriptors for files being served, logs and the application.
    return max(16, min(10000, soft - 64 - soft // 8))


class ImportedServerError(RuntimeError):
    """An ``HttpServer`` made while ``refusing_servers`` is in force (a module being imported)."""


_refusals: List[str] = []  # why servers may not be made now, innermost last


class refusing_servers:  # noqa: N801 - a context manager, named as contextlib's are
    """Within ``with refusing_servers(reason):``, making an ``HttpServer`` raises
    ``ImportedServerError(reason)``.

    The command line imports ``module:function`` under it: a module that
    starts its own server when imported would otherwise serve on its own port,
    silently, and never return.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __enter__(self) -> None:
        _refusals.append(self.reason)

    def __exit__(self, *exc_info: object) -> None:
        _refusals.pop()


def _check_handler(handler: Any, args: Sequence[Any], threads: Any) -> None:
    """Raise ``TypeError`` for a handler, ``args`` or ``threads`` that cannot work."""
    if not callable(handler):
        raise TypeError(
            f"HttpServer(...): the handler must be a function taking (request, response), "
            f"not {type(handler).__name__} {handler!r}"
        )
    from ._checks import check_args, check_handler_call  # once per server, not at import

    check_args(args, "HttpServer(...)")
    check_handler_call(handler, args, {}, "HttpServer(...)")
    if not isinstance(threads, bool):
        raise TypeError(
            f"HttpServer(...): threads must be True or False, not {threads!r}"
            + (
                f" (to cap the handler threads, write maxThreads={threads!r})"
                if isinstance(threads, int)
                else ""
            )
        )


def _check_numbers(
    port: Any,
    maxThreads: Any,
    maxStreams: Any,
    workers: Any,
    fd: Any,
    socketMode: Any,
) -> None:
    """Raise ``ValueError`` for a numeric keyword out of its range (or not an int)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an int from 0 to 65535, not {port!r}")
    for name, value in (
        ("maxThreads", maxThreads),
        ("maxStreams", maxStreams),
        ("workers", workers),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, not {value!r}")
    if fd is not None and (isinstance(fd, bool) or not isinstance(fd, int) or fd < 0):
        raise ValueError(f"fd must be a descriptor number (an int >= 0), not {fd!r}")
    if isinstance(socketMode, bool) or not isinstance(socketMode, int):
        raise ValueError(f"socketMode must be an int such as 0o660, not {socketMode!r}")
    if not 0 <= socketMode <= 0o777:
        raise ValueError(f"socketMode must be from 0o000 to 0o777, not {oct(socketMode)}")


class HttpServer:
    """An HTTP/1.0 server that passes each request to one handler function.

    ``HttpServer(port=80, handler=staticResource, args=(), threads=True,
    start=True, block=True)`` as the spec defines it: ``handler(request,
    response, *args)`` is called for every request; ``threads=False`` runs
    handlers one at a time in arrival order; ``start=False`` waits for
    ``start()``; ``block=False`` returns once the server is accepting.

    Keywords beyond the spec (all optional): ``host`` (default: every
    interface, IPv6 and IPv4), ``maxThreads`` (cap on handler threads, 32),
    ``maxConnections`` (open connections before new ones wait in the backlog),
    ``maxStreams`` (``threads=True``: streamed responses, each on a thread of
    its own outside ``maxThreads``, open at once; more get 503, 256),
    ``stopTimeout`` (seconds ``stop()`` lets in-flight requests finish, 5.0),
    and the request limits ``maxRequestLine``, ``maxHeaderBytes``,
    ``maxHeaders``, ``maxBody``, ``headTimeout``, ``readTimeout``,
    ``writeTimeout``, ``minBodyRate`` (500: a request body must be in
    within ``headTimeout`` of its head plus a second per ``minBodyRate``
    bytes received, else 408) (see the README's "Limits and hostile input"),
    ``trustProxy`` (behind a reverse proxy: ``True``, or the number of proxies
    in front, makes ``request.client`` and ``request.scheme`` those reported
    in ``X-Forwarded-For`` / ``X-Forwarded-Proto``; never by default),
    ``workers`` (processes sharing the port, Linux; handler state is then per
    process), ``tls`` (an ``ssl.SSLContext``: serve HTTPS), ``fd`` (serve
    the listening socket already open as this descriptor instead of binding),
    ``socketMode`` (permissions of a ``host="unix:PATH"`` socket file,
    0o660), ``fileCacheBytes`` (memory ``staticResource`` may keep small
    files in, per process, entry overhead included; ``None`` leaves the
    process's bound as it is, 4 MiB unless set; 0 keeps no file) and
    ``errorHandler`` (``f(request, response, status, message)``,
    called for every error answer a request gets: an ``HttpError``, the
    Router's 404 and 405, a handler's exception as 500, ``request.json``'s
    400, a form over a limit's 413; ``response.status`` is set and ``data``
    empty, and ``f`` fills the response as a handler does, e.g. as JSON;
    ``server.handler`` is then the handler wrapped so).  A plain-HTTP server
    whose handler is (or wraps) a ``basicAuth`` guard logs one WARNING when
    it listens beyond loopback: the passwords would cross the network
    readable.

    ``host="unix:/run/app/app.sock"`` listens on a unix domain socket: a
    stale socket file there is replaced, a live one or any other file is an
    ``OSError``; the file is removed at stop; ``request.client`` is
    ``("unix:/run/app/app.sock", 0)`` (or the proxy's client with
    ``trustProxy``).

    Under a service manager: started with ``LISTEN_FDS``/``LISTEN_PID``
    (systemd socket activation) the server serves the socket it was handed,
    whatever ``port`` and ``host`` say; with ``NOTIFY_SOCKET`` it sends
    ``READY=1`` once serving, ``STOPPING=1`` at stop and ``WATCHDOG=1`` every
    half ``WATCHDOG_USEC``.  A blocking server on the main thread of a
    process without a terminal restarts on SIGHUP without closing its
    socket: a fresh process (the same command) takes it over, and this one
    stops once the new one serves (in a terminal, SIGHUP stops it).

    The socket is bound here, so a busy port or a privileged one raises
    ``OSError`` at once; ``port=0`` picks a free port and ``server.port``
    tells which (0 for a unix socket).  ``stop()`` ends serving; the server
    is a context manager.
    """

    def __init__(
        self,
        port: int = 80,
        handler: Handler = staticResource,
        args: Sequence[Any] = (),
        threads: bool = True,
        start: bool = True,
        block: bool = True,
        *,
        host: Optional[str] = None,
        maxThreads: int = 32,
        maxConnections: Optional[int] = None,
        maxStreams: int = MAX_STREAMS,
        stopTimeout: float = 5.0,
        maxRequestLine: int = Limits.max_request_line,
        maxHeaderBytes: int = Limits.max_header_bytes,
        maxHeaders: int = Limits.max_headers,
        maxBody: int = Limits.max_body,
        headTimeout: float = Limits.head_timeout,
        readTimeout: float = Limits.read_timeout,
        writeTimeout: float = Limits.write_timeout,
        minBodyRate: float = Limits.min_body_rate,
        trustProxy: Union[bool, int] = False,
        workers: int = 1,
        tls: Optional[ssl.SSLContext] = None,
        fd: Optional[int] = None,
        socketMode: int = DEFAULT_MODE,
        fileCacheBytes: Optional[int] = None,
        errorHandler: Optional[Handler] = None,
    ) -> None:
        if _refusals:
            raise ImportedServerError(_refusals[-1])
        _check_handler(handler, args, threads)
        self.errorHandler = errorHandler
        if errorHandler is not None:  # without one, requests never pass through the wrapper
            from ._errorhandler import with_error_handler

            handler = with_error_handler(handler, errorHandler)
        if tls is None:
            from ._auth import warn_if_exposed

            warn_if_exposed(handler, host)  # basicAuth's passwords, readable on the network
        _check_numbers(port, maxThreads, maxStreams, workers, fd, socketMode)
        if fileCacheBytes is not None:  # the cache is the process's: the last server sets it
            set_file_cache_limit(fileCacheBytes)
        self.handler = handler
        self.args: Tuple[Any, ...] = tuple(args)
        self.threads = threads
        self._threaded = bool(threads)  # fixed at construction, whatever .threads becomes
        self.block = block
        self.limits = Limits(
            max_request_line=maxRequestLine,
            max_header_bytes=maxHeaderBytes,
            max_headers=maxHeaders,
            max_body=maxBody,
            head_timeout=headTimeout,
            read_timeout=readTimeout,
            write_timeout=writeTimeout,
            min_body_rate=minBodyRate,
        )
        if maxConnections is not None and maxConnections < 1:
            raise ValueError(f"maxConnections must be a positive int, not {maxConnections!r}")
        self.maxConnections = maxConnections or _default_max_connections()
        self.stopTimeout = float(stopTimeout)
        self.host = host
        self.trustProxy = trustProxy
        self._trust_hops = proxy_hops(trustProxy)  # fixed at construction, like _threaded
        self._max_threads = maxThreads
        self.maxStreams = maxStreams
        self.tls = tls
        self._opener: Optional[Opener] = None  # what follows accept: the plain path
        if tls is not None:  # ssl is imported only for a TLS server; checked before binding
            from ._tls import tls_opener

            self._opener = tls_opener(tls)
        self._service = Service()
        sockets = self._service.open_listeners(host, port, fd, socketMode, workers)
        self.workers = self._service.workers
        unix = self._service.unix_path
        self._unix_client: Optional[Tuple[str, int]] = None if unix is None else ("unix:" + unix, 0)
        self._supervisor: Optional[Supervisor] = None
        if workers != 1:
            from ._workers import Supervisor

            self._supervisor = Supervisor(
                sockets, self._serve_worker, self.stopTimeout, self.owns_socket_file()
            )
            self._supervisor.notifier = self._service.notifier
            self._supervisor.watchdog = self._service.watchdog_interval()
            self.port: int = self._supervisor.port
        else:
            self._listen(sockets[0])
            name = self._socket.getsockname()
            self.port = name[1] if isinstance(name, tuple) else 0
            interval = self._service.watchdog_interval()
            notifier = self._service.notifier
            if interval is not None and notifier is not None:
                self._loop.every(interval, functools.partial(notifier.send, "WATCHDOG=1"))
        self._started = False
        self._stop_requested = False
        self._stopped = threading.Event()
        self._thread: Optional[threading.Thread] = None
        if start:
            self.start()

    def where(self) -> str:
        """Where this server listens: ``"port 8080"``, or ``"unix:/run/app/app.sock"``."""
        return self._service.where(self.port)

    def _listen(self, sock: socket.socket) -> None:
        """Serve ``sock`` in this process: the way out (and its threads), the loop, the streams."""
        self._socket = sock
        responder = Responder(
            self.handler,
            self.args,
            self._max_threads if self._threaded else None,
            preparer(self.tls is not None, self._unix_client, self._trust_hops),
            zero_copy=self.tls is None,  # os.sendfile would bypass TLS
            from_memory=kept_answerer(self.handler, self.args),
        )
        self._pool: Optional[WorkerPool] = responder.pool
        self._loop = Loop(
            sock,
            self.limits,
            responder.dispatch,
            self.maxConnections,
            self.stopTimeout,
            self._opener,
        )
        self._streams: Optional[Streams] = None
        if self._pool is not None:
            self._loop.pool_check = self._pool.check
            self._streams = Streams(self.maxStreams, self._loop, self.limits.write_timeout)
            self._loop.stop_hook = self._streams.stop
        responder.attach(self._loop, self._streams)

    def _serve_worker(self, sock: socket.socket, number: int) -> None:
        """Be worker ``number`` of a ``workers=N`` server: serve ``sock`` until SIGTERM.

        Runs in the forked worker process, on this copy of the server.
        """
        self._supervisor = None
        self._service.for_worker()
        self._listen(sock)
        self.block = True
        log.debug("picohttp worker %d serving (pid %d)", number, os.getpid())
        self._serve_blocking()

    # -- life cycle ----------------------------------------------------------

    def start(self) -> None:
        """Start serving; blocks until stopped when the server was made with ``block=True``."""
        if self._started:
            raise RuntimeError("this HttpServer was already started")
        if self._stop_requested:
            raise RuntimeError("this HttpServer was stopped; make a new one")
        self._started = True
        if not self.block:
            log.info("picohttp serving on %s (threads=%s)", self.where(), self.threads)
        if self._supervisor is not None:
            self._start_workers()
        elif self.block:
            self._serve_blocking(announce=True)
        else:
            self._thread = threading.Thread(target=self._serve, name="picohttp-loop", daemon=True)
            self._thread.start()
            self._service.announce_ready()

    def owns_socket_file(self) -> bool:
        """Whether this server removes its unix socket file at stop (it made it)."""
        return self._service.owns_socket_file()

    def _announce(self) -> None:
        """Say where a blocking server listens, and how to stop it.

        werkzeug's rule: when the application configured no logging (no
        handler on the way to the root logger), a handler that prints the
        bare message on stderr is added for this one logger, so ``python
        app.py`` is never silent; otherwise the line is an ordinary INFO
        record, shown as the application's logging decides.
        """
        if not listening_log.hasHandlers():
            stream = logging.StreamHandler()  # sys.stderr
            stream.setFormatter(logging.Formatter("%(message)s"))
            listening_log.addHandler(stream)
            listening_log.setLevel(INFO)
        scheme = "http" if self.tls is None else "https"
        try:
            from ._urls import listening_urls

            urls = (
                self.where()  # a unix socket
                if self._service.unix_path is not None
                else "  ".join(listening_urls(self.host, self.port, scheme))
            )
        except ImportError:  # the standard library unreadable (privileges dropped)
            urls = self.where()
        on_main = threading.current_thread() is threading.main_thread()
        listening_log.info(
            "picohttp serving on %s  (%s)",
            urls,
            "Ctrl-C to stop" if on_main else "stop() to stop",
            extra={"urls": urls},  # for a handler that words the line itself (the CLI's)
        )

    def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (``stopTimeout``), close.

        Idempotent; safe from any thread, including a handler's (it then
        returns at once and the server finishes stopping on its own).
        """
        if self._stop_requested:
            if not self._in_server_thread():
                self._stopped.wait(self.stopTimeout + 5)
            return
        self._stop_requested = True
        if self._supervisor is not None:
            self._stop_workers()
            return
        if not self._started:
            self._socket.close()
            self._service.remove_socket_file()
            self._loop.close_all()  # its selector and wake-up sockets are open already
            self._stopped.set()
            return
        self._service.announce_stopping()
        self._loop.request_stop()
        if not self._in_server_thread():
            self._stopped.wait(self.stopTimeout + 5)

    def _start_workers(self) -> None:
        supervisor = self._supervisor
        assert supervisor is not None
        on_main = threading.current_thread() is threading.main_thread()
        supervisor.on_ready = self._service.announce_ready
        if self.block:
            try:
                supervisor.run(on_signal=on_main, announce=self._announce)
            finally:
                self._service.handed_over = supervisor.handed_over
                self._service.remove_socket_file()
                self._stopped.set()
                log.info("picohttp on %s stopped", self.where())
        else:
            forked = threading.Event()

            def supervise() -> None:
                try:
                    supervisor.run(on_signal=False, forked=forked)
                except BaseException:
                    log.exception("picohttp's worker supervisor failed")
                finally:
                    self._service.remove_socket_file()
                    self._stopped.set()
                    log.info("picohttp on %s stopped", self.where())

            self._thread = threading.Thread(target=supervise, name="picohttp-workers", daemon=True)
            self._thread.start()
            forked.wait()

    def _stop_workers(self) -> None:
        supervisor = self._supervisor
        assert supervisor is not None
        if not self._started:
            supervisor.close()
            self._service.remove_socket_file()
            self._stopped.set()
            return
        supervisor.request_stop()
        if threading.get_ident() != supervisor.thread_id:
            self._stopped.wait(self.stopTimeout + 10)

    def _in_server_thread(self) -> bool:
        ident = threading.get_ident()
        if self._supervisor is not None:
            return ident == self._supervisor.thread_id
        if ident == self._loop.thread_id:
            return True
        pool = self._pool
        if pool is not None and pool.owns(ident):
            return True
        return self._streams is not None and self._streams.owns(ident)

    @property
    def running(self) -> bool:
        """True from ``start()`` until the server has stopped."""
        return self._started and not self._stopped.is_set()

    def __enter__(self) -> HttpServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped" if self._stopped.is_set() else "ready"
        workers = f" workers={self.workers}" if self.workers != 1 else ""
        return f"<HttpServer port={self.port} threads={self.threads}{workers} {state}>"

    def _serve(self) -> None:
        try:
            self._loop.run()
        except BaseException:
            log.exception("picohttp's loop failed; the server stops")
            self._loop_failed()
        finally:
            self._finish()

    def _serve_blocking(self, announce: bool = False) -> None:
        """Serve on this thread; Ctrl-C or SIGTERM stops quietly.

        With ``announce``, say where it listens only once the signal handlers are
        in place: whoever waits for that line and then sends SIGINT or SIGTERM
        gets a quiet stop, never a traceback or a stale unix socket file.
        """
        restore = self._install_signal_handlers()
        wake_fd = previous_wake_fd = -1
        if restore:
            # The kernel may deliver SIGINT/SIGTERM to a worker thread; Python then
            # runs the handler on this thread only once select() returns, which it
            # need never do. The C-level handler's byte on the loop's wake-up socket
            # makes it return. A duplicate fd, so no signal can write to a closed
            # (perhaps reused) descriptor after the loop closes its own.
            wake_fd = os.dup(self._loop.wake_fileno())
            previous_wake_fd = signal.set_wakeup_fd(wake_fd, warn_on_full_buffer=False)
        at_once = False
        if announce:
            self._announce()
        self._service.announce_ready()
        try:
            try:
                self._loop.run()
            except KeyboardInterrupt:  # a second Ctrl-C: stop now
                log.info("interrupted again: closing at once")
                at_once = True
                self._loop_failed(interrupted=True)
            finally:
                if wake_fd >= 0:  # the loop is gone: nothing reads its wake-up socket now
                    signal.set_wakeup_fd(previous_wake_fd)
                    os.close(wake_fd)
                # Still under this server's signal handlers: a second Ctrl-C while
                # handlers finish must end the wait, not escape as a traceback.
                try:
                    self._finish(at_once)
                except KeyboardInterrupt:
                    log.info("interrupted again: closing at once")
                    self._loop_failed(interrupted=True)
                    self._finish(at_once=True)
        finally:
            for signum, previous in restore:
                signal.signal(signum, previous)
            self._service.abandon_successor()  # stopped while it was starting: it must not linger

    def _install_signal_handlers(self) -> list[Tuple[int, Any]]:
        if threading.current_thread() is not threading.main_thread():
            return []
        restore: list[Tuple[int, Any]] = []
        interrupted: list[int] = []

        def on_signal(signum: int, frame: Any) -> None:
            if interrupted and signum == signal.SIGINT:
                raise KeyboardInterrupt
            interrupted.append(signum)
            log.info("signal %d: stopping", signum)
            self._service.announce_stopping()
            self._stop_requested = True
            self._loop.request_stop()
            if self._pool is not None:
                # Say why the stop may take a while, if it still waits a moment later:
                # a worker that is just closing its answer is no request in progress.
                hint = " (Ctrl-C again to stop at once)" if signum == signal.SIGINT else ""
                timer = threading.Timer(SAY_WAITING_AFTER, say_waiting, args=(self._pool, hint))
                timer.daemon = True
                timer.start()

        def say_waiting(pool: WorkerPool, hint: str) -> None:
            busy = pool.size - pool.idle  # streams do not count: a stop ends them at once
            if busy > 0 and len(interrupted) == 1 and not self._stopped.is_set():
                log.warning(
                    "stopping: waiting up to %.1f s for %d request(s) in progress%s",
                    self.stopTimeout,
                    busy,
                    hint,
                )

        def on_hangup(signum: int, frame: Any) -> None:
            self._service.restart([self._socket], self._stop_requested, self._on_handed_over)

        for signum, default in (
            (signal.SIGINT, signal.default_int_handler),
            (getattr(signal, "SIGTERM", None), signal.SIG_DFL),
        ):
            if signum is not None and signal.getsignal(signum) is default:
                restore.append((signum, signal.signal(signum, on_signal)))
        hangup = getattr(signal, "SIGHUP", None)
        if hangup is not None and signal.getsignal(hangup) is signal.SIG_DFL:
            # In a terminal SIGHUP says it closed: stop, rather than go on in the background.
            handler = on_signal if has_terminal() else on_hangup
            restore.append((hangup, signal.signal(hangup, handler)))
        return restore

    def _on_handed_over(self) -> None:
        """A SIGHUP successor serves the socket now: stop."""
        self._stop_requested = True
        self._loop.request_stop()

    def _loop_failed(self, interrupted: bool = False) -> None:
        try:
            self._socket.close()
            self._loop.close_all(interrupted)
        except Exception:
            log.debug("cleanup after a loop failure failed", exc_info=True)

    def _finish(self, at_once: bool = False) -> None:
        self._stop_requested = True
        if self._pool is not None:
            # Handlers get what is left of the stopTimeout the loop began counting
            # down at stop(), not a second stopTimeout of their own.
            left = 0.0 if at_once else self._loop.stop_time_left()
            still = self._pool.shutdown(max(0.0, left))
            if still and at_once:
                log.warning("interrupted again: left %d handler(s) running", still)
            elif still:
                log.warning(
                    "%d handler(s) still running after the %.1f s stop timeout",
                    still,
                    self.stopTimeout,
                )
        if self._streams is not None:
            self._streams.stop()  # the loop did so at the stop, unless it failed first
            # Stream generators see GeneratorExit at their next yield: a short
            # wait lets their finally blocks run, without the stop waiting on them.
            left = self._loop.stop_time_left()
            grace = 0.0 if at_once else max(0.0, min(STREAM_GRACE, left))
            waiting = self._streams.join(grace)
            if waiting:
                log.info(
                    "%d stream generator(s) still waiting for their next piece; "
                    "left to end with the process",
                    waiting,
                )
        self._socket.close()
        self._service.remove_socket_file()
        self._stopped.set()
        log.info("picohttp on %s stopped", self.where())
