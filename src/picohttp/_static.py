"""``staticResource``: serve files from ``staticBase`` the way nginx does, and nothing outside it.

Containment is decided twice, so one mistake is not enough to leak a file:
1. every decoded path segment is checked (no ``..``, ``.``, ``/``, ``\\``, NUL,
   drive letters), so traversal never reaches the file system;
2. the file actually opened must lie under the resolved base, symlinks
   followed: on Linux the kernel names it (``/proc/self/fd/N``, one readlink,
   and no window between the check and the open), elsewhere
   ``os.path.realpath`` does (bottle's ``abspath`` + ``startswith`` check
   follows symlinks out of the root; neither of these does).
Anything refused is a plain 404: the client learns nothing about the tree.
Dot files and dot folders (any segment starting with ``.``: ``.git/``,
``.env``) are refused too unless the application passes ``dotfiles=True``:
a served repository or home folder must not hand out its secrets.
A directory listing is read from the opened and checked directory
descriptor, never from its path again (``_listing.py``).
Only regular files are served (a FIFO or device would block or never end):
the file is opened without blocking and checked with ``fstat``, and the same
``fstat`` gives the validators and the length, so they describe exactly the
bytes sent even if the file is replaced meanwhile.

A file of up to 64 KiB is read whole and leaves as ``bytes`` joined to the
head in one send; such files are kept in memory and revalidated by one
``stat`` per request (``_filecache.py`` says why that is never stale).  A
larger file leaves as a ``FileBody`` (all of it, or the one range asked for)
that the server sends with ``sendfile``.  Validators, preconditions and
ranges are decided by the pure functions of ``_conditional.py``, directory
pages by ``_listing.py``.
"""

from __future__ import annotations

import errno
import functools
import io
import logging
import os
import stat
import sys
import time

from . import _filecache
from ._conditional import (
    UNSATISFIABLE,
    accepts_gzip,
    check_preconditions,
    last_modified,
    make_etag,
    select_range,
)
from ._filecache import inside
from ._headers import has_any
from ._message import HttpRequest, HttpResponse
from ._mime import guess_type
from ._serializer import FileBody, serialize
from ._target import split_target

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

    from ._serializer import Body

    # A regular file to send: its bytes (small files), or an open descriptor.
    Source = Union[bytes, int, None]

_FORBIDDEN_SEGMENTS = frozenset(("..", "."))
# Request fields that can make a file's answer other than a plain 200 of all of it.
_CONDITIONAL = frozenset(
    ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "range", "if-range")
)
_WINDOWS = os.name == "nt"
# Opening a FIFO for reading blocks until a writer appears; O_NONBLOCK makes
# the open return at once so fstat can refuse it.  Regular files ignore it.
# O_NOCTTY: a path that leads to a terminal must not become ours.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
# The resolved staticBase, per staticBase, for a second: resolving it costs a
# stat per path component, and a second still follows a "current" symlink
# that a deployment re-points.
_BASE_TTL = 1.0
log = logging.getLogger("picohttp")
_bases: Dict[str, Tuple[str, float]] = {}
# Where /proc/self/fd/N names the file open on descriptor N.
_PROC_FD = sys.platform.startswith("linux")
# A directory to list: opened as one (never a FIFO or device), not inherited.
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
# Linux: a descriptor that names a file without opening it for reading (no
# permission needed, a FIFO does not block), for a listing's symlinks.
_O_PATH = getattr(os, "O_PATH", 0)
_HAVE_PREAD = hasattr(os, "pread")

_MESSAGES = {
    403: "403 Forbidden\n",
    404: "404 Not Found\n",
    412: "412 Precondition Failed\n",
    416: "416 Range Not Satisfiable\n",
}


def _fail(response: HttpResponse, status: int) -> None:
    response.status = status
    response.data = _MESSAGES[status]


#: The machine, not the path: no descriptor or memory left to open with.
_STARVED = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS))


def _fail_open(response: HttpResponse, exc: Exception) -> None:
    """A file or folder that could not be opened: 404, or 503 when the machine is out of
    descriptors or memory (the file is there; a moment later it will open), logged once."""
    if getattr(exc, "errno", None) not in _STARVED:
        _fail(response, 404)
        return
    log.warning("static file not opened (%s); answered 503", exc)
    response.status = 503
    response.headers["Retry-After"] = "1"
    response.data = "503 Service Unavailable: the server is out of resources; try again shortly\n"


def safe_join(base: str, segments: List[str]) -> Optional[str]:
    """The real path of ``segments`` under the real ``base``, or ``None`` if it would leave it."""
    for segment in segments:
        if (
            segment in _FORBIDDEN_SEGMENTS
            or "/" in segment
            or "\\" in segment
            or "\0" in segment
            or (_WINDOWS and ":" in segment)
        ):
            return None
    relative = "/".join(segment for segment in segments if segment)
    candidate = os.path.realpath(os.path.join(base, relative))
    if candidate == base:
        return candidate
    prefix = base if base.endswith(os.sep) else base + os.sep
    return candidate if candidate.startswith(prefix) else None


class _RefusedError(OSError):
    """A path that must not be served (a bad segment, or outside the base).

    Not a ``FileNotFoundError``: a refused path never falls back to the
    single-page app's index, it is a plain 404.
    """


def _real_base(static_base: str) -> str:
    """``staticBase`` resolved (symlinks followed), cached for ``_BASE_TTL`` seconds."""
    if not static_base:
        # The current directory, read at each request (a handler may chdir);
        # POSIX getcwd already names it with symlinks resolved.
        return os.path.realpath(os.getcwd()) if _WINDOWS else os.getcwd()
    now = time.monotonic()
    cached = _bases.get(static_base)
    if cached is not None and cached[1] > now:
        return cached[0]
    base = os.path.realpath(static_base)
    if len(_bases) > 64:
        _bases.clear()
    _bases[static_base] = (base, now + _BASE_TTL)
    return base


def _opened_path(fd: int, path: str) -> str:
    """Where the file behind ``fd`` really is (symlinks resolved)."""
    if _PROC_FD:
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # /proc not mounted (a bare container): resolve the name instead
            pass
    return os.path.realpath(path)


def _path(base: str, segments: List[str]) -> str:
    """``segments`` joined under ``base``; ``_RefusedError`` for a bad segment.

    Checked on the joined string (a few C scans, not five tests per segment):
    a segment holding ``/`` shows as one slash too many.
    """
    if ".." in segments or "." in segments:
        raise _RefusedError("a dot segment")
    relative = "/".join(segments)
    if (
        relative.count("/") != len(segments) - 1
        or "\\" in relative
        or "\0" in relative
        or (_WINDOWS and ":" in relative)
    ):
        raise _RefusedError("a bad segment")
    if "" in segments:  # "/dir/" or "/a//b": empty segments name nothing
        relative = "/".join(segment for segment in segments if segment)
    if not relative:
        return base
    return base + relative if base.endswith(os.sep) else base + os.sep + relative


def _open(base: str, segments: List[str]) -> Tuple[Source, os.stat_result, str]:
    """``(source, stat, path)`` for a regular file under ``base``, else ``(None, stat, path)``.

    The source is the file's bytes (a small file) or an open descriptor for
    the caller to close (``_release``).  Raises ``_RefusedError`` for a bad
    segment or a path outside the base, ``FileNotFoundError`` for a missing
    one, and other ``OSError`` when it cannot be opened.
    """
    return _open_path(base, _path(base, segments), segments)


def _open_path(base: str, path: str, segments: List[str]) -> Tuple[Source, os.stat_result, str]:
    kept = _filecache.find(path, base)
    if kept is not None:
        return kept.content, kept.info, kept.real
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except PermissionError:
        if safe_join(base, segments) is None:  # outside: say nothing about it
            raise _RefusedError(path) from None
        raise
    try:
        real = _opened_path(fd, path)
        if not inside(base, real):
            raise _RefusedError(path)  # a symlink out of the base
        info = os.fstat(fd)
        regular = stat.S_ISREG(info.st_mode)
        if regular and (info.st_size > _filecache.FILE_LIMIT or not _HAVE_PREAD):
            _filecache.note_large(path, real, info)  # for kept_answerer's short way
            return fd, info, real  # large: the server sends it with sendfile
        # Small: read now (it leaves with the head in one send) and kept.
        content = os.pread(fd, info.st_size, 0) if regular else None
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    if content is None:
        return None, info, real
    _filecache.keep(path, real, info, content)
    return content, info, real


def hidden(segments: List[str]) -> bool:
    """True if a path segment names a dot file or dot folder (``.git``, ``.env``)."""
    for segment in segments:  # noqa: SIM110 - cheaper than any() and a generator per request
        if segment[:1] == ".":
            return True
    return False


def follow_inside(base: str) -> Callable[[int, str], Optional[os.stat_result]]:
    """For a listing: ``follow(dir_fd, name)``, the stat of what a symlink leads to, if inside.

    The link is opened relative to the directory's descriptor and the opened
    file is checked and stat'ed, so what is shown is exactly what was checked.
    Where the kernel cannot name an opened file (no ``/proc``, no ``O_PATH``)
    the answer is always ``None``: a listing then leaves every symlink out
    rather than resolve a path that could change after the check.
    """

    def follow(dir_fd: int, name: str) -> Optional[os.stat_result]:
        if not (_PROC_FD and _O_PATH):
            return None
        try:
            fd = os.open(name, _O_PATH | getattr(os, "O_CLOEXEC", 0), dir_fd=dir_fd)
        except OSError:
            return None  # dangling, a loop, or no permission to look
        try:
            if not inside(base, os.readlink(f"/proc/self/fd/{fd}")):
                return None
            return os.fstat(fd)
        except OSError:
            return None
        finally:
            os.close(fd)

    return follow


def _release(source: Source) -> None:
    if type(source) is int:
        os.close(source)


def _open_gzip(base: str, segments: List[str]) -> Optional[Tuple[Source, os.stat_result]]:
    """The ``.gz`` file beside the one ``segments`` name, if there is a regular one."""
    twin = [*segments[:-1], segments[-1] + ".gz"]
    try:
        path = _path(base, twin)
        if _filecache.has_no_twin(path):
            return None
        # One access() settles the common case (no twin) without an exception.
        if not os.access(path, os.F_OK):
            _filecache.note_no_twin(path)
            return None
        source, info, _ = _open_path(base, path, twin)
    except (OSError, ValueError):
        return None
    if source is None:
        return None
    return source, info


def _file_data(source: Source, offset: int, length: int, size: int) -> Any:
    """``response.data`` for ``length`` bytes from ``offset``; takes ``source``.

    A small file's bytes (read whole, or kept) go as they are, or sliced for a
    range; they leave joined to the head in one send, which costs less than
    a ``sendfile`` beside it (one segment, one wake-up of the client).  A
    descriptor goes as a ``FileBody`` that the server sends with ``sendfile``.
    """
    if type(source) is bytes:
        return source if offset == 0 and length == size else source[offset : offset + length]
    assert type(source) is int
    return FileBody(io.FileIO(source, "rb"), offset, length)


def staticResource(
    request: HttpRequest,
    response: HttpResponse,
    staticBase: str = "",
    defaultResource: str = "index.html",
    defaultMime: str = "text/plain",
    *,
    listing: bool = False,
    cacheControl: Optional[str] = None,
    fallback: Optional[str] = None,
    dotfiles: bool = False,
) -> None:
    """Serve the file that ``request.path`` names under ``staticBase``.

    ``staticBase`` is the root directory ("" means the current directory, read
    at each request); ``defaultResource`` is served for ``/`` and for any
    directory; ``defaultMime`` is the Content-Type when neither picohttp's web
    table nor ``mimetypes`` knows the extension.  GET and HEAD only (else 405
    with ``Allow``); a directory without its trailing slash is redirected
    (301) to the slashed form; anything outside the base is a 404.

    Beyond the spec: ``listing=True`` answers a directory without
    ``defaultResource`` with an HTML index of it (else 404);
    ``cacheControl`` (e.g. ``"max-age=3600"`` or ``"no-cache"``) is sent as
    ``Cache-Control`` with every file (default: none).  Files carry
    ``Last-Modified``, a strong ``ETag`` and ``Accept-Ranges: bytes``;
    ``If-None-Match``/``If-Modified-Since`` give 304, ``If-Match``/
    ``If-Unmodified-Since`` 412, a single ``Range`` 206 (or 416), and
    ``name.gz`` beside ``name`` is sent to clients that accept gzip.

    ``fallback`` (e.g. ``"index.html"``, a path under ``staticBase``) is for
    single-page apps: a missing path whose last segment has no extension
    (``/users/42``, not ``/app.js``) is answered 200 with that file, so a
    client-side route survives a reload.

    ``dotfiles=True`` serves (and lists) dot files and dot folders; by
    default any path segment starting with ``.`` (``/.git/config``,
    ``/.env``) is a 404 and listings leave such names out, unlike
    ``http.server`` and nginx, which serve them.
    """
    if request.method not in ("GET", "HEAD"):
        response.status = 405
        response.headers["Allow"] = "GET, HEAD"
        response.data = "405 Method Not Allowed\n"
        return
    try:
        base = _real_base(staticBase)
    except OSError as exc:
        _fail_open(response, exc)
        return
    segments = request.path
    if not dotfiles and hidden(segments):
        _fail(response, 404)
        return
    if _answer_kept(request, response, base, segments, defaultMime, cacheControl):
        return
    found = _find(
        request, response, base, segments, staticBase, fallback, defaultMime, cacheControl
    )
    if found is None:
        return  # answered: missing, refused, or the fallback
    source, info, path = found
    if source is None:  # a directory: its index, a listing, or the slashed URL
        index = _directory_index(
            request, response, base, segments, path, info, defaultResource, listing, dotfiles
        )
        if index is None:
            return
        source, info, _, segments = index
    elif segments[-1] == "":
        _release(source)
        _fail(response, 404)  # "/file.txt/": a file is not a directory
        return
    _send_file(request, response, base, segments, source, info, defaultMime, cacheControl)


def _find(
    request: HttpRequest,
    response: HttpResponse,
    base: str,
    segments: List[str],
    static_base: str,
    fallback: Optional[str],
    default_mime: str,
    cache_control: Optional[str],
) -> Optional[Tuple[Source, os.stat_result, str]]:
    """``_open`` of what the request names, or ``None`` once the miss has been answered."""
    try:
        return _open(base, segments)
    except PermissionError:
        path = safe_join(base, segments) or base
        try:  # an unreadable directory may still hold a readable index
            info = os.stat(path)
        except OSError:
            _fail(response, 404)
            return None
        if not stat.S_ISDIR(info.st_mode):
            _fail(response, 403)
            return None
        return None, info, path
    except (FileNotFoundError, NotADirectoryError):
        if not os.path.isdir(base):  # only on a miss: a found file costs nothing more
            _warn_missing("staticBase", static_base, base)
        if fallback is not None and "." not in segments[-1]:
            _send_fallback(request, response, base, fallback, default_mime, cache_control)
        else:
            _fail(response, 404)
        return None
    except (OSError, ValueError) as exc:
        _fail_open(response, exc)
        return None


def _directory_index(
    request: HttpRequest,
    response: HttpResponse,
    base: str,
    segments: List[str],
    directory: str,
    info: os.stat_result,
    default_resource: str,
    listing: bool,
    dotfiles: bool,
) -> Optional[Tuple[Source, os.stat_result, str, List[str]]]:
    """The index file of ``directory`` to send, or ``None`` once answered otherwise
    (the slashed URL, a listing, a 403 or 404)."""
    if not stat.S_ISDIR(info.st_mode):
        _fail(response, 404)  # a FIFO, socket or device: never opened for reading
        return None
    if segments[-1] != "":
        _redirect_to_slash(request, response)
        return None
    segments = [*segments, default_resource]
    try:
        source, info, path = _open(base, segments)
    except PermissionError:
        _fail(response, 403)
        return None
    except OSError as exc:
        if exc.errno in _STARVED:  # not "no index": no descriptor to look with
            _fail_open(response, exc)
            return None
        source = None
    except ValueError:
        source = None
    if source is None:
        if listing:
            _list_directory(request, response, directory, base, dotfiles)
        else:
            _fail(response, 404)
        return None
    return source, info, path, segments


def _answer_kept(
    request: HttpRequest,
    response: HttpResponse,
    base: str,
    segments: List[str],
    default_mime: str,
    cache_control: Optional[str],
) -> bool:
    """Answer a plain GET or HEAD of a kept file from its entry; ``False`` to go the long way.

    Most requests for a page's files are such: no precondition, no range,
    and no ``.gz`` twin beside the file (known for ``TTL``).  Their headers
    depend only on the file (its entry) and the handler's arguments, so
    they are derived once per entry by the long way's own ``_decide`` and
    kept in ``entry.memo``; a hit costs the one ``stat`` and a dict copy.
    """
    if not segments or not segments[-1] or has_any(request.headers, _CONDITIONAL):
        return False  # a directory's index, or a request _decide must look at
    path = _plain_path(base, segments)
    entry = None if path is None else _filecache.find(path, base)
    if entry is None:
        return False
    memo = _memo(entry, request, default_mime, cache_control)
    headers = response.headers
    if headers:  # set by a handler that called this one: keep them, as the long way does
        for name, value in memo.headers.items():
            headers[name] = value
    else:
        response.headers = memo.headers.copy()
    response.data = entry.content
    return True


def _head(
    kept: _filecache.Note,
    request: HttpRequest,
    date: str,
    default_mime: str,
    cache_control: Optional[str],
    data: Any,
) -> bytes:
    """The serialized head of a plain 200 of the ``kept`` file, made once per ``date``."""
    memo: Optional[_Memo] = kept.memo
    if (
        memo is None
        or memo.date != date
        or memo.default_mime != default_mime
        or memo.cache_control != cache_control
    ):
        memo = _memo(kept, request, default_mime, cache_control)
        made = HttpResponse(headers=memo.headers.copy(), data=data)
        memo.head = serialize(made, "GET", date)[0]  # HEAD's head is GET's, without the body
        memo.date = date
    return memo.head


def _open_noted(path: str, note: _filecache.Note) -> Optional[int]:
    """A descriptor of the noted large file at ``path``, if what opens is that very file.

    The ``fstat`` of the opened descriptor is compared with the note, so no
    file replaced, moved or changed since is taken for it; ``readlink`` is
    not needed: the same device and inode are the file that was checked.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        _filecache.forget_large(path)
        return None
    try:
        same = _filecache.is_noted_file(note, os.fstat(fd))
    except OSError:
        same = False
    if not same:
        os.close(fd)
        _filecache.forget_large(path)
        return None
    return fd


def _plain_path(base: str, segments: List[str]) -> Optional[str]:
    """The path ``segments`` name under ``base`` if a short way may answer it: a good
    path whose file has no ``.gz`` twin (known for ``TTL``), else ``None``."""
    try:
        path = _path(base, segments)
    except _RefusedError:
        return None
    return path if _filecache.has_no_twin(path + ".gz") else None


class _Memo:
    """What a plain 200 of one kept file carries, for one ``defaultMime`` and ``cacheControl``.

    ``headers`` come from the long way's own ``_decide``; ``head`` is the
    serialized head for the second ``date`` (``kept_answerer``), made by
    ``serialize`` from those headers, so the short ways answer byte for byte
    as the long way does.
    """

    __slots__ = ("cache_control", "date", "default_mime", "head", "headers")

    def __init__(
        self, default_mime: str, cache_control: Optional[str], headers: Dict[str, Any]
    ) -> None:
        self.default_mime = default_mime
        self.cache_control = cache_control
        self.headers = headers
        self.date = ""
        self.head = b""


def _memo(
    entry: _filecache.Note,
    request: HttpRequest,
    default_mime: str,
    cache_control: Optional[str],
) -> _Memo:
    """``entry.memo`` for these arguments, derived now if the entry has none for them."""
    memo: Optional[_Memo] = entry.memo
    if memo is None or memo.default_mime != default_mime or memo.cache_control != cache_control:
        made = HttpResponse()
        # No field of _CONDITIONAL in the request: _decide answers 200 with all of it.
        # The type follows the name asked for (its last segment), as it did before.
        content_type = guess_type(request.path[-1], default_mime)
        _decide(request, made, entry.info, content_type, None, cache_control)
        memo = entry.memo = _Memo(default_mime, cache_control, made.headers)
    return memo


#: staticResource's parameters after (request, response), for ``kept_answerer``.
_POSITIONAL = ("staticBase", "defaultResource", "defaultMime")
_PARAMETERS = frozenset((*_POSITIONAL, "listing", "cacheControl", "fallback", "dotfiles"))
_GET_OR_HEAD = ("GET", "HEAD")


def kept_answerer(
    handler: Any, args: Sequence[Any]
) -> Optional[Callable[[HttpRequest, str], Optional[Tuple[bytes, Body]]]]:
    """When ``handler`` is ``staticResource`` itself: its answers to kept files, ready to send.

    ``staticResource`` is the spec's default handler, and the command line
    serves a folder with a ``functools.partial`` of it.  A plain GET or HEAD
    of a kept file (no precondition or range, no ``.gz`` twin) then has an
    answer that depends only on the file, the handler's arguments and the
    ``Date``: ``answer(request, date)`` returns it as ``(head, body)`` after
    the one ``stat`` of ``_filecache.find``, with the head serialized once
    per second and file.  A large file the long way has read and noted
    (``_filecache.note_large``) is answered the same way with a ``FileBody``
    for ``sendfile``, once ``fstat`` of the descriptor just opened shows the
    very file noted.  ``None`` from ``answer`` means the long way
    (``run_handler``), which gives every other request its due.  The server
    calls it on the loop thread, as nginx answers from its open file cache
    on its event loop: no ``HttpResponse``, no handler call, no worker.

    ``None`` for any other handler, and for arguments it cannot read for sure.
    """
    keywords: Dict[str, Any] = {}
    if isinstance(handler, functools.partial):
        if handler.args:  # they would come before (request, response): not a handler
            return None
        keywords = dict(handler.keywords)
        handler = handler.func
    if handler is not staticResource or len(args) > len(_POSITIONAL):
        return None
    given = {**dict(zip(_POSITIONAL, args)), **keywords}
    if not given.keys() <= _PARAMETERS:
        return None  # the construction checks refuse such a call; never guess
    static_base = given.get("staticBase", "")
    default_mime = given.get("defaultMime", "text/plain")
    cache_control = given.get("cacheControl")
    dotfiles = given.get("dotfiles", False)
    if (
        type(static_base) is not str
        or type(default_mime) is not str
        or not (cache_control is None or type(cache_control) is str)
    ):
        return None

    def answer(request: HttpRequest, date: str) -> Optional[Tuple[bytes, Body]]:
        segments = request.path
        method = request.method
        if (
            method not in _GET_OR_HEAD
            or not segments
            or not segments[-1]
            or (not dotfiles and hidden(segments))
            or has_any(request.headers, _CONDITIONAL)
        ):
            return None
        try:
            base = _real_base(static_base)
        except OSError:
            return None
        path = _plain_path(base, segments)
        if path is None:
            return None
        entry = _filecache.find(path, base)
        if entry is not None:
            head = _head(entry, request, date, default_mime, cache_control, entry.content)
            return head, entry.content if method == "GET" else b""
        note = _filecache.large_note(path, base)
        if note is None:
            return None
        fd = _open_noted(path, note)
        if fd is None:
            return None
        try:
            size = note.info.st_size
            head = _head(note, request, date, default_mime, cache_control, FileBody(None, 0, size))
            if method == "HEAD":
                os.close(fd)
                return head, b""
            return head, FileBody(io.FileIO(fd, "rb"), 0, size)
        except BaseException:
            os.close(fd)  # FileIO owns it only once made
            raise

    return answer


def _send_fallback(
    request: HttpRequest,
    response: HttpResponse,
    base: str,
    fallback: str,
    default_mime: str,
    cache_control: Optional[str],
) -> None:
    """Answer with the ``fallback`` file (a single-page app's index), under the same containment."""
    segments = fallback.lstrip("/").split("/")
    try:
        source, info, _ = _open(base, segments)
    except PermissionError:
        _fail(response, 403)
        return
    except (OSError, ValueError):
        source = None
    if source is None:  # missing, or a directory: the app's index is a file
        if os.path.isdir(base):
            _warn_missing("fallback", fallback, os.path.join(base, *segments))
        _fail(response, 404)
        return
    _send_file(request, response, base, segments, source, info, default_mime, cache_control)


_warned_missing: Set[str] = set()


def _warn_missing(keyword: str, given: str, resolved: str) -> None:
    """A WARNING, once per path, that a staticBase or fallback does not exist.

    A relative staticBase resolves against the working directory, so an app
    started from another folder would otherwise answer 404 to everything
    without a word; the absolute path says where it looked.
    """
    if resolved in _warned_missing:
        return
    _warned_missing.add(resolved)
    if keyword == "staticBase":
        why = f"a relative staticBase is resolved against the working directory, {os.getcwd()}"
    else:
        why = "a fallback is a file under staticBase"
    log.warning(
        "staticResource: %s=%r is %s, which does not exist (%s): requests for it answer 404",
        keyword,
        given,
        resolved,
        why,
    )


def _redirect_to_slash(request: HttpRequest, response: HttpResponse) -> None:
    raw_path, raw_query = split_target(request.uri)
    # Never "//host": a Location starting with two slashes is an open
    # redirect (CVE-2021-28861 in http.server).
    location = "/" + raw_path.lstrip("/") + "/"
    response.status = 301
    response.headers["Location"] = location + ("?" + raw_query if raw_query else "")
    response.data = f"301 Moved Permanently: {location}\n"


def _list_directory(
    request: HttpRequest, response: HttpResponse, directory: str, base: str, dotfiles: bool
) -> None:
    """The listing of ``directory``, read from a descriptor checked to lie under ``base``.

    The path was checked when the request was resolved, but it may have been
    swapped for a symlink since: the directory opened here is checked again
    (the kernel names it) and is the one read, whatever the path says later.
    """
    from ._listing import render_listing  # lazily: only listing servers need it

    try:
        fd = os.open(directory, _DIR_FLAGS)
    except PermissionError:
        _fail(response, 403)
        return
    except OSError as exc:
        _fail_open(response, exc)
        return
    try:
        if not inside(base, _opened_path(fd, directory)):
            _fail(response, 404)  # swapped for a way out since the check
            return
        page = render_listing(fd, "/" + "/".join(request.path), follow_inside(base), dotfiles)
    except PermissionError:
        _fail(response, 403)
        return
    except OSError:
        _fail(response, 404)
        return
    finally:
        os.close(fd)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.data = page


def _send_file(
    request: HttpRequest,
    response: HttpResponse,
    base: str,
    segments: List[str],
    source: Source,
    info: os.stat_result,
    default_mime: str,
    cache_control: Optional[str],
) -> None:
    """Answer with ``source``'s file (or its ``.gz`` twin): 200, 206, 304, 412 or 416.

    The Content-Type follows the name asked for (``segments``), as nginx and
    ``http.server`` do, not the file a symlink leads to: the same URL has the
    same type whether its file is kept or read.

    Takes ``source``: a descriptor is closed here or handed on in
    ``response.data``, also when something raises (a bare descriptor has no
    finalizer to close it).
    """
    encoding = None
    gzipped = _open_gzip(base, segments)
    if gzipped is not None:
        # The answer depends on Accept-Encoding whichever file is chosen, so
        # caches must key on it (RFC 9110 12.5.5), also for the plain file.
        response.headers["Vary"] = "Accept-Encoding"
        if accepts_gzip(request.headers.get("Accept-Encoding")):
            _release(source)
            source, info = gzipped
            encoding = "gzip"
        else:
            _release(gzipped[0])
    try:
        region = _decide(
            request, response, info, guess_type(segments[-1], default_mime), encoding, cache_control
        )
    except BaseException:
        _release(source)
        raise
    if region is None:
        _release(source)  # 304, 412, 416: no body
    else:
        response.data = _file_data(source, region[0], region[1], info.st_size)


def _decide(
    request: HttpRequest,
    response: HttpResponse,
    info: os.stat_result,
    content_type: Optional[str],
    encoding: Optional[str],
    cache_control: Optional[str],
) -> Optional[Tuple[int, int]]:
    """Status and headers for a file; the ``(offset, length)`` to send, or ``None``."""
    headers = response.headers
    etag = make_etag(info)
    mtime = int(info.st_mtime)
    status = check_preconditions(request.method, request.headers, etag, mtime)
    selected = None
    if status is None and request.method == "GET":  # RFC 9110 14.2: ranges are GET's only
        selected = select_range(request.headers, info.st_size, etag, mtime, time.time())
    if status == 412 or selected == UNSATISFIABLE:
        if selected == UNSATISFIABLE:
            headers["Content-Range"] = f"bytes */{info.st_size}"
        _fail(response, 416 if selected == UNSATISFIABLE else 412)
        return None
    # Validators and Cache-Control go with 200, 206 and 304 (RFC 9110 15.4.5:
    # a 304 carries what the 200 would), as nginx's ``expires`` does.
    headers["Last-Modified"] = last_modified(info)
    headers["ETag"] = etag
    if cache_control:
        headers["Cache-Control"] = cache_control
    if status == 304:
        response.status = 304
        return None
    headers["Accept-Ranges"] = "bytes"
    if content_type:
        headers["Content-Type"] = content_type
    if encoding:
        headers["Content-Encoding"] = encoding
    size = info.st_size
    if isinstance(selected, tuple):
        first, last = selected
        response.status = 206
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        return first, last - first + 1
    return 0, size
