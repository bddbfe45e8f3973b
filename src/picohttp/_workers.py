"""Pre-fork workers (``HttpServer(..., workers=N)``): N processes share one port.

The parent binds N listening sockets to the same port with ``SO_REUSEPORT``
in ``HttpServer``'s constructor, so a busy or privileged port raises there and
``port=0`` resolves to one port for all.  It then forks one worker per socket;
each worker runs the ordinary single-process server (its own selector loop
and thread pool) on its socket, and Linux spreads new connections over the
sockets by a hash of their addresses.  There is no shared state: handler
``args`` are copied into each worker at the fork.

Why the parent keeps every socket open, rather than each worker opening its
own: when a worker dies, only the connections it had accepted are lost; those
queued on its socket wait for its replacement instead of being reset, and
connections that arrive before the workers run wait too (as with
``start=False``).  The parent never accepts: a socket without a worker exists
only while that worker restarts.

The parent supervises, on the thread that called ``start()`` (``block=True``)
or on a thread of its own (``block=False``, where ``start()`` returns once the
workers are forked, so the caller's next lines cannot hold a lock, such as
stdout's, that a worker would inherit held): it restarts a worker that exits
(after a growing pause when workers die straight after starting, so a crash
at start-up does not spin), and on ``stop()``, Ctrl-C or SIGTERM it closes its
copies of the sockets, sends each worker SIGTERM (a graceful stop of its own,
within ``stopTimeout``), kills what is left after that and reaps every one.
Workers die with the parent: ``prctl(PR_SET_PDEATHSIG)`` sends them SIGTERM
when the thread that forked them ends, however it ends.  Workers ignore
SIGINT: Ctrl-C reaches the whole process group, and the parent turns it into
one orderly stop.  Forks happen on the supervising thread only (the death
signal is tied to the forking thread).

Linux only: other systems either lack ``SO_REUSEPORT`` or do not balance
connections over the sockets (macOS gives them all to one).
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import sys
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    import socket
    from typing import Any, Callable, List, Optional, Tuple

    from ._restart import Successor
    from ._systemd import Notifier

log = logging.getLogger("picohttp")

#: A worker that exits sooner than this after its start "died at once".
QUICK_EXIT = 1.0
#: Pauses before restarting a worker that keeps dying at once: doubling, capped.
FIRST_PAUSE = 0.5
MAX_PAUSE = 10.0
#: Seconds beyond ``stopTimeout`` a worker gets to exit before it is killed.
STOP_GRACE = 2.0

_PR_SET_PDEATHSIG = 1
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def check_platform(workers: int) -> int:
    """``workers``, if this system can run that many (N > 1 needs Linux)."""
    if workers > 1 and not sys.platform.startswith("linux"):
        raise ValueError(
            f"workers={workers} needs Linux, whose SO_REUSEPORT spreads connections over "
            f"processes; on {sys.platform} use workers=1"
        )
    return workers


def bind_group(
    bind: Callable[..., socket.socket], host: Optional[str], port: int, count: int
) -> List[socket.socket]:
    """``count`` listening sockets on one port, all with ``SO_REUSEPORT``.

    A plain bind first: it fails if anything holds the port, including another
    ``SO_REUSEPORT`` group (another picohttp with workers), which the group
    below would otherwise join silently and share connections with.
    """
    probe = bind(host, port)
    port = probe.getsockname()[1]
    probe.close()
    sockets: List[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(bind(host, port, reuse_port=True))
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class _Worker:
    """One slot: its socket, and the process serving it (if any)."""

    __slots__ = ("exits", "index", "pause", "pid", "restart_at", "sentinel", "sock", "started")

    def __init__(self, index: int, sock: socket.socket) -> None:
        self.index = index
        self.sock = sock
        self.pid = 0  # 0: no process
        self.sentinel = -1  # a pidfd (or pipe end) readable once the process has exited
        self.started = 0.0
        self.pause = 0.0
        self.exits = 0  # consecutive quick exits
        self.restart_at: Optional[float] = 0.0  # None: not to be restarted


class Supervisor:
    """Forks, watches and stops the workers of one server (see the module docstring).

    ``serve(sock, number)`` is what worker ``number`` (from 1) runs in its
    forked process, on its socket, until SIGTERM; ``stop_timeout`` is how long
    a stop lets the workers finish; ``owns_socket_file``: a SIGHUP successor
    is told it removes the unix socket file at its stop.
    """

    def __init__(
        self,
        sockets: List[socket.socket],
        serve: Callable[[socket.socket, int], None],
        stop_timeout: float,
        owns_socket_file: bool = False,
    ) -> None:
        self._serve = serve
        self._stop_timeout = stop_timeout
        self._owns_socket_file = owns_socket_file
        self._slots = [_Worker(index, sock) for index, sock in enumerate(sockets)]
        name = sockets[0].getsockname()
        self.port: int = name[1] if isinstance(name, tuple) else 0  # 0: a unix socket
        #: Tells systemd of the stop (``STOPPING=1``) and pings its watchdog.
        self.notifier: Optional[Notifier] = None
        #: Seconds between watchdog pings (None: no watchdog).
        self.watchdog: Optional[float] = None
        #: Called once the first workers are forked (``READY=1``).
        self.on_ready: Optional[Callable[[], None]] = None
        #: True once a successor started by SIGHUP serves the sockets.
        self.handed_over = False
        self._successor: Optional[Successor] = None
        self._wake_reader, self._wake_writer = os.pipe()
        os.set_blocking(self._wake_reader, False)
        os.set_blocking(self._wake_writer, False)
        self._stopping = False
        self._killing = False
        self.thread_id: Optional[int] = None
        self._selector: Optional[selectors.BaseSelector] = None

    # -- other threads and signal handlers -------------------------------------

    def request_stop(self, at_once: bool = False) -> None:
        """Begin stopping every worker; ``at_once``: kill them.  Safe from any thread."""
        if at_once:
            self._killing = True
        if not self._stopping and not self.handed_over and self.notifier is not None:
            self.notifier.send("STOPPING=1")
        self._stopping = True
        try:  # noqa: SIM105 - contextlib costs import time
            os.write(self._wake_writer, b"\0")
        except OSError:
            pass  # the pipe is full (a wake-up is pending) or closed (stopped)

    def pids(self) -> List[int]:
        """The process ids of the workers running now."""
        return [slot.pid for slot in self._slots if slot.pid]

    def close(self) -> None:
        """Release the sockets of a supervisor that never ran (``stop()`` before ``start()``)."""
        for slot in self._slots:
            slot.sock.close()
        for fd in (self._wake_reader, self._wake_writer):
            try:  # noqa: SIM105
                os.close(fd)
            except OSError:
                pass

    # -- supervising -----------------------------------------------------------

    def run(
        self,
        on_signal: bool,
        forked: Optional[threading.Event] = None,
        announce: Optional[Callable[[], None]] = None,
    ) -> None:
        """Fork the workers and keep them running until a stop; then end them all.

        ``on_signal``: this is the main thread of a blocking server, so
        SIGINT and SIGTERM stop the workers (a second SIGINT kills them).
        ``forked`` is set once the first workers are forked. ``announce`` is
        called once the signal handlers are in place.
        """
        self.thread_id = threading.get_ident()
        restore = self._install_signal_handlers() if on_signal else []
        selector = self._selector = selectors.DefaultSelector()
        selector.register(self._wake_reader, selectors.EVENT_READ)
        ping_at = time.monotonic()
        try:
            if announce is not None:
                announce()
            while not self._stopping:
                now = time.monotonic()
                for slot in self._slots:
                    if not slot.pid and slot.restart_at is not None and slot.restart_at <= now:
                        self._spawn(slot)
                if forked is not None:
                    forked.set()
                if self.on_ready is not None:
                    ready, self.on_ready = self.on_ready, None
                    ready()
                if self.watchdog is not None and self.notifier is not None and now >= ping_at:
                    self.notifier.send("WATCHDOG=1")
                    ping_at = now + self.watchdog
                due = [s.restart_at for s in self._slots if not s.pid and s.restart_at is not None]
                if self.watchdog is not None:
                    due.append(ping_at)
                timeout = max(0.0, min(due) - time.monotonic()) if due else None
                self._wait(timeout)
        finally:
            if forked is not None:
                forked.set()
            try:
                self._stop_all()
            finally:
                for signum, previous in restore:
                    signal.signal(signum, previous)
                selector.close()
                for fd in (self._wake_reader, self._wake_writer):
                    os.close(fd)

    def _wait(self, timeout: Optional[float]) -> None:
        """Sleep until a worker exits, a stop is asked for, or ``timeout``; reap exits."""
        assert self._selector is not None
        events = self._selector.select(timeout)
        try:
            while os.read(self._wake_reader, 512):
                pass
        except OSError:
            pass
        successor = self._successor
        if successor is not None and any(key.fd == successor.ready_reader for key, _ in events):
            self._selector.unregister(successor.ready_reader)
            self._successor = None
            if successor.outcome():
                log.info("picohttp's new process %d serves; this one stops", successor.pid)
                self.handed_over = True
                self._stopping = True
            else:
                log.error(
                    "picohttp's new process %d exited before serving; this one keeps serving",
                    successor.pid,
                )
                if self.notifier is not None:
                    self.notifier.send("READY=1")
        for slot in self._slots:
            if slot.pid:
                self._reap(slot, os.WNOHANG)

    def _reap(self, slot: _Worker, options: int) -> bool:
        """Collect ``slot``'s process if it has exited; True if it has."""
        try:
            pid, status = os.waitpid(slot.pid, options)
        except ChildProcessError:  # reaped by someone else (a SIGCHLD handler)
            pid, status = slot.pid, -1
        if pid == 0:
            return False
        self._forget(slot)
        if not self._stopping:
            self._schedule_restart(slot, status)
        return True

    def _forget(self, slot: _Worker) -> None:
        assert self._selector is not None
        self._selector.unregister(slot.sentinel)
        os.close(slot.sentinel)
        slot.sentinel = -1
        slot.pid = 0

    def _schedule_restart(self, slot: _Worker, status: int) -> None:
        now = time.monotonic()
        lived = now - slot.started
        if lived < QUICK_EXIT:
            slot.exits += 1
            slot.pause = min(MAX_PAUSE, max(FIRST_PAUSE, slot.pause * 2))
        else:
            slot.exits = 0
            slot.pause = 0.0
        slot.restart_at = now + slot.pause
        when = f"in {slot.pause:.1f} s" if slot.pause else "now"
        if slot.exits > 1:
            when += f" ({slot.exits} quick exits in a row)"
        log.warning(
            "picohttp worker %d %s after %.1f s; restarting %s",
            slot.index + 1,
            describe_status(status),
            lived,
            when,
        )

    def _spawn(self, slot: _Worker) -> None:
        parent = os.getpid()
        sentinel_pipe: Optional[Tuple[int, int]] = None if _HAVE_PIDFD else os.pipe()
        slot.started = time.monotonic()
        # Until the worker has its own signal handlers it must not run the parent's:
        # SIGINT and SIGTERM wait (blocked, inherited by the fork) until it has.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            pid = os.fork()
        except OSError as exc:  # out of processes or memory: try again later
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            slot.exits += 1
            slot.pause = min(MAX_PAUSE, max(FIRST_PAUSE, slot.pause * 2))
            slot.restart_at = time.monotonic() + slot.pause
            log.error("picohttp cannot start worker %d: %s", slot.index + 1, exc)
            if sentinel_pipe is not None:
                os.close(sentinel_pipe[0])
                os.close(sentinel_pipe[1])
            return
        if pid == 0:  # the worker: never returns
            if sentinel_pipe is not None:
                os.close(sentinel_pipe[0])  # the write end stays open until this process ends
            self._worker_main(slot, parent, mask)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        slot.pid = pid
        slot.restart_at = None
        if sentinel_pipe is not None:
            os.close(sentinel_pipe[1])
            slot.sentinel = sentinel_pipe[0]
        else:
            slot.sentinel = os.pidfd_open(pid)  # type: ignore[attr-defined, unused-ignore]
        assert self._selector is not None
        self._selector.register(slot.sentinel, selectors.EVENT_READ)
        log.debug("picohttp worker %d started (pid %d)", slot.index + 1, pid)

    def restart(self) -> None:
        """SIGHUP: start a fresh process (the same command) on these sockets; stop once it serves.

        On the supervising thread; the successor's readiness arrives in ``_wait``.
        """
        if self._successor is not None or self._stopping:
            return
        from ._restart import spawn

        if self.notifier is not None:
            self.notifier.send("RELOADING=1")
        sockets: List[socket.socket] = []
        for slot in self._slots:
            if all(slot.sock is not sock for sock in sockets):
                sockets.append(slot.sock)
        try:
            successor = spawn(sockets, owns_file=self._owns_socket_file)
        except OSError as exc:
            log.error("picohttp cannot restart (%s); this process keeps serving", exc)
            if self.notifier is not None:
                self.notifier.send("READY=1")  # the end of RELOADING=1: still this process
            return
        self._successor = successor
        assert self._selector is not None
        self._selector.register(successor.ready_reader, selectors.EVENT_READ)

    def _stop_all(self) -> None:
        """Close the parent's sockets, SIGTERM the workers, kill stragglers, reap all."""
        self._stopping = True
        successor = self._successor
        if successor is not None:  # stopped while a successor starts: it must not linger
            self._successor = None
            _signal(successor.pid, signal.SIGKILL)
            successor.reap()
            os.close(successor.ready_reader)
        for slot in self._slots:
            slot.restart_at = None
            slot.sock.close()  # each worker's close is then the last: new clients are refused
        running = [slot for slot in self._slots if slot.pid]
        signum = signal.SIGKILL if self._killing else signal.SIGTERM
        for slot in running:
            _signal(slot.pid, signum)
        deadline = time.monotonic() + self._stop_timeout + STOP_GRACE
        while any(slot.pid for slot in running):
            left = deadline - time.monotonic()
            if left <= 0 or (self._killing and signum != signal.SIGKILL):
                for slot in running:
                    if slot.pid:
                        if not self._killing:
                            log.warning(
                                "picohttp worker %d (pid %d) did not stop in time; killing it",
                                slot.index + 1,
                                slot.pid,
                            )
                        _signal(slot.pid, signal.SIGKILL)
                        self._reap(slot, 0)
                break
            self._wait(left)

    # -- signals (blocking server on the main thread) ----------------------------

    def _install_signal_handlers(self) -> List[Tuple[int, Any]]:
        restore: List[Tuple[int, Any]] = []

        def on_signal(signum: int, frame: Any) -> None:
            # State first: a second signal may run this handler inside the first's log call.
            again = self._stopping and signum == signal.SIGINT
            self.request_stop(at_once=again)
            if again:
                log.info("interrupted again: killing the workers")
            else:
                log.info("signal %d: stopping the workers", signum)

        for signum, default in (
            (signal.SIGINT, signal.default_int_handler),
            (signal.SIGTERM, signal.SIG_DFL),
        ):
            if signal.getsignal(signum) is default:
                restore.append((signum, signal.signal(signum, on_signal)))

        def on_hangup(signum: int, frame: Any) -> None:
            self.restart()

        if signal.getsignal(signal.SIGHUP) is signal.SIG_DFL:
            from ._systemd import has_terminal

            # In a terminal SIGHUP says it closed: stop, rather than go on in the background.
            handler = on_signal if has_terminal() else on_hangup
            restore.append((signal.SIGHUP, signal.signal(signal.SIGHUP, handler)))
        return restore

    # -- in the worker ---------------------------------------------------------

    def _worker_main(self, slot: _Worker, parent: int, mask: Any) -> None:
        """Serve ``slot``'s socket in this freshly forked process; exit when it stops."""
        code = 1
        try:
            _die_with_parent(parent)
            # What the parent set up for itself is not this process's business.
            if threading.current_thread() is threading.main_thread():
                signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a restart is the parent's business
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the server installs its own
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            for other in self._slots:
                if other is not slot:
                    if other.sock is not slot.sock:  # a unix or handed-over socket is shared
                        other.sock.close()  # else a sibling's socket outlives the parent's stop
                    if other.sentinel >= 0:
                        os.close(other.sentinel)
            if self._successor is not None:
                os.close(self._successor.ready_reader)
            if self._selector is not None:
                self._selector.close()
            os.close(self._wake_reader)
            os.close(self._wake_writer)
            self._serve(slot.sock, slot.index + 1)
            code = 0
        except BaseException:
            log.exception("picohttp worker %d failed", slot.index + 1)
        finally:
            try:
                for handler in logging.getLogger().handlers + log.handlers:
                    handler.flush()
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)  # never the parent's cleanup (atexit, finally blocks, test runners)


def _probe_pidfd() -> bool:
    try:
        fd = os.pidfd_open(os.getpid())  # type: ignore[attr-defined, unused-ignore]
    except (AttributeError, OSError):
        return False  # Python < 3.9 or Linux < 5.3: a pipe tells of the exit instead
    os.close(fd)
    return True


_HAVE_PIDFD = sys.platform.startswith("linux") and _probe_pidfd()


def _die_with_parent(parent: int) -> None:
    """Have the kernel send SIGTERM to this process when the forking thread ends."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    except (ImportError, OSError, AttributeError) as exc:
        log.warning("picohttp worker %d will outlive a killed parent: %s", os.getpid(), exc)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def _signal(pid: int, signum: int) -> None:
    try:  # noqa: SIM105 - contextlib costs import time
        os.kill(pid, signum)
    except ProcessLookupError:
        pass  # exited already; reaped below


def describe_status(status: int) -> str:
    """``"exited with status 3"`` / ``"was killed by signal 9 (SIGKILL)"`` from a wait status."""
    if status < 0:
        return "exited"
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = "?"
        return f"was killed by signal {signum} ({name})"
    if os.WIFEXITED(status):
        return f"exited with status {os.WEXITSTATUS(status)}"
    return f"ended (wait status {status})"
