"""The HTML index of a directory, for ``staticResource(..., listing=True)``.

Like nginx's ``autoindex``: sorted names (directories first, each with a
trailing slash), sizes and modification times, and a link to the parent.
Names starting with ``.`` are left out (``.git``, ``.env``; they are still
served to whoever knows their name), and so are symlinks leading out of the
base (they would be a 404).  Every name is HTML-escaped for the text and
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
    from typing import List, Tuple

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


def _entries(directory: str, base: str) -> List[Tuple[bool, str, int, float]]:
    entries: List[Tuple[bool, str, int, float]] = []
    inside = base if base.endswith(os.sep) else base + os.sep
    with os.scandir(directory) as scan:
        for entry in scan:
            if entry.name.startswith("."):
                continue
            if entry.is_symlink() and not os.path.realpath(entry.path).startswith(inside):
                continue  # it would be a 404: do not offer it
            try:
                info = entry.stat()  # follows symlinks, as a click on the link will
            except OSError:
                continue  # a dangling symlink, or no permission: nothing to offer
            is_dir = stat.S_ISDIR(info.st_mode)
            entries.append((is_dir, entry.name, info.st_size, info.st_mtime))
    entries.sort(key=lambda item: (not item[0], item[1].casefold(), item[1]))
    return entries


def render_listing(directory: str, url_path: str, base: str) -> str:
    """The HTML page listing ``directory``, shown at ``url_path`` (decoded, ends in ``/``).

    Symlinks that resolve outside ``base`` (which staticResource refuses to
    serve) are left out with the dotfiles.
    """
    title = html.escape(f"Index of {_display(url_path)}")
    rows: List[str] = []
    if url_path != "/":
        rows.append('<tr><td><a href="../">../</a></td><td></td><td></td></tr>')
    for is_dir, name, size, mtime in _entries(directory, base):
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
