"""Request target -> ``path`` list and ``query`` dict (design.md section 1).

Pure string work, no I/O.  The path is split on ``/`` *before* each segment is
percent-decoded, so ``/a%2Fb`` is the single segment ``"a/b"`` and can never
become two.  Percent-escapes in the path decode as UTF-8, and bytes that are
not UTF-8 become lone surrogates (``surrogateescape``, as ``os.fsdecode``
does), so no byte of the path is lost: ``segment.encode("utf-8",
"surrogateescape")`` gives back exactly what the client sent, and a file name
that is not UTF-8 can be served.  The query decodes as before (U+FFFD for
bytes that are not UTF-8, as Flask and Werkzeug do).
"""

from __future__ import annotations

from ._grammar import ESCAPES

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import List, Optional, Tuple


def unquote(text: str, plus: bool = False, errors: str = "replace") -> str:
    """Percent-decode ``text`` (``+`` means space when ``plus``); bad escapes stay as sent.

    ``errors`` is how bytes that are not UTF-8 decode: ``"replace"`` (U+FFFD)
    or ``"surrogateescape"`` (each kept, as a lone surrogate).
    """
    if plus and "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    first, *rest = text.split("%")
    out = [first.encode()]
    for piece in rest:
        byte = ESCAPES.get(piece[:2])
        if byte is None:
            out.append(b"%")
            out.append(piece.encode())
        else:
            out.append(byte)
            out.append(piece[2:].encode())
    return b"".join(out).decode("utf-8", errors)


class QueryDict(dict):  # type: ignore[type-arg]  # dict[str, str]
    """``request.query``: the spec's ``dict`` (the last value sent for a name wins).

    ``getlist(name)`` gives every value sent under ``name`` (``?t=1&t=2`` ->
    ``["1", "2"]``), in order, or ``[]``.  The query string is kept and read
    again only when ``getlist`` is called, so a request pays nothing for it.
    """

    # The query string as sent; unset (no __init__, so making one costs what a
    # dict costs) when the dict was not parsed from one.
    __slots__ = ("raw",)

    raw: str

    def getlist(self, name: str) -> List[str]:
        """Every value sent under ``name``, in the order sent."""
        raw: Optional[str] = getattr(self, "raw", None)
        if raw is None or name not in self:
            # Built by hand (or the name was added after parsing): one value per name.
            return [self[name]] if name in self else []
        values = []
        for piece in raw.split("&"):
            if piece:
                key, _, value = piece.partition("=")
                if unquote(key, True) == name:
                    values.append(unquote(value, True))
        return values or [self[name]]  # or a name the handler added itself

    def copy(self) -> QueryDict:
        copied = QueryDict(self)
        raw = getattr(self, "raw", None)
        if raw is not None:
            copied.raw = raw
        return copied


def parse_query(raw: str) -> QueryDict:
    """``a=1&b=&c`` -> ``{"a": "1", "b": "", "c": ""}``; the last repeat wins."""
    query = QueryDict()
    query.raw = raw
    for piece in raw.split("&"):
        if piece:
            name, _, value = piece.partition("=")
            query[unquote(name, True)] = unquote(value, True)
    return query


def split_target(target: str) -> Tuple[str, str]:
    """Return the raw (still encoded) path and query of a request target.

    Origin form (``/a?b``) is the common case; absolute form
    (``http://host/a?b``) yields its path, ``*`` yields ``*``.
    """
    hash_at = target.find("#")
    if hash_at >= 0:
        target = target[:hash_at]
    path, _, query = target.partition("?")
    if path[:1] != "/" and path != "*":
        scheme_end = path.find("://")
        slash = path.find("/", scheme_end + 3) if scheme_end >= 0 else -1
        path = path[slash:] if slash >= 0 else "/"
    return path, query


def parse_target(target: str) -> Tuple[List[str], QueryDict]:
    """Split a request target into the spec's ``path`` list and ``query`` dict.

    ``/`` -> ``[""]``, ``/a/b`` -> ``["a", "b"]``, ``/a/`` -> ``["a", ""]``.
    """
    raw_path, raw_query = split_target(target)
    if raw_path == "*":
        segments = ["*"]
    elif "%" in raw_path:
        segments = [
            unquote(segment, False, "surrogateescape") for segment in raw_path[1:].split("/")
        ]
    else:
        segments = raw_path[1:].split("/")
    return segments, (parse_query(raw_query) if raw_query else QueryDict())
