"""The way out: one complete request -> the handler -> one send -> a close or the loop.

The loop dispatches each complete request here: to a ``WorkerPool`` thread
(``threads=True``, ``Responder.dispatch_to_pool``; the requests of one pass
over the selector's events go together at its end, ``hand_on_pass``) or on
the loop thread itself (``threads=False``, ``Responder.respond_in_order``,
and with threads a kept file when the handler is ``staticResource``).  Either
way the path runs in one direction:

1. ``respond``: the request is made ready (``prepare``: the scheme of a TLS
   server, a unix peer, a trusted proxy's view), the handler runs
   (``run_handler``: its failures become answers) and the request's spooled
   body and uploads are released;
2. a streamed body goes to its own thread (``Streams.hand_off``); every
   other answer goes to ``send``;
3. ``send`` writes what the socket takes at once.  The common case (a small
   body, all of it taken, nothing left to drain) ends there: the socket is
   closed and the loop told (``Loop.released``).  Anything else is handed to
   the loop (``Loop.adopt`` on its own thread, ``Loop.hand_over`` from a
   worker), which finishes the write, drains a client that may still be
   sending, and closes.

Only the loop counts open connections; this module closes a socket only on
the fast path and on failures, and says so to the loop every time.
"""

from __future__ import annotations

import collections
import logging
from logging import INFO

from ._exchange import (
    access_log,
    answer_body_size,
    body_size,
    http_date_now,
    log_access,
    run_handler,
)
from ._forwarded import apply_forwarded
from ._pool import WorkerPool
from ._send import DONTWAIT, JOIN_LIMIT, WOULD_BLOCK, StreamWriter, Writer, abort, read_small_file
from ._serializer import FileBody, StreamBody, error_head

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Callable, Deque, Optional, Sequence, Tuple

    from ._exchange import Handler
    from ._loop import Loop
    from ._message import HttpRequest
    from ._serializer import Body
    from ._streams import Streams

    Item = Tuple[Any, Tuple[str, int], HttpRequest, int]

log = logging.getLogger("picohttp")


def may_still_send(request: HttpRequest, leftover: int) -> bool:
    """Whether the client may still be sending after ``request``: drain before closing then.

    Bytes beyond the request (``leftover``), or an unframed body (ignored, as
    the spec says) after a head that is not GET/HEAD.  Closing with unread
    input resets the connection and destroys the part of the response still
    queued in the kernel.
    """
    return leftover > 0 or request.unread_body


def preparer(
    https: bool, unix_client: Optional[Tuple[str, int]], trust_hops: int
) -> Optional[Callable[[HttpRequest], Tuple[str, int]]]:
    """What a request needs before its handler on this server, or ``None`` (the plain case).

    The scheme of a TLS server, the peer of a unix socket (which has no
    address), and a trusted proxy's view (which may say otherwise: the proxy
    knows what the client used).  The function returns the client.  Fixed at
    construction: the hot path pays one attribute check for all three.
    """
    if not (https or unix_client is not None or trust_hops):
        return None

    def prepare(request: HttpRequest) -> Tuple[str, int]:
        if https:
            request.scheme = "https"
        if unix_client is not None:
            request.client = unix_client
        if trust_hops:
            return apply_forwarded(request, trust_hops)
        return request.client  # type: ignore[return-value]  # the server always sets a client

    return prepare


class Responder:
    """Runs the handler for each request of one server and sends the answer.

    ``max_threads``: the cap on worker threads (``threads=True``); ``None``
    answers every request on the loop thread.  ``prepare``: called with each
    request before the handler, returns the client to log (TLS, unix sockets,
    ``trustProxy``; see ``preparer``).  ``from_memory``: the handler's answer
    to a request when it is ready in memory, ``(head, body)``, else ``None``
    (``_static.kept_answerer``); such answers leave from the loop thread.
    ``zero_copy``: files may leave by ``os.sendfile`` (not under TLS).
    ``attach`` then gives it the loop, which owns every connection this hands
    back, and the streams (``threads=True``).
    """

    def __init__(
        self,
        handler: Handler,
        args: Sequence[Any],
        max_threads: Optional[int],
        prepare: Optional[Callable[[HttpRequest], Tuple[str, int]]],
        zero_copy: bool,
        from_memory: Optional[Callable[[HttpRequest, str], Optional[Tuple[bytes, Body]]]] = None,
    ) -> None:
        self.handler = handler
        self.args = tuple(args)
        #: The worker threads (``max_threads`` given: ``threads=True``), else ``None``.
        self.pool: Optional[WorkerPool] = (
            None if max_threads is None else WorkerPool(self.work, max_threads)
        )
        #: What the loop calls with each complete request.
        self.dispatch: Callable[[Any, Tuple[str, int], HttpRequest, int], None] = (
            self.respond_in_order if self.pool is None else self.dispatch_to_pool
        )
        self._prepare = prepare
        self._zero_copy = zero_copy
        self._from_memory = from_memory
        # threads=True: the requests of the loop's current pass, handed on together at its end.
        self._this_pass: Deque[Item] = collections.deque()
        self._loop: Loop
        self._streams: Optional[Streams] = None

    def attach(self, loop: Loop, streams: Optional[Streams]) -> None:
        """Connect the loop that dispatches here (and the streams), before it runs."""
        self._loop = loop
        self._streams = streams
        # Give a connection to the loop: directly on its thread, through its queue from a worker.
        self._give: Callable[[Any, Tuple[str, int], Optional[Writer], bool], None] = (
            loop.adopt if self.pool is None else loop.hand_over
        )
        self._released = loop.released
        if self.pool is not None:
            loop.after_pass = self.hand_on_pass

    # -- how requests arrive -------------------------------------------------

    def dispatch_to_pool(
        self, sock: Any, client: Tuple[str, int], request: HttpRequest, leftover: int
    ) -> None:
        """The loop's dispatch for ``threads=True``: for a worker, once the pass ends.

        Unless the answer is ready in memory (``from_memory``, a kept static
        file): then it leaves at once from the loop thread, which costs less
        than the hand-off.
        """
        if self._from_memory is not None:
            try:
                if self._answer_from_memory(sock, client, request, leftover):
                    return
            except Exception:  # on the loop thread: this connection ends, the loop goes on
                self._failed(sock, request)
                return
        self._this_pass.append((sock, client, request, leftover))

    def hand_on_pass(self) -> None:
        """Queue the requests of the loop's pass for the workers, together (``after_pass``).

        A worker woken in the middle of the pass wants the GIL back at each of
        the loop's next syscalls (accept, recv), so the two threads traded it
        several times per request. Woken once the pass is done, it mostly finds
        the loop asleep in ``select``. Measured with wrk (50 connections, hello):
        context switches per request 1.5 -> 0.7, server CPU per request 58 -> 47 µs,
        with threads=False at 46 µs in the same runs.
        """
        this_pass = self._this_pass
        while this_pass:
            item = this_pass.popleft()
            try:
                self._submit(*item)
            except Exception:  # on the loop thread: this connection ends, the loop goes on
                self._failed(item[0], item[2])

    def _submit(
        self, sock: Any, client: Tuple[str, int], request: HttpRequest, leftover: int
    ) -> None:
        pool = self.pool
        assert pool is not None
        try:
            stuck = pool.submit((sock, client, request, leftover))
        except Exception as exc:  # no thread could start (memory, a thread limit): 503, go on
            log.error(
                "no handler thread for %s %s (%s); answered 503", request.method, request.uri, exc
            )
            request.close()
            head = error_head(
                503,
                "no handler thread could start; try again shortly",
                http_date_now(),
                retry_after=1,
            )
            log_access(client, request, 503, answer_body_size(head))
            self._loop.adopt(sock, client, Writer(head, b""), may_still_send(request, leftover))
            return
        if stuck:
            self._loop.check_pool_soon()

    def work(self, item: Item) -> None:
        """A worker thread's job: one request from ``dispatch_to_pool``."""
        try:
            self.respond(*item)
        except BaseException:  # run_handler answers the handler's own; this is ours
            self._failed(item[0], item[2])

    def respond_in_order(
        self, sock: Any, client: Tuple[str, int], request: HttpRequest, leftover: int
    ) -> None:
        """The loop's dispatch for ``threads=False``: ``respond`` on the loop thread.

        A failure ends this connection only.
        """
        try:
            if self._from_memory is None or not self._answer_from_memory(
                sock, client, request, leftover
            ):
                self.respond(sock, client, request, leftover)
        except KeyboardInterrupt:
            raise  # the main thread's Ctrl-C: the server's own signal handling decides
        except BaseException:
            self._failed(sock, request)

    def _answer_from_memory(
        self, sock: Any, client: Tuple[str, int], request: HttpRequest, leftover: int
    ) -> bool:
        """Send the answer ``from_memory`` has ready for ``request``; ``False`` if it has none.

        The handler's own answer, made without calling it (``_static.kept_answerer``).
        """
        from_memory = self._from_memory
        assert from_memory is not None
        try:
            ready = from_memory(request, http_date_now())
        except Exception:  # a bug in the short way: the handler's long way still answers
            log.exception("the kept-file answer failed for %s", request.uri)
            return False
        if ready is None:
            return False
        head, body = ready
        try:
            if self._prepare is not None:
                client = self._prepare(request)
            request.close()  # a body the request framed (GET may carry one), as respond does
            if access_log.isEnabledFor(INFO):
                log_access(client, request, 200, body_size(body))
        except BaseException:
            if type(body) is FileBody:
                body.close()  # a large file's descriptor, opened for this answer
            raise
        # On the loop thread: what the socket does not take goes straight to the loop.
        self.send(sock, client, request, leftover, head, body, self._loop.adopt)
        return True

    def _failed(self, sock: Any, request: HttpRequest) -> None:
        """Something failed past the handler before the response was handed on: free the slot."""
        log.exception("responding to %s %s failed; connection closed", request.method, request.uri)
        if sock.fileno() >= 0:  # not closed already on the way
            abort(sock)
            self._close(sock)

    # -- the way out -----------------------------------------------------------

    def respond(
        self, sock: Any, client: Tuple[str, int], request: HttpRequest, leftover: int
    ) -> None:
        """Run the handler and send what it made (see the module docstring)."""
        if self._prepare is not None:  # HTTPS, a unix socket, or behind a trusted proxy
            client = self._prepare(request)
        try:
            head, body, status, length = run_handler(
                self.handler, self.args, request, prime=self._streams is None
            )
        finally:
            request.close()  # a body spooled to a temporary file, and its uploads
        if type(body) is StreamBody and self._streams is not None:
            # On a thread of its own (or a 503 past maxStreams): a stream may last for
            # hours, and this worker goes back to the pool.
            self._streams.hand_off(
                sock,
                client,
                request,
                (head, body, status, length),
                self.handler,
                may_still_send(request, leftover),
            )
            return
        if access_log.isEnabledFor(INFO):
            log_access(client, request, status, body_size(body))
        self.send(sock, client, request, leftover, head, body)

    def send(
        self,
        sock: Any,
        client: Tuple[str, int],
        request: HttpRequest,
        leftover: int,
        head: bytes,
        body: Body,
        give: Optional[Callable[[Any, Tuple[str, int], Optional[Writer], bool], None]] = None,
    ) -> None:
        """Send ``head`` and ``body``: finish here (send, close), or give the rest to the loop.

        ``give``: how the rest reaches the loop (``Loop.adopt`` on its thread);
        by default the way of this server's handlers' threads.
        """
        if type(body) is FileBody:
            small = read_small_file(body)
            if small is not None:
                body = small
        writer: Optional[Writer] = None
        if type(body) is bytes and len(body) <= JOIN_LIMIT:
            data = head + body if body else head
            try:
                sent = sock.send(data, DONTWAIT)
            except WOULD_BLOCK:
                sent = 0
            except OSError:  # the client is gone: nothing to finish or drain
                self._close(sock)
                return
            if sent != len(data):
                writer = Writer(data[sent:], b"")
            elif not leftover and not request.unread_body:
                # The common case: all out, nothing to drain (may_still_send inline).
                sock.close()
                self._released()
                return
        else:
            # threads=False: the loop may not block, so a StreamWriter pulls a
            # stream's next piece each time the socket drains.
            writer = (
                StreamWriter(head, body)
                if isinstance(body, StreamBody)
                else Writer(head, body, self._zero_copy)
            )
            done = self._write_first(sock, request, writer)
            if done is None:
                return
            if done:
                writer = None
        linger = may_still_send(request, leftover)
        if writer is None and not linger:
            self._close(sock)  # a file all out (sendfile): no Connection, no wake-up of the loop
            return
        (give or self._give)(sock, client, writer, linger)

    def _write_first(self, sock: Any, request: HttpRequest, writer: Writer) -> Optional[bool]:
        """Send what ``writer`` can without blocking: True when all is out, False when the
        loop must finish it, ``None`` when the send failed (the socket is closed then)."""
        try:
            return writer.write(sock)
        except OSError:
            writer.close()
            self._close(sock)
        except Exception:
            log.exception("sending the response to %s %s failed", request.method, request.uri)
            writer.close()
            abort(sock)
            self._close(sock)
        return None

    def _close(self, sock: Any) -> None:
        """Close a socket the loop handed out, and tell the loop (it counts open connections)."""
        sock.close()
        self._released()
