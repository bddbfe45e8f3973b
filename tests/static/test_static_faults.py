"""No descriptor left to open a file with is a 503, not a 404 (issue 13: "open" on a
connection's path).

The fault is injected: ``os.open`` fails with EMFILE or ENFILE for paths under the
site while the test wants it to; each test then shows the same request answered
normally once descriptors are back, with one log line for the fault.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
from pathlib import Path
from typing import Any, Iterator, List

import pytest

import picohttp
from picohttp import _filecache
from support import exchange, parse_response, serving

REAL_OPEN = os.open


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def starved_under(base: Path, number: int) -> Iterator[None]:
    """``os.open`` of anything under ``base`` fails with ``number``; the rest is untouched."""
    prefix = str(base)

    def failing_open(path: Any, *args: Any, **kwargs: Any) -> int:
        if str(path).startswith(prefix):
            raise OSError(number, os.strerror(number), str(path))
        return REAL_OPEN(path, *args, **kwargs)

    os.open = failing_open  # type: ignore[assignment]
    try:
        yield
    finally:
        os.open = REAL_OPEN


@pytest.fixture
def log() -> Iterator[Captured]:
    capture = Captured()
    logger = logging.getLogger("picohttp")
    logger.addHandler(capture)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)


@pytest.mark.parametrize("number", [errno.EMFILE, errno.ENFILE])
@pytest.mark.parametrize(
    ("target", "listing"),
    [("/index.html", False), ("/", False), ("/docs/", True)],
    ids=["file", "index", "listing"],
)
def test_out_of_descriptors_is_503_then_served(
    tmp_path: Path, log: Captured, threads: bool, number: int, target: str, listing: bool
) -> None:
    site = tmp_path / "site"
    (site / "docs").mkdir(parents=True)
    (site / "index.html").write_text("<h1>home</h1>\n")
    (site / "docs" / "a.txt").write_text("a\n")
    _filecache.clear()  # a kept file would be served without an open
    handler = functools.partial(picohttp.staticResource, staticBase=str(site), listing=listing)
    request = f"GET {target} HTTP/1.0\r\n\r\n".encode()
    with serving(handler, threads=threads) as server:
        with starved_under(site, number):
            status, headers, body = parse_response(exchange(server.port, request))
        assert status == 503, body
        assert headers["retry-after"] == "1"
        assert b"out of resources" in body
        messages = [record.getMessage() for record in log.records]
        assert len(messages) == 1, messages  # one line for the fault, nothing else
        assert "answered 503" in messages[0] and os.strerror(number) in messages[0]
        # Descriptors are back: the same request is answered as ever.
        status, _, body = parse_response(exchange(server.port, request))
        assert status == 200, body
        assert (b"home" if target != "/docs/" else b"a.txt") in body


def test_a_missing_file_is_still_404(tmp_path: Path, threads: bool) -> None:
    site = tmp_path / "site"
    site.mkdir()
    handler = functools.partial(picohttp.staticResource, staticBase=str(site))
    with serving(handler, threads=threads) as server:
        status, _, _ = parse_response(exchange(server.port, b"GET /nope.txt HTTP/1.0\r\n\r\n"))
    assert status == 404
