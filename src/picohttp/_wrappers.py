"""Handler wrappers: ``withHeaders`` and ``cors``.

Each takes a handler and returns a handler that calls it (passing every extra
positional and keyword argument through, so ``HttpServer``'s ``args``,
``Router`` captures and ``mount`` keywords reach it unchanged) and then adds
header fields to the response it made.  Being plain handlers, they compose
with ``Router``, ``staticResource`` and each other.  A header the wrapped
handler set itself (compared ignoring case) is left alone: the handler knows
its own response best.  Nothing here runs unless an application asks for it,
so the server's hot path does not pay for it.

What the wrappers cannot touch: the bare 500 that replaces the response of a
handler that raised, and the 4xx picohttp sends for a malformed request
before any handler runs.
"""

from __future__ import annotations

import re

from ._grammar import BAD_VALUE, TOKEN
from ._headers import Headers

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

    from ._message import HttpRequest, HttpResponse

    Handler = Callable[..., Any]
    HeaderInput = Union[Mapping[str, Any], Iterable[Tuple[str, Any]]]

# Compiled on first use (re caches it), not at import: picohttp's import time is a target.
_ORIGIN = r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]+"


def header_fields(headers: HeaderInput) -> List[Tuple[str, Any]]:
    """``headers`` as ``(name, value)`` pairs, checked now rather than at every response.

    A name given twice becomes one list value (one header line per item).
    """
    pairs = headers.items() if hasattr(headers, "items") else headers
    grouped: Dict[str, List[str]] = {}
    spelled: Dict[str, str] = {}
    for name, value in pairs:
        if not isinstance(name, str) or not TOKEN.fullmatch(name):
            raise ValueError(f"header name {name!r} is not a token")
        values = value if isinstance(value, list) else [value]
        for item in values:
            if not isinstance(item, str) or BAD_VALUE.search(item):
                raise ValueError(f"header {name}: value {item!r} is not a single line of text")
        key = name.lower()
        spelled.setdefault(key, name)
        grouped.setdefault(key, []).extend(values)
    return [
        (spelled[key], values[0] if len(values) == 1 else values) for key, values in grouped.items()
    ]


def _stored_name(headers: Dict[str, Any], name: str) -> Optional[str]:
    """How ``headers`` spells ``name``, or ``None``; a handler may have put a plain dict there."""
    if isinstance(headers, Headers):
        return name if name in headers else None
    folded = name.lower()
    for stored in headers:
        if isinstance(stored, str) and stored.lower() == folded:
            return stored
    return None


def _set_default(headers: Dict[str, Any], name: str, value: Any) -> None:
    if _stored_name(headers, name) is None:
        headers[name] = value


def _replace(headers: Dict[str, Any], name: str, value: Any) -> None:
    stored = _stored_name(headers, name)
    if stored is not None and stored != name:
        del headers[stored]
    headers[name] = value


def _add_vary(headers: Dict[str, Any], names: Iterable[str]) -> None:
    """Merge ``names`` into ``Vary`` (kept as the handler wrote it, ``*`` left alone)."""
    stored = _stored_name(headers, "Vary")
    if stored is None:
        headers["Vary"] = ", ".join(names)
        return
    current = headers[stored]
    if isinstance(current, list):
        current = ", ".join(str(item) for item in current)
    present = {item.strip().lower() for item in str(current).split(",")}
    if "*" in present:
        return
    missing = [name for name in names if name.lower() not in present]
    if missing:
        headers[stored] = ", ".join([str(current), *missing]) if current else ", ".join(missing)


def _describe(wrapper: Handler, kind: str, handler: Handler) -> Handler:
    # Router follows __wrapped__ to check that a routed function takes its
    # captures; the name is what a handler's traceback is logged under.
    inner = getattr(handler, "__qualname__", None) or type(handler).__name__
    wrapper.__qualname__ = wrapper.__name__ = f"{kind}({inner})"
    setattr(wrapper, "__wrapped__", handler)  # noqa: B010  # mypy: functions have no such attribute
    return wrapper


def withHeaders(handler: Handler, headers: HeaderInput) -> Handler:
    """A handler that calls ``handler`` and adds ``headers`` to every response it makes.

    ``headers`` is a dict (``{"X-Frame-Options": "DENY"}``) or a list of
    ``(name, value)`` pairs (a name given twice is sent twice).  A header
    the handler set itself wins.  Names and values are checked here: a name
    that is not a token or a value with a line break raises ``ValueError``.
    Extra arguments (``HttpServer``'s ``args``, ``Router`` captures) are
    passed through::

        picohttp.HttpServer(8080, picohttp.withHeaders(handler, {"X-Frame-Options": "DENY"}))
    """
    return _with_fields(handler, header_fields(headers), replace=False, kind="withHeaders")


def _with_fields(
    handler: Handler, fields: List[Tuple[str, Any]], *, replace: bool, kind: str
) -> Handler:
    if not callable(handler):
        raise TypeError(f"{kind} needs a handler (a callable), not {handler!r}")
    put = _replace if replace else _set_default

    def wrapper(request: HttpRequest, response: HttpResponse, *args: Any, **kwargs: Any) -> None:
        handler(request, response, *args, **kwargs)
        headers = response.headers
        for name, value in fields:
            put(headers, name, value)

    return _describe(wrapper, kind, handler)


def forcing_headers(handler: Handler, headers: HeaderInput) -> Handler:
    """Like ``withHeaders``, but these values replace the handler's (``--no-cache``)."""
    return _with_fields(handler, header_fields(headers), replace=True, kind="forcing")


def _allowed_origins(origins: Union[str, Iterable[str]]) -> Optional[frozenset[str]]:
    """``None`` for any origin (``"*"``), else the set of allowed origins, lowercased."""
    if origins == "*":
        return None
    listed = [origins] if isinstance(origins, str) else list(origins)
    allowed = set()
    for origin in listed:
        if not isinstance(origin, str):
            raise TypeError(f"an origin is a str such as 'https://example.com', not {origin!r}")
        if origin == "*":
            raise ValueError("'*' allows every origin: give origins='*' alone, not in a list")
        origin = origin.rstrip("/")
        if origin != "null" and not re.fullmatch(_ORIGIN, origin):
            raise ValueError(
                f"{origin!r} is not an origin: scheme://host[:port] as a browser sends it, "
                "e.g. 'http://localhost:3000'"
            )
        allowed.add(origin.lower())
    if not allowed:
        raise ValueError("no origin allowed: give origins='*' or a list of origins")
    return frozenset(allowed)


def cors(
    handler: Handler, origins: Union[str, Iterable[str]] = "*", *, maxAge: int = 7200
) -> Handler:
    """A handler that lets pages from other origins call ``handler`` (CORS).

    ``origins="*"`` (the default) sends ``Access-Control-Allow-Origin: *`` on
    every response.  A list of origins (``["http://localhost:3000"]``, as a
    browser sends them: scheme, host, port) sends the request's own
    ``Origin`` back only when it is listed, and ``Vary: Origin`` on every
    response so caches keep the answers apart.

    A preflight (``OPTIONS`` with ``Origin`` and
    ``Access-Control-Request-Method``) from an allowed origin is answered
    here, 204, without calling ``handler``: ``Access-Control-Allow-Methods``
    and ``Access-Control-Allow-Headers`` echo what the browser asked for,
    ``Access-Control-Max-Age`` lets it cache the answer for ``maxAge``
    seconds.  Any other ``OPTIONS`` goes to ``handler``.  Cookies need
    ``Access-Control-Allow-Credentials: true`` and a list of origins:
    ``withHeaders(cors(handler, [...]), {"Access-Control-Allow-Credentials": "true"})``.
    """
    # maxAge's default: Chromium caps a preflight's cache at two hours (Firefox
    # at a day), so a larger value buys nothing.
    if not callable(handler):
        raise TypeError(f"cors needs a handler (a callable), not {handler!r}")
    if isinstance(maxAge, bool) or not isinstance(maxAge, int) or maxAge < 0:
        raise ValueError(f"maxAge must be an int of seconds >= 0, not {maxAge!r}")
    allowed = _allowed_origins(origins)
    max_age = str(maxAge)

    def wrapper(request: HttpRequest, response: HttpResponse, *args: Any, **kwargs: Any) -> None:
        origin = request.headers.get("Origin")
        if allowed is None:
            granted: Optional[str] = "*"
        elif origin is not None and origin.rstrip("/").lower() in allowed:
            granted = origin
        else:
            granted = None
        if (
            granted is not None
            and origin is not None
            and request.method == "OPTIONS"
            and "Access-Control-Request-Method" in request.headers
        ):
            _preflight(request, response, granted, allowed is not None, max_age)
            return
        handler(request, response, *args, **kwargs)
        headers = response.headers
        if granted is not None:
            _set_default(headers, "Access-Control-Allow-Origin", granted)
        if allowed is not None:
            _add_vary(headers, ("Origin",))

    return _describe(wrapper, "cors", handler)


def _preflight(
    request: HttpRequest, response: HttpResponse, granted: str, listed: bool, max_age: str
) -> None:
    headers = response.headers
    asked = request.headers
    response.status = 204
    headers["Access-Control-Allow-Origin"] = granted
    headers["Access-Control-Allow-Methods"] = asked["Access-Control-Request-Method"]
    wanted = asked.get("Access-Control-Request-Headers")
    if wanted:
        headers["Access-Control-Allow-Headers"] = wanted
    headers["Access-Control-Max-Age"] = max_age
    # The answer echoes these request fields, so a cache must key on them.
    vary = ["Access-Control-Request-Method", "Access-Control-Request-Headers"]
    _add_vary(headers, ["Origin", *vary] if listed else vary)
