"""REDbot, the HTTP linter, on a page, a binary and a script with a ``.gz`` twin.

REDbot fetches each URL, then checks it again with If-None-Match,
If-Modified-Since, a Range and Accept-Encoding: gzip, and files notes with a
level (good, info, warning, bad).  Its HAR output (JSON) carries the notes, so
the test asserts on note ids, not on prose.

With ``cacheControl`` set, no note may be a warning or worse.  Without it
(the default, meant for development) REDbot warns exactly once, that caches
may pick their own freshness lifetime (FRESHNESS_HEURISTIC); nginx's default
draws the same note.  See the README's static-serving section.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import subprocess
import sys
from typing import Any, Dict, Iterator, List

import pytest

from picohttp import staticResource
from support import serving

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("redbot") is None,
    reason="REDbot is not installed (pip install redbot; it needs Python 3.11+)",
)

RUN_REDBOT = "import sys; from redbot.cli import main; sys.argv[0] = 'redbot'; sys.exit(main())"


def redbot(url: str) -> List[Dict[str, Any]]:
    """Every note (subnotes flattened) REDbot files about ``url``."""
    result = subprocess.run(
        [sys.executable, "-c", RUN_REDBOT, "-o", "har", url],
        capture_output=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    har = json.loads(result.stdout)
    assert "_red_error" not in har["log"], har["log"].get("_red_error")
    (entry,) = har["log"]["entries"]
    assert entry["response"]["status"] == 200

    def walk(notes: List[Dict[str, Any]]) -> Iterator[Dict[str, Any]]:
        for note in notes:
            yield note
            yield from walk(note.get("subnotes", []))

    return list(walk(entry["_red_messages"]))


def problems(notes: List[Dict[str, Any]]) -> List[str]:
    return [
        f"{n['level']} {n['note_id']}: {n['summary']}"
        for n in notes
        if n["level"] in ("WARN", "BAD")
    ]


@pytest.mark.slow
def test_redbot_finds_no_problem(site):
    handler = functools.partial(staticResource, staticBase=str(site), cacheControl="max-age=60")
    with serving(handler) as server:
        base = f"http://127.0.0.1:{server.port}"
        summary = []
        for path in ("/index.html", "/data.bin", "/app.js"):
            notes = redbot(base + path)
            ids = {note["note_id"] for note in notes}
            summary.append(f"{path}: " + ", ".join(sorted(ids)))
            assert problems(notes) == [], path
            # the validators and ranges were exercised and found working
            assert {"INM_304", "IMS_304", "RANGE_CORRECT"} <= ids, path
        assert "CONNEG_GZIP_GOOD" in ids  # /app.js, served from app.js.gz
    print("\nREDbot notes:\n  " + "\n  ".join(summary))


@pytest.mark.slow
def test_redbot_default_only_notes_the_missing_freshness(site):
    with serving(staticResource, str(site)) as server:
        notes = redbot(f"http://127.0.0.1:{server.port}/index.html")
    assert [note["note_id"] for note in notes if note["level"] in ("WARN", "BAD")] == [
        "FRESHNESS_HEURISTIC"
    ]
    assert {"INM_304", "IMS_304", "RANGE_CORRECT"} <= {note["note_id"] for note in notes}
