"""``Router``: one handler that dispatches on the request's path and method.

A router is itself a handler (``HttpServer(8080, router)``), so the spec's
one-handler model stays whole.  Routes live in a trie keyed by path segment:
each node holds a ``dict`` of literal segments, at most one ``{name}`` child,
the methods of routes that end there, an optional ``{path:name}`` catch-all
and an optional mounted handler.  Finding a route costs one dict lookup per
path segment, whatever the number of routes (``benchmarks/routing.py``).

Precedence, from most to least specific: a literal segment, then ``{name}``,
then ``{path:name}``; a route whose path matches beats any mount; the deepest
mount wins.  When a path matches routes but none for the method, the answer
is 405 with ``Allow``; when nothing matches, 404.  No I/O here.
"""

from __future__ import annotations

from ._exchange import warn_returned
from ._message import HttpRequest, HttpResponse
from ._target import split_target

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple, TypeVar, Union

    F = TypeVar("F", bound=Callable[..., Any])


_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


class _Endpoint:
    """A routed function and the names its captured values are passed under."""

    __slots__ = ("function", "names", "pattern")

    def __init__(self, function: Callable[..., Any], names: Tuple[str, ...], pattern: str) -> None:
        self.function = function
        self.names = names
        self.pattern = pattern


class _Mount:
    __slots__ = ("args", "handler", "kwargs", "prefix")

    def __init__(
        self,
        prefix: str,
        handler: Callable[..., Any],
        args: Tuple[Any, ...],
        kwargs: Dict[str, Any],
    ) -> None:
        self.prefix = prefix
        self.handler = handler
        self.args = args
        self.kwargs = kwargs


class _Node:
    """One path position: literal children by segment, one capture child, what ends here."""

    __slots__ = ("catchall", "endpoints", "mount", "param", "static")

    def __init__(self) -> None:
        self.static: Dict[str, _Node] = {}
        self.param: Optional[_Node] = None
        self.endpoints: Dict[str, _Endpoint] = {}  # method -> routes ending at this node
        self.catchall: Dict[str, _Endpoint] = {}  # method -> {path:name} routes from here
        self.mount: Optional[_Mount] = None


def _method_endpoint(table: Dict[str, _Endpoint], method: str) -> Optional[_Endpoint]:
    endpoint = table.get(method)
    if endpoint is None and method == "HEAD":
        endpoint = table.get("GET")  # HEAD is allowed wherever GET is
    return endpoint


def _find(
    node: _Node, segments: List[str], index: int, method: str, values: List[str]
) -> Optional[_Endpoint]:
    """The route for ``segments[index:]`` from ``node``, filling ``values``; most specific first."""
    if index == len(segments):
        return _method_endpoint(node.endpoints, method) if node.endpoints else None
    segment = segments[index]
    child = node.static.get(segment)
    if child is not None:
        found = _find(child, segments, index + 1, method, values)
        if found is not None:
            return found
    if node.param is not None and segment:
        values.append(segment)
        found = _find(node.param, segments, index + 1, method, values)
        if found is not None:
            return found
        values.pop()
    if node.catchall:
        found = _method_endpoint(node.catchall, method)
        if found is not None:
            values.append("/".join(segments[index:]))
            return found
    return None


def _allowed(node: _Node, segments: List[str], index: int, methods: Set[str]) -> None:
    """Collect the methods of every route whose path matches (the 405 answer's ``Allow``)."""
    if index == len(segments):
        methods.update(node.endpoints)
        return
    segment = segments[index]
    child = node.static.get(segment)
    if child is not None:
        _allowed(child, segments, index + 1, methods)
    if node.param is not None and segment:
        _allowed(node.param, segments, index + 1, methods)
    methods.update(node.catchall)


def _parse_methods(methods: Union[str, Sequence[str]]) -> Tuple[str, ...]:
    names = (methods,) if isinstance(methods, str) else tuple(methods)
    if not names:
        raise ValueError("a route needs at least one method")
    for name in names:
        if not isinstance(name, str) or not name or not set(name) <= _TCHAR:
            hint = " (give several methods as a list: ['GET', 'PUT'])" if "," in str(name) else ""
            raise ValueError(f"invalid HTTP method {name!r}{hint}")
    return names


def _split_pattern(pattern: str) -> List[str]:
    if not isinstance(pattern, str) or not pattern.startswith("/"):
        raise ValueError(f"a route pattern starts with '/': {pattern!r}")
    return pattern[1:].split("/")


def _check_keywords(function: Callable[..., Any], names: Tuple[str, ...], pattern: str) -> None:
    """Refuse at registration a function that could not take the captured keywords."""
    if not names:
        return
    import inspect  # only when routes are registered, never per request

    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return  # a builtin or an odd callable: let the call decide
    accepted = set()
    for parameter in parameters:
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            accepted.add(parameter.name)
    missing = [name for name in names if name not in accepted]
    if missing:
        raise TypeError(
            f"{getattr(function, '__qualname__', function)!r} is routed from {pattern!r} but has "
            f"no parameter {', '.join(missing)}: captures are passed as keyword arguments"
        )


class Router:
    """A handler that sends each request to the function routed for its path and method.

    ::

        router = picohttp.Router()

        @router.route("GET", "/items/{name}")
        def get_item(request, response, name):
            response.data = {"name": name}

        picohttp.HttpServer(8080, router)

    A route function is called as ``function(request, response, *args,
    **captures)``: ``args`` are ``HttpServer``'s ``args``, ``captures`` the
    values of the pattern's ``{name}`` segments.  Unknown paths get 404; a
    known path with another method gets 405 and ``Allow`` (both go through
    ``HttpServer``'s ``errorHandler`` when it has one).  ``mount`` hands
    a whole prefix to another handler (``staticResource``, another router).
    """

    def __init__(self) -> None:
        self._root = _Node()

    def route(self, methods: Union[str, Sequence[str]], pattern: str) -> Callable[[F], F]:
        """Decorator: route ``methods`` (``"GET"`` or ``["GET", "PUT"]``) on ``pattern`` here.

        ``pattern`` is a path such as ``"/items/{name}"``: literal segments
        match exactly (decoded text, case-sensitive), ``{name}`` matches any
        one non-empty segment and passes it as the keyword argument ``name``,
        and a last segment ``{path:name}`` matches the rest of the path (zero
        or more segments), passed joined with ``"/"``.  A trailing slash is
        significant: ``/about`` and ``/about/`` are different routes.
        """
        names = _parse_methods(methods)

        def register(function: F) -> F:
            self._add(names, pattern, function)
            return function

        return register

    def _add(self, methods: Tuple[str, ...], pattern: str, function: Callable[..., Any]) -> None:
        if not callable(function):
            raise TypeError(f"a route needs a callable, not {function!r}")
        node = self._root
        captures: List[str] = []
        segments = _split_pattern(pattern)
        table = None
        for position, segment in enumerate(segments):
            if segment.startswith("{") and segment.endswith("}"):
                converter, colon, name = segment[1:-1].rpartition(":")
                if colon and converter != "path":
                    raise ValueError(
                        f"unknown capture {segment!r} in {pattern!r}: use {{name}} or {{path:name}}"
                    )
                if not name.isidentifier():
                    raise ValueError(f"capture name {name!r} in {pattern!r} is not an identifier")
                if name in captures:
                    raise ValueError(f"capture {name!r} appears twice in {pattern!r}")
                captures.append(name)
                if colon:
                    if position != len(segments) - 1:
                        raise ValueError(f"{{path:{name}}} must be the last segment of {pattern!r}")
                    table = node.catchall
                    break
                if node.param is None:
                    node.param = _Node()
                node = node.param
            elif segment.startswith("<") and segment.endswith(">"):
                name = segment[1:-1].rpartition(":")[2]
                raise ValueError(
                    f"segment {segment!r} of {pattern!r} is Flask's form: picohttp captures a "
                    f"segment with {{{name}}} (the rest of the path with {{path:{name}}})"
                )
            elif "{" in segment or "}" in segment:
                raise ValueError(
                    f"segment {segment!r} of {pattern!r}: a capture must be a whole segment"
                )
            else:
                child = node.static.get(segment)
                if child is None:
                    child = node.static[segment] = _Node()
                node = child
        if table is None:
            table = node.endpoints
        names = tuple(captures)
        _check_keywords(function, names, pattern)
        for method in methods:
            existing = table.get(method)
            if existing is not None:
                raise ValueError(
                    f"{method} {pattern} is already routed (to {existing.function!r} "
                    f"from {existing.pattern!r})"
                )
        for method in methods:
            table[method] = _Endpoint(function, names, pattern)

    def mount(self, prefix: str, handler: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Hand every request under ``prefix`` to ``handler(request, response, *args, **kwargs)``.

        The mounted handler sees ``request.path`` without the prefix (``/static/a/b.css``
        mounted at ``/static`` gives ``["a", "b.css"]``); ``request.uri`` stays
        as sent.  It gets the ``args`` given here, not ``HttpServer``'s.  The
        prefix itself without its slash (``/static``) is redirected to
        ``/static/``.  Routes win over mounts; ``mount("/", ...)`` serves every
        path no route matches.
        """
        if not callable(handler):
            raise TypeError(f"mount needs a callable handler, not {handler!r}")
        from ._checks import check_handler_call  # once per mount, never per request

        check_handler_call(handler, args, kwargs, f"mount({prefix!r}, ...)")
        segments = _split_pattern(prefix.rstrip("/") or "/")
        if segments == [""]:
            segments = []
        node = self._root
        for segment in segments:
            if "{" in segment or "}" in segment or not segment:
                raise ValueError(f"a mount prefix is literal segments only: {prefix!r}")
            child = node.static.get(segment)
            if child is None:
                child = node.static[segment] = _Node()
            node = child
        if node.mount is not None:
            raise ValueError(f"{prefix!r} already has a mounted handler")
        node.mount = _Mount("/" + "/".join(segments), handler, args, kwargs)

    def __call__(self, request: HttpRequest, response: HttpResponse, *args: Any) -> None:
        """Dispatch one request (the router is an ordinary handler)."""
        segments = request.path
        values: List[str] = []
        # Fast path: follow literal segments, else the capture child, without
        # backtracking.  This is the first path _find would explore, so a route
        # found here is the one _find would return; otherwise _find searches.
        node: Optional[_Node] = self._root
        for segment in segments:
            assert node is not None
            child = node.static.get(segment)
            if child is None:
                child = node.param
                if child is None or not segment:
                    node = None
                    break
                values.append(segment)
            node = child
        endpoint = None
        if node is not None and node.endpoints:
            endpoint = _method_endpoint(node.endpoints, request.method)
        if endpoint is None:
            values.clear()
            endpoint = _find(self._root, segments, 0, request.method, values)
        if endpoint is not None:
            if values:
                result = endpoint.function(
                    request, response, *args, **dict(zip(endpoint.names, values))
                )
            else:
                result = endpoint.function(request, response, *args)
            if result is not None:
                warn_returned(endpoint.function)
            return
        self._not_routed(request, response)

    def _not_routed(self, request: HttpRequest, response: HttpResponse) -> None:
        """No route for this method and path: a 405 naming the methods there are, a mount's
        answer, the mount's slashed URL, or a 404."""
        segments = request.path
        allowed: Set[str] = set()
        _allowed(self._root, segments, 0, allowed)
        if allowed:
            if "GET" in allowed:
                allowed.add("HEAD")
            response.status = 405
            response.headers["Allow"] = ", ".join(sorted(allowed))
            response.data = "405 Method Not Allowed\n"
            response.mark_error("Method Not Allowed")  # through the server's errorHandler
            return
        mount, depth = self._find_mount(segments)
        if mount is None:
            response.status = 404
            response.data = "404 Not Found\n"
            response.mark_error("Not Found")
        elif depth == len(segments):
            _redirect_to_slash(request, response)
        else:
            sub = request.with_path(segments[depth:])
            try:
                mount.handler(sub, response, *mount.args, **mount.kwargs)
            finally:
                request.adopt_forms(sub)

    def _find_mount(self, segments: List[str]) -> Tuple[Optional[_Mount], int]:
        """The deepest mount on the literal path of ``segments``, and its depth."""
        node = self._root
        best: Optional[_Mount] = None
        depth = 0
        for index, segment in enumerate(segments):
            if node.mount is not None:
                best, depth = node.mount, index
            child = node.static.get(segment)
            if child is None:
                return best, depth
            node = child
        if node.mount is not None:
            return node.mount, len(segments)
        return best, depth

    def __repr__(self) -> str:
        return f"<Router {len(self.routes())} routes>"

    def routes(self) -> List[Tuple[str, str, Callable[..., Any]]]:
        """Every ``(method, pattern, function)``; each mount as ``("*", prefix, handler)``."""
        found: List[Tuple[str, str, Callable[..., Any]]] = []
        pending = [self._root]
        while pending:
            node = pending.pop()
            for table in (node.endpoints, node.catchall):
                for method, endpoint in table.items():
                    found.append((method, endpoint.pattern, endpoint.function))
            if node.mount is not None:
                found.append(("*", node.mount.prefix, node.mount.handler))
            pending.extend(node.static.values())
            if node.param is not None:
                pending.append(node.param)
        return sorted(found, key=lambda item: (item[1], item[0]))


def _redirect_to_slash(request: HttpRequest, response: HttpResponse) -> None:
    raw_path, raw_query = split_target(request.uri)
    # "/" + lstrip: never "//host", which a browser would take for another site.
    location = "/" + raw_path.lstrip("/") + "/"
    # 308 keeps the method and body; for GET and HEAD, 301 is what everyone understands.
    response.status = 301 if request.method in ("GET", "HEAD") else 308
    response.headers["Location"] = location + ("?" + raw_query if raw_query else "")
    response.data = f"{response.status} Moved: {location}\n"
