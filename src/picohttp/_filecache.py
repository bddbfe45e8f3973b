"""Small static files kept in memory and revalidated by one ``stat`` per request.

nginx's ``open_file_cache`` idea, for the files a web page is made of: a hit
costs one ``os.stat`` instead of open, readlink, fstat, read and close, so a
worker thread gives up the GIL once instead of five times (each release lets
the loop thread in, and the hand-back costs a context switch: measured on the
4 KiB static benchmark, see the README's performance section).

Why a hit is never stale or outside the base:
- every hit ``stat``s the same path again (symlinks followed, as ``open``
  does) and must find the very file that was read: same device, inode, size,
  modification and change time in nanoseconds;
- a file is only kept once it has been still for ``SETTLE`` seconds, as git
  treats "racily clean" files: file times come from a coarse clock (a few
  milliseconds), so a write in the same tick as the read could leave all of
  them unchanged; a write after the file settled always moves them;
- an entry lives ``TTL`` seconds, then the file is opened and checked against
  the base again (a symlink re-pointed outside the base under the same
  inode is thus seen within ``TTL``);
- a hit also checks the real path the entry was read from against the base
  of the request, so one entry never serves another, narrower base's request.
Only files up to ``FILE_LIMIT`` bytes are kept, ``TOTAL_LIMIT`` in all (the
oldest go first); an idle server holds nothing it has not served.
"""

from __future__ import annotations

import os
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Dict, Optional, Tuple

#: Largest file kept (the size that leaves with its head in one send).
FILE_LIMIT = 64 * 1024
#: Bytes kept in all.
TOTAL_LIMIT = 4 * 1024 * 1024
#: Seconds an entry is trusted before the file is opened and checked again.
TTL = 1.0
#: Seconds a file must have been unchanged before it is kept.
SETTLE = 1.0


class _Entry:
    __slots__ = ("content", "expires", "identity", "real")

    def __init__(self, content: bytes, identity: Tuple[int, ...], real: str, expires: float):
        self.content = content
        self.identity = identity
        self.real = real
        self.expires = expires


_entries: Dict[str, _Entry] = {}
_no_twin: Dict[str, float] = {}  # paths with no ".gz" twin -> until when that is trusted
_lock = threading.Lock()  # for filling and evicting; hits only read the dict
_total = 0


def _identity(info: os.stat_result) -> Tuple[int, ...]:
    return (info.st_ino, info.st_dev, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def inside(base: str, real: str) -> bool:
    """Whether the resolved path ``real`` is ``base`` or lies under it."""
    if real == base:
        return True
    return real.startswith(base if base.endswith(os.sep) else base + os.sep)


def lookup(path: str, base: str) -> Optional[Tuple[bytes, os.stat_result, str]]:
    """``(content, stat, real path)`` of the file at ``path`` if it is kept and unchanged."""
    entry = _entries.get(path)
    if entry is None:
        return None
    if entry.expires > time.monotonic() and inside(base, entry.real):
        try:
            info = os.stat(path)
        except OSError:
            info = None
        if info is not None and _identity(info) == entry.identity:
            return entry.content, info, entry.real
    _forget(path)
    return None


def keep(path: str, real: str, info: os.stat_result, content: bytes) -> None:
    """Keep ``content``, read from ``path`` whose ``fstat`` was ``info``, if it may be kept."""
    global _total
    size = len(content)
    if size != info.st_size or size > FILE_LIMIT:
        return
    if time.time() - max(info.st_mtime, info.st_ctime) < SETTLE:
        return  # written moments ago: maybe still being written
    entry = _Entry(content, _identity(info), real, time.monotonic() + TTL)
    with _lock:
        old = _entries.pop(path, None)
        if old is not None:
            _total -= len(old.content)
        while _entries and _total + size > TOTAL_LIMIT:
            oldest = next(iter(_entries))
            _total -= len(_entries.pop(oldest).content)
        _entries[path] = entry
        _total += size


def _forget(path: str) -> None:
    global _total
    with _lock:
        entry = _entries.pop(path, None)
        if entry is not None:
            _total -= len(entry.content)


def has_no_twin(path: str) -> bool:
    """Whether ``path + ".gz"`` was missing less than ``TTL`` seconds ago."""
    until = _no_twin.get(path)
    return until is not None and until > time.monotonic()


def note_no_twin(path: str) -> None:
    """Remember for ``TTL`` seconds that ``path + ".gz"`` is missing."""
    if len(_no_twin) >= 4096:
        _no_twin.clear()
    _no_twin[path] = time.monotonic() + TTL


def clear() -> None:
    """Forget everything (tests; a deployment that must see a change at once)."""
    global _total
    with _lock:
        _entries.clear()
        _no_twin.clear()
        _total = 0
