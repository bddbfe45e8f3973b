"""HTTPS: ``HttpServer(..., tls=ssl.SSLContext)``.

Imported only when a server is given ``tls`` (``ssl`` costs more import time
than all of picohttp), and the plain server's code is untouched by it: a TLS
server gets a ``TlsLoop``, chosen once at construction, whose ``_accept``
differs from the plain one in two ways.
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
non-blocking anyway.  Files leave by read-and-send (``HttpServer`` turns
``os.sendfile`` off: it would write the file past TLS, in clear).

A handshake that fails is logged once at DEBUG (scanners and clients that
distrust the certificate are routine); plain HTTP sent to the TLS port gets a
plain-text 400 that says to use https://.
"""

from __future__ import annotations

import functools
import logging
import socket
import ssl

from ._exchange import http_date_now
from ._loop import (
    ACCEPT_BATCH,
    EVENT_READ,
    EVENT_WRITE,
    READING,
    Connection,
    Loop,
    client_address,
)
from ._parser import RequestParser
from ._send import WOULD_BLOCK, Writer, also_would_block
from ._serializer import error_head

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Callable, Optional

log = logging.getLogger("picohttp")

#: The connection phase before READING: the TLS handshake is under way.
HANDSHAKE = 5

_PLAIN_HTTP = frozenset(("HTTP_REQUEST", "HTTPS_PROXY_REQUEST"))  # OpenSSL's reasons

also_would_block(ssl.SSLWantReadError, ssl.SSLWantWriteError)


def tls_loop(context: ssl.SSLContext) -> Callable[..., Loop]:
    """What makes the loop of a server with ``tls=context`` (the context is checked here)."""
    if not isinstance(context, ssl.SSLContext):
        raise TypeError(f"tls must be an ssl.SSLContext, not {context!r}")
    if context.check_hostname:  # a client's context (PROTOCOL_TLS_CLIENT, SERVER_AUTH)
        raise ValueError(
            "tls needs a server context: ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER) "
            "or ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)"
        )
    return functools.partial(TlsLoop, context)


class TlsSocket:
    """An ``SSLSocket`` that takes the plain path's calls.

    ``send``/``recv`` accept (and drop) the ``MSG_DONTWAIT`` flag: the
    ``SSLSocket`` is non-blocking already.  ``close`` and ``shutdown`` send a
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
        return self.ssl.recv(size)

    def send(self, data: Any, flags: int = 0) -> int:
        return self.ssl.send(data)

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


class TlsLoop(Loop):
    """A ``Loop`` whose connections start with a TLS handshake (see the module docstring)."""

    def __init__(self, context: ssl.SSLContext, *args: Any) -> None:
        super().__init__(*args)
        self.tls_context = context

    def _accept(self, now: float) -> None:
        accept = self._accept_fd
        family = self._family
        context = self.tls_context
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
                self.accept_failed(exc, now)  # the plain loop's pause, shared
                if not self._accepting:
                    return
                continue
            self.open += 1
            raw = socket.socket(family, socket.SOCK_STREAM, 0, fd)
            try:
                raw.setblocking(False)
                sock = TlsSocket(
                    context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
                )
            except (OSError, ValueError) as exc:
                log.debug("TLS setup failed: %s", exc)
                raw.close()
                self.open -= 1
                continue
            conn = Connection(sock, client_address(address), None)
            conn.phase = HANDSHAKE
            conn.deadline = now + self.limits.head_timeout  # the head's time covers the handshake
            self._handshake(conn, now)

    def _on_event(self, conn: Connection, now: float) -> None:
        if conn.phase == HANDSHAKE:
            self._handshake(conn, now)
        else:
            super()._on_event(conn, now)

    def _handshake(self, conn: Connection, now: float) -> None:
        sock: TlsSocket = conn.sock
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self._want(conn, EVENT_READ)
            return
        except ssl.SSLWantWriteError:
            self._want(conn, EVENT_WRITE)
            return
        except ssl.SSLError as exc:
            if exc.reason in _PLAIN_HTTP:
                self._plain_http(conn)
            else:
                log.debug("%s: TLS handshake failed: %s", conn.client[0], exc)
                self.close(conn)
            return
        except OSError as exc:  # reset or closed mid-handshake
            log.debug("%s: TLS handshake failed: %s", conn.client[0], exc)
            self.close(conn)
            return
        conn.phase = READING
        conn.parser = RequestParser(self.limits, conn.client)
        # The request may have come with the handshake's last flight: read now,
        # the selector reports it only if bytes are still in the kernel.
        self._read(conn, now)

    def _plain_http(self, conn: Connection) -> None:
        """Plain HTTP on the TLS port: say so in plain HTTP, then close."""
        log.debug("%s: TLS handshake failed: plain HTTP sent to the HTTPS port", conn.client[0])
        self._unwatch(conn)
        sock: TlsSocket = conn.sock
        conn.sock = socket.socket(self._family, socket.SOCK_STREAM, 0, sock.detach())
        conn.linger = True  # the rest of the request is still coming
        reason = "this port speaks HTTPS, not HTTP: use an https:// URL"
        self.start_writing(conn, Writer(error_head(400, reason, http_date_now()), b""))

    def _time_out(self, conn: Connection, now: float) -> None:
        if conn.phase == HANDSHAKE:
            log.debug("%s: TLS handshake timed out", conn.client[0])
            self.close(conn)
        else:
            super()._time_out(conn, now)

    def _begin_stop(self) -> None:
        if not self._stopping:
            for key in list(self._selector.get_map().values()):
                conn = key.data
                if isinstance(conn, Connection) and conn.phase == HANDSHAKE:
                    self.close(conn)  # no request yet: nothing in flight to finish
        super()._begin_stop()
