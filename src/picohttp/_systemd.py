"""Running under a service manager: socket activation and ``sd_notify``, without libsystemd.

Socket activation (``sd_listen_fds``): systemd, ``systemd-socket-activate``
or a picohttp handing over its sockets at a restart (``_restart.py``) opens
the listening sockets and starts the program with them as descriptors 3, 4,
... and ``LISTEN_FDS`` saying how many, ``LISTEN_PID`` saying for which
process (a variable inherited by a child that is not meant for it must be
ignored).  They are unset once taken, so a program the application starts
does not take them again.

Notification (``sd_notify``): ``NOTIFY_SOCKET`` names a datagram socket (a
path, or ``@name`` in the abstract namespace); each state is one datagram of
``KEY=value`` lines.  ``WATCHDOG_USEC`` (for ``WATCHDOG_PID``, when set) is
the period within which ``WATCHDOG=1`` must arrive, or systemd restarts the
service; picohttp pings at half of it.
"""

from __future__ import annotations

import errno
import logging
import os
import socket

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import List, Optional

log = logging.getLogger("picohttp")

#: The first descriptor of socket activation (``SD_LISTEN_FDS_START``).
LISTEN_FDS_START = 3
_ACTIVATION_VARIABLES = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")


def listen_fds() -> List[int]:
    """The descriptors this process was handed by socket activation (empty: none); taken once.

    ``LISTEN_PID`` must name this process: variables inherited from a parent
    that was activated itself are not ours.  A malformed ``LISTEN_FDS`` is
    logged and ignored, so the server binds its port as if not activated.
    """
    count = os.environ.get("LISTEN_FDS")
    if count is None:
        return []
    pid = os.environ.get("LISTEN_PID")
    if pid is not None and pid != str(os.getpid()):
        return []  # meant for another process: leave them for it
    for name in _ACTIVATION_VARIABLES:
        os.environ.pop(name, None)
    if not count.isdigit() or not 0 < int(count) <= 1000:
        log.warning("ignoring LISTEN_FDS=%r: not a count of descriptors", count)
        return []
    return list(range(LISTEN_FDS_START, LISTEN_FDS_START + int(count)))


def adopt_listener(fd: int) -> socket.socket:
    """The listening stream socket open as ``fd`` (``--fd N``, socket activation).

    Raises ``OSError`` with a message that says what is wrong when ``fd`` is
    not open, not a socket, or not a listening stream socket.
    """
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        message = f"picohttp cannot serve descriptor {fd}: {exc.strerror or exc}"
        if exc.errno == errno.ENOTSOCK:
            message += " (it is not a socket)"
        raise type(exc)(exc.errno, message) from None
    try:
        listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    except OSError:
        listening = 1  # systems without SO_ACCEPTCONN: trust the caller
    if sock.type != socket.SOCK_STREAM or not listening:
        sock.detach()  # not ours to close
        raise OSError(
            errno.EINVAL,
            f"picohttp cannot serve descriptor {fd}: it is not a listening stream socket",
        )
    sock.set_inheritable(False)
    sock.setblocking(False)
    return sock


def describe(sock: socket.socket) -> str:
    """Where ``sock`` listens, for logs: ``"port 8080"`` or ``"unix:/run/app.sock"``."""
    try:
        name = sock.getsockname()
    except OSError:
        return "a closed socket"
    if isinstance(name, tuple):
        return f"port {name[1]}"
    if isinstance(name, bytes):  # the abstract namespace
        return "unix:@" + name[1:].decode("utf-8", "backslashreplace")
    return f"unix:{name}"


class Notifier:
    """Sends states to the service manager over ``NOTIFY_SOCKET`` (``sd_notify``)."""

    def __init__(self, address: str) -> None:
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self._failed = False

    @classmethod
    def from_environment(cls) -> Optional[Notifier]:
        """A notifier for ``NOTIFY_SOCKET``, or None when no service manager listens."""
        address = os.environ.get("NOTIFY_SOCKET")
        if not address or address[0] not in "/@":
            return None
        return cls(address)

    def send(self, state: str) -> bool:
        """Send ``state`` (e.g. ``"READY=1"``) as one datagram; False if it could not go.

        The first failure is logged as a warning, later ones at debug level:
        a service manager that went away must not flood the log.
        """
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(state.encode(), self.address)
        except OSError as exc:
            level = logging.DEBUG if self._failed else logging.WARNING
            self._failed = True
            log.log(level, "cannot notify the service manager (%s): %s", state, exc)
            return False
        return True


def watchdog_interval() -> Optional[float]:
    """Seconds between ``WATCHDOG=1`` pings (half of ``WATCHDOG_USEC``), or None: no watchdog."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec or not usec.isdigit() or int(usec) == 0:
        return None
    pid = os.environ.get("WATCHDOG_PID")
    if pid is not None and pid != str(os.getpid()):
        return None
    return int(usec) / 2e6


def has_terminal() -> bool:
    """Whether this process has a controlling terminal (then SIGHUP means it was closed).

    A service (systemd, a supervisor, ``setsid``) has none: there SIGHUP asks
    for a restart, as for gunicorn and nginx.
    """
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True
