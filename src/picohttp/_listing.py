"""The HTML index of a directory, for ``staticResource(..., listing=True)``.

Like nginx's ``autoindex``: sorted names (directories first, each with a
trailing slash), sizes and modification times, and a link to the parent.
Names starting with ``.`` are left out (``.git``, ``.env``: staticResource
answers them 404 too) unless the application opts in with ``dotfiles``.

The directory is read from the descriptor staticResource opened and checked
(``os.scandir(fd)``), and each entry is looked at relative to it, never by a
path resolved again after the check: a folder swapped for a symlink to one
outside the base between the check and the read cannot show the outside
names.  An entry that is a symlink is shown with what it leads to only if
that lies inside the base (the caller's ``follow`` opens it relative to the
descriptor and checks the opened file); one leading out of the base, or
nowhere, is left out, as a click on it would be a 404, and its target is
never stat'ed for the page.  Every name is HTML-escaped for the text and
percent-encoded from its file-system bytes for the link, so names with
spaces, quotes, ``<``, ``#``, ``?`` or non-ASCII letters work, and a name
that is not valid UTF-8 cannot break the page.
"""

from __future__ import annotations

import html
import os
import stat
import time
from urllib.parse import quote

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Callable, List, Optional, Tuple

    # follow(dir_fd, name): the stat of what the symlink leads to, if inside the base.
    Follow = Callable[[int, str], Optional[os.stat_result]]

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em}"
    "table{border-collapse:collapse}td,th{padding:.15em 1.2em .15em 0;text-align:left}"
    "td.size{text-align:right}"
)


def _display(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    scaled = size / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if scaled < 1024 or unit == "GiB":
            break
        scaled /= 1024
    return f"{scaled:.1f} {unit}"


def _entries(dir_fd: int, follow: Follow, dotfiles: bool) -> List[Tuple[bool, str, int, float]]:
    entries: List[Tuple[bool, str, int, float]] = []
    with os.scandir(dir_fd) as scan:
        for entry in scan:
            if not dotfiles and entry.name.startswith("."):
                continue
            try:  # fstatat relative to dir_fd, the link itself if it is one
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # gone meanwhile, or no permission: nothing to offer
            if stat.S_ISLNK(info.st_mode):
                target = follow(dir_fd, entry.name)
                if target is None:
                    continue  # leads out of the base, or nowhere: it would be a 404
                info = target
            is_dir = stat.S_ISDIR(info.st_mode)
            entries.append((is_dir, entry.name, info.st_size, info.st_mtime))
    entries.sort(key=lambda item: (not item[0], item[1].casefold(), item[1]))
    return entries


def render_listing(dir_fd: int, url_path: str, follow: Follow, dotfiles: bool = False) -> str:
    """The HTML page listing the directory open on ``dir_fd``, shown at ``url_path``.

    ``url_path`` is decoded and ends in ``/``.  ``follow(dir_fd, name)`` gives
    the stat of what a symlink entry leads to when that lies inside the base,
    else ``None`` (the entry is left out).  Names starting with ``.`` are
    left out unless ``dotfiles``.  ``dir_fd`` stays open (the caller's).
    """
    title = html.escape(f"Index of {_display(url_path)}")
    rows: List[str] = []
    if url_path != "/":
        rows.append('<tr><td><a href="../">../</a></td><td></td><td></td></tr>')
    for is_dir, name, size, mtime in _entries(dir_fd, follow, dotfiles):
        slash = "/" if is_dir else ""
        link = quote(os.fsencode(name), safe="") + slash
        text = html.escape(_display(name)) + slash
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(mtime))
        shown_size = "-" if is_dir else _human_size(size)
        rows.append(
            f'<tr><td><a href="{link}">{text}</a></td>'
            f'<td class="size">{shown_size}</td><td>{when}</td></tr>'
        )
    return (
        "<!DOCTYPE html>\n"
        f'<html><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head>\n"
        f"<body><h1>{title}</h1>\n"
        "<table><thead><tr><th>Name</th><th>Size</th><th>Modified (UTC)</th></tr></thead>"
        "<tbody>\n" + "\n".join(rows) + "\n</tbody></table></body></html>\n"
    )
