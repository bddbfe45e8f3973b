"""A small site on disk for the static-serving tests (imported by their conftest)."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

#: The page is longer than 96 bytes: REDbot's range check asks for 97 bytes
#: and misreads a complete answer from a shorter file (see the README).
INDEX_HTML = (
    "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>picohttp test site</title>"
    "<link rel='stylesheet' href='style.css'></head>\n"
    "<body><h1>picohttp test site</h1><p>Static files, validators and ranges.</p></body></html>\n"
)
APP_JS = "// a script long enough to be worth compressing\n" + "console.log('picohttp');\n" * 200
UNICODE_NAME = "ünï cödé.txt"
ODD_NAME = "a&b <c> #1?.txt"


def make_site(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text(INDEX_HTML, encoding="utf-8")
    (root / "style.css").write_text("body { font-family: sans-serif; }\n" * 10, encoding="utf-8")
    (root / "app.js").write_text(APP_JS, encoding="utf-8")
    # mtime 0 keeps the .gz bytes (and so the test) reproducible
    (root / "app.js.gz").write_bytes(gzip.compress(APP_JS.encode(), mtime=0))
    generator = random.Random(5)
    (root / "data.bin").write_bytes(generator.randbytes(1 << 20))
    (root / "empty.txt").write_bytes(b"")
    (root / ".hidden").write_text("served to those who know its name\n")
    sub = root / "sub dir"
    sub.mkdir(exist_ok=True)
    (sub / UNICODE_NAME).write_text("unicode file\n", encoding="utf-8")
    (sub / ODD_NAME).write_text("odd name\n", encoding="utf-8")
    (sub / "Zebra.txt").write_text("z\n")
    (sub / "apple.txt").write_text("a\n")
    (sub / "nested").mkdir(exist_ok=True)
    (sub / "nested" / "deep.txt").write_text("deep\n")
    return root
