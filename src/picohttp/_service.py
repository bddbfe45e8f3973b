"""Where a server listens, and what it tells a service manager.

The listening sockets: bound here (``bind_socket``, a unix socket), handed
over (``fd=``, systemd's socket activation), or shared by ``workers=N``.
The service manager: ``READY=1``/``STOPPING=1``/``WATCHDOG=1`` to systemd's
``NOTIFY_SOCKET``, and the SIGHUP restart, where a fresh process (the same
command) takes the listening socket over and this one stops once it serves.
``HttpServer`` keeps one ``Service`` and calls it at these moments; the
request path never touches it.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import threading

from ._systemd import Notifier, adopt_listener, describe, listen_fds, watchdog_interval
from ._unix import DEFAULT_MODE, bind_unix, file_identity, remove_socket_file, unix_path

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Callable, List, Optional, Tuple

    from ._restart import Successor

log = logging.getLogger("picohttp")


def listen_hint(error: Optional[int], port: int, option: str = "port=") -> str:
    """What to do about a port that cannot be bound, naming ``option`` (CLI: ``"-p "``)."""
    if error in (errno.EACCES, errno.EPERM) and 0 < port < 1024:
        return f" (ports below 1024 need root or CAP_NET_BIND_SERVICE; try {option}8080)"
    if error == errno.EADDRINUSE:
        return f" (another program listens there; pick another port, or {option}0 for a free one)"
    return ""


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
    defer_accept(sock)
    return sock


def defer_accept(sock: socket.socket) -> None:
    """Wake the server for a connection on ``sock`` only once its first bytes are in (Linux)."""
    if hasattr(socket, "TCP_DEFER_ACCEPT") and sock.family != socket.AF_UNIX:
        # Linux: wake the server for a connection only once its first bytes
        # have arrived (nginx's "deferred"), so the first read after accept
        # finds the request and the connection never enters the selector.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 1)


class Service:
    """One server's listening sockets and its dealings with a service manager.

    ``open_listeners`` says what the server listens on and remembers what is
    its to clean up (a unix socket file it made); ``announce_ready`` and
    ``announce_stopping`` tell systemd (and a SIGHUP predecessor); ``restart``
    hands the sockets to a fresh process and calls back once it serves.
    """

    def __init__(self) -> None:
        self.notifier: Optional[Notifier] = Notifier.from_environment()
        self.successor: Optional[Successor] = None
        #: A successor serves the socket now: no STOPPING=1, no unlink.
        self.handed_over = False
        #: Listening on a unix socket at this path.
        self.unix_path: Optional[str] = None
        #: The unix socket file, when ours to remove.
        self.unix_identity: Optional[Tuple[int, int]] = None
        #: Started by a SIGHUP restart: tell the old process once serving.
        self.ready_fd: Optional[int] = None
        #: How many worker processes serve (``workers=N``, checked).
        self.workers = 1

    def open_listeners(
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
                defer_accept(sock)
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

            self.ready_fd = take_ready_fd()
            owned = owns_socket_file()
            if isinstance(name, str) and name:
                self.unix_path = name
                if owned:  # a predecessor made it: remove it at stop
                    self.unix_identity = file_identity(name)
            return [sockets[i % len(sockets)] for i in range(workers)]
        path = unix_path(host)
        if path is not None:
            sock = bind_unix(path, mode)
            self.unix_path = path
            self.unix_identity = file_identity(path)
            return [sock] * workers
        if workers == 1:
            return [bind_socket(host, port)]
        from ._workers import bind_group

        return bind_group(bind_socket, host, port, workers)

    def where(self, port: int) -> str:
        """Where the server listens: ``"port 8080"``, or ``"unix:/run/app/app.sock"``."""
        return f"unix:{self.unix_path}" if self.unix_path is not None else f"port {port}"

    def owns_socket_file(self) -> bool:
        """Whether the server removes its unix socket file at stop (it made it)."""
        return self.unix_identity is not None

    def remove_socket_file(self) -> None:
        """At stop: remove the unix socket file, if ours and not handed to a successor."""
        if self.unix_path is not None and not self.handed_over:
            remove_socket_file(self.unix_path, self.unix_identity)

    def watchdog_interval(self) -> Optional[float]:
        """Seconds between ``WATCHDOG=1`` pings, or ``None`` (no watchdog, no notify socket)."""
        return watchdog_interval() if self.notifier is not None else None

    def for_worker(self) -> None:
        """In a forked worker: the parent speaks to the service manager and removes the file."""
        self.unix_identity = None
        self.notifier = None
        if self.ready_fd is not None:  # the parent says when the workers serve
            os.close(self.ready_fd)
            self.ready_fd = None

    def announce_ready(self) -> None:
        """Tell systemd (``READY=1``), and a predecessor handing over at SIGHUP, that we serve."""
        ready_fd, self.ready_fd = self.ready_fd, None
        if self.notifier is not None:
            # A successor is not systemd's main process yet: it says it is (NotifyAccess=all).
            pid = f"MAINPID={os.getpid()}\n" if ready_fd is not None else ""
            self.notifier.send(f"{pid}READY=1")
        if ready_fd is not None:
            from ._restart import announce_ready

            announce_ready(ready_fd)

    def announce_stopping(self) -> None:
        """Tell systemd the stop began (not when a successor took over)."""
        if self.notifier is not None and not self.handed_over:
            self.notifier.send("STOPPING=1")

    def restart(
        self, sockets: List[socket.socket], stopping: bool, on_handed_over: Callable[[], None]
    ) -> None:
        """SIGHUP: hand ``sockets`` to a fresh process; ``on_handed_over()`` once it serves.

        ``stopping``: the server is stopping already (then nothing happens).
        """
        if self.successor is not None or stopping:
            return  # a restart is under way already, or a stop
        from ._restart import spawn

        if self.notifier is not None:
            self.notifier.send("RELOADING=1")
        try:
            successor = spawn(sockets, owns_file=self.owns_socket_file())
        except OSError as exc:
            log.error("picohttp cannot restart (%s); this process keeps serving", exc)
            if self.notifier is not None:
                self.notifier.send("READY=1")  # the end of RELOADING=1: still this process
            return
        self.successor = successor
        thread = threading.Thread(
            target=self._await_successor,
            args=(successor, on_handed_over),
            name="picohttp-restart",
            daemon=True,
        )
        thread.start()

    def _await_successor(self, successor: Successor, on_handed_over: Callable[[], None]) -> None:
        from ._restart import wait_ready

        ready = wait_ready(successor)
        if ready:
            log.info("picohttp's new process %d serves; this one stops", successor.pid)
            self.handed_over = True
            on_handed_over()
            return
        if ready is None:
            log.error("picohttp's new process %d did not start serving; killed", successor.pid)
            self._kill(successor)
        else:
            log.error(
                "picohttp's new process %d exited before serving; this one keeps serving",
                successor.pid,
            )
        self.successor = None
        if self.notifier is not None:
            self.notifier.send("READY=1")  # the end of RELOADING=1: still this process

    def abandon_successor(self) -> None:
        """At the end of serving: a successor still starting (stopped meanwhile) must not linger."""
        successor = self.successor
        if successor is not None and not self.handed_over:
            self._kill(successor)

    @staticmethod
    def _kill(successor: Successor) -> None:
        try:  # noqa: SIM105 - contextlib costs import time
            os.kill(successor.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        successor.reap()
