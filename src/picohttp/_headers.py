"""``Headers``: a plain ``dict`` whose lookups ignore case.

Names stay exactly as the client (or handler) spelled them, so iterating shows
``Content-Type`` and not ``content-type``, while ``headers["content-type"]``,
``"CONTENT-TYPE" in headers`` and ``headers.get("Content-type")`` all find it.
A side table maps each lowercased name to the spelling stored in the dict;
setting a name that differs only in case replaces the earlier entry.

Being a real ``dict`` keeps the spec's promise ("a dictionary") for code that
does ``json.dumps(request.headers)`` or ``dict(request.headers)``.
"""

from __future__ import annotations

import collections.abc

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import AbstractSet, Any, Iterable, Mapping, Tuple, Union


_MISSING: Any = object()


def _fold(name: object) -> object:
    return name.lower() if isinstance(name, str) else name


class Headers(dict):  # type: ignore[type-arg]  # dict[str, Any]; see module docstring
    """A ``dict`` of header fields with case-insensitive names.

    ``Headers({"Content-Type": "text/plain"})["content-type"] == "text/plain"``.
    """

    __slots__ = ("_names",)

    # No __iter__ of its own: with dict's, ``dict.copy`` and ``dict(headers)``
    # copy in C instead of calling __getitem__ in Python for every field.

    _names: dict[object, Any]

    def __init__(
        self,
        fields: Union[Mapping[str, Any], Iterable[Tuple[str, Any]], None] = None,
        **kwargs: Any,
    ) -> None:
        # No dict.__init__ call: the dict is empty from __new__, and a response's
        # headers are made per request (super() alone cost a third of this).
        self._names = {}
        if fields is not None:
            self.update(fields)
        if kwargs:
            self.update(kwargs)

    @classmethod
    def trusted(cls, fields: dict[str, str], names: dict[object, Any]) -> Headers:
        """Build from a dict and its index (lowercased name -> name) without re-checking.

        For the parser, which has checked both; ``names`` is kept, not copied.
        """
        headers = cls.__new__(cls)
        dict.update(headers, fields)
        headers._names = names
        return headers

    def __getitem__(self, name: str) -> Any:
        return dict.__getitem__(self, self._names.get(_fold(name), name))

    def __setitem__(self, name: str, value: Any) -> None:
        folded = _fold(name)
        old = self._names.get(folded, _MISSING)
        if old is not _MISSING and old != name:
            dict.__delitem__(self, old)
        self._names[folded] = name
        dict.__setitem__(self, name, value)

    def __delitem__(self, name: str) -> None:
        stored = self._names.pop(_fold(name), name)
        dict.__delitem__(self, stored)

    def __contains__(self, name: object) -> bool:
        return _fold(name) in self._names

    def get(self, name: str, default: Any = None) -> Any:
        stored = self._names.get(_fold(name), _MISSING)
        if stored is _MISSING:
            return default
        return dict.__getitem__(self, stored)

    def pop(self, name: str, default: Any = _MISSING) -> Any:
        stored = self._names.pop(_fold(name), _MISSING)
        if stored is _MISSING:
            if default is _MISSING:
                raise KeyError(name)
            return default
        return dict.pop(self, stored)

    def popitem(self) -> Tuple[str, Any]:
        name, value = dict.popitem(self)
        del self._names[_fold(name)]
        return name, value

    def setdefault(self, name: str, default: Any = None) -> Any:
        stored = self._names.get(_fold(name), _MISSING)
        if stored is _MISSING:
            self[name] = default
            return default
        return dict.__getitem__(self, stored)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for name, value in dict(*args, **kwargs).items():
            self[name] = value

    def __ior__(self, other: Any) -> Headers:
        # dict's own |= would bypass the lowercase index (and case-insensitivity).
        self.update(other)
        return self

    def __or__(self, other: Any) -> Headers:
        if not isinstance(other, collections.abc.Mapping):
            return NotImplemented
        merged = self.copy()
        merged.update(other)
        return merged

    def clear(self) -> None:
        dict.clear(self)
        self._names.clear()

    def copy(self) -> Headers:
        return Headers.trusted(dict.copy(self), self._names.copy())

    def __copy__(self) -> Headers:
        return self.copy()

    def __reduce__(self) -> Tuple[Any, ...]:
        return (Headers, (list(self.items()),))

    def __repr__(self) -> str:
        return f"Headers({dict.__repr__(self)})"


def has_any(headers: Mapping[str, Any], folded: AbstractSet[str]) -> bool:
    """Whether ``headers`` has a field whose lowercased name is in ``folded``.

    One C-level set test on a ``Headers`` (its lowercase index), so a handler
    can tell at once that a request carries none of several fields.
    """
    if type(headers) is Headers:
        return not folded.isdisjoint(headers._names)
    return any(type(name) is str and name.lower() in folded for name in headers)
