"""``staticResource``: serve files from ``staticBase``, and nothing outside it.

Containment is decided twice, so one mistake is not enough to leak a file:
1. every decoded path segment is checked (no ``..``, ``.``, ``/``, ``\\``, NUL,
   drive letters), so traversal never reaches the file system;
2. the joined path is resolved with ``os.path.realpath`` (symlinks followed)
   and must still lie under the resolved base (bottle's ``abspath`` +
   ``startswith`` check follows symlinks out of the root; this does not).
Anything refused is a plain 404: the client learns nothing about the tree.
Only regular files are opened (a FIFO or device would block or never end).
"""

from __future__ import annotations

import os
from typing import Optional

from ._message import HttpRequest, HttpResponse
from ._mime import guess_type
from ._target import split_target

_FORBIDDEN_SEGMENTS = frozenset(("..", "."))
_WINDOWS = os.name == "nt"


def _not_found(response: HttpResponse) -> None:
    response.status = 404
    response.data = "404 Not Found\n"


def safe_join(base: str, segments: list[str]) -> Optional[str]:
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


def staticResource(
    request: HttpRequest,
    response: HttpResponse,
    staticBase: str = "",
    defaultResource: str = "index.html",
    defaultMime: str = "text/plain",
) -> None:
    """Serve the file that ``request.path`` names under ``staticBase``.

    ``staticBase`` is the root directory ("" means the current directory, read
    at each request); ``defaultResource`` is served for ``/`` and for any
    directory; ``defaultMime`` is the Content-Type when neither picohttp's web
    table nor ``mimetypes`` knows the extension.  GET and HEAD only (else 405
    with ``Allow``); a directory without its trailing slash is redirected
    (301) to the slashed form; anything outside the base is a 404.
    """
    if request.method not in ("GET", "HEAD"):
        response.status = 405
        response.headers["Allow"] = "GET, HEAD"
        response.data = "405 Method Not Allowed\n"
        return
    try:
        base = os.path.realpath(staticBase or os.getcwd())
    except OSError:
        _not_found(response)
        return
    path = safe_join(base, request.path)
    if path is None:
        _not_found(response)
        return
    try:
        if os.path.isdir(path):
            if request.path[-1] != "":
                raw_path, raw_query = split_target(request.uri)
                # Never "//host": a Location starting with two slashes is an
                # open redirect (CVE-2021-28861 in http.server).
                location = "/" + raw_path.lstrip("/") + "/"
                response.status = 301
                response.headers["Location"] = location + ("?" + raw_query if raw_query else "")
                response.data = f"301 Moved Permanently: {location}\n"
                return
            path = safe_join(base, [*request.path, defaultResource])
            if path is None:
                _not_found(response)
                return
        elif request.path[-1] == "":
            _not_found(response)  # "/file.txt/": a file is not a directory
            return
        if not os.path.isfile(path):
            _not_found(response)
            return
        file = open(path, "rb")  # noqa: SIM115 - the server streams and closes it
    except PermissionError:
        response.status = 403
        response.data = "403 Forbidden\n"
        return
    except (OSError, ValueError):
        _not_found(response)
        return
    content_type = guess_type(path, defaultMime)
    if content_type:
        response.headers["Content-Type"] = content_type
    response.data = file
