"""The one error family of the pure layer.

The parser raises ``RemoteProtocolError(status, reason)`` for anything a client
got wrong; the server turns it into that short 4xx/5xx answer and closes.  The
serializer raises ``LocalProtocolError`` for a response that cannot be put on
the wire (a header with CR/LF/NUL, a body of an unknown type); the server logs
it and answers 500 instead.  ``HttpError`` is the application's own: a handler
raises it to answer an error status (404, 409...) from wherever it is.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Dict, Mapping, Optional


class ProtocolError(Exception):
    """Base of picohttp's HTTP errors; ``status`` is the answer it calls for."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class RemoteProtocolError(ProtocolError):
    """The client sent something picohttp refuses; answer ``status`` and close."""


class LocalProtocolError(ProtocolError):
    """The handler produced a response that cannot be sent; answer 500."""

    def __init__(self, reason: str) -> None:
        super().__init__(500, reason)


class HttpError(Exception):
    """Raised by a handler (or anything it calls): answer ``status`` instead.

    ``HttpError(404)``, ``HttpError(409, "name taken")``, ``HttpError(429,
    headers={"Retry-After": "60"})``.  ``status`` is an int from 400 to 599;
    ``message`` a short reason for the client (default: the status's reason
    phrase); ``headers`` a dict of fields sent with the answer.  The server
    sends ``"<status> <reason>: <message>"`` as plain text, or whatever the
    server's ``errorHandler`` makes of it, and logs it at DEBUG only: it is
    the application's answer, not a failure.
    """

    def __init__(
        self,
        status: int,
        message: Optional[str] = None,
        headers: Optional[Mapping[str, Any]] = None,
    ) -> None:
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"HttpError needs a status from 400 to 599, not {status!r}")
        if message is not None and not isinstance(message, str):
            raise TypeError(f"HttpError's message is a str, not {type(message).__name__}")
        super().__init__(status, message)
        self.status = status
        self.message = message
        self.headers: Dict[str, Any] = dict(headers) if headers else {}

    def __str__(self) -> str:
        return f"{self.status}: {self.message}" if self.message else str(self.status)
