#!/usr/bin/env python3
"""Coverage-guided fuzzing of picohttp's pure request parser with atheris (libFuzzer).

The invariant (design.md's fuzz note): for any bytes, ``RequestParser`` returns
a request, asks for more, or raises ``RemoteProtocolError`` with a status from
design.md's list, and nothing else; and the outcome is the same however the
bytes are cut into reads.  A request whose body is a form (urlencoded or
multipart) is handed to the form parser too, under the same rule: its fields,
or a ``RemoteProtocolError``, never another exception.  The cut points are
derived from the input itself, so libFuzzer's corpus files are plain requests
(seed it with tests/corpus).

atheris is not a project dependency (it needs a compiler-built wheel):

    python -m venv /tmp/atheris && /tmp/atheris/bin/pip install atheris
    PYTHONPATH=src /tmp/atheris/bin/python fuzz/atheris_parser.py --write-seeds fuzz/seeds
    PYTHONPATH=src /tmp/atheris/bin/python fuzz/atheris_parser.py fuzz/seeds -max_total_time=60

Any libFuzzer flag works (``-runs=N``, ``-max_len=4096``, ``-jobs=2``); a crash
is written to ``crash-<hash>`` and replays with ``... atheris_parser.py crash-<hash>``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

STATUSES = {400, 413, 414, 431, 501, 505}


def cuts(data: bytes) -> List[bytes]:
    """Cut ``data`` at points that depend only on ``data`` (a tiny LCG seeded by it)."""
    if len(data) < 2:
        return [data]
    state = (data[0] << 8 | data[-1]) + len(data)
    points = set()
    for _ in range(data[0] % 9):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        points.add(1 + state % (len(data) - 1))
    edges = [0, *sorted(points), len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:])]


def outcome(pieces: List[bytes]) -> Tuple[str, Any]:
    from picohttp import RemoteProtocolError
    from picohttp._limits import Limits
    from picohttp._parser import RequestParser

    parser = RequestParser(Limits(max_request_line=1024, max_header_bytes=4096, max_body=8192))
    try:
        for piece in pieces:
            request = parser.feed(piece)
            if request is not None:
                return "request", (
                    request.method,
                    request.path,
                    request.query,
                    request.protocol,
                    dict(request.headers),
                    request.body,
                    form_of(request),
                )
        parser.eof()
    except RemoteProtocolError as error:
        if error.status not in STATUSES:
            raise AssertionError(f"status {error.status} is not in design.md's list") from None
        return "status", error.status
    return "close", None


def form_of(request: Any) -> Any:
    """The form fields and file names of a form body, or the status its parser raised."""
    from picohttp import RemoteProtocolError

    if "form" not in (request.headers.get("Content-Type") or "").lower():
        return None
    try:
        files = request.files
        names = {name: [f.filename for f in files.getlist(name)] for name in files}
        for name in files:
            for upload in files.getlist(name):
                upload.close()
        return {name: request.form.getlist(name) for name in request.form}, names
    except RemoteProtocolError as error:
        if error.status not in STATUSES:
            raise AssertionError(f"form status {error.status} is not in the list") from None
        return "form status", error.status


def test_one_input(data: bytes) -> None:
    whole = outcome([data])
    split = outcome(cuts(data))
    if split != whole:
        raise AssertionError(f"cut {cuts(data)!r}: {split!r:.200} != whole {whole!r:.200}")


def write_seeds(directory: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT / "tests" / "hostile"))
    from corpus import ALL

    directory.mkdir(parents=True, exist_ok=True)
    for case in ALL:
        (directory / case.name.replace("/", "-")).write_bytes(case.data)
    print(f"{len(ALL)} seeds in {directory}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--write-seeds":
        write_seeds(Path(sys.argv[2]))
        return
    import atheris

    with atheris.instrument_imports():
        import picohttp._body
        import picohttp._forms
        import picohttp._headers
        import picohttp._parser
        import picohttp._target  # noqa: F401
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
