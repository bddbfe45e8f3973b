"""Small files kept in memory by ``staticResource``: hits cost one stat, changes are seen at once.

The cache's promise (``picohttp/_filecache.py``): a kept file is served only
while a fresh ``stat`` of its path finds the very file that was read, only
once it has been still for ``SETTLE`` seconds, for ``TTL`` seconds at most,
and never for a base its real path is not under.  ``SETTLE`` is shortened to
50 ms here (still longer than the kernel's file-time tick) so that tests do
not wait a second; ``wait_until`` then polls until the file is kept.
"""

from __future__ import annotations

import functools
import gzip
import io
import os
from pathlib import Path
from typing import Any, Dict, List

import pytest

from picohttp import _filecache, staticResource
from support import exchange, parse_response, serving, wait_until

pytestmark = pytest.mark.usefixtures("fresh_cache")  # tests/static/conftest.py


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """Every path ``os.open`` is called with while the test runs."""
    paths: List[str] = []
    real_open = os.open

    def counting_open(path: Any, *args: Any, **kwargs: Any) -> int:
        paths.append(os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", counting_open)
    return paths


def get(port: int, target: str, *headers: str, method: str = "GET") -> Any:
    extra = "".join(f"{header}\r\n" for header in headers)
    raw = exchange(port, f"{method} {target} HTTP/1.0\r\n{extra}\r\n".encode())
    return parse_response(raw)


def kept(path: Path) -> bool:
    return str(path) in _filecache._entries


def serve_until_kept(port: int, target: str, path: Path) -> Dict[str, str]:
    """GET ``target`` until its file is kept (it must first settle); the last headers."""
    seen: Dict[str, str] = {}

    def answered_and_kept() -> bool:
        status, headers, _ = get(port, target)
        assert status == 200
        seen.update(headers)
        return kept(path)

    assert wait_until(answered_and_kept, timeout=5.0), f"{path} was never kept"
    return seen


def static(base: Path, **keywords: Any) -> Any:
    return functools.partial(staticResource, staticBase=str(base), **keywords)


@pytest.mark.parametrize("threads", [True, False])
def test_a_kept_file_is_served_without_opening_it(
    tmp_path: Path, opened: List[str], threads: bool
) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(b"<p>kept</p>" * 300)
    with serving(static(tmp_path), threads=threads) as server:
        first = serve_until_kept(server.port, "/page.html", page)
        opens = opened.count(str(page))
        answers = [get(server.port, "/page.html") for _ in range(5)]
    assert opened.count(str(page)) == opens  # five answers, no open
    for status, headers, body in answers:
        assert status == 200
        assert body == page.read_bytes()
        assert headers["etag"] == first["etag"]
        assert headers["content-length"] == str(page.stat().st_size)
        assert headers["content-type"] == "text/html; charset=utf-8"


def test_a_file_written_moments_ago_is_not_kept(tmp_path: Path) -> None:
    _filecache.SETTLE = 60.0  # restored by the fixture's monkeypatch
    page = tmp_path / "new.txt"
    page.write_bytes(b"still being written?")
    with serving(static(tmp_path)) as server:
        assert get(server.port, "/new.txt")[2] == b"still being written?"
    assert not kept(page)


def test_an_in_place_rewrite_is_seen_even_with_the_old_size_and_mtime(tmp_path: Path) -> None:
    page = tmp_path / "same.txt"
    page.write_bytes(b"version one")
    with serving(static(tmp_path)) as server:
        serve_until_kept(server.port, "/same.txt", page)
        before = page.stat()
        with open(page, "r+b") as file:  # same inode, same size
            file.write(b"version two")
        os.utime(page, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime put back
        status, _, body = get(server.port, "/same.txt")
    assert (status, body) == (200, b"version two")  # the change time moved


def test_a_file_replaced_by_rename_is_seen(tmp_path: Path) -> None:
    page = tmp_path / "app.js"
    page.write_bytes(b"let v = 1;")
    with serving(static(tmp_path)) as server:
        serve_until_kept(server.port, "/app.js", page)
        stat = page.stat()
        replacement = tmp_path / "app.js.tmp"
        replacement.write_bytes(b"let v = 2;")
        os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # rsync -t style
        os.replace(replacement, page)
        status, headers, body = get(server.port, "/app.js")
    assert (status, body) == (200, b"let v = 2;")
    assert headers["content-type"] == "text/javascript; charset=utf-8"


def test_a_deleted_file_is_gone_at_once(tmp_path: Path) -> None:
    page = tmp_path / "gone.txt"
    page.write_bytes(b"here")
    with serving(static(tmp_path)) as server:
        serve_until_kept(server.port, "/gone.txt", page)
        page.unlink()
        status, _, body = get(server.port, "/gone.txt")
    assert status == 404 and b"here" not in body
    assert not kept(page)


def test_a_symlink_repointed_outside_the_base_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "www"
    base.mkdir()
    (base / "public.txt").write_bytes(b"public text")
    (tmp_path / "secret.txt").write_bytes(b"SECRET TEXT")  # same size
    link = base / "link.txt"
    link.symlink_to(base / "public.txt")
    with serving(static(base)) as server:
        serve_until_kept(server.port, "/link.txt", link)
        link.unlink()
        link.symlink_to(tmp_path / "secret.txt")
        status, _, body = get(server.port, "/link.txt")
    assert status == 404 and b"SECRET" not in body


def test_an_entry_kept_for_a_wider_base_never_answers_a_narrower_one(tmp_path: Path) -> None:
    # /www/link.txt -> /secret.txt is inside the base tmp_path, outside the base tmp_path/www.
    base = tmp_path / "www"
    base.mkdir()
    (tmp_path / "secret.txt").write_bytes(b"SECRET TEXT")
    link = base / "link.txt"
    link.symlink_to(tmp_path / "secret.txt")
    with serving(static(tmp_path)) as wide, serving(static(base)) as narrow:
        serve_until_kept(wide.port, "/www/link.txt", link)
        status, _, body = get(narrow.port, "/link.txt")
        assert get(wide.port, "/www/link.txt")[2] == b"SECRET TEXT"  # still kept for the wide one
    assert status == 404 and b"SECRET" not in body


def test_an_expired_entry_is_opened_and_checked_again(tmp_path: Path, opened: List[str]) -> None:
    page = tmp_path / "ttl.txt"
    page.write_bytes(b"ttl")
    with serving(static(tmp_path)) as server:
        serve_until_kept(server.port, "/ttl.txt", page)
        opens = opened.count(str(page))
        assert get(server.port, "/ttl.txt")[2] == b"ttl"
        assert opened.count(str(page)) == opens
        for entry in _filecache._entries.values():
            entry.expires = 0.0  # TTL over
        assert get(server.port, "/ttl.txt")[2] == b"ttl"
    assert opened.count(str(page)) == opens + 1


def test_the_total_is_bounded_and_the_oldest_go_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages = []
    for name in "abc":
        page = tmp_path / f"{name}.bin"
        page.write_bytes(name.encode() * 4096)
        pages.append(page)
    # An entry is charged its content, its two paths and the entry's own overhead:
    # room for two of them, not three.
    charge = 4096 + 2 * len(str(pages[0])) + _filecache.ENTRY_OVERHEAD
    monkeypatch.setattr(_filecache, "TOTAL_LIMIT", 2 * charge + 100)
    with serving(static(tmp_path)) as server:
        for page in pages:
            serve_until_kept(server.port, f"/{page.name}", page)
        bodies = [get(server.port, f"/{page.name}")[2] for page in pages]
    assert [kept(page) for page in pages] == [False, True, True]
    assert _filecache._total == 2 * charge
    assert bodies == [page.read_bytes() for page in pages]


def test_a_file_over_64_kib_is_not_kept_and_arrives_whole(tmp_path: Path) -> None:
    page = tmp_path / "big.bin"
    page.write_bytes(os.urandom(64 * 1024 + 1))
    with serving(static(tmp_path)) as server:
        for _ in range(3):
            status, headers, body = get(server.port, "/big.bin")
            assert status == 200 and body == page.read_bytes()
            assert headers["content-length"] == str(64 * 1024 + 1)
    assert not kept(page)


def test_ranges_head_and_304_answer_from_a_kept_file(tmp_path: Path) -> None:
    page = tmp_path / "digits.txt"
    page.write_bytes(b"0123456789" * 10)
    with serving(static(tmp_path)) as server:
        etag = serve_until_kept(server.port, "/digits.txt", page)["etag"]
        ranged = get(server.port, "/digits.txt", "Range: bytes=10-14")
        suffix = get(server.port, "/digits.txt", "Range: bytes=-3")
        head = get(server.port, "/digits.txt", method="HEAD")
        cached = get(server.port, "/digits.txt", f"If-None-Match: {etag}")
        unsatisfiable = get(server.port, "/digits.txt", "Range: bytes=500-")
    assert ranged[0] == 206 and ranged[2] == b"01234"
    assert ranged[1]["content-range"] == "bytes 10-14/100"
    assert suffix[0] == 206 and suffix[2] == b"789"
    assert head[0] == 200 and head[1]["content-length"] == "100" and head[2] == b""
    assert cached[0] == 304 and cached[2] == b"" and cached[1]["etag"] == etag
    assert unsatisfiable[0] == 416 and unsatisfiable[1]["content-range"] == "bytes */100"


def test_a_trailing_slash_after_a_kept_file_is_still_404(tmp_path: Path) -> None:
    page = tmp_path / "file.txt"
    page.write_bytes(b"a file")
    with serving(static(tmp_path)) as server:
        serve_until_kept(server.port, "/file.txt", page)
        assert get(server.port, "/file.txt/")[0] == 404


def test_a_gz_twin_that_appears_is_served_once_the_missing_note_expires(tmp_path: Path) -> None:
    page = tmp_path / "style.css"
    page.write_bytes(b"body { color: red }" * 20)
    with serving(static(tmp_path)) as server:
        before = get(server.port, "/style.css", "Accept-Encoding: gzip")
        (tmp_path / "style.css.gz").write_bytes(gzip.compress(page.read_bytes()))
        within = get(server.port, "/style.css", "Accept-Encoding: gzip")
        _filecache._no_twin.clear()  # its TTL over
        after = get(server.port, "/style.css", "Accept-Encoding: gzip")
    assert "content-encoding" not in before[1] and before[2] == page.read_bytes()
    assert "content-encoding" not in within[1]  # a twin is noticed within TTL, not at once
    assert after[1]["content-encoding"] == "gzip" and after[1]["vary"] == "Accept-Encoding"
    assert gzip.decompress(after[2]) == page.read_bytes()


def test_a_handlers_small_open_file_is_sent_whole_and_closed(tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(3000))
    files: List[Any] = []

    def handler(request: Any, response: Any) -> None:
        file = open(data, "rb")  # noqa: SIM115 - the server closes it
        files.append(file)
        response.data = file

    def in_memory(request: Any, response: Any) -> None:
        response.data = io.BytesIO(b"no descriptor here")  # no fileno: the Writer path

    with serving(handler) as server, serving(in_memory) as memory:
        status, headers, body = get(server.port, "/")
        assert get(memory.port, "/")[2] == b"no descriptor here"
    assert status == 200 and body == data.read_bytes()
    assert headers["content-length"] == "3000"
    assert wait_until(lambda: files[0].closed)


def test_a_small_file_that_fails_to_close_is_still_sent_and_the_server_stays_up(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"x" * 500)

    class StubbornFile(io.FileIO):
        def close(self) -> None:
            super().close()
            raise OSError("close failed")

    def handler(request: Any, response: Any) -> None:
        response.data = StubbornFile(str(data), "rb")

    with serving(handler) as server:
        answers = [get(server.port, "/") for _ in range(3)]
    assert all(status == 200 and body == b"x" * 500 for status, _, body in answers)


def test_a_kept_file_answers_with_the_headers_of_the_long_way(tmp_path: Path) -> None:
    # The short way (a plain GET of a kept file) must say exactly what the long way says.
    page = tmp_path / "page.css"
    page.write_bytes(b"p { margin: 0 }" * 10)
    with serving(static(tmp_path, cacheControl="max-age=60")) as server:
        first = serve_until_kept(server.port, "/page.css", page)
        assert _filecache._entries[str(page)].memo is None  # answered the long way so far
        _, headers, body = get(server.port, "/page.css")
        assert _filecache._entries[str(page)].memo is not None  # this one the short way
    assert body == page.read_bytes()
    assert headers == first
    assert headers["cache-control"] == "max-age=60"
    assert headers["content-type"] == "text/css; charset=utf-8"


def test_the_short_way_keeps_a_handlers_headers_and_its_own_arguments(tmp_path: Path) -> None:
    page = tmp_path / "notes"  # no extension: the Content-Type is defaultMime
    page.write_bytes(b"some notes")

    def handler(request: Any, response: Any) -> None:
        response.headers["X-Frame-Options"] = "DENY"
        if request.path[0] == "raw":
            request.path = request.path[1:]
            staticResource(request, response, str(tmp_path), defaultMime="application/x-raw")
        else:
            staticResource(request, response, str(tmp_path))

    with serving(handler) as server:
        serve_until_kept(server.port, "/notes", page)
        answers = [get(server.port, target) for target in ("/notes", "/raw/notes", "/notes")]
    assert [answer[2] for answer in answers] == [b"some notes"] * 3
    assert [answer[1]["content-type"] for answer in answers] == [
        "text/plain",
        "application/x-raw",
        "text/plain",
    ]
    assert all(answer[1]["x-frame-options"] == "DENY" for answer in answers)
