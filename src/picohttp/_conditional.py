"""Validators, preconditions and byte ranges for static files (RFC 9110 8.8, 13, 14).

Pure functions over header values and ``os.stat`` facts: no files are opened
and the clock is an argument, so every rule here is tested without a socket.
``_static.py`` asks three questions, in RFC 9110 13.2.2's order:

1. ``check_preconditions``: does a precondition answer for the file
   (``412``, or ``304`` for a GET/HEAD whose cached copy is current)?
2. ``select_range``: if not, which bytes does the client want
   (the whole file, one range, or none that exist: 416)?
3. ``accepts_gzip``: may the answer be the ``.gz`` beside the file?

Only a single range is ever answered with 206; a request for several ranges
gets the whole file (RFC 9110 14.2 lets a server ignore ``Range``), which
every client handles and which spares a multipart/byteranges writer.
"""

from __future__ import annotations

import os
import re

from ._httpdate import format_http_date, parse_http_date

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Dict, List, Mapping, Optional, Tuple, Union

    ByteRange = Tuple[int, int]  # first and last byte, inclusive, as Content-Range writes them

#: ``select_range``'s answer when no requested byte exists (answer 416).
UNSATISFIABLE = "unsatisfiable"


_ENTITY_TAG = re.compile(r'\s*(W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')
# ASCII digits only (a str regex's \d would take any script's digits too).
_RANGE_SPEC = re.compile(r"[ \t]*([0-9]*)[ \t]*-[ \t]*([0-9]*)[ \t]*")
# Past 18 digits a byte position is beyond any file: it is not converted at all
# (int() on a client's 5,000 digits raises ValueError, and costs O(n^2) before).
_MAX_POSITION_DIGITS = 18
_BEYOND_ANY_FILE = 10**18  # more digits than _MAX_POSITION_DIGITS allows
_last_modified: Dict[int, str] = {}  # modification second -> its HTTP date


def make_etag(stat: os.stat_result) -> str:
    """A strong ETag from the inode, size and modification time in nanoseconds.

    nginx uses mtime and size; the inode is added so that a file replaced by
    a rename (``rsync``, editors) with the same size and preserved mtime
    still changes its tag.
    """
    return f'"{stat.st_ino:x}-{stat.st_size:x}-{stat.st_mtime_ns:x}"'


def last_modified(stat: os.stat_result) -> str:
    """The ``Last-Modified`` value of a file (whole seconds, as HTTP dates are)."""
    mtime = int(stat.st_mtime)
    text = _last_modified.get(mtime)
    if text is None:  # formatting costs more than the rest of a 304's decisions
        if len(_last_modified) >= 1024:
            _last_modified.clear()
        text = _last_modified[mtime] = format_http_date(mtime)
    return text


def parse_entity_tags(value: str) -> Optional[List[Tuple[bool, str]]]:
    """``W/"a", "b"`` -> ``[(True, '"a"'), (False, '"b"')]``; ``None`` if malformed.

    Each tag keeps its quotes (the opaque-tag of RFC 9110 8.8.3).  A field
    whose value is ``*`` is handled by the callers, not here.
    """
    tags: List[Tuple[bool, str]] = []
    position = 0
    length = len(value)
    while position < length:
        match = _ENTITY_TAG.match(value, position)
        if match is None or match.end() == position:
            if value[position:].strip(" \t,") == "":
                break
            return None
        tags.append((match.group(1) is not None, match.group(2)))
        position = match.end()
    return tags


def _matches(field: str, etag: str, weak: bool) -> bool:
    """Whether an If-Match/If-None-Match list names ``etag`` (weak or strong comparison)."""
    if field.strip() == "*":
        return True
    tags = parse_entity_tags(field)
    if not tags:
        return False
    return any(opaque == etag and (weak or not is_weak) for is_weak, opaque in tags)


def _date(value: Optional[str]) -> Optional[int]:
    # An invalid date, or a list of them, parses as None and is ignored (RFC 9110 13.1.3).
    return None if value is None else parse_http_date(value)


def check_preconditions(
    method: str,
    headers: Mapping[str, str],
    etag: str,
    mtime: int,
) -> Optional[int]:
    """The status a precondition forces (304 or 412), or ``None`` to go on.

    The order is RFC 9110 13.2.2's: If-Match, else If-Unmodified-Since (412
    when false); then If-None-Match, else If-Modified-Since (for GET and
    HEAD, 304 when the client's copy is current).  ``headers`` is the
    request's case-insensitive dict; ``mtime`` is in whole seconds.
    """
    if_match = headers.get("If-Match")
    if if_match is not None:
        if not _matches(if_match, etag, weak=False):
            return 412
    else:
        since = _date(headers.get("If-Unmodified-Since"))
        if since is not None and mtime > since:
            return 412
    safe = method in ("GET", "HEAD")
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        if _matches(if_none_match, etag, weak=True):
            return 304 if safe else 412
        return None  # If-Modified-Since is ignored when If-None-Match is present
    if safe:
        modified_since = _date(headers.get("If-Modified-Since"))
        if modified_since is not None and mtime <= modified_since:
            return 304
    return None


def parse_range(value: str, size: int) -> Union[ByteRange, str, None]:
    """One ``bytes=`` range resolved against ``size``.

    Returns ``(first, last)`` (inclusive), ``UNSATISFIABLE`` when no byte of
    it exists, or ``None`` when the header is to be ignored: malformed, not
    in bytes, or asking for more than one range.
    """
    unit, equals, ranges = value.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    specs = [spec for spec in ranges.split(",") if spec.strip()]
    if len(specs) != 1:
        return None  # several ranges (or none): the whole file answers them
    match = _RANGE_SPEC.fullmatch(specs[0])
    if match is None:
        return None
    first_text, last_text = match.groups()
    if first_text:
        first = _position(first_text)
        if last_text:
            last = _position(last_text)
            if last < first:
                return None  # "5-2" is invalid syntax (RFC 9110 14.1.1): ignore it
        else:
            last = size - 1
        if first >= size:
            return UNSATISFIABLE
        return first, min(last, size - 1)
    if not last_text:
        return None  # "-" alone
    suffix = _position(last_text)
    if suffix == 0 or size == 0:
        return UNSATISFIABLE
    return max(0, size - suffix), size - 1


def _position(digits: str) -> int:
    """A byte position or length from ASCII digits; any number past 18 digits is one huge value.

    RFC 9110 14.1.2 answers such numbers without their exact value: a first
    position past the end is unsatisfiable (416), a last position past it is
    the end, a suffix longer than the file is the whole file.
    """
    digits = digits.lstrip("0") or "0"
    if len(digits) > _MAX_POSITION_DIGITS:
        return _BEYOND_ANY_FILE
    return int(digits)


def if_range_holds(value: str, etag: str, mtime: int, now: float) -> bool:
    """Whether ``If-Range`` lets the ``Range`` apply (RFC 9110 13.1.5).

    An entity-tag must match strongly; a date must equal ``Last-Modified``
    exactly, and only counts when the file is at least a second older than
    ``now`` (a newer modification time is a weak validator, 8.8.2.2).
    """
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == etag
    date = parse_http_date(value)
    return date is not None and date == mtime and mtime <= now - 1


def select_range(
    headers: Mapping[str, str], size: int, etag: str, mtime: int, now: float
) -> Union[ByteRange, str, None]:
    """The byte range a GET asks for, ``UNSATISFIABLE``, or ``None`` for the whole file."""
    value = headers.get("Range")
    if value is None:
        return None
    if_range = headers.get("If-Range")
    if if_range is not None and not if_range_holds(if_range, etag, mtime, now):
        return None
    return parse_range(value, size)


def accepts_gzip(accept_encoding: Optional[str]) -> bool:
    """Whether ``Accept-Encoding`` allows ``gzip`` (``gzip``, ``x-gzip`` or ``*``, q > 0)."""
    if not accept_encoding:
        return False
    star: Optional[bool] = None
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip()
        allowed = _quality(params) > 0
        if coding in ("gzip", "x-gzip"):
            return allowed
        if coding == "*":
            star = allowed
    return bool(star)


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return 0.0
            return quality if 0.0 <= quality <= 1.0 else 0.0
    return 1.0
