"""``HttpServer(errorHandler=f)``: one function makes every error answer a request gets.

``with_error_handler(handler, f)`` is the handler the server runs instead of
``handler``: the same call, and then, when the answer is an error, ``f(request,
response, status, message)`` fills the response instead of picohttp's plain
text.  Error answers are: an ``HttpError`` the handler raised, any other
exception (a 500, logged with its traceback; ``message`` never holds the
exception's text), a 4xx found while the handler read the request
(``request.json``'s 400, ``request.form``'s 400 or 413), and a response the
framework marked as its own error (``HttpResponse.mark_error``: the Router's
404 and 405, ``basicAuth``'s 401), whose headers (``Allow``,
``WWW-Authenticate``) stay.  A status a handler sets itself is its answer and
is left alone.  When ``f`` fails, the plain answer goes out and the failure is
logged.  A server without ``errorHandler`` never runs any of this.
"""

from __future__ import annotations

import logging

from ._exchange import discard_body, failure_answer, plain_text
from ._headers import Headers

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Callable

    from ._message import HttpRequest, HttpResponse

    Handler = Callable[..., Any]

log = logging.getLogger("picohttp")


def with_error_handler(handler: Handler, error_handler: Handler) -> Handler:
    """``handler``, with its error answers made by ``error_handler`` (see the module)."""
    if not callable(error_handler):
        raise TypeError(f"errorHandler must be callable, not {error_handler!r}")

    def guarded(request: HttpRequest, response: HttpResponse, *args: Any, **kwargs: Any) -> None:
        try:
            handler(request, response, *args, **kwargs)
        except Exception as exc:
            discard_body(response.data)
            status, message, headers = failure_answer(exc, handler, request)
            response.status = status
            response.headers = Headers(headers)
        else:
            marked = response.error_message
            if marked is None:
                return  # the handler's own answer, whatever its status
            status, message = response.status, marked
            discard_body(response.data)
        response.data = None
        kept = dict(response.headers)  # for the plain answer, should error_handler fail
        try:
            error_handler(request, response, status, message)
        except Exception:
            log.exception(
                "errorHandler %s failed on %s %s (answering %d); the plain answer is sent",
                getattr(error_handler, "__qualname__", None) or repr(error_handler),
                request.method,
                request.uri,
                status,
            )
            discard_body(response.data)
            response.status = status
            response.headers = Headers(kept)
            response.data = plain_text(status, message)

    inner = getattr(handler, "__qualname__", None) or type(handler).__name__
    guarded.__qualname__ = guarded.__name__ = inner  # tracebacks name the application's handler
    guarded.__wrapped__ = handler  # type: ignore[attr-defined]
    return guarded
