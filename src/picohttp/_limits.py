"""The bounds every request is held to, in one place.

Each field but ``spool_threshold`` is also an ``HttpServer`` keyword (the
camelCase name beside it), so a limit is raised where the server is made and
the error a client gets names that keyword.  The defaults follow design.md
section 2 and, where they agree, nginx and waitress (8 KiB request line, 64 KiB
of head, 100 fields, 64 KiB of a body in memory).
"""

from __future__ import annotations

from ._errors import RemoteProtocolError

KIB = 1024
MIB = 1024 * KIB

_INTS = ("max_request_line", "max_header_bytes", "max_headers", "max_body", "spool_threshold")
_SECONDS = ("head_timeout", "read_timeout", "write_timeout", "min_body_rate")
_FIELDS = (*_INTS[:4], *_SECONDS[:3], "spool_threshold", "min_body_rate")  # __init__'s order


class Limits:
    """Bounds on one request; see the README's "Limits and hostile input".

    Immutable; ``Limits(max_body=1024)`` changes one bound and keeps the other
    defaults.  (A plain class, not a dataclass: ``dataclasses`` imports
    ``inspect``, which alone costs more import time than all of picohttp.)
    """

    #: ``maxRequestLine``: longest request line, CRLF excluded (else 414).
    max_request_line: int = 8 * KIB
    #: ``maxHeaderBytes``: longest request head, request line included (else 431).
    max_header_bytes: int = 64 * KIB
    #: ``maxHeaders``: most header fields (else 431).
    max_headers: int = 100
    #: ``maxBody``: largest body, checked against Content-Length before reading (else 413).
    max_body: int = 16 * MIB
    #: ``headTimeout``: seconds for the whole request head, from accept (else 408 or close).
    head_timeout: float = 10.0
    #: ``readTimeout``: seconds any one read of the body may wait (else 408).
    read_timeout: float = 10.0
    #: ``writeTimeout``: seconds the client may take to accept more of the response.
    write_timeout: float = 30.0
    #: Most bytes of one body held in memory; a larger body goes to a temporary
    #: file as it arrives (nginx's ``client_body_buffer_size``).  Not an
    #: ``HttpServer`` keyword: it bounds the memory of every connection.
    spool_threshold: int = 64 * KIB
    #: ``minBodyRate``: the whole body must be in within ``headTimeout`` of the end of
    #: the head, plus one second for each ``minBodyRate`` bytes received (else 408),
    #: so a trickle cannot hold a connection for long; Apache's
    #: ``RequestReadTimeout body=...,MinRate=500``.
    min_body_rate: float = 500

    def __init__(
        self,
        max_request_line: int = max_request_line,
        max_header_bytes: int = max_header_bytes,
        max_headers: int = max_headers,
        max_body: int = max_body,
        head_timeout: float = head_timeout,
        read_timeout: float = read_timeout,
        write_timeout: float = write_timeout,
        spool_threshold: int = spool_threshold,
        min_body_rate: float = min_body_rate,
    ) -> None:
        values = dict(locals())
        del values["self"]
        for name in _INTS:
            value = values[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{_knob(name)} must be a positive int, not {value!r}")
        for name in _SECONDS:
            value = values[name]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{_knob(name)} must be a positive number, not {value!r}")
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in _FIELDS)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Limits is immutable: make a new one with {name}={value!r}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Limits) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS)
        return f"Limits({fields})"


#: The public ``HttpServer`` keyword of each limit, for messages that tell a
#: user which knob to turn.  ``spool_threshold`` has none (see its comment):
#: a message about it names the ``Limits`` parameter instead.
KEYWORDS = {
    "max_request_line": "maxRequestLine",
    "max_header_bytes": "maxHeaderBytes",
    "max_headers": "maxHeaders",
    "max_body": "maxBody",
    "head_timeout": "headTimeout",
    "read_timeout": "readTimeout",
    "write_timeout": "writeTimeout",
    "min_body_rate": "minBodyRate",
}


def limit_error(status: int, what: str, limit_name: str, value: int) -> RemoteProtocolError:
    """The error for ``what`` over limit ``limit_name``, naming the keyword that raises it."""
    keyword = KEYWORDS[limit_name]
    return RemoteProtocolError(
        status, f"{what} exceeds {keyword}={value} (raise it with HttpServer({keyword}=...))"
    )


def _knob(name: str) -> str:
    """What a user sets to change the limit ``name``: its keyword, else ``Limits``' parameter."""
    keyword = KEYWORDS.get(name)
    return keyword if keyword is not None else f"Limits({name}=...)"


DEFAULT_LIMITS = Limits()
