"""Behind a reverse proxy: ``X-Forwarded-For`` / ``X-Forwarded-Proto``, when trusted.

Pure header work, no I/O.  Used only when the server (or the WSGI adapter) was
made with ``trustProxy``; otherwise these fields are ordinary headers and
``request.client`` is the socket's peer.

Each proxy *appends* the address it received the request from to
``X-Forwarded-For`` (nginx: ``$proxy_add_x_forwarded_for``), so only the
entries added by proxies we trust are facts; everything to their left came
from the client and may be forged.  With ``hops`` trusted proxies in front,
the client is therefore the ``hops``-th entry from the right (werkzeug's
ProxyFix and uvicorn count the same way).  The same rule picks the scheme
from ``X-Forwarded-Proto``.  A field with fewer entries than ``hops``, or an
entry that is not an IP address, changes nothing: the request did not come
through every trusted proxy, so no entry can be trusted.  Only an IP address
is ever taken (IPv4, or IPv6 without a zone such as ``%eth0``, which is the
sender's own text); anything else is logged, escaped, and ignored.
"""

from __future__ import annotations

import logging

from ._exchange import escape_for_log

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Mapping, Optional, Tuple

    from ._message import HttpRequest

log = logging.getLogger("picohttp")

_warned = False  # the first entry that is no address is a WARNING, later ones DEBUG
_MAX_LOGGED = 100  # characters of such an entry shown in the log


def proxy_hops(trust: Any) -> int:
    """The ``trustProxy`` keyword as a count of trusted proxies: False 0, True 1, or N."""
    if trust is True or trust is False:
        return int(trust)
    if not isinstance(trust, int) or trust < 0:
        raise ValueError(f"trustProxy must be True, False or a number of proxies, not {trust!r}")
    return trust


def _entry(field: Optional[str], hops: int) -> Optional[str]:
    """The ``hops``-th comma-separated entry from the right, or None."""
    if not field:
        return None
    entries = field.split(",")
    if len(entries) < hops:
        return None
    return entries[-hops].strip()


def parse_address(text: str) -> Optional[str]:
    """An IP address from one ``X-Forwarded-For`` entry, normalised; None if it is none.

    Accepts ``1.2.3.4``, ``2001:db8::1``, and the forms with a port some load
    balancers send (``1.2.3.4:5678``, ``[2001:db8::1]:5678``).  An IPv4-mapped
    IPv6 address shows as IPv4, as the server shows its peers.  Anything
    else is None: a zone (``fe80::1%eth0``: ``ipaddress`` would keep its text),
    a port that is not 1-5 digits, non-ASCII text.
    """
    import ipaddress  # only servers that trust a proxy pay for this import

    if not text.isascii() or "%" in text:
        return None
    host = _without_port(text)
    if host is None:
        return None
    text = host
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        if getattr(address, "scope_id", None):  # Python 3.9+ parses zones: never one here
            return None
    return str(address)


def _without_port(text: str) -> Optional[str]:
    """The address of an entry less its port (``[v6]:port``, ``v4:port``); None if malformed."""
    port = ""
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            return None
        text, rest = text[1:close], text[close + 1 :]
        if rest:
            if rest[:1] != ":" or len(rest) == 1:
                return None
            port = rest[1:]
    elif text.count(":") == 1:
        text, _, port = text.partition(":")
        if not port:
            return None
    if port and not (port.isdigit() and len(port) <= 5):
        return None
    return text


def _refused(entry: str) -> None:
    """Log an ``X-Forwarded-For`` entry that is no address: escaped, loudly only once."""
    global _warned
    shown = escape_for_log(entry[:_MAX_LOGGED]) + ("..." if len(entry) > _MAX_LOGGED else "")
    if not _warned:
        _warned = True
        log.warning(
            'X-Forwarded-For entry "%s" is not an IP address: request.client is the peer '
            "(logged once; later ones at DEBUG)",
            shown,
        )
    else:
        log.debug('X-Forwarded-For entry "%s" is not an IP address', shown)


def forwarded(headers: Mapping[str, str], hops: int) -> Tuple[Optional[str], Optional[str]]:
    """``(client address, scheme)`` the trusted proxies report; None where they say nothing."""
    entry = _entry(headers.get("X-Forwarded-For"), hops)
    address = None
    if entry is not None:
        address = parse_address(entry)
        if address is None:
            _refused(entry)
    scheme = _entry(headers.get("X-Forwarded-Proto"), hops)
    if scheme is not None:
        scheme = scheme.lower()
        if scheme != "http" and scheme != "https":
            scheme = None
    return address, scheme


def apply_forwarded(request: HttpRequest, hops: int) -> Tuple[str, int]:
    """Set ``request.client`` and ``request.scheme`` from the proxies' fields; the client.

    The forwarded client's port is unknown (the header carries none): 0, as
    uvicorn reports it.
    """
    address, scheme = forwarded(request.headers, hops)
    if address is not None:
        request.client = (address, 0)
    if scheme is not None:
        request.scheme = scheme
    return request.client  # type: ignore[return-value]  # the server always sets a client
