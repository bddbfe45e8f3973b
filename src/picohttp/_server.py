"""``HttpServer``: bind in the constructor, serve, stop in order.

The public class wires the pieces together: the listening socket (bound and
listening before the constructor returns, so a busy or privileged port fails
at once), the selector ``Loop``, and what happens to each complete request,
on a ``WorkerPool`` thread (``threads=True``) or on the loop thread itself
(``threads=False``: strictly one at a time, in arrival order, and the loop
still reads every other client's head without blocking).
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import signal
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
    run_handler,
)
from ._filecache import set_limit as set_file_cache_limit
from ._forwarded import apply_forwarded, proxy_hops
from ._limits import Limits
from ._loop import Loop
from ._message import HttpRequest
from ._pool import WorkerPool
from ._send import (
    DONTWAIT,
    JOIN_LIMIT,
    WOULD_BLOCK,
    StreamWriter,
    Writer,
    abort,
    read_small_file,
)
from ._serializer import FileBody, StreamBody, error_head
from ._static import staticResource
from ._streams import MAX_STREAMS, STREAM_GRACE, Streams
from ._systemd import (
    Notifier,
    adopt_listener,
    describe,
    has_terminal,
    listen_fds,
    watchdog_interval,
)
from ._unix import DEFAULT_MODE, bind_unix, file_identity, remove_socket_file, unix_path

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    import ssl
    from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

    from ._exchange import Handler
    from ._restart import Successor
    from ._workers import Supervisor

log = logging.getLogger("picohttp")
#: Where a blocking server says where it listens (see ``HttpServer._announce``).
listening_log = logging.getLogger("picohttp.listening")

_UNSET: Any = object()
#: Seconds after Ctrl-C or SIGTERM before a stop still waiting for handlers says so.
SAY_WAITING_AFTER = 0.5
_NO_BODY = frozenset(("GET", "HEAD"))  # methods whose unframed extra bytes are no body


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


def listen_hint(error: Optional[int], port: int, option: str = "port=") -> str:
    """What to do about a port that cannot be bound, naming ``option`` (CLI: ``"-p "``)."""
    if error in (errno.EACCES, errno.EPERM) and 0 < port < 1024:
        return f" (ports below 1024 need root or CAP_NET_BIND_SERVICE; try {option}8080)"
    if error == errno.EADDRINUSE:
        return f" (another program listens there; pick another port, or {option}0 for a free one)"
    return ""


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


def bind_socket(
    host: Optional[str], port: int, reuse_port: bool = False, socket_mode: int = DEFAULT_MODE
) -> socket.socket:
    """A listening TCP socket on ``host``:``port``; dual-stack when ``host`` is None or "::".

    ``host="unix:PATH"``: a unix domain socket at PATH with permissions
    ``socket_mode`` instead (``port`` and ``reuse_port`` do not apply).
    ``OSError`` is re-raised with a message that says what to do about it.
    """
    path = unix_path(host)
    if path is not None:
        return bind_unix(path, socket_mode)
    try:
        if host in (None, "", "::") and socket.has_dualstack_ipv6():
            sock = socket.create_server(
                ("::", port),
                family=socket.AF_INET6,
                backlog=socket.SOMAXCONN,
                reuse_port=reuse_port,
                dualstack_ipv6=True,
            )
        else:
            address = "0.0.0.0" if host in (None, "", "::") else host
            infos = socket.getaddrinfo(
                address, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
            family, _, _, _, sockaddr = infos[0]
            sock = socket.create_server(
                sockaddr[:2] if family == socket.AF_INET else sockaddr,
                family=family,
                backlog=socket.SOMAXCONN,
                reuse_port=reuse_port,
            )
    except OSError as exc:
        where = f"{host or '*'}:{port}"
        hint = listen_hint(exc.errno, port)
        message = f"picohttp cannot listen on {where}: {exc.strerror or exc}{hint}"
        raise type(exc)(exc.errno, message) from None
    sock.setblocking(False)
    _defer_accept(sock)
    return sock


def _defer_accept(sock: socket.socket) -> None:
    if hasattr(socket, "TCP_DEFER_ACCEPT") and sock.family != socket.AF_UNIX:
        # Linux: wake the server for a connection only once its first bytes
        # have arrived (nginx's "deferred"), so the first read after accept
        # finds the request and the connection never enters the selector.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 1)


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
        self.errorHandler = errorHandler
        if errorHandler is not None:  # without one, requests never pass through the wrapper
            from ._errorhandler import with_error_handler

            handler = with_error_handler(handler, errorHandler)
        if tls is None:
            from ._auth import warn_if_exposed

            warn_if_exposed(handler, host)  # basicAuth's passwords, readable on the network
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an int from 0 to 65535, not {port!r}")
        if isinstance(maxThreads, bool) or not isinstance(maxThreads, int) or maxThreads < 1:
            raise ValueError(f"maxThreads must be a positive int, not {maxThreads!r}")
        if isinstance(maxStreams, bool) or not isinstance(maxStreams, int) or maxStreams < 1:
            raise ValueError(f"maxStreams must be a positive int, not {maxStreams!r}")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive int, not {workers!r}")
        if fd is not None and (isinstance(fd, bool) or not isinstance(fd, int) or fd < 0):
            raise ValueError(f"fd must be a descriptor number (an int >= 0), not {fd!r}")
        if isinstance(socketMode, bool) or not isinstance(socketMode, int):
            raise ValueError(f"socketMode must be an int such as 0o660, not {socketMode!r}")
        if not 0 <= socketMode <= 0o777:
            raise ValueError(f"socketMode must be from 0o000 to 0o777, not {oct(socketMode)}")
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
        self._zero_copy = tls is None  # os.sendfile would bypass TLS
        self._make_loop: Callable[..., Loop] = Loop
        if tls is not None:  # ssl is imported only for a TLS server; checked before binding
            from ._tls import tls_loop

            self._make_loop = tls_loop(tls)
        self._notifier = Notifier.from_environment()
        self._successor: Optional[Successor] = None
        self._handed_over = False  # a successor serves the socket now: no STOPPING=1, no unlink
        self._unix_path: Optional[str] = None  # listening on a unix socket at this path
        self._unix_identity: Optional[Tuple[int, int]] = None  # its file, when ours to remove
        self._ready_fd: Optional[int] = None  # started by a SIGHUP restart: tell the old process
        sockets = self._open_listeners(host, port, fd, socketMode, workers)
        unix = self._unix_path
        self._unix_client: Optional[Tuple[str, int]] = None if unix is None else ("unix:" + unix, 0)
        # Fixed at construction: the hot path pays one attribute check for all three.
        self._before_handler: Optional[Callable[[HttpRequest], Tuple[str, int]]] = (
            self._prepare_request
            if tls is not None or self._trust_hops or self._unix_client is not None
            else None
        )
        self._supervisor: Optional[Supervisor] = None
        if workers != 1:
            from ._workers import Supervisor

            self._supervisor = Supervisor(self, sockets)
            self._supervisor.notifier = self._notifier
            self._supervisor.watchdog = watchdog_interval() if self._notifier else None
            self.port: int = self._supervisor.port
        else:
            self.workers = 1
            self._listen(sockets[0])
            name = self._socket.getsockname()
            self.port = name[1] if isinstance(name, tuple) else 0
            interval = watchdog_interval()
            notifier = self._notifier
            if interval is not None and notifier is not None:
                self._loop.every(interval, functools.partial(notifier.send, "WATCHDOG=1"))
        self._started = False
        self._stop_requested = False
        self._stopped = threading.Event()
        self._thread: Optional[threading.Thread] = None
        if start:
            self.start()

    def _open_listeners(
        self, host: Optional[str], port: int, fd: Optional[int], mode: int, workers: int
    ) -> List[socket.socket]:
        """The listening sockets: handed over (``fd``, socket activation) or bound here.

        One per worker: ``SO_REUSEPORT`` sockets on a TCP port; a unix socket
        or a socket that was handed over is shared by every worker.
        """
        if workers != 1:
            from ._workers import check_platform

            self.workers = check_platform(workers)
        fds = [fd] if fd is not None else listen_fds()
        if fds:
            sockets = [adopt_listener(number) for number in fds]
            for sock in sockets:
                _defer_accept(sock)
            if workers == 1 and len(sockets) > 1:
                # Closed, not kept: a socket of a SO_REUSEPORT group that nobody accepts on
                # would hold the connections the kernel gives it.
                log.warning(
                    "picohttp serves only the first of the %d sockets handed to it; closing %s",
                    len(sockets),
                    ", ".join(describe(sock) for sock in sockets[1:]),
                )
                for sock in sockets[1:]:
                    sock.close()
                del sockets[1:]
            log.info(
                "picohttp serving the socket it was handed (descriptor %d: %s)",
                fds[0],
                describe(sockets[0]),
            )
            name = sockets[0].getsockname()
            from ._restart import owns_socket_file, take_ready_fd

            self._ready_fd = take_ready_fd()
            owned = owns_socket_file()
            if isinstance(name, str) and name:
                self._unix_path = name
                if owned:  # a predecessor made it: remove it at stop
                    self._unix_identity = file_identity(name)
            return [sockets[i % len(sockets)] for i in range(workers)]
        path = unix_path(host)
        if path is not None:
            sock = bind_unix(path, mode)
            self._unix_path = path
            self._unix_identity = file_identity(path)
            return [sock] * workers
        if workers == 1:
            return [bind_socket(host, port)]
        from ._workers import bind_group

        return bind_group(bind_socket, host, port, workers)

    def where(self) -> str:
        """Where this server listens: ``"port 8080"``, or ``"unix:/run/app/app.sock"``."""
        return f"unix:{self._unix_path}" if self._unix_path is not None else f"port {self.port}"

    def _remove_socket_file(self) -> None:
        if self._unix_path is not None and not self._handed_over:
            remove_socket_file(self._unix_path, self._unix_identity)

    def _listen(self, sock: socket.socket) -> None:
        """Serve ``sock`` in this process: its selector loop, and its thread pool."""
        self._socket = sock
        self._pool: Optional[WorkerPool] = (
            WorkerPool(self._work, self._max_threads) if self._threaded else None
        )
        self._loop = self._make_loop(
            sock,
            self.limits,
            self._dispatch_to_pool if self._threaded else self._respond_in_order,
            self.maxConnections,
            self.stopTimeout,
        )
        self._streams: Optional[Streams] = None
        if self._pool is not None:
            self._loop.pool_check = self._pool.check
            self._streams = Streams(self.maxStreams, self._loop, self.limits.write_timeout)
            self._loop.stop_hook = self._streams.stop

    def _serve_worker(self, sock: socket.socket, number: int) -> None:
        """Be worker ``number`` of a ``workers=N`` server: serve ``sock`` until SIGTERM.

        Runs in the forked worker process, on this copy of the server.
        """
        self._supervisor = None
        self._unix_identity = None  # the parent removes the socket file, not a worker
        self._notifier = None  # the parent speaks to the service manager
        if self._ready_fd is not None:  # the parent says when the workers serve
            os.close(self._ready_fd)
            self._ready_fd = None
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
        if self.block:
            self._announce()
        else:
            log.info("picohttp serving on %s (threads=%s)", self.where(), self.threads)
        if self._supervisor is not None:
            self._start_workers()
        elif self.block:
            self._serve_blocking()
        else:
            self._thread = threading.Thread(target=self._serve, name="picohttp-loop", daemon=True)
            self._thread.start()
            self._announce_ready()

    def _announce_ready(self) -> None:
        """Tell systemd (``READY=1``), and a predecessor handing over at SIGHUP, that we serve."""
        ready_fd, self._ready_fd = self._ready_fd, None
        if self._notifier is not None:
            # A successor is not systemd's main process yet: it says it is (NotifyAccess=all).
            pid = f"MAINPID={os.getpid()}\n" if ready_fd is not None else ""
            self._notifier.send(f"{pid}READY=1")
        if ready_fd is not None:
            from ._restart import announce_ready

            announce_ready(ready_fd)

    def owns_socket_file(self) -> bool:
        """Whether this server removes its unix socket file at stop (it made it)."""
        return self._unix_identity is not None

    def _announce_stopping(self) -> None:
        if self._notifier is not None and not self._handed_over:
            self._notifier.send("STOPPING=1")

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
                if self._unix_path is not None
                else "  ".join(listening_urls(self.host, self.port, scheme))
            )
        except ImportError:  # the standard library unreadable (privileges dropped)
            urls = self.where()
        on_main = threading.current_thread() is threading.main_thread()
        listening_log.info(
            "picohttp serving on %s  (%s)", urls, "Ctrl-C to stop" if on_main else "stop() to stop"
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
            self._remove_socket_file()
            self._loop._close_all()  # its selector and wake-up sockets are open already
            self._stopped.set()
            return
        self._announce_stopping()
        self._loop.request_stop()
        if not self._in_server_thread():
            self._stopped.wait(self.stopTimeout + 5)

    def _start_workers(self) -> None:
        supervisor = self._supervisor
        assert supervisor is not None
        on_main = threading.current_thread() is threading.main_thread()
        supervisor.on_ready = self._announce_ready
        if self.block:
            try:
                supervisor.run(on_signal=on_main)
            finally:
                self._handed_over = supervisor.handed_over
                self._remove_socket_file()
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
                    self._remove_socket_file()
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
            self._remove_socket_file()
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
        if pool is not None and any(t.ident == ident for t in pool._threads):
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

    def _serve_blocking(self) -> None:
        """Serve on this thread; Ctrl-C or SIGTERM stops quietly."""
        restore = self._install_signal_handlers()
        wake_fd = previous_wake_fd = -1
        if restore:
            # The kernel may deliver SIGINT/SIGTERM to a worker thread; Python then
            # runs the handler on this thread only once select() returns, which it
            # need never do. The C-level handler's byte on the loop's wake-up socket
            # makes it return. A duplicate fd, so no signal can write to a closed
            # (perhaps reused) descriptor after the loop closes its own.
            wake_fd = os.dup(self._loop._wake_writer.fileno())
            previous_wake_fd = signal.set_wakeup_fd(wake_fd, warn_on_full_buffer=False)
        at_once = False
        self._announce_ready()
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
            successor = self._successor
            if successor is not None and not self._handed_over:
                self._abandon(successor)  # stopped while it was starting: it must not linger

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
            self._announce_stopping()
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
            self._restart()

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

    def _restart(self) -> None:
        """SIGHUP: hand the listening socket to a fresh process; stop once it serves."""
        if self._successor is not None or self._stop_requested:
            return  # a restart is under way already, or a stop
        from ._restart import spawn

        if self._notifier is not None:
            self._notifier.send("RELOADING=1")
        try:
            successor = spawn([self._socket], owns_file=self.owns_socket_file())
        except OSError as exc:
            log.error("picohttp cannot restart (%s); this process keeps serving", exc)
            if self._notifier is not None:
                self._notifier.send("READY=1")  # the end of RELOADING=1: still this process
            return
        self._successor = successor
        thread = threading.Thread(
            target=self._await_successor, args=(successor,), name="picohttp-restart", daemon=True
        )
        thread.start()

    def _await_successor(self, successor: Successor) -> None:
        from ._restart import wait_ready

        ready = wait_ready(successor)
        if ready:
            log.info("picohttp's new process %d serves; this one stops", successor.pid)
            self._handed_over = True
            self._stop_requested = True
            self._loop.request_stop()
            return
        if ready is None:
            log.error("picohttp's new process %d did not start serving; killed", successor.pid)
            self._abandon(successor)
        else:
            log.error(
                "picohttp's new process %d exited before serving; this one keeps serving",
                successor.pid,
            )
        self._successor = None
        if self._notifier is not None:
            self._notifier.send("READY=1")  # the end of RELOADING=1: still this process

    def _abandon(self, successor: Successor) -> None:
        try:  # noqa: SIM105 - contextlib costs import time
            os.kill(successor.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        successor.reap()

    def _loop_failed(self, interrupted: bool = False) -> None:
        try:
            self._socket.close()
            self._loop._close_all(interrupted)
        except Exception:
            log.debug("cleanup after a loop failure failed", exc_info=True)

    def _finish(self, at_once: bool = False) -> None:
        self._stop_requested = True
        if self._pool is not None:
            # Handlers get what is left of the stopTimeout the loop began counting
            # down at stop(), not a second stopTimeout of their own.
            left = 0.0 if at_once else self._loop._stop_deadline - time.monotonic()
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
            left = self._loop._stop_deadline - time.monotonic()
            grace = 0.0 if at_once else max(0.0, min(STREAM_GRACE, left))
            waiting = self._streams.join(grace)
            if waiting:
                log.info(
                    "%d stream generator(s) still waiting for their next piece; "
                    "left to end with the process",
                    waiting,
                )
        self._socket.close()
        self._remove_socket_file()
        self._stopped.set()
        log.info("picohttp on %s stopped", self.where())

    # -- requests ------------------------------------------------------------

    def _dispatch_to_pool(
        self, sock: Any, client: Tuple[str, int], request: HttpRequest, leftover: int
    ) -> None:
        assert self._pool is not None
        try:
            stuck = self._pool.submit((sock, client, request, leftover))
        except Exception as exc:  # no thread could start (memory, a thread limit): 503, go on
            log.error(
                "no handler thread for %s %s (%s); answered 503", request.method, request.uri, exc
            )
            linger = leftover > 0 or (request._body is None and request.method not in _NO_BODY)
            spool = request._body
            if spool is not None and type(spool) is not bytes:
                request._release()
            head = error_head(
                503,
                "no handler thread could start; try again shortly",
                http_date_now(),
                retry_after=1,
            )
            log_access(client, request, 503, answer_body_size(head))
            self._loop.adopt(sock, client, Writer(head, b""), linger)
            return
        if stuck:
            self._loop.check_pool_soon()

    def _work(self, item: Tuple[Any, Tuple[str, int], HttpRequest, int]) -> None:
        try:
            self._respond(*item)
        except BaseException:  # run_handler answers the handler's own; this is ours
            self._respond_failed(item[0], item[2])

    def _respond_in_order(
        self, sock: Any, client: Tuple[str, int], request: HttpRequest, leftover: int
    ) -> None:
        """``_respond`` on the loop thread (threads=False); a failure ends this connection only."""
        try:
            self._respond(sock, client, request, leftover)
        except KeyboardInterrupt:
            raise  # the main thread's Ctrl-C: the server's own signal handling decides
        except BaseException:
            self._respond_failed(sock, request)

    def _respond_failed(self, sock: Any, request: HttpRequest) -> None:
        """Something failed past the handler before the response was handed on: free the slot."""
        log.exception("responding to %s %s failed; connection closed", request.method, request.uri)
        if sock.fileno() >= 0:  # not closed already on the way
            abort(sock)
            self._close(sock)

    def _respond(
        self, sock: Any, client: Tuple[str, int], request: HttpRequest, leftover: int
    ) -> None:
        """Run the handler and send what it made, on a worker or on the loop thread.

        The common case (a small body that the socket takes at once, nothing
        left unread) ends here with a close; anything else goes to the loop:
        the rest of the response, then a lingering close when the client may
        still be sending (``leftover``: bytes it sent after the request).
        """
        if self._before_handler is not None:  # HTTPS, or behind a trusted proxy
            client = self._before_handler(request)
        try:
            head, body, status, length = run_handler(
                self.handler, self.args, request, prime=self._streams is None
            )
        finally:
            spool = request._body
            if spool is not None and type(spool) is not bytes:
                request._release()  # a body spooled to a temporary file, and its uploads
        if type(body) is StreamBody and self._streams is not None:
            # On a thread of its own (or a 503 past maxStreams): a stream may last for
            # hours, and this worker goes back to the pool.
            linger = leftover > 0 or (request._body is None and request.method not in _NO_BODY)
            self._streams.hand_off(
                sock, client, request, (head, body, status, length), self.handler, linger
            )
            return
        if access_log.isEnabledFor(INFO):
            log_access(client, request, status, body_size(body))
        writer: Optional[Writer] = None
        if type(body) is FileBody:
            small = read_small_file(body)
            if small is not None:
                body = small
        if type(body) is bytes and len(body) <= JOIN_LIMIT:
            data = head + body if body else head
            try:
                sent = sock.send(data, DONTWAIT)
            except WOULD_BLOCK:
                sent = 0
            except OSError:  # the client is gone: nothing to finish or drain
                self._close(sock)
                return
            if sent == len(data):
                if not leftover and (request._body is not None or request.method in _NO_BODY):
                    sock.close()
                    if self._threaded:
                        self._loop.released()
                    else:
                        self._loop.open -= 1  # on the loop thread itself
                    return
            else:
                writer = Writer(data[sent:], b"")
        else:
            # threads=False: the loop may not block, so a StreamWriter pulls a
            # stream's next piece each time the socket drains.
            body_writer = (
                StreamWriter(head, body)
                if isinstance(body, StreamBody)
                else Writer(head, body, self._zero_copy)
            )
            try:
                done = body_writer.write(sock)
            except OSError:
                body_writer.close()
                self._close(sock)
                return
            except Exception:
                log.exception("sending the response to %s %s failed", request.method, request.uri)
                body_writer.close()
                abort(sock)
                self._close(sock)
                return
            writer = None if done else body_writer
        # Drain before closing when the client may still be sending: bytes beyond the
        # request, or an unframed body (ignored, as the spec says) after a head that is
        # not GET/HEAD.  Closing with unread input resets the connection and destroys
        # the part of the response still queued in the kernel.
        linger = leftover > 0 or (request._body is None and request.method not in _NO_BODY)
        loop = self._loop
        if self._threaded:
            loop.call_soon(loop.adopt, sock, client, writer, linger)
        else:
            loop.adopt(sock, client, writer, linger)

    def _prepare_request(self, request: HttpRequest) -> Tuple[str, int]:
        """Before the handler: the scheme of a TLS server, a unix peer, a trusted proxy's view.

        Returns the client.
        """
        if self.tls is not None:
            request._scheme = "https"
        if self._unix_client is not None:  # the peer of a unix socket has no address
            request.client = self._unix_client
        if self._trust_hops:  # may say otherwise: the proxy knows what the client used
            return apply_forwarded(request, self._trust_hops)
        return request.client  # type: ignore[return-value]  # the server always sets a client

    def _close(self, sock: Any) -> None:
        sock.close()
        if self._threaded:
            self._loop.released()
        else:
            self._loop.open -= 1  # on the loop thread itself
