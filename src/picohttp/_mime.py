"""File extension -> Content-Type, with picohttp's own table for the web first.

The operating system's ``mimetypes`` database is consulted only for
extensions this table lacks: on some Windows machines it maps ``.js`` to
``text/plain`` (module scripts then refuse to load), and older databases lack
``.wasm``, ``.avif`` or ``.webmanifest``.  Text types carry ``charset=utf-8``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Dict, Optional


WEB_TYPES: Dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".xhtml": "application/xhtml+xml",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".cjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".jsonld": "application/ld+json",
    ".geojson": "application/geo+json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".ics": "text/calendar; charset=utf-8",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".apng": "image/apng",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".jxl": "image/jxl",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".ico": "image/x-icon",
    ".bmp": "image/bmp",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".eot": "application/vnd.ms-fontobject",
    ".pdf": "application/pdf",
    ".zip": "application/zip",
    ".gz": "application/gzip",
    ".tar": "application/x-tar",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".ogv": "video/ogg",
    ".mov": "video/quicktime",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".weba": "audio/webm",
    ".aac": "audio/aac",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".vtt": "text/vtt; charset=utf-8",
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
}


def guess_type(name: str, default: Optional[str] = None) -> Optional[str]:
    """Content-Type for a file name: the web table, then ``mimetypes``, then ``default``."""
    dot = name.rfind(".")
    if dot < 0 or "/" in name[dot:]:
        return default
    extension = name[dot:].lower()
    known = WEB_TYPES.get(extension)
    if known is not None:
        return known
    try:
        guessed = _system_types[extension]
    except KeyError:
        guessed = _system_type(extension)
    return default if guessed is None else guessed


#: ``mimetypes``' answer per extension the web table lacks (``None``: unknown).
#: Asked once per extension: ``mimetypes.guess_type`` costs about 10 µs a call,
#: an eighth of the server's time per request for a 1 MiB ``.bin`` (py-spy).
#: So a ``mimetypes.add_type`` made after an extension was first served is not
#: seen for it; add types before the server starts.
_system_types: Dict[str, Optional[str]] = {}


def _system_type(extension: str) -> Optional[str]:
    import mimetypes  # lazily: reading the OS tables costs milliseconds

    guessed, _ = mimetypes.guess_type("x" + extension, strict=False)
    if guessed is not None and guessed.startswith("text/"):
        guessed += "; charset=utf-8"
    if len(_system_types) >= 512:  # names are the clients' to choose: bounded
        _system_types.clear()
    _system_types[extension] = guessed
    return guessed
