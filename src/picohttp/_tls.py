"""HTTPS: ``HttpServer(..., tls=ssl.SSLContext)``.

Imported only when a server is given ``tls`` (``ssl`` costs more import time
than all of picohttp), and the plain server's code is untouched by it: a TLS
server's ``Loop`` gets a ``TlsOpener``, chosen once at construction, which
changes what happens to a socket after the loop accepted it, not the loop.
- Every accepted socket is wrapped in TLS with the handshake deferred, in
  non-blocking mode, and the selector drives the handshake like any read
  (``SSLWantReadError``/``SSLWantWriteError`` say which readiness to wait
  for), within the same ``headTimeout`` as the request head.  A client that
  never completes it holds a few kilobytes until then and delays no one.
- There is no fast path: the request is read by the ordinary ``READING``
  phase once the handshake is done.
After that, the parser, the pool, ``Writer``, streams and the lingering close
work unchanged on a ``TlsSocket``: it takes the plain path's calls
(``send(data, MSG_DONTWAIT)``) on an ``SSLSocket``, which refuses flags but is
non-blocking anyway, and raises what a plain socket raises when it would
block (``BlockingIOError``), so ``except WOULD_BLOCK`` catches the same types
for both.  Files leave by read-and-send (``HttpServer`` turns ``os.sendfile``
off: it would write the file past TLS, in clear).

A handshake that fails is logged once at DEBUG (scanners and clients that
distrust the certificate are routine); plain HTTP sent to the TLS port gets a
plain-text 400 that says to use https://.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl

from ._exchange import http_date_now
from ._loop import EVENT_READ, EVENT_WRITE, OPENING, READING, Connection, Opener, client_address
from ._parser import RequestParser
from ._send import Writer
from ._serializer import error_head

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Optional

    from ._loop import Loop

log = logging.getLogger("picohttp")

#: The connection phase before READING: the TLS handshake is under way.
HANDSHAKE = OPENING
#: What an ``SSLSocket`` raises where a plain socket would raise ``BlockingIOError``.
_WANT = (ssl.SSLWantReadError, ssl.SSLWantWriteError)

_PLAIN_HTTP = frozenset(("HTTP_REQUEST", "HTTPS_PROXY_REQUEST"))  # OpenSSL's reasons


def tls_opener(context: ssl.SSLContext) -> TlsOpener:
    """What a server with ``tls=context`` does after accept (the context is checked here)."""
    if not isinstance(context, ssl.SSLContext):
        raise TypeError(f"tls must be an ssl.SSLContext, not {context!r}")
    if context.check_hostname:  # a client's context (PROTOCOL_TLS_CLIENT, SERVER_AUTH)
        raise ValueError(
            "tls needs a server context: ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER) "
            "or ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)"
        )
    return TlsOpener(context)


class TlsSocket:
    """An ``SSLSocket`` that takes the plain path's calls.

    ``send``/``recv`` accept (and drop) the ``MSG_DONTWAIT`` flag: the
    ``SSLSocket`` is non-blocking already; where it would block they raise
    ``BlockingIOError``, as a plain socket does.  ``close`` and ``shutdown`` send a
    TLS close_notify first, once the handshake is done, so that a client
    reading a body that ends at the close (a stream) can tell a complete one
    from a cut one; ``abort`` (an RST for a cut response) prevents it.
    """

    __slots__ = ("_notify", "ssl")

    def __init__(self, ssl_socket: ssl.SSLSocket) -> None:
        self.ssl = ssl_socket
        self._notify = False  # set once the handshake is done

    def fileno(self) -> int:
        return self.ssl.fileno()

    def recv(self, size: int, flags: int = 0) -> bytes:
        try:
            return self.ssl.recv(size)
        except _WANT as exc:
            raise BlockingIOError(errno.EAGAIN, str(exc)) from None

    def send(self, data: Any, flags: int = 0) -> int:
        try:
            return self.ssl.send(data)
        except _WANT as exc:
            raise BlockingIOError(errno.EAGAIN, str(exc)) from None

    def sendall(self, data: Any) -> None:
        self.ssl.sendall(data)

    def settimeout(self, timeout: Optional[float]) -> None:
        self.ssl.settimeout(timeout)

    def setblocking(self, flag: bool) -> None:
        self.ssl.setblocking(flag)

    def gettimeout(self) -> Optional[float]:
        return self.ssl.gettimeout()

    def do_handshake(self) -> None:
        self.ssl.do_handshake()
        self._notify = True

    def setsockopt(self, level: int, option: int, value: Any) -> None:
        if level == socket.SOL_SOCKET and option == socket.SO_LINGER:
            self._notify = False  # abort(): the client must see a reset, not a clean end
        self.ssl.setsockopt(level, option, value)

    def shutdown(self, how: int) -> None:
        self._close_notify()
        self.ssl.shutdown(how)  # also drops the TLS layer: a lingering close drains raw bytes

    def close(self) -> None:
        self._close_notify()
        self.ssl.close()

    def detach(self) -> int:
        return self.ssl.detach()

    def _close_notify(self) -> None:
        if self._notify:
            self._notify = False
            try:  # noqa: SIM105 - contextlib costs import time
                self.ssl.unwrap()  # non-blocking: sends close_notify, then wants the peer's
            except (OSError, ValueError):
                pass


class TlsOpener(Opener):
    """The TLS handshake between the loop's accept and the request (see the module docstring)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.tls_context = context
        self._loop: Optional[Loop] = None

    def attach(self, loop: Loop) -> None:
        self._loop = loop

    def accepted(self, fd: int, address: Any, now: float) -> None:
        loop = self._loop
        assert loop is not None
        raw = socket.socket(fileno=fd)
        conn = Connection(raw, client_address(address), None)
        conn.phase = HANDSHAKE
        try:
            raw.setblocking(False)
            ssl_socket = self.tls_context.wrap_socket(
                raw, server_side=True, do_handshake_on_connect=False
            )
        except (OSError, ValueError) as exc:
            log.debug("TLS setup failed: %s", exc)
            loop.close(conn)
            return
        conn.sock = TlsSocket(ssl_socket)
        conn.deadline = now + loop.limits.head_timeout  # the head's time covers the handshake
        self.step(conn, now)

    def step(self, conn: Connection, now: float) -> None:
        """Go on with the handshake; once done, read the request as the plain path does."""
        loop = self._loop
        assert loop is not None
        sock: TlsSocket = conn.sock
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            loop.want(conn, EVENT_READ)
            return
        except ssl.SSLWantWriteError:
            loop.want(conn, EVENT_WRITE)
            return
        except ssl.SSLError as exc:
            if exc.reason in _PLAIN_HTTP:
                self._plain_http(loop, conn)
            else:
                log.debug("%s: TLS handshake failed: %s", conn.client[0], exc)
                loop.close(conn)
            return
        except OSError as exc:  # reset or closed mid-handshake
            log.debug("%s: TLS handshake failed: %s", conn.client[0], exc)
            loop.close(conn)
            return
        conn.phase = READING
        conn.parser = RequestParser(loop.limits, conn.client)
        # The request may have come with the handshake's last flight: read now,
        # the selector reports it only if bytes are still in the kernel.
        loop.read(conn, now)

    def _plain_http(self, loop: Loop, conn: Connection) -> None:
        """Plain HTTP on the TLS port: say so in plain HTTP, then close."""
        log.debug("%s: TLS handshake failed: plain HTTP sent to the HTTPS port", conn.client[0])
        loop.unwatch(conn)
        sock: TlsSocket = conn.sock
        conn.sock = socket.socket(sock.ssl.family, socket.SOCK_STREAM, 0, sock.detach())
        conn.linger = True  # the rest of the request is still coming
        reason = "this port speaks HTTPS, not HTTP: use an https:// URL"
        loop.start_writing(conn, Writer(error_head(400, reason, http_date_now()), b""))

    def timed_out(self, conn: Connection) -> None:
        log.debug("%s: TLS handshake timed out", conn.client[0])
