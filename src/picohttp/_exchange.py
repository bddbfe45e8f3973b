"""One request -> one response: call the handler, turn failures into 500s.

Shared by the worker threads and the in-order (``threads=False``) path, so
both answer identically.  The handler's traceback goes to the ``picohttp``
logger and never to the client (uvicorn's rule: log it, send a bare 500).
Also here: the per-second ``Date`` cache and the Common Log Format line.
"""

from __future__ import annotations

import logging
import threading
import time

from ._errors import HttpError, LocalProtocolError, RemoteProtocolError
from ._headers import Headers
from ._httpdate import format_http_date
from ._message import HttpRequest, HttpResponse
from ._serializer import REASONS, FileBody, StreamBody, error_head, serialize

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Callable, Dict, Optional, Sequence, Tuple

    from ._serializer import Body

    Handler = Callable[..., Any]

log = logging.getLogger("picohttp")
access_log = logging.getLogger("picohttp.access")


_MAIN = threading.main_thread()

_date_second = -1
_date_text = ""


def http_date_now() -> str:
    """The current ``Date`` value, formatted once per second (it changes no faster)."""
    global _date_second, _date_text
    now = int(time.time())
    if now != _date_second:
        _date_text = format_http_date(now)
        _date_second = now
    return _date_text


def run_handler(
    handler: Handler, args: Sequence[Any], request: HttpRequest, prime: bool = True
) -> Tuple[bytes, Body, int, Optional[int]]:
    """Call ``handler(request, response, *args)`` and serialize what it left.

    Returns ``(head, body, status, content_length)``.  A handler exception or
    an unsendable response is logged once and becomes a plain 500, except an
    ``HttpError`` (the handler's own answer, with its headers) and a
    ``RemoteProtocolError`` (such as ``request.form`` raises for a malformed
    form): the client gets its status and reason, as for a bad request head.
    A ``BaseException`` that is not an ``Exception`` (``SystemExit`` from
    argparse, ``GeneratorExit``) is a 500 too, so it frees its connection and
    never ends the server; only ``KeyboardInterrupt`` on the main thread (a
    Ctrl-C with ``threads=False``) goes on up.
    ``prime=False`` leaves a streamed body's first piece to ``prime_stream``,
    on the thread that will send the stream.
    """
    response = HttpResponse()
    response.request = request  # setCookie's secure=None looks at its scheme
    try:
        if handler(request, response, *args) is not None:
            warn_returned(handler)
    except Exception as exc:
        discard_body(response.data)
        status, message, headers = failure_answer(exc, handler, request)
        if not isinstance(exc, HttpError):
            return _error(status, message, request.method)
        response = HttpResponse(
            status=status, headers=Headers(headers), data=plain_text(status, message)
        )
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt) and threading.current_thread() is _MAIN:
            raise
        discard_body(response.data)
        log.error(
            "handler %s raised %s on %s %s",
            _name(handler),
            type(exc).__name__,
            request.method,
            request.uri,
            exc_info=True,
        )
        return _error(500, "the request handler failed", request.method)
    try:
        result = serialize(response, request.method, http_date_now())
        if prime and isinstance(result[1], StreamBody):
            result[1].prime()  # an iterator that fails at once is still a 500, not a cut 200
        return result
    except BaseException as exc:  # SystemExit from a generator's first piece too
        if isinstance(exc, KeyboardInterrupt) and threading.current_thread() is _MAIN:
            raise
        return _unsendable(exc, handler, request, getattr(response, "data", None))


def prime_stream(
    handler: Handler, request: HttpRequest, result: Tuple[bytes, Body, int, Optional[int]]
) -> Tuple[bytes, Body, int, Optional[int]]:
    """Take the first piece of the streamed body ``run_handler(..., prime=False)`` returned.

    Returns ``result``, or the 500 answer (logged as ``run_handler`` logs it)
    when the iterator fails at once (``BaseException`` too, as in
    ``run_handler``): no head has been sent yet.
    """
    body = result[1]
    if isinstance(body, StreamBody):
        try:
            body.prime()
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt) and threading.current_thread() is _MAIN:
                raise
            return _unsendable(exc, handler, request, body.iterator)
    return result


def _unsendable(
    exc: BaseException, handler: Handler, request: HttpRequest, data: Any
) -> Tuple[bytes, Body, int, Optional[int]]:
    # A LocalProtocolError says what is wrong; anything else (a str with a lone
    # surrogate, headers that are not a dict, ...) is logged with its traceback.
    if isinstance(exc, LocalProtocolError):
        reason, trace = exc.reason, False
    else:
        reason, trace = f"{type(exc).__name__}: {exc}", True
    log.error(
        "unsendable response from %s on %s %s: %s",
        _name(handler),
        request.method,
        request.uri,
        reason,
        exc_info=trace,
    )
    discard_body(data)
    return _error(500, "the handler's response could not be sent", request.method)


_warned_returns: set[tuple[str, str]] = set()  # (module, name) of each handler warned about


def warn_returned(handler: Handler) -> None:
    """Say once per handler that a returned value is not sent: ``response.data`` is.

    The Flask and bottle habit (``return "text"``) otherwise gives an empty
    200 without a word.  Called only when a handler returned something, so a
    handler that returns ``None`` pays one ``is not None`` test.
    """
    key = (str(getattr(handler, "__module__", "")), _name(handler))
    if key in _warned_returns:
        return
    _warned_returns.add(key)
    log.warning(
        "handler %s returned a value, which picohttp does not send: "
        "set response.data instead (response.data = ...)",
        _name(handler),
    )


def failure_answer(
    exc: Exception, handler: Handler, request: HttpRequest
) -> Tuple[int, str, Optional[Dict[str, Any]]]:
    """``(status, message, headers)`` to answer for what ``handler`` raised; logged here.

    ``HttpError`` and a 4xx/5xx ``RemoteProtocolError`` (found while the handler
    read the request: a malformed form, a form over a limit) are answers, logged
    at DEBUG; anything else is a failure of the handler, logged with its
    traceback, and a 500 whose message never shows the exception's text.
    """
    if isinstance(exc, HttpError):
        message = exc.message or REASONS.get(exc.status, "")
        log.debug("%s %s: %d %s", request.method, request.uri, exc.status, message)
        return exc.status, message, exc.headers
    if isinstance(exc, RemoteProtocolError) and 400 <= exc.status <= 599:
        log.debug("%s %s: %d %s", request.method, request.uri, exc.status, exc.reason)
        return exc.status, exc.reason, None
    log.exception("handler %s raised on %s %s", _name(handler), request.method, request.uri)
    return 500, "the request handler failed", None


def plain_text(status: int, message: Optional[str]) -> str:
    """The plain-text body of an error answer: ``"404 Not Found: no such item\n"``."""
    reason = REASONS.get(status, "")
    if not message or message == reason:
        return f"{status} {reason}\n"
    return f"{status} {reason}: {message}\n"


def _error(status: int, reason: str, method: str) -> Tuple[bytes, Body, int, Optional[int]]:
    message = error_head(status, reason, http_date_now())
    end = message.index(b"\r\n\r\n") + 4
    # Head and body apart, as for any answer, so the access log sees the body's
    # size; a HEAD gets the head of the would-be answer, never content (RFC 9110 9.3.2).
    body = b"" if method == "HEAD" else message[end:]
    return message[:end], body, status, len(message) - end


def body_size(body: Body) -> Optional[int]:
    """The body bytes an answer sends, for the access log: 0 for ``HEAD``'s empty body.

    ``None`` (logged as ``-``) for a stream, whose length is not known when
    it starts, and for a file whose size could not be told.
    """
    if type(body) is bytes:
        return len(body)
    if type(body) is FileBody:
        return body.length
    return None


def answer_body_size(answer: bytes) -> int:
    """The body bytes of a complete answer (head and body in one, as ``error_head`` makes)."""
    return len(answer) - answer.index(b"\r\n\r\n") - 4


def discard_body(data: Any) -> None:
    """Close a file or generator the handler left behind for a response never sent."""
    if isinstance(data, FileBody) or (
        hasattr(data, "close") and (hasattr(data, "read") or hasattr(data, "__next__"))
    ):
        try:
            data.close()
        except Exception:
            log.debug("closing an unsent response body failed", exc_info=True)


def _name(handler: Handler) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _clf_time() -> str:
    now = time.localtime()
    offset = now.tm_gmtoff or 0
    sign = "-" if offset < 0 else "+"
    offset = abs(offset) // 60
    return (
        f"{now.tm_mday:02d}/{_MONTHS[now.tm_mon - 1]}/{now.tm_year}:"
        f"{now.tm_hour:02d}:{now.tm_min:02d}:{now.tm_sec:02d} "
        f"{sign}{offset // 60:02d}{offset % 60:02d}"
    )


def escape_for_log(text: str) -> str:
    """Printable ASCII stays; anything else becomes ``\\xNN`` (no log injection).

    Controls, C0 and C1 alike (``\\x85`` is a line break to some log viewers),
    and every non-ASCII character are escaped; so are ``\\`` and ``"``, so an
    escaped field can never close the quotes around it or fake an escape.
    """
    if text.isascii() and text.isprintable() and "\\" not in text and '"' not in text:
        return text
    return text.encode("unicode_escape").decode("ascii").replace('"', '\\"')


def log_access(
    client: Any, request: Optional[HttpRequest], status: int, size: Optional[int]
) -> None:
    """One Common Log Format line on ``picohttp.access`` (INFO), if anyone listens.

    ``request`` is ``None`` for a request the parser refused.  ``size`` is the
    body bytes sent (``body_size``), ``None`` when not known (logged ``-``).
    """
    if access_log.isEnabledFor(logging.INFO):
        host = escape_for_log(str(client[0])) if client else "-"
        line = "-" if request is None else f"{request.method} {request.uri} {request.protocol}"
        access_log.info(
            '%s - - [%s] "%s" %d %s',
            host,
            _clf_time(),
            escape_for_log(line),
            status,
            "-" if size is None else size,
        )
