"""``basicAuth``: HTTP Basic authentication (RFC 7617) in front of a handler.

Passwords are compared with ``hmac.compare_digest``, whose time does not
depend on where two strings first differ, so a client cannot find a
password a character at a time by timing answers; an unknown name costs the
same comparison against a stand-in.  Basic sends the password with every
request, readable by anyone on the path unless the connection is HTTPS: the
guard logs one WARNING when a plain-HTTP server it guards listens beyond
loopback (``warn_if_exposed``, at startup) or the first time a password
reaches it over plain HTTP from another machine.
"""

from __future__ import annotations

import logging
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Callable, Dict, Optional, Tuple, Union

    from ._message import HttpRequest, HttpResponse

    Handler = Callable[..., Any]
    Users = Union[Dict[str, str], Callable[[str, str], bool]]

log = logging.getLogger("picohttp")

_STAND_IN = b"\x00" * 32  # compared against when the name is unknown, to take the same time


def credentials(authorization: Optional[str]) -> Optional[Tuple[str, str]]:
    """``(name, password)`` from an ``Authorization: Basic ...`` value, else ``None``."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    import base64

    try:
        decoded = base64.b64decode(token.strip().encode("ascii"), validate=True)
    except (ValueError, UnicodeError):  # binascii.Error is a ValueError
        return None
    try:
        text = decoded.decode("utf-8")  # RFC 7617 section 2.1: charset="UTF-8"
    except UnicodeDecodeError:
        text = decoded.decode("latin-1")  # what older clients send
    name, colon, password = text.partition(":")
    if not colon:
        return None
    return name, password


def _is_loopback(client: Any) -> bool:
    import ipaddress

    if not client:
        return True  # no peer address (the test client gives one): nothing crossed a network
    try:
        return ipaddress.ip_address(str(client[0]).split("%")[0]).is_loopback
    except ValueError:
        return False  # a UNIX socket path or a proxy's name: not known to be this machine


def basicAuth(handler: Handler, users: Users, realm: str = "picohttp") -> BasicAuthGuard:
    """A handler that calls ``handler`` only for requests with a valid user name and password.

    ``users`` is a ``dict`` of name -> password, or a function ``(name,
    password) -> bool``.  A request without valid credentials gets 401 with
    ``WWW-Authenticate: Basic realm="<realm>", charset="UTF-8"`` (the browser
    then asks for them; through ``HttpServer``'s ``errorHandler`` when it has
    one); an accepted one reaches ``handler`` with ``request.user`` set to
    the name.  Extra arguments (``HttpServer``'s ``args``, ``Router``
    captures) are passed through, so it guards a whole ``Router`` or one route::

        picohttp.HttpServer(8080, picohttp.basicAuth(handler, {"admin": "s3cret"}))

    Use it over HTTPS (``tls=``, or behind a TLS proxy): Basic sends the
    password in the clear.  A WARNING is logged once: when a plain-HTTP
    ``HttpServer`` guarded so listens beyond loopback, or else when a
    password first arrives over plain HTTP from another machine.
    """
    if not callable(handler):
        raise TypeError(f"basicAuth needs a handler (a callable), not {handler!r}")
    if isinstance(users, dict):
        table = {}
        for name, password in users.items():
            if not isinstance(name, str) or not isinstance(password, str) or ":" in name:
                raise ValueError(
                    f"basicAuth users are name -> password strings, a name without ':', "
                    f"not {name!r}"
                )
            table[name] = password.encode("utf-8")
        check: Callable[[str, str], bool] = _table_check(table)
    elif callable(users):
        check = users
    else:
        raise TypeError("basicAuth users is a dict of name -> password or a function")
    if not isinstance(realm, str) or any(c in realm for c in '"\\') or not realm.isprintable():
        raise ValueError(f"realm {realm!r}: printable text without '\"' or '\\\\'")
    return BasicAuthGuard(handler, check, f'Basic realm="{realm}", charset="UTF-8"')


class BasicAuthGuard:
    """What ``basicAuth`` returns: a handler that checks credentials, then calls the guarded one."""

    def __init__(self, handler: Handler, check: Callable[[str, str], bool], challenge: str) -> None:
        self.handler = handler
        self.check = check
        self.challenge = challenge
        self.warned = threading.Event()  # set once the plain-HTTP WARNING was logged
        inner = getattr(handler, "__qualname__", None) or type(handler).__name__
        self.__qualname__ = f"basicAuth({inner})"
        self.__wrapped__ = handler  # Router checks a route's captures through it

    def __call__(
        self, request: HttpRequest, response: HttpResponse, *args: Any, **kwargs: Any
    ) -> None:
        given = credentials(request.headers.get("Authorization"))
        if given is not None:
            if (
                not self.warned.is_set()
                and request.scheme != "https"
                and not _is_loopback(request.client)
            ):
                self.warn_plain_http(f"from {request.client[0] if request.client else '?'}")
            if self.check(*given):
                request.user = given[0]
                self.handler(request, response, *args, **kwargs)
                return
        response.status = 401
        response.headers["WWW-Authenticate"] = self.challenge
        response.data = "401 Unauthorized\n"
        response.mark_error("Unauthorized")

    def warn_plain_http(self, where: str) -> None:
        """Log, once, that passwords cross the network unencrypted (``where``: whence)."""
        if not self.warned.is_set():
            self.warned.set()
            log.warning(
                "basicAuth over plain HTTP %s: passwords are readable on the way; "
                "serve HTTPS (tls=, --certfile) or listen on 127.0.0.1 only",
                where,
            )

    def __repr__(self) -> str:
        return f"<{self.__qualname__}>"


def loopback_only(host: Optional[str]) -> bool:
    """True when a server bound to ``host`` is reachable from this machine only."""
    if host in (None, "", "::", "0.0.0.0"):
        return False
    if host == "localhost" or host.startswith("unix:"):  # a unix socket: this machine's
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def warn_if_exposed(handler: Any, host: Optional[str]) -> None:
    """At startup of a plain-HTTP server: one WARNING if ``basicAuth`` guards it beyond loopback.

    Follows ``__wrapped__`` through wrappers (``cors``, ``withHeaders``,
    ``errorHandler``'s), so a guard anywhere in that chain is found; one inside
    a ``Router`` warns at its first password from another machine instead.
    """
    if loopback_only(host):
        return
    for _ in range(32):  # a wrapper chain, not a cycle
        if isinstance(handler, BasicAuthGuard):
            handler.warn_plain_http(f"on {host or 'every interface'}")
            return
        handler = getattr(handler, "__wrapped__", None)
        if handler is None:
            return


def _table_check(table: Dict[str, bytes]) -> Callable[[str, str], bool]:
    import hmac  # here, not at import: it loads hashlib, and most servers never need it

    def check(name: str, password: str) -> bool:
        expected = table.get(name)
        given = password.encode("utf-8", "surrogateescape")
        # Compared either way, so an unknown name takes as long as a wrong password.
        same = hmac.compare_digest(given, _STAND_IN if expected is None else expected)
        return same and expected is not None

    return check


def read_users(lines: Any, source: str) -> Dict[str, str]:
    """``name:password`` lines (blank lines and ``#`` comments skipped) -> a ``dict``.

    ``ValueError`` names the line that has no ``:`` or an empty name.
    """
    users: Dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, colon, password = line.partition(":")
        if not colon or not name:
            raise ValueError(f"{source}, line {number}: expected name:password")
        users[name] = password
    return users
