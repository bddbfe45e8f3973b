"""Web types are right whatever the operating system's ``mimetypes`` database says.

On some Windows machines the registry maps ``.js`` to ``text/plain`` and a
browser then refuses to run module scripts.  The server here runs in its own
process whose ``mimetypes`` is deliberately wrong for every extension below
(each one mapped to ``text/plain``, a ``.js`` to boot); ``staticResource`` must
still answer each file with the type of picohttp's own table, asked by
``requests``.  The expected types are written out here, independently of
``_mime.py``, so a wrong entry in the table fails this test.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Dict, Iterator

import pytest
import requests

from support import PYTHON, python_env

EXPECTED: Dict[str, str] = {
    # the list
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".woff2": "font/woff2",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    # the rest of a web site
    ".htm": "text/html; charset=utf-8",
    ".xhtml": "application/xhtml+xml",
    ".cjs": "text/javascript; charset=utf-8",
    ".jsonld": "application/ld+json",
    ".geojson": "application/geo+json",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".ics": "text/calendar; charset=utf-8",
    ".vtt": "text/vtt; charset=utf-8",
    ".png": "image/png",
    ".apng": "image/apng",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".jxl": "image/jxl",
    ".ico": "image/x-icon",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".woff": "font/woff",
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
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
}

# The server process: mimetypes made wrong on purpose, then a static server.
SERVER = textwrap.dedent(
    """
    import json, mimetypes, sys
    import picohttp

    extensions = json.loads(sys.argv[2])
    for extension in extensions:
        mimetypes.add_type("text/plain", extension)
    mimetypes.add_type("text/x-picohttp-test", ".zzz")  # unknown to picohttp's table
    mimetypes.add_type("application/x-picohttp-test", ".yyy")
    wrong = {ext: mimetypes.types_map[ext] for ext in extensions}
    assert set(wrong.values()) == {"text/plain"}, wrong  # the database really is wrong
    server = picohttp.HttpServer(0, picohttp.staticResource, args=(sys.argv[1],),
                                 host="127.0.0.1", block=False)
    print(server.port, flush=True)
    sys.stdin.read()  # serve until the test closes our stdin
    server.stop()
    """
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("types")
    for extension in [*EXPECTED, ".zzz", ".yyy", ".unknownext"]:
        (root / f"file{extension}").write_bytes(b"content")
    process = subprocess.Popen(
        [PYTHON, "-c", SERVER, str(root), json.dumps(list(EXPECTED))],
        env=python_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    line = process.stdout.readline()
    if not line.strip().isdigit():
        process.kill()
        raise AssertionError(f"server did not start: {line}{process.communicate()[1]}")
    try:
        yield f"http://127.0.0.1:{int(line)}"
    finally:
        _, errors = process.communicate("", timeout=10)  # closing stdin stops it
    assert process.returncode == 0, errors


@pytest.mark.parametrize("extension", list(EXPECTED))
def test_the_web_table_wins_over_a_wrong_mimetypes(server: str, extension: str) -> None:
    reply = requests.get(f"{server}/file{extension}", timeout=10)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == EXPECTED[extension]
    head = requests.head(f"{server}/file{extension.upper()}", timeout=10)
    assert head.status_code == 404 or head.headers["Content-Type"] == EXPECTED[extension]


def test_mimetypes_still_answers_for_what_the_table_lacks(server: str) -> None:
    text = requests.get(f"{server}/file.zzz", timeout=10)
    other = requests.get(f"{server}/file.yyy", timeout=10)
    unknown = requests.get(f"{server}/file.unknownext", timeout=10)
    assert text.headers["Content-Type"] == "text/x-picohttp-test; charset=utf-8"
    assert other.headers["Content-Type"] == "application/x-picohttp-test"
    assert unknown.headers["Content-Type"] == "text/plain"  # defaultMime


def test_every_entry_of_the_table_is_checked_here() -> None:
    from picohttp._mime import WEB_TYPES

    assert set(EXPECTED) == set(WEB_TYPES)  # a new entry needs its expected type above
