"""Mistakes refused where the application is put together, each with the fix in its message.

Each of these used to be accepted at start and become a 500 on every request
(``args="site"``, a handler with the wrong parameters, a misspelled ``mount``
keyword) or to mean something else silently (``threads=4``, ``/u/<id>``).
"""

from __future__ import annotations

import functools
import socket
from typing import Any, Dict

import pytest

import picohttp
from support import free_port


def handler(request: picohttp.HttpRequest, response: picohttp.HttpResponse) -> None:
    response.data = "ok"


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def refused(error: type, **keywords: object) -> str:
    """Make an HttpServer that must fail with ``error`` before binding its port."""
    port = free_port()
    keywords.setdefault("handler", handler)
    with pytest.raises(error) as caught:  # type: ignore[call-overload]
        picohttp.HttpServer(port, host="127.0.0.1", start=False, **keywords)
    assert port_is_free(port), "the server bound its port before refusing"
    return str(caught.value)


def test_args_as_a_string_says_to_write_a_tuple() -> None:
    message = refused(TypeError, handler=picohttp.staticResource, args="site")
    assert "args must be a tuple or a list, not str 'site'" in message
    assert "args=('site',)" in message


def test_args_as_a_list_or_tuple_is_accepted() -> None:
    for args in (["site"], ("site",)):
        server = picohttp.HttpServer(0, picohttp.staticResource, args=args, start=False)
        server.stop()


def test_a_handler_that_is_not_callable() -> None:
    message = refused(TypeError, handler="site")
    assert "the handler must be a function taking (request, response)" in message


def test_a_handler_that_cannot_take_the_args() -> None:
    message = refused(TypeError, args=("data.json", {}))
    assert "handler(request, response) cannot be called as" in message
    assert "handler(request, response, 'data.json', {})" in message
    assert "one parameter for each item of args" in message


def test_a_handler_with_too_few_parameters() -> None:
    def one(request):  # type: ignore[no-untyped-def]
        pass

    message = refused(TypeError, handler=one)
    assert "one(request) cannot be called as one(request, response)" in message


def test_handlers_that_bind_are_accepted() -> None:
    """The spec's shapes, a partial, a Router, the wrappers: all still construct."""

    def rest(request, response, dataFileName, dataDict):  # type: ignore[no-untyped-def]
        pass

    def anything(*args):  # type: ignore[no-untyped-def]
        pass

    cases = [
        (handler, ()),
        (rest, ("test.json", {})),
        (anything, (1, 2, 3)),
        (functools.partial(picohttp.staticResource, staticBase="site"), ()),
        (picohttp.staticResource, ("site", "index.html", "text/plain")),
        (picohttp.Router(), ()),
        (picohttp.cors(handler), ()),
        (print, ()),  # a builtin whose signature may be unknown: the call decides
    ]
    for function, args in cases:
        picohttp.HttpServer(0, function, args=args, start=False, host="127.0.0.1").stop()


def test_threads_must_be_a_bool() -> None:
    message = refused(TypeError, threads=4)
    assert "threads must be True or False, not 4" in message
    assert "maxThreads=4" in message
    assert "maxThreads" not in refused(TypeError, threads="yes")


def test_a_flask_style_route_names_the_picohttp_form() -> None:
    router = picohttp.Router()
    with pytest.raises(ValueError) as caught:

        @router.route("GET", "/u/<id>")
        def user(request, response, id):  # type: ignore[no-untyped-def]
            pass

    assert "Flask's form" in str(caught.value) and "{id}" in str(caught.value)
    with pytest.raises(ValueError, match=r"\{path:rest\}"):
        router.route("GET", "/files/<path:rest>")(handler)
    assert router.routes() == []


def test_a_misspelled_mount_keyword_suggests_the_right_one() -> None:
    router = picohttp.Router()
    with pytest.raises(TypeError) as caught:
        router.mount("/static", picohttp.staticResource, staticbase="site")
    message = str(caught.value)
    assert message.startswith("mount('/static', ...): staticResource(request, response,")
    assert "unexpected keyword argument 'staticbase'" in message
    assert "did you mean staticBase='site'?" in message
    with pytest.raises(TypeError, match="did you mean cacheControl"):
        router.mount("/static", picohttp.staticResource, cache_control="no-cache")
    with pytest.raises(TypeError, match="too many positional arguments"):
        router.mount("/static", picohttp.staticResource, "a", "b", "c", "d")
    with pytest.raises(TypeError, match="missing a required argument: 'prefix'"):
        router.mount("/static", lambda request, response, prefix: None)
    router.mount("/static", picohttp.staticResource, staticBase="site", listing=True)
    router.mount("/api", picohttp.Router())


def test_a_misspelled_keyword_in_a_partial_handler_is_caught_at_construction() -> None:
    # The static-files guide's pattern: functools.partial(staticResource, ...) as the handler.
    typo = functools.partial(picohttp.staticResource, staticbase="site")
    message = refused(TypeError, handler=typo)
    assert "unexpected keyword argument 'staticbase'" in message
    assert "did you mean staticBase='site'?" in message
    assert "what functools.partial adds" in message

    # Positional arguments of nested partials come first, as the call would pass them.
    def three(prefix: str, request: object, response: object) -> None:
        pass

    assert "too many positional" in refused(
        TypeError, handler=functools.partial(functools.partial(three, "a"), "b")
    )
    right = functools.partial(picohttp.staticResource, staticBase="site", listing=True)
    picohttp.HttpServer(0, right, host="127.0.0.1", start=False).stop()
    picohttp.HttpServer(0, functools.partial(three, "a"), host="127.0.0.1", start=False).stop()


# -- the check without inspect agrees with inspect ------------------------------------

SHAPES = [
    "def f(request, response): pass",
    "def f(request): pass",
    "def f(request, response, a): pass",
    "def f(request, response, a=1): pass",
    "def f(request, response, a=1, b=2): pass",
    "def f(request, response, *args): pass",
    "def f(*args): pass",
    "def f(request, *args): pass",
    "def f(request, response, a, *args): pass",
    "def f(request, response, *, flag): pass",
    "def f(request, response, *, flag=False): pass",
    "def f(request, response, a=1, *, flag=False): pass",
    "def f(request, response, /): pass",
    "def f(request, response, a, /): pass",
    "def f(request, /, response=None): pass",
    "def f(request, response, **kwargs): pass",
    "def f(): pass",
    "def f(request, response, a, b, c): pass",
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("count", range(6))
def test_the_quick_look_at_a_function_never_passes_what_inspect_refuses(
    shape: str, count: int
) -> None:
    import inspect

    from picohttp._checks import _plainly_binds

    scope: Dict[str, Any] = {}
    exec(shape, scope)
    function = scope["f"]
    try:
        inspect.signature(function).bind(*range(count))
        binds = True
    except TypeError:
        binds = False
    # True only when it surely binds; False may mean "ask inspect" (which then decides).
    if _plainly_binds(function, count):
        assert binds
    if binds and shape.startswith("def f(request, response") and "/" not in shape:
        assert _plainly_binds(function, count) == binds  # the common shapes need no inspect


def test_kept_answerer_reads_static_resource_arguments_as_python_binds_them() -> None:
    from picohttp._static import kept_answerer

    assert kept_answerer(handler, ()) is None  # any other handler
    assert kept_answerer(picohttp.staticResource, ()) is not None
    assert kept_answerer(picohttp.staticResource, ("site", "index.html", "text/plain")) is not None
    assert kept_answerer(picohttp.staticResource, ("a", "b", "c", "d")) is None  # too many
    partial = functools.partial(picohttp.staticResource, staticBase="site", dotfiles=True)
    assert kept_answerer(partial, ()) is not None
    partial = functools.partial(picohttp.staticResource, cacheControl="max-age=60")
    assert kept_answerer(partial, ("site",)) is not None
    typo = functools.partial(picohttp.staticResource, staticbase="site")
    assert kept_answerer(typo, ()) is None  # never guess what a misspelled call meant
    assert kept_answerer(picohttp.staticResource, (42,)) is None  # not a path
    backwards = functools.partial(picohttp.staticResource, "site")  # "site" would be the request
    assert kept_answerer(backwards, ()) is None
    assert kept_answerer(picohttp.staticResource, ("site", "index.html", None)) is None
    odd = functools.partial(picohttp.staticResource, cacheControl=3600)
    assert kept_answerer(odd, ("site",)) is None  # the long way says what is wrong with it
