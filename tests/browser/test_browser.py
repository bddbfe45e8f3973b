"""A real browser (headless Chromium through Playwright) on a site served by picohttp.

The site is what a user points ``staticResource`` at: an HTML page that loads
a stylesheet, a script (with a ``.gz`` twin), an image whose name has a space
and a non-ASCII letter, and JSON from a handler route next to
``staticResource``.  The script writes the JSON into the page; the test reads
the rendered text, checks that no console error, page error or failed request
happened, and saves a screenshot to ``test-artifacts/``.  A reload must
revalidate with 304s, and an ``<audio>`` element must seek through a long
WAV file with Range requests, as a video player does.

Skips, saying why, where Playwright or Chromium is missing: ``pip install
playwright`` (the dev extra, Python 3.10+) and Debian's ``chromium``
(``scripts/install-system-tools``).  Playwright's own browser download is not
used: the system Chromium is launched by path.
"""

from __future__ import annotations

import importlib.util
import shutil
import struct
import threading
import zlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from picohttp import staticResource
from support import ARTIFACTS, serving

CHROMIUM = next(
    (found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None
)
pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None,
        reason="Playwright for Python is not installed (pip install playwright; Python 3.10+)",
    ),
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Chromium not found: apt-get install chromium (scripts/install-system-tools)",
    ),
    pytest.mark.slow,
]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

IMAGE_NAME = "logo ü.png"
WAV_SECONDS = 1200  # 20 minutes of 8 kHz silence: 19 MB, more than a player buffers ahead
ITEMS = ["validators", "ranges", "gzip"]

INDEX_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>picohttp in a browser</title>
<link rel="stylesheet" href="css/site.css">
<script src="js/app.js" defer></script>
</head>
<body>
<h1>picohttp static site</h1>
<img id="logo" src="images/logo ü.png" alt="logo" width="64" height="64">
<p id="status">loading…</p>
<ul id="items"></ul>
</body>
</html>
"""

MEDIA_HTML = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>player</title></head>
<body><audio id="player" preload="metadata" controls src="media/tone.wav"></audio></body>
</html>
"""

SITE_CSS = """body { font-family: sans-serif; margin: 2em; background: #f4f8f4; }
h1 { color: rgb(0, 102, 51); }
#status { font-size: 1.4em; }
"""

APP_JS = (
    """// Fetch the JSON route the handler serves and write it into the page.
"use strict";
async function main() {
  const reply = await fetch("/api/status");
  if (!reply.ok) throw new Error("api answered " + reply.status);
  const data = await reply.json();
  document.getElementById("status").textContent =
    data.server + " says " + data.greeting + " to " + data.items.length + " items";
  const list = document.getElementById("items");
  for (const item of data.items) {
    const li = document.createElement("li");
    li.textContent = item;
    list.appendChild(li);
  }
  document.body.dataset.ready = "yes";
}
main().catch((error) => { console.error(error); });
"""
    + "// padding so that the .gz twin is worth having\n" * 50
)


def _png(width: int, height: int) -> bytes:
    """A valid RGB PNG with a gradient, built with zlib (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 4 % 256, 102, y * 4 % 256)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _wav(path: Path, seconds: int, rate: int = 8000) -> int:
    """A mono 16-bit PCM WAV of silence (sparse on disk); returns its size."""
    data_size = seconds * rate * 2
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + data_size)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_size)
    )
    with open(path, "wb") as file:
        file.write(header)
        file.truncate(len(header) + data_size)
    return len(header) + data_size


def make_site(root: Path) -> None:
    import gzip

    for folder in ("css", "js", "images", "media"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text(INDEX_HTML, encoding="utf-8")
    (root / "media.html").write_text(MEDIA_HTML, encoding="utf-8")
    (root / "css" / "site.css").write_text(SITE_CSS, encoding="utf-8")
    (root / "js" / "app.js").write_text(APP_JS, encoding="utf-8")
    (root / "js" / "app.js.gz").write_bytes(gzip.compress(APP_JS.encode(), mtime=0))
    (root / "images" / IMAGE_NAME).write_bytes(_png(64, 64))
    (root / "favicon.ico").write_bytes(_png(16, 16))  # browsers ask for it; PNG icons work
    _wav(root / "media" / "tone.wav", WAV_SECONDS)


class Site:
    """The application: JSON at /api/status, staticResource for the rest; logs each answer."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.log: List[Tuple[str, str, int, Optional[str]]] = []
        self.lock = threading.Lock()

    def __call__(self, request: Any, response: Any) -> None:
        if request.path[0] == "api" and request.path[1:] == ["status"]:
            response.data = {"server": "picohttp", "greeting": "hello", "items": ITEMS}
        else:
            staticResource(request, response, self.root, cacheControl="no-cache", listing=True)
        with self.lock:
            self.log.append(
                (request.method, request.uri, response.status, request.headers.get("Range"))
            )

    def answers(self, suffix: str) -> List[Tuple[str, str, int, Optional[str]]]:
        with self.lock:
            return [entry for entry in self.log if entry[1].endswith(suffix)]


def test_site_in_chromium(tmp_path):
    from playwright.sync_api import sync_playwright

    root = tmp_path / "site"
    make_site(root)
    site = Site(root)
    ARTIFACTS.mkdir(exist_ok=True)
    console_errors: List[str] = []
    page_errors: List[str] = []
    failed: List[str] = []
    encodings: Dict[str, Optional[str]] = {}

    with serving(site) as server, sync_playwright() as playwright:
        origin = f"http://127.0.0.1:{server.port}"
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 500})
            page.on(
                "console",
                lambda message: (
                    console_errors.append(message.text) if message.type == "error" else None
                ),
            )
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            page.on(
                "requestfailed",
                lambda request: failed.append(f"{request.url}: {request.failure}"),
            )
            page.on(
                "response",
                lambda reply: encodings.__setitem__(
                    reply.url, reply.all_headers().get("content-encoding")
                ),
            )

            # 1. The page, its stylesheet, script, image and the JSON route.
            page.goto(origin + "/", wait_until="load")
            page.wait_for_selector("body[data-ready='yes']", timeout=15000)
            status_text = page.inner_text("#status")
            items = page.locator("#items li").all_inner_texts()
            color = page.evaluate("getComputedStyle(document.querySelector('h1')).color")
            image_width = page.evaluate("document.getElementById('logo').naturalWidth")
            page.screenshot(path=str(ARTIFACTS / "browser-static-site.png"), full_page=True)
            assert status_text == "picohttp says hello to 3 items"
            assert items == ITEMS
            assert color == "rgb(0, 102, 51)"  # the stylesheet applied
            assert image_width == 64  # the PNG with a space and "ü" in its name decoded
            assert encodings[origin + "/js/app.js"] == "gzip"  # the .gz twin was used
            assert console_errors == [] and page_errors == [] and failed == []
            for suffix in ("/", "/css/site.css", "/js/app.js", "/api/status"):
                assert [answer[2] for answer in site.answers(suffix)][:1] == [200], suffix
            assert site.answers("/images/logo%20%C3%BC.png")[0][2] == 200

            # 2. A reload revalidates: the browser's conditional requests get 304s.
            page.reload(wait_until="load")
            page.wait_for_selector("body[data-ready='yes']", timeout=15000)
            assert page.inner_text("#status") == "picohttp says hello to 3 items"
            assert [answer[2] for answer in site.answers("/css/site.css")] == [200, 304]
            assert [answer[2] for answer in site.answers("/js/app.js")] == [200, 304]
            assert console_errors == [] and page_errors == [] and failed == []

            # 3. Ranges from the page's own fetch(): what a resumable download uses.
            ranged = page.evaluate(
                """async () => {
                    const reply = await fetch("/media/tone.wav", {headers: {Range: "bytes=0-11"}});
                    const bytes = new Uint8Array(await reply.arrayBuffer());
                    return [reply.status, reply.headers.get("Content-Range"),
                            String.fromCharCode(...bytes)];
                }"""
            )
            size = (root / "media" / "tone.wav").stat().st_size
            assert ranged == [
                206,
                f"bytes 0-11/{size}",
                "RIFF" + struct.pack("<I", size - 8).decode("latin-1") + "WAVE",
            ]

            # 4. Seek like a video player: far past what was buffered.
            page.goto(origin + "/media.html", wait_until="load")
            duration, position = page.evaluate(
                """async (target) => {
                    const player = document.getElementById("player");
                    if (player.readyState < 1) {
                        await new Promise((ok) =>
                            player.addEventListener("loadedmetadata", ok, {once: true}));
                    }
                    await new Promise((ok, fail) => {
                        player.addEventListener("seeked", ok, {once: true});
                        player.addEventListener("error", () => fail(player.error.message),
                                                {once: true});
                        player.currentTime = target;
                    });
                    return [player.duration, player.currentTime];
                }""",
                1000,
            )
            assert abs(duration - WAV_SECONDS) < 1
            assert abs(position - 1000) < 1
            media = site.answers("/media/tone.wav")
            seeks = [
                answer
                for answer in media
                if answer[3]
                and answer[3].startswith("bytes=")
                and not answer[3].startswith("bytes=0-")
            ]
            assert seeks, f"no Range request past the start: {media}"
            assert all(answer[2] == 206 for answer in seeks), media
            # The player may abandon its own earlier read when it seeks; any
            # other failure is a fault.
            others = [entry for entry in failed if "/media/tone.wav" not in entry]
            assert others == [] and console_errors == [] and page_errors == []

            # 5. A directory listing, and a click on a name with a space and a "ü".
            page.goto(origin + "/images/", wait_until="load")
            page.screenshot(path=str(ARTIFACTS / "browser-listing.png"))
            assert page.title() == "Index of /images/"
            with page.expect_response(lambda reply: "logo" in reply.url) as clicked:
                page.click(f"text={IMAGE_NAME}")
            assert clicked.value.status == 200
            assert clicked.value.url == origin + "/images/logo%20%C3%BC.png"
            assert clicked.value.body() == (root / "images" / IMAGE_NAME).read_bytes()
            assert console_errors == [] and page_errors == []
            print(
                f"\nChromium {browser.version}: page rendered {status_text!r}; "
                f"reload answered 304s; seek to 1000 s of {duration:.0f} s by "
                f"{[answer[3] for answer in media]}"
            )
        finally:
            browser.close()
