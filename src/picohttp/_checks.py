"""Mistakes caught where an application is put together, not at its first request.

A handler that cannot take ``(request, response, *args)``, ``args`` given as
a string, a misspelled keyword for a mounted handler: each would otherwise be
accepted at start and become a 500 on every request.  These checks run once,
when a server is made or a handler mounted; ``inspect`` is imported only then,
and only for what a look at a plain function's code cannot tell (a partial,
mount's keywords, a callable object, an error to word), so ``import picohttp``
stays fast and a server small.
"""

from __future__ import annotations

import functools
import types

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Callable, Dict, Sequence, Tuple


def describe(handler: Any) -> str:
    """A handler's name as a user wrote it: ``requestHandler``, ``staticResource``."""
    target = getattr(handler, "func", handler)  # functools.partial
    name = getattr(target, "__qualname__", None)
    return str(name).rpartition("<locals>.")[2] if name else repr(handler)


def check_handler_call(
    handler: Callable[..., Any],
    args: Sequence[Any],
    kwargs: Dict[str, Any],
    where: str,
) -> None:
    """Raise ``TypeError`` unless ``handler(request, response, *args, **kwargs)`` would bind.

    ``where`` names the call that passes them (``"HttpServer(...)"``,
    ``"mount('/static', ...)"``), so the message says what to change.  A
    callable whose signature Python cannot tell (some builtins) is let through.
    """
    if not kwargs and _plainly_binds(handler, 2 + len(args)):
        return  # the common case, told without inspect (and ast, dis): 1.4 MiB less RSS
    try:
        import inspect
    except ImportError:  # the standard library unreadable (privileges dropped): skip the check
        return
    # functools.partial(staticResource, staticbase="site") given as the handler: check
    # the function it wraps with what the partial adds, or the typo is a 500 per request.
    front: Tuple[Any, ...] = ()
    target, keywords = handler, dict(kwargs)
    while isinstance(target, functools.partial):
        front = (*target.args, *front)
        keywords = {**target.keywords, **keywords}
        target = target.func
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*front, None, None, *args, **keywords)
    except TypeError as exc:
        hint = _spelling_hint(signature, keywords)
        given = [*(repr(a) for a in front), "request", "response", *(repr(a) for a in args)]
        given += [f"{name}={value!r}" for name, value in keywords.items()]
        raise TypeError(
            f"{where}: {describe(handler)}{_plain(signature)} cannot be called as "
            f"{describe(handler)}({', '.join(given)}): {exc}{hint}. A handler takes "
            "(request, response), then one parameter for each item of args"
            + (", and the keywords given to mount()" if kwargs else "")
            + (", and what functools.partial adds" if target is not handler else "")
        ) from None


def _plainly_binds(handler: Any, count: int) -> bool:
    """Whether ``handler`` is a plain Python function that takes ``count`` positional arguments.

    ``False`` means "not sure": ``inspect`` then decides, and words the error.
    """
    if type(handler) is not types.FunctionType:
        return False
    code = handler.__code__
    if code.co_posonlyargcount and code.co_posonlyargcount > count:
        return False
    takes = code.co_argcount
    required = takes - len(handler.__defaults__ or ())
    keyword_only = code.co_kwonlyargcount
    if keyword_only and len(handler.__kwdefaults__ or {}) < keyword_only:
        return False  # a keyword-only parameter without a default: never given
    return required <= count and (count <= takes or bool(code.co_flags & _VARARGS))


#: ``co_flags`` bit of a function with ``*args`` (``inspect.CO_VARARGS``).
_VARARGS = 0x04


def _plain(signature: Any) -> str:
    """A signature without its annotations: ``(request, response, staticBase='')``."""
    empty = signature.empty
    parameters = [p.replace(annotation=empty) for p in signature.parameters.values()]
    return str(signature.replace(parameters=parameters, return_annotation=empty))


def _spelling_hint(signature: Any, kwargs: Dict[str, Any]) -> str:
    """``" (did you mean staticBase?)"`` for a keyword the handler does not have."""
    import difflib

    names = list(signature.parameters)
    for name in kwargs:
        if name not in signature.parameters:
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
            if not close:
                lowered = {n.lower(): n for n in names}
                close = [lowered[name.lower()]] if name.lower() in lowered else []
            if close:
                return f" (did you mean {close[0]}={kwargs[name]!r}?)"
    return ""


def check_args(args: Any, where: str) -> None:
    """Refuse ``args`` that is not a tuple or a list: ``args="site"`` means ``("site",)``."""
    if not isinstance(args, (tuple, list)):
        raise TypeError(
            f"{where}: args must be a tuple or a list, not {type(args).__name__} {args!r}: "
            f"for one argument write args=({args!r},)"
        )
