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
Only files up to ``FILE_LIMIT`` bytes are kept, ``TOTAL_LIMIT`` bytes in all
(the oldest go first; ``HttpServer(fileCacheBytes=...)`` sets it, 0 keeps
nothing); an idle server holds nothing it has not served.  The bound counts
what an entry really costs, not only its content: its two path strings and
``ENTRY_OVERHEAD`` bytes for the entry, its dict slot, its stat identity and
the response headers the static handler keeps with it (``Entry.memo``), so
20,000 tiny files stay within the bound as 20 large ones do.  The note of
missing ``.gz`` twins is bounded apart (``TWIN_NOTES`` paths).

Larger files are not kept, only noted (``note_large``, ``LARGE_NOTES`` at
most): who the file was and where it really is, for ``TTL``.  No descriptor
is held (a cached descriptor would count against the process's limit and
outlive the file's name); the static handler's short way opens the path again
and takes the file only when ``fstat`` of what it opened matches the note.
"""

from __future__ import annotations

import os
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Dict, Optional, Tuple

#: Largest file kept (the size that leaves with its head in one send).
FILE_LIMIT = 64 * 1024
#: Bytes kept in all, per-entry overhead included (``set_limit``).
TOTAL_LIMIT = 4 * 1024 * 1024
#: Bytes an entry costs beside its content and path strings: the ``Entry``, its
#: dict slot, the identity tuple and its ints, and the headers ``memo`` kept for
#: it, with the head ``kept_answerer`` serializes from them (measured with tracemalloc
#: on CPython 3.11: about 2,400 bytes; rounded up).
ENTRY_OVERHEAD = 2560
#: Paths remembered as having no ``.gz`` twin (then the note starts afresh).
TWIN_NOTES = 4096
#: Large files noted for the short way (``note_large``; then the note starts afresh).
LARGE_NOTES = 256
#: Seconds an entry is trusted before the file is opened and checked again.
TTL = 1.0
#: Seconds a file must have been unchanged before it is kept.
SETTLE = 1.0


class Note:
    """A file read the long way: who it was (``identity``) and where it really is (``real``).

    A large file (past ``FILE_LIMIT``) is only noted (``note_large``): no
    content and no descriptor; the short way opens the path again and takes
    the file only if ``fstat`` of what it opened shows the same
    ``identity`` (device, inode, size, times), so a file replaced or changed
    since is never taken for it.  ``memo`` belongs to the caller, as
    ``Entry.memo`` does.
    """

    __slots__ = ("expires", "identity", "info", "memo", "real")

    def __init__(self, info: os.stat_result, real: str, expires: float) -> None:
        self.info = info
        self.identity = _identity(info)
        self.real = real
        self.expires = expires
        self.memo: Any = None


class Entry(Note):
    """One kept file: a ``Note`` with its ``content``.

    ``info`` is what a hit's fresh stat matched, so its validators are the
    file's; ``memo`` (the static handler keeps the response headers it derived
    from the file there) lives and dies with the entry, so it always describes
    the very file the entry holds.
    """

    __slots__ = ("charge", "content")

    def __init__(self, content: bytes, info: os.stat_result, real: str, expires: float):
        super().__init__(info, real, expires)
        self.content = content
        self.charge = 0


_entries: Dict[str, Entry] = {}
_no_twin: Dict[str, float] = {}  # paths with no ".gz" twin -> until when that is trusted
_lock = threading.Lock()  # for filling and evicting; hits only read the dict
_total = 0  # bytes charged for the entries kept (content, paths, ENTRY_OVERHEAD)


def set_limit(total: int) -> None:
    """Keep at most ``total`` bytes from now on (0: keep nothing), evicting the oldest."""
    global TOTAL_LIMIT
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise ValueError(f"fileCacheBytes must be an int >= 0, not {total!r}")
    with _lock:
        TOTAL_LIMIT = total
        _evict(0)


def _evict(room: int) -> None:
    """Drop the oldest entries until ``room`` more bytes fit (the lock is held)."""
    global _total
    while _entries and _total + room > TOTAL_LIMIT:
        _total -= _entries.pop(next(iter(_entries))).charge


def _identity(info: os.stat_result) -> Tuple[int, ...]:
    return (info.st_ino, info.st_dev, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def inside(base: str, real: str) -> bool:
    """Whether the resolved path ``real`` is ``base`` or lies under it."""
    if real == base:
        return True
    return real.startswith(base if base.endswith(os.sep) else base + os.sep)


def holds(path: str) -> bool:
    """Whether an entry for ``path`` is kept (not checked: ``find`` does that)."""
    return path in _entries


def find(path: str, base: str) -> Optional[Entry]:
    """The entry for the file at ``path`` if it is kept, unchanged and under ``base``."""
    entry = _entries.get(path)
    if entry is None:
        return None
    if entry.expires > time.monotonic() and inside(base, entry.real):
        try:
            info = os.stat(path)
        except OSError:
            info = None
        if (
            info is not None
            and (info.st_ino, info.st_dev, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
            == entry.identity
        ):
            return entry
    _forget(path)
    return None


def keep(path: str, real: str, info: os.stat_result, content: bytes) -> None:
    """Keep ``content``, read from ``path`` whose ``fstat`` was ``info``, if it may be kept."""
    global _total
    size = len(content)
    if size != info.st_size or size > FILE_LIMIT:
        return
    charge = size + len(path) + len(real) + ENTRY_OVERHEAD
    if charge > TOTAL_LIMIT:
        return  # never fits (or the cache is off): do not evict everything for it
    if time.time() - max(info.st_mtime, info.st_ctime) < SETTLE:
        return  # written moments ago: maybe still being written
    entry = Entry(content, info, real, time.monotonic() + TTL)
    entry.charge = charge
    with _lock:
        old = _entries.pop(path, None)
        if old is not None:
            _total -= old.charge
        _evict(charge)
        _entries[path] = entry
        _total += charge


def _forget(path: str) -> None:
    global _total
    with _lock:
        entry = _entries.pop(path, None)
        if entry is not None:
            _total -= entry.charge


def has_no_twin(path: str) -> bool:
    """Whether ``path + ".gz"`` was missing less than ``TTL`` seconds ago."""
    until = _no_twin.get(path)
    return until is not None and until > time.monotonic()


def note_no_twin(path: str) -> None:
    """Remember for ``TTL`` seconds that ``path + ".gz"`` is missing."""
    if len(_no_twin) >= TWIN_NOTES:
        _no_twin.clear()
    _no_twin[path] = time.monotonic() + TTL


_large: Dict[str, Note] = {}


def note_large(path: str, real: str, info: os.stat_result) -> None:
    """Note the large file at ``path`` (``fstat`` ``info``, resolved to ``real``) for ``TTL``."""
    if time.time() - max(info.st_mtime, info.st_ctime) < SETTLE:
        return  # maybe still being written: its times could tick without changing
    if len(_large) >= LARGE_NOTES:
        _large.clear()
    _large[path] = Note(info, real, time.monotonic() + TTL)


def large_note(path: str, base: str) -> Optional[Note]:
    """The note of the large file at ``path`` if it is fresh and the file was under ``base``."""
    note = _large.get(path)
    if note is None:
        return None
    if note.expires > time.monotonic() and inside(base, note.real):
        return note
    _large.pop(path, None)
    return None


def is_noted_file(note: Note, info: os.stat_result) -> bool:
    """Whether ``info`` (an ``fstat`` of a file just opened) is the very file of ``note``."""
    return _identity(info) == note.identity


def forget_large(path: str) -> None:
    _large.pop(path, None)


def clear() -> None:
    """Forget everything (tests; a deployment that must see a change at once)."""
    global _total
    with _lock:
        _entries.clear()
        _no_twin.clear()
        _large.clear()
        _total = 0
