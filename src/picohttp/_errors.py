"""The one error family of the pure layer.

The parser raises ``RemoteProtocolError(status, reason)`` for anything a client
got wrong; the server turns it into that short 4xx/5xx answer and closes.  The
serializer raises ``LocalProtocolError`` for a response that cannot be put on
the wire (a header with CR/LF/NUL, a body of an unknown type); the server logs
it and answers 500 instead.
"""

from __future__ import annotations


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
