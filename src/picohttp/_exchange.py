"""One request -> one response: call the handler, turn failures into 500s.

Shared by the worker threads and the in-order (``threads=False``) path, so
both answer identically.  The handler's traceback goes to the ``picohttp``
logger and never to the client (uvicorn's rule: log it, send a bare 500).
Also here: the per-second ``Date`` cache and the Common Log Format line.
"""

from __future__ import annotations

import logging
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
    handler: Handler, args: Sequence[Any], request: HttpRequest
) -> Tuple[bytes, Body, int, Optional[int]]:
    """Call ``handler(request, response, *args)`` and serialize what it left.

    Returns ``(head, body, status, content_length)``.  A handler exception or
    an unsendable response is logged once and becomes a plain 500, except an
    ``HttpError`` (the handler's own answer, with its headers) and a
    ``RemoteProtocolError`` (such as ``request.form`` raises for a malformed
    form): the client gets its status and reason, as for a bad request head.
    """
    response = HttpResponse()
    response.request = request  # setCookie's secure=None looks at its scheme
    try:
        handler(request, response, *args)
    except Exception as exc:
        discard_body(response.data)
        status, message, headers = failure_answer(exc, handler, request)
        if not isinstance(exc, HttpError):
            return _error(status, message, request.method)
        response = HttpResponse(
            status=status, headers=Headers(headers), data=plain_text(status, message)
        )
    try:
        result = serialize(response, request.method, http_date_now())
        if isinstance(result[1], StreamBody):
            result[1].prime()  # an iterator that fails at once is still a 500, not a cut 200
        return result
    except Exception as exc:
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
        discard_body(getattr(response, "data", None))
        return _error(500, "the handler's response could not be sent", request.method)


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
    if method == "HEAD":  # the head of the would-be answer, never content (RFC 9110 9.3.2)
        message = message[: message.index(b"\r\n\r\n") + 4]
    return message, b"", status, None


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
    """Printable ASCII stays; anything else becomes ``\\xNN`` (no log injection)."""
    if text.isascii() and text.isprintable():
        return text
    return text.encode("unicode_escape").decode("ascii").replace('"', '\\"')


def log_access(
    client: Any, request: Optional[HttpRequest], status: int, size: Optional[int]
) -> None:
    """One Common Log Format line on ``picohttp.access`` (INFO), if anyone listens.

    ``request`` is ``None`` for a request the parser refused.
    """
    if access_log.isEnabledFor(logging.INFO):
        host = client[0] if client else "-"
        line = "-" if request is None else f"{request.method} {request.uri} {request.protocol}"
        access_log.info(
            '%s - - [%s] "%s" %d %s',
            host,
            _clf_time(),
            escape_for_log(line),
            status,
            "-" if size is None else size,
        )
