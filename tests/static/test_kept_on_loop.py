"""With ``threads=True``, a kept file is answered on the loop thread, as nginx answers
from its open file cache: no hand-off to a worker for what costs one ``stat``.

Only for ``staticResource`` itself (the default handler, or a ``functools.partial``
of it, as the command line makes) and only for a plain GET or HEAD of a kept file;
everything else still goes to a worker.  Which thread answered is read from the
access log's records (``threadName``); the answers themselves are checked too.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from pathlib import Path
from typing import Any, List, Tuple

import pytest

from picohttp import _filecache, staticResource
from support import exchange, parse_response, serving, wait_until

LOOP = "picohttp-loop"
WORKER = "picohttp-worker-"


pytestmark = pytest.mark.usefixtures("fresh_cache")  # tests/static/conftest.py


@pytest.fixture
def answered_on(caplog: pytest.LogCaptureFixture) -> List[str]:
    """The thread that logged each access line, in order."""
    caplog.set_level(logging.INFO, logger="picohttp.access")
    threads: List[str] = []

    class Record(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            threads.append(record.threadName)

    handler = Record()
    logging.getLogger("picohttp.access").addHandler(handler)
    yield threads
    logging.getLogger("picohttp.access").removeHandler(handler)


def get(port: int, target: str, *headers: str, method: str = "GET") -> Tuple[int, Any, bytes]:
    extra = "".join(f"{header}\r\n" for header in headers)
    raw = exchange(port, f"{method} {target} HTTP/1.0\r\n{extra}\r\n".encode())
    return parse_response(raw)  # type: ignore[no-any-return]


def settled(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    past = time.time() - 10  # long still: kept at its first read
    os.utime(path, (past, past))
    return path


def until_kept(port: int, target: str, path: Path) -> None:
    def kept() -> bool:
        assert get(port, target)[0] == 200
        return _filecache.holds(str(path))

    assert wait_until(kept, timeout=5.0), f"{path} was never kept"


@pytest.mark.parametrize(
    "make_handler",
    [
        lambda base: (staticResource, (str(base),)),
        lambda base: (functools.partial(staticResource, staticBase=str(base)), ()),
    ],
    ids=["staticResource", "partial"],
)
def test_a_kept_file_is_answered_on_the_loop_thread(
    tmp_path: Path, answered_on: List[str], make_handler: Any
) -> None:
    page = settled(tmp_path / "page.css", b"p { color: red }\n" * 100)
    handler, args = make_handler(tmp_path)
    with serving(handler, *args, threads=True) as server:
        until_kept(server.port, "/page.css", page)
        answered_on.clear()
        answers = [get(server.port, "/page.css") for _ in range(3)]
        head = get(server.port, "/page.css", method="HEAD")
    for status, headers, body in answers:
        assert (status, body) == (200, page.read_bytes())
        assert headers["content-type"].startswith("text/css")
    assert head[0] == 200 and head[2] == b""
    assert head[1]["content-length"] == str(len(page.read_bytes()))
    assert answered_on == [LOOP] * 4


def test_a_changed_kept_file_is_seen_at_once_from_the_loop(
    tmp_path: Path, answered_on: List[str]
) -> None:
    page = settled(tmp_path / "page.txt", b"old\n")
    with serving(staticResource, str(tmp_path), threads=True) as server:
        until_kept(server.port, "/page.txt", page)
        settled(page, b"new and longer\n")  # still kept until a stat says otherwise
        status, _, body = get(server.port, "/page.txt")
    assert (status, body) == (200, b"new and longer\n")
    # The loop's stat saw the change, so the file is read again on a worker, off the loop.
    assert answered_on[-1].startswith(WORKER)


@pytest.mark.parametrize(
    "header, status",
    [
        ("Range: bytes=0-2", 206),
        ("If-Modified-Since: Thu, 01 Jan 2037 00:00:00 GMT", 304),
        ("If-None-Match: *", 304),
    ],
)
def test_conditions_and_ranges_go_to_a_worker(
    tmp_path: Path, answered_on: List[str], header: str, status: int
) -> None:
    page = settled(tmp_path / "page.txt", b"0123456789\n")
    with serving(staticResource, str(tmp_path), threads=True) as server:
        until_kept(server.port, "/page.txt", page)
        answered_on.clear()
        answer = get(server.port, "/page.txt", header)
    assert answer[0] == status
    if status == 206:
        assert answer[2] == b"012"
    assert len(answered_on) == 1 and answered_on[0].startswith(WORKER), answered_on


def test_what_is_not_kept_goes_to_a_worker(tmp_path: Path, answered_on: List[str]) -> None:
    settled(tmp_path / "page.txt", b"kept\n")
    (tmp_path / "sub").mkdir()
    settled(tmp_path / ".env", b"SECRET=1\n")
    with serving(staticResource, str(tmp_path), threads=True) as server:
        until_kept(server.port, "/page.txt", tmp_path / "page.txt")
        answered_on.clear()
        answers = [
            get(server.port, "/missing.txt")[0],
            get(server.port, "/sub")[0],  # a directory: redirected
            get(server.port, "/.env")[0],  # a dot file: 404 (dotfiles=False)
            get(server.port, "/page.txt", method="POST")[0],
        ]
    assert answers == [404, 301, 404, 405]
    assert len(answered_on) == 4
    assert all(name.startswith(WORKER) for name in answered_on), answered_on


def test_any_other_handler_runs_on_a_worker(tmp_path: Path, answered_on: List[str]) -> None:
    page = settled(tmp_path / "page.txt", b"kept\n")

    def wrapped(request: Any, response: Any) -> None:  # an application's handler
        staticResource(request, response, str(tmp_path))

    with serving(wrapped, threads=True) as server:
        until_kept(server.port, "/page.txt", page)
        answered_on.clear()
        assert get(server.port, "/page.txt")[2] == b"kept\n"
    assert len(answered_on) == 1 and answered_on[0].startswith(WORKER), answered_on


def test_threads_false_is_unchanged(tmp_path: Path, answered_on: List[str]) -> None:
    page = settled(tmp_path / "page.txt", b"kept\n")
    with serving(staticResource, str(tmp_path), threads=False) as server:
        until_kept(server.port, "/page.txt", page)
        assert get(server.port, "/page.txt")[2] == b"kept\n"
    assert set(answered_on) == {LOOP}
