"""Unix domain sockets: ``HttpServer(host="unix:/run/app/app.sock")``, ``--bind unix:PATH``.

A socket file is left behind by a process that died without removing it.
Binding over it needs it gone first, but only when it is *stale*: a file that
is not a socket is someone's data, and a socket that accepts a connection
belongs to a server that is running (another picohttp, say); neither is ever
touched, and the bind fails with a message that says which.  The file gets
``socketMode`` before the socket listens, so no client ever connects through
looser permissions, whatever the umask.  The server removes the file at stop,
only if it is still the one it made (a successor may have replaced it).
"""

from __future__ import annotations

import errno
import os
import socket
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Optional, Tuple

PREFIX = "unix:"
#: The socket file's default permissions: owner and group may connect, others not.
DEFAULT_MODE = 0o660


def unix_path(host: Optional[str]) -> Optional[str]:
    """The path of a ``"unix:PATH"`` host, else None."""
    if host is not None and host.startswith(PREFIX):
        return host[len(PREFIX) :]
    return None


def bind_unix(path: str, mode: int = DEFAULT_MODE) -> socket.socket:
    """A listening unix stream socket at ``path`` with permissions ``mode``.

    A stale socket file is replaced; a live one, or a file that is not a
    socket, raises ``OSError`` (``EADDRINUSE``, ``EEXIST``) with a message
    that says what to do.
    """
    where = PREFIX + path
    if not path:
        raise ValueError("host='unix:' needs a path, e.g. 'unix:/run/app/app.sock'")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            sock.bind(path)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            _remove_stale(path)
            sock.bind(path)
        os.chmod(path, mode)  # before listen(): no client connects through the umask's mode
        sock.listen(socket.SOMAXCONN)
    except OSError as exc:
        sock.close()
        if str(exc).startswith("picohttp"):
            raise
        raise type(exc)(
            exc.errno, f"picohttp cannot listen on {where}: {exc.strerror or exc}"
        ) from None
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _remove_stale(path: str) -> None:
    """Unlink ``path`` if it is a socket nothing listens on; else raise, touching nothing."""
    where = PREFIX + path
    info = os.lstat(path)
    if not stat.S_ISSOCK(info.st_mode):
        raise FileExistsError(
            errno.EEXIST,
            f"picohttp cannot listen on {where}: the file exists and is not a socket "
            "(remove it, or choose another path)",
        )
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            pass  # stale: left by a process that is gone
        except OSError as exc:
            if exc.errno != errno.EAGAIN:  # a full backlog: alive
                raise
            _raise_live(where)
        else:
            _raise_live(where)
    os.unlink(path)


def _raise_live(where: str) -> None:
    raise OSError(
        errno.EADDRINUSE,
        f"picohttp cannot listen on {where}: another server is listening there "
        "(stop it, or choose another path)",
    )


def file_identity(path: str) -> Optional[Tuple[int, int]]:
    """``(device, inode)`` of ``path``, or None when it is gone."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def remove_socket_file(path: str, identity: Optional[Tuple[int, int]]) -> None:
    """Unlink ``path`` if it is still the socket file with ``identity`` (ours)."""
    if identity is not None and file_identity(path) == identity:
        try:  # noqa: SIM105 - contextlib costs import time
            os.unlink(path)
        except OSError:
            pass  # removed meanwhile
