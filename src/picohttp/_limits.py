"""The bounds every request is held to, in one place.

Each field is also an ``HttpServer`` keyword (the camelCase name beside it), so
a limit is raised where the server is made and the error a client gets names
that keyword.  The defaults follow design.md section 2 and, where they agree,
nginx and waitress (8 KiB request line, 64 KiB of head, 100 fields).
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Limits:
    """Bounds on one request; see the README's "Limits and hostile input"."""

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
    #: Bodies larger than this go to a temporary file as they arrive.
    spool_threshold: int = 1 * MIB

    def __post_init__(self) -> None:
        for name in ("max_request_line", "max_header_bytes", "max_headers", "max_body"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{KEYWORDS[name]} must be a positive int, not {value!r}")
        for name in ("head_timeout", "read_timeout", "write_timeout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{KEYWORDS[name]} must be a positive number, not {value!r}")


#: The public ``HttpServer`` keyword of each limit, for messages that tell a
#: user which knob to turn.
KEYWORDS = {
    "max_request_line": "maxRequestLine",
    "max_header_bytes": "maxHeaderBytes",
    "max_headers": "maxHeaders",
    "max_body": "maxBody",
    "head_timeout": "headTimeout",
    "read_timeout": "readTimeout",
    "write_timeout": "writeTimeout",
    "spool_threshold": "spoolThreshold",
}

DEFAULT_LIMITS = Limits()
