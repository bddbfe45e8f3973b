"""``staticResource``: serve files from ``staticBase`` the way nginx does, and nothing outside it.

Containment is decided twice, so one mistake is not enough to leak a file:
1. every decoded path segment is checked (no ``..``, ``.``, ``/``, ``\\``, NUL,
   drive letters), so traversal never reaches the file system;
2. the joined path is resolved with ``os.path.realpath`` (symlinks followed)
   and must still lie under the resolved base (bottle's ``abspath`` +
   ``startswith`` check follows symlinks out of the root; this does not).
Anything refused is a plain 404: the client learns nothing about the tree.
Only regular files are served (a FIFO or device would block or never end):
the file is opened without blocking and checked with ``fstat``, and the same
``fstat`` gives the validators and the length, so they describe exactly the
bytes sent even if the file is replaced meanwhile.

A file leaves as a ``FileBody`` (all of it, or the one range asked for) and
the server sends it with ``sendfile``; validators, preconditions and ranges
are decided by the pure functions of ``_conditional.py``, directory pages by
``_listing.py``.
"""

from __future__ import annotations

import os
import stat
import time

from ._conditional import (
    UNSATISFIABLE,
    accepts_gzip,
    check_preconditions,
    last_modified,
    make_etag,
    select_range,
)
from ._message import HttpRequest, HttpResponse
from ._mime import guess_type
from ._serializer import FileBody
from ._target import split_target

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, List, Optional, Tuple

_FORBIDDEN_SEGMENTS = frozenset(("..", "."))
_WINDOWS = os.name == "nt"
# Opening a FIFO for reading blocks until a writer appears; O_NONBLOCK makes
# the open return at once so fstat can refuse it.  Regular files ignore it.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)

_MESSAGES = {
    403: "403 Forbidden\n",
    404: "404 Not Found\n",
    412: "412 Precondition Failed\n",
    416: "416 Range Not Satisfiable\n",
}


def _fail(response: HttpResponse, status: int) -> None:
    response.status = status
    response.data = _MESSAGES[status]


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


def _open(path: str) -> Tuple[Optional[Any], os.stat_result]:
    """``(file, stat)`` for a regular file, ``(None, stat)`` for anything else.

    Raises ``OSError`` when the path cannot be opened at all.
    """
    fd = os.open(path, _OPEN_FLAGS)
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode):
            return os.fdopen(fd, "rb"), info
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return None, info


def _open_gzip(base: str, segments: List[str]) -> Optional[Tuple[Any, os.stat_result]]:
    """The ``.gz`` file beside the one ``segments`` name, if there is a regular one."""
    # One lstat settles the common case (no twin) before realpath's many.
    relative = "/".join(segment for segment in segments if segment)
    if not os.path.lexists(os.path.join(base, relative) + ".gz"):
        return None
    path = safe_join(base, [*segments[:-1], segments[-1] + ".gz"])
    if path is None:
        return None
    try:
        file, info = _open(path)
    except (OSError, ValueError):
        return None
    if file is None:
        return None
    return file, info


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
    """
    if request.method not in ("GET", "HEAD"):
        response.status = 405
        response.headers["Allow"] = "GET, HEAD"
        response.data = "405 Method Not Allowed\n"
        return
    try:
        base = os.path.realpath(staticBase or os.getcwd())
    except OSError:
        _fail(response, 404)
        return
    segments = request.path
    path = safe_join(base, segments)
    if path is None:
        _fail(response, 404)
        return
    try:
        file, info = _open(path)
    except PermissionError:
        try:  # an unreadable directory may still hold a readable index
            info = os.stat(path)
        except OSError:
            _fail(response, 404)
            return
        if not stat.S_ISDIR(info.st_mode):
            _fail(response, 403)
            return
        file = None
    except (FileNotFoundError, NotADirectoryError):
        if fallback is not None and "." not in segments[-1]:
            _send_fallback(request, response, base, fallback, defaultMime, cacheControl)
        else:
            _fail(response, 404)
        return
    except (OSError, ValueError):
        _fail(response, 404)
        return
    if file is None:
        if not stat.S_ISDIR(info.st_mode):
            _fail(response, 404)  # a FIFO, socket or device: never opened for reading
            return
        if segments[-1] != "":
            _redirect_to_slash(request, response)
            return
        directory = path
        segments = [*segments, defaultResource]
        path = safe_join(base, segments)
        try:
            file, info = _open(path) if path is not None else (None, info)
        except PermissionError:
            _fail(response, 403)
            return
        except (OSError, ValueError):
            file = None
        if file is None:
            if listing:
                _list_directory(request, response, directory, base)
            else:
                _fail(response, 404)
            return
    elif segments[-1] == "":
        file.close()
        _fail(response, 404)  # "/file.txt/": a file is not a directory
        return
    assert path is not None
    _send_file(request, response, base, segments, path, file, info, defaultMime, cacheControl)


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
    path = safe_join(base, segments)
    if path is None:
        _fail(response, 404)
        return
    try:
        file, info = _open(path)
    except PermissionError:
        _fail(response, 403)
        return
    except (OSError, ValueError):
        file = None
    if file is None:  # missing, or a directory: the app's index is a file
        _fail(response, 404)
        return
    _send_file(request, response, base, segments, path, file, info, default_mime, cache_control)


def _redirect_to_slash(request: HttpRequest, response: HttpResponse) -> None:
    raw_path, raw_query = split_target(request.uri)
    # Never "//host": a Location starting with two slashes is an open
    # redirect (CVE-2021-28861 in http.server).
    location = "/" + raw_path.lstrip("/") + "/"
    response.status = 301
    response.headers["Location"] = location + ("?" + raw_query if raw_query else "")
    response.data = f"301 Moved Permanently: {location}\n"


def _list_directory(
    request: HttpRequest, response: HttpResponse, directory: str, base: str
) -> None:
    from ._listing import render_listing  # lazily: only listing servers need it

    try:
        page = render_listing(directory, "/" + "/".join(request.path), base)
    except PermissionError:
        _fail(response, 403)
        return
    except OSError:
        _fail(response, 404)
        return
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.data = page


def _send_file(
    request: HttpRequest,
    response: HttpResponse,
    base: str,
    segments: List[str],
    path: str,
    file: Any,
    info: os.stat_result,
    default_mime: str,
    cache_control: Optional[str],
) -> None:
    """Answer with ``file`` (or its ``.gz`` twin): 200, 206, 304, 412 or 416."""
    headers = response.headers
    content_type = guess_type(path, default_mime)
    encoding = None
    gzipped = _open_gzip(base, segments)
    if gzipped is not None:
        # The answer depends on Accept-Encoding whichever file is chosen, so
        # caches must key on it (RFC 9110 12.5.5), also for the plain file.
        headers["Vary"] = "Accept-Encoding"
        if accepts_gzip(request.headers.get("Accept-Encoding")):
            file.close()
            file, info = gzipped
            encoding = "gzip"
        else:
            gzipped[0].close()
    etag = make_etag(info)
    mtime = int(info.st_mtime)
    status = check_preconditions(request.method, request.headers, etag, mtime)
    selected = None
    if status is None and request.method == "GET":  # RFC 9110 14.2: ranges are GET's only
        selected = select_range(request.headers, info.st_size, etag, mtime, time.time())
    if status == 412 or selected == UNSATISFIABLE:
        file.close()
        if selected == UNSATISFIABLE:
            headers["Content-Range"] = f"bytes */{info.st_size}"
        _fail(response, 416 if selected == UNSATISFIABLE else 412)
        return
    # Validators and Cache-Control go with 200, 206 and 304 (RFC 9110 15.4.5:
    # a 304 carries what the 200 would), as nginx's ``expires`` does.
    headers["Last-Modified"] = last_modified(info)
    headers["ETag"] = etag
    if cache_control:
        headers["Cache-Control"] = cache_control
    if status == 304:
        file.close()
        response.status = 304
        return
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
        response.data = FileBody(file, first, last - first + 1)
    else:
        response.data = FileBody(file, 0, size)
