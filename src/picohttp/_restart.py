"""Zero-downtime restart on SIGHUP: a fresh process takes over the listening sockets.

The serving process (a single server, or the supervisor of ``workers=N``)
forks and, in the child, executes the same command line again, so the new
process imports the application anew.  The listening sockets go with it as
socket activation (``LISTEN_FDS``, descriptors 3...; ``LISTEN_PID`` is set
in the child after the fork, when its pid is known), so its ``HttpServer``
serves them instead of binding: they never close, and a connection that
arrives meanwhile waits in their backlog for whichever process accepts it.

The new process says it is ready by writing a byte to a pipe whose descriptor
it finds in ``READY_FD_ENV``; only then does the old one stop (gracefully:
in-flight requests finish).  If the new process exits first (an import error
in the edited application), the pipe closes without that byte: the old process
logs it and keeps serving.  Under systemd the new process also sends
``MAINPID=`` with ``READY=1`` (the unit needs ``NotifyAccess=all``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import warnings

from ._systemd import LISTEN_FDS_START

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    import socket
    from typing import Dict, List, Optional

log = logging.getLogger("picohttp")

READY_FD_ENV = "PICOHTTP_READY_FD"
#: Set for a successor that takes over the removal of a unix socket file at its stop.
OWNS_FILE_ENV = "PICOHTTP_OWNS_SOCKET_FILE"
#: Seconds the old process waits for its successor to be ready before giving up on it.
READY_TIMEOUT = 60.0


def command() -> List[str]:
    """The command line that started this process, to run it again."""
    original = getattr(sys, "orig_argv", None)  # Python 3.10+
    if original:
        return [sys.executable, *original[1:]]
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:  # python -m module ...
        name = spec.name[: -len(".__main__")] if spec.name.endswith(".__main__") else spec.name
        return [sys.executable, "-m", name, *sys.argv[1:]]
    return [sys.executable, *sys.argv]


class Successor:
    """A started replacement process: its pid, and the pipe on which it says it is ready."""

    def __init__(self, pid: int, ready_reader: int) -> None:
        self.pid = pid
        self.ready_reader = ready_reader

    def outcome(self) -> bool:
        """Read the pipe once it is readable: True if the successor is ready, False if it died.

        Closes the pipe; a successor that died is reaped.
        """
        try:
            ready = os.read(self.ready_reader, 1) == b"!"
        except OSError:
            ready = False
        os.close(self.ready_reader)
        if not ready:
            self.reap()
        return ready

    def reap(self) -> None:
        """Collect the successor's exit status (it exited, or is about to)."""
        try:  # noqa: SIM105 - contextlib costs import time
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def spawn(sockets: List[socket.socket], owns_file: bool) -> Successor:
    """Start this command again with ``sockets`` handed over; the old process keeps serving."""
    argv = command()
    env: Dict[str, str] = dict(os.environ)
    env.pop("LISTEN_FDNAMES", None)
    env["LISTEN_FDS"] = str(len(sockets))
    env[READY_FD_ENV] = str(LISTEN_FDS_START + len(sockets))
    if owns_file:
        env[OWNS_FILE_ENV] = "1"
    else:
        env.pop(OWNS_FILE_ENV, None)
    fds = [sock.fileno() for sock in sockets]
    reader, writer = os.pipe()
    with warnings.catch_warnings():
        # 3.12 warns about fork() in a threaded process; the child only moves
        # descriptors and calls exec, taking no lock another thread may hold.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            _exec(argv, env, [*fds, writer])
        finally:
            os._exit(127)
    os.close(writer)
    log.info("picohttp restarting: new process %d takes over", pid)
    return Successor(pid, reader)


def _exec(argv: List[str], env: Dict[str, str], fds: List[int]) -> None:
    """In the forked child: the sockets as 3, 4, ..., the pipe after them; then exec."""
    # First out of the way of 3..n (one of them may sit there already), then into place.
    above = LISTEN_FDS_START + len(fds)
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, above) for fd in fds]
    for number, fd in enumerate(moved, LISTEN_FDS_START):
        os.dup2(fd, number)  # inheritable: they survive the exec
    pid = str(os.getpid())
    env["LISTEN_PID"] = pid
    if "WATCHDOG_USEC" in env:
        env["WATCHDOG_PID"] = pid  # the watchdog is this process's job from now on
    os.execve(argv[0], argv, env)


def take_ready_fd() -> Optional[int]:
    """In a successor: the pipe on which to say it serves (None: not a successor); taken once."""
    value = os.environ.pop(READY_FD_ENV, None)
    if value is None or not value.isdigit():
        return None
    fd = int(value)
    try:
        os.set_inheritable(fd, False)  # not for the application's own child processes
    except OSError:
        return None  # not open: nobody to tell
    return fd


def announce_ready(fd: int) -> None:
    """In a successor: tell the process that started it that it serves now."""
    try:
        os.write(fd, b"!")
    except OSError:
        pass  # the old process is gone: nobody to tell
    finally:
        os.close(fd)


def owns_socket_file() -> bool:
    """In a successor: whether the unix socket file it was handed is its own to remove."""
    return os.environ.pop(OWNS_FILE_ENV, None) == "1"


def wait_ready(successor: Successor, timeout: float = READY_TIMEOUT) -> Optional[bool]:
    """Block until the successor is ready (True), has died (False), or ``timeout`` (None)."""
    import select

    readable, _, _ = select.select([successor.ready_reader], [], [], timeout)
    if not readable:
        return None
    return successor.outcome()
