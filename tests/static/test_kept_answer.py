"""``staticResource`` as the handler: a kept file's answer is made once a second and sent as is.

``_static.kept_answerer`` answers a plain GET or HEAD of a kept file without
calling the handler: no ``HttpResponse``, no ``serialize`` per request (issue
17).  These tests hold it to the long way byte for byte, for every argument
that shapes the answer, and check over real sockets that every other request
still reaches the handler, with ``threads=True`` and ``threads=False``.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest

import picohttp._respond as respond_module
from picohttp import HttpRequest, _filecache, staticResource
from picohttp._exchange import run_handler
from picohttp._serializer import FileBody
from picohttp._static import kept_answerer
from support import exchange, parse_response, serving, wait_until

pytestmark = pytest.mark.usefixtures("fresh_cache")  # tests/static/conftest.py

FILES = {
    "page.txt": b"plain text\n" * 30,
    "style.css": b"p { color: red }\n",
    "data.unknownext": b"\x00\x01 binary \xff",
    "noext": b"no extension\n",
    "empty.txt": b"",
    ".well.txt": b"a dot file\n",
}


def settled_site(root: Path) -> Path:
    """FILES under ``root`` (and one in a folder with a non-ASCII name), all long still."""
    folder = root / "sub dir ü"
    folder.mkdir(parents=True)
    for name, content in {**FILES, "sub dir ü/deep.html": b"<p>deep</p>\n"}.items():
        (root / name).write_bytes(content)
    past = time.time() - 10
    for path in [*root.iterdir(), *folder.iterdir()]:
        os.utime(path, (past, past))
    return root


ARGUMENTS: Dict[str, Callable[[Path], Tuple[Any, Tuple[Any, ...]]]] = {
    "defaults": lambda base: (staticResource, (str(base),)),
    "defaultMime": lambda base: (staticResource, (str(base), "index.html", "application/x-mine")),
    "cacheControl": lambda base: (
        functools.partial(staticResource, cacheControl="max-age=60"),
        (str(base),),
    ),
    "dotfiles": lambda base: (
        functools.partial(staticResource, staticBase=str(base), dotfiles=True),
        (),
    ),
}


def answered_until_kept(
    handler: Any, args: Tuple[Any, ...], request: HttpRequest, path: Path
) -> Tuple[bytes, Any, int, Any]:
    """``run_handler``'s answer, read from disk, by the request that keeps ``path``.

    A file is kept once it has been still for ``SETTLE`` (its ctime is when the
    test wrote it), so the long way is asked until it keeps the file.
    """
    answers = []

    def kept() -> bool:
        answers.append(run_handler(handler, args, request))
        return _filecache.holds(str(path))

    assert wait_until(kept, timeout=5.0), f"{path} was never kept"
    return answers[-1]


def date_of(head: bytes) -> str:
    for line in head.decode("latin-1").split("\r\n"):
        if line.lower().startswith("date: "):
            return line[6:]
    raise AssertionError(f"no Date in {head!r}")


@pytest.mark.parametrize("arguments", list(ARGUMENTS))
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("name", [*FILES, "sub dir ü/deep.html"])
def test_the_short_way_answers_byte_for_byte_as_the_long_way(
    tmp_path: Path, arguments: str, method: str, name: str
) -> None:
    base = settled_site(tmp_path)
    handler, args = ARGUMENTS[arguments](base)
    answer = kept_answerer(handler, args)
    assert answer is not None
    request = HttpRequest(method, name.split("/"), headers={"Host": "example"})
    # The first answer is read from disk and keeps the file; the short way has nothing yet.
    assert answer(request, "Thu, 03 Dec 2026 12:00:00 GMT") is None
    if name.startswith(".") and arguments != "dotfiles":
        head, _, status, _ = run_handler(handler, args, request)
        assert status == 404
        assert answer(request, date_of(head)) is None  # a dot file never takes the short way
        return
    head, body, status, _ = answered_until_kept(handler, args, request, base / name)
    assert status == 200
    assert answer(request, date_of(head)) == (head, body)
    # Later seconds: a head made afresh, with only the Date changed.
    later = "Thu, 03 Dec 2026 12:00:01 GMT"
    short = answer(request, later)
    assert short is not None
    assert short == (head.replace(date_of(head).encode(), later.encode()), body)
    assert answer(request, later) is short or answer(request, later) == short


@pytest.mark.parametrize(
    "request_line, headers",
    [
        ("POST /page.txt", ()),
        ("GET /page.txt", ("Range: bytes=0-3",)),
        ("GET /page.txt", ("If-None-Match: *",)),
        ("GET /page.txt", ("If-Modified-Since: Thu, 01 Jan 2037 00:00:00 GMT",)),
        ("GET /page.txt", ('If-Match: "nope"',)),
        ("GET /", ()),
        ("GET /missing.txt", ()),
        ("GET /.well.txt", ()),
        ("GET /page.txt/", ()),
    ],
)
def test_anything_but_a_plain_get_or_head_of_a_kept_file_is_not_answered_short(
    tmp_path: Path, request_line: str, headers: Tuple[str, ...]
) -> None:
    base = settled_site(tmp_path)
    answer = kept_answerer(staticResource, (str(base),))
    assert answer is not None
    plain = HttpRequest("GET", ["page.txt"])
    answered_until_kept(staticResource, (str(base),), plain, base / "page.txt")
    assert answer(plain, "Thu, 03 Dec 2026 12:00:00 GMT") is not None  # kept: short from now on
    method, target = request_line.split(" ")
    fields = dict(header.split(": ", 1) for header in headers)
    request = HttpRequest(method, target[1:].split("/"), headers=fields)
    assert answer(request, "Thu, 03 Dec 2026 12:00:00 GMT") is None


@pytest.fixture
def handler_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[List[str]]:
    """The targets of the requests that reached ``run_handler`` (the long way), in order."""
    calls: List[str] = []

    def counting(handler: Any, args: Any, request: HttpRequest, prime: bool = True) -> Any:
        calls.append(f"{request.method} {request.uri}")
        return run_handler(handler, args, request, prime)

    monkeypatch.setattr(respond_module, "run_handler", counting)
    yield calls


def raw_get(port: int, target: str, *headers: str, method: str = "GET") -> bytes:
    extra = "".join(f"{header}\r\n" for header in headers)
    return exchange(port, f"{method} {target} HTTP/1.0\r\n{extra}\r\n".encode())


def without_date(raw: bytes) -> bytes:
    return raw.replace(date_of(raw.partition(b"\r\n\r\n")[0]).encode(), b"<date>")


@pytest.mark.parametrize("threads", [True, False], ids=["threads", "no-threads"])
def test_over_a_socket_only_kept_files_skip_the_handler(
    tmp_path: Path, threads: bool, handler_calls: List[str], caplog: pytest.LogCaptureFixture
) -> None:
    base = settled_site(tmp_path)
    caplog.set_level(logging.INFO, logger="picohttp.access")
    with serving(staticResource, str(base), threads=threads) as server:
        answers: List[bytes] = []

        def kept_now() -> bool:
            answers.append(raw_get(server.port, "/style.css"))
            return _filecache.holds(str(base / "style.css"))

        assert wait_until(kept_now, timeout=5.0)
        first = answers[-1]  # read from disk by the handler, which kept the file
        assert handler_calls == ["GET /style.css"] * len(answers)
        caplog.clear()
        handler_calls.clear()
        kept = [raw_get(server.port, "/style.css") for _ in range(3)]
        head = raw_get(server.port, "/style.css", method="HEAD")
        assert handler_calls == []  # none of these four called it
        ranged = raw_get(server.port, "/style.css", "Range: bytes=0-1")
        posted = raw_get(server.port, "/style.css", method="POST")
        (base / "style.css").write_bytes(b"changed\n")  # a kept file's change is seen at once
        changed = raw_get(server.port, "/style.css")
    assert [without_date(answer) for answer in kept] == [without_date(first)] * 3
    assert without_date(head) == without_date(first).partition(b"\r\n\r\n")[0] + b"\r\n\r\n"
    assert parse_response(ranged)[0] == 206 and parse_response(ranged)[2] == b"p "
    assert parse_response(posted)[0] == 405
    assert parse_response(changed)[0::2] == (200, b"changed\n")
    assert handler_calls == ["GET /style.css", "POST /style.css", "GET /style.css"]
    # The access log says the same of a short answer as of a long one: status, body bytes.
    size = len(FILES["style.css"])
    lines = [record.getMessage().split('" ', 1)[1] for record in caplog.records]
    assert lines[:4] == [f"200 {size}"] * 3 + ["200 0"]


@pytest.mark.parametrize("threads", [True, False], ids=["threads", "no-threads"])
def test_a_symlink_has_the_type_of_its_name_read_or_kept(tmp_path: Path, threads: bool) -> None:
    """``latest.css -> v2.txt``: text/css, as nginx and http.server say, every time.

    The long way used to take the type from the file the link leads to (text/plain)
    and the kept answer from the name (text/css): one URL, two types.
    """
    base = settled_site(tmp_path)
    (base / "style.css").rename(base / "v2.txt")
    (base / "latest.css").symlink_to(base / "v2.txt")
    with serving(staticResource, str(base), threads=threads) as server:
        types: List[str] = []

        def kept() -> bool:
            types.append(parse_response(raw_get(server.port, "/latest.css"))[1]["content-type"])
            return _filecache.holds(str(base / "latest.css"))

        assert wait_until(kept, timeout=5.0)
        types.extend(
            parse_response(raw_get(server.port, "/latest.css"))[1]["content-type"] for _ in range(2)
        )
        plain = parse_response(raw_get(server.port, "/v2.txt"))[1]["content-type"]
    assert types == ["text/css; charset=utf-8"] * len(types)
    assert plain == "text/plain; charset=utf-8"


# -- large files: noted by the long way, opened again and checked by fstat ------------

LARGE = bytes(range(256)) * 400  # 100 KiB: past FILE_LIMIT, so sent by sendfile


def settled_large(root: Path, name: str = "large.bin") -> Path:
    path = root / name
    path.write_bytes(LARGE)
    past = time.time() - 10
    os.utime(path, (past, past))
    return path


def noted_until(handler: Any, args: Tuple[Any, ...], request: HttpRequest, path: Path) -> bytes:
    """The long way's head for ``request``, asked until it notes the large file at ``path``."""
    heads: List[bytes] = []

    def noted() -> bool:
        head, body, status, _ = run_handler(handler, args, request)
        assert status == 200
        if isinstance(body, FileBody):
            body.close()  # its descriptor (HEAD's body is b"")
        heads.append(head)
        return _filecache.large_note(str(path), str(path.parent)) is not None

    assert wait_until(noted, timeout=5.0), f"{path} was never noted"
    return heads[-1]


@pytest.mark.parametrize("arguments", ["defaults", "cacheControl"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_noted_large_file_is_answered_short_as_the_long_way(
    tmp_path: Path, arguments: str, method: str
) -> None:
    base = settled_site(tmp_path)
    path = settled_large(base)
    handler, args = ARGUMENTS[arguments](base)
    answer = kept_answerer(handler, args)
    assert answer is not None
    request = HttpRequest(method, ["large.bin"])
    head = noted_until(handler, args, request, path)
    short = answer(request, date_of(head))
    assert short is not None
    assert short[0] == head
    if method == "HEAD":
        assert short[1] == b""
        return
    body = short[1]
    assert isinstance(body, FileBody) and (body.offset, body.length) == (0, len(LARGE))
    try:
        assert os.pread(body.file.fileno(), len(LARGE) + 1, 0) == LARGE
    finally:
        body.close()


@pytest.mark.parametrize("change", ["replaced", "rewritten", "removed"])
def test_a_noted_large_file_that_changed_goes_the_long_way(tmp_path: Path, change: str) -> None:
    base = settled_site(tmp_path)
    path = settled_large(base)
    answer = kept_answerer(staticResource, (str(base),))
    assert answer is not None
    request = HttpRequest("GET", ["large.bin"])
    noted_until(staticResource, (str(base),), request, path)
    if change == "replaced":  # another inode under the same name, same size and times
        other = settled_large(base, "other.bin")
        os.utime(other, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
        os.replace(other, path)
    elif change == "rewritten":  # same inode, same size: only the times tell
        path.write_bytes(LARGE[::-1])
    else:
        path.unlink()
    assert answer(request, "Thu, 03 Dec 2026 12:00:00 GMT") is None
    assert _filecache.large_note(str(path), str(base)) is None  # forgotten, not tried again


def test_over_a_socket_a_noted_large_file_skips_the_handler(
    tmp_path: Path, handler_calls: List[str]
) -> None:
    base = settled_site(tmp_path)
    path = settled_large(base)
    with serving(staticResource, str(base), threads=True) as server:
        answers: List[bytes] = []

        def noted() -> bool:
            answers.append(raw_get(server.port, "/large.bin"))
            return _filecache.large_note(str(path), str(base)) is not None

        assert wait_until(noted, timeout=5.0)
        first = answers[-1]
        handler_calls.clear()
        short = [raw_get(server.port, "/large.bin") for _ in range(3)]
        assert handler_calls == []
        path.write_bytes(LARGE[::-1])
        changed = raw_get(server.port, "/large.bin")
        assert handler_calls == ["GET /large.bin"]
    assert parse_response(first)[2] == LARGE
    assert [without_date(answer) for answer in short] == [without_date(first)] * 3
    assert parse_response(changed)[2] == LARGE[::-1]
