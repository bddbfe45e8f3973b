"""The small-file cache is bounded in bytes, entry overhead included (issue 17).

Counting only the content let 20,000 tiny files cost some 25 MiB while the
cache believed it held 3 MiB.  The bound (``HttpServer(fileCacheBytes=...)``)
now counts each entry's paths and ``ENTRY_OVERHEAD`` too, so a server walking
a folder of 20,000 small files stays within the bound plus the interpreter's
own slack, measured as the RSS of a real server process.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import List

import pytest

import picohttp
from picohttp import _filecache
from support import PYTHON, child_server, free_port, parse_response, status_kib

MIB = 1024 * 1024
FILES = 20_000
SERVER = """
import sys
import picohttp
from picohttp import _filecache

_filecache.SETTLE = 0.0  # the files were written a moment ago: keep them at once
_filecache.TTL = 600.0  # and keep them for the whole test
picohttp.HttpServer(int(sys.argv[1]), host="127.0.0.1", threads=False,
                    fileCacheBytes=int(sys.argv[2]))
"""


def fetch_all(port: int, names: List[str]) -> List[int]:
    """GET each name over its own connection; the statuses, in order."""
    statuses: List[int] = []
    for name in names:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(f"GET /{name} HTTP/1.0\r\n\r\n".encode())
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        status, _, body = parse_response(b"".join(chunks))
        assert body == name.encode() * 10
        statuses.append(status)
    return statuses


@pytest.mark.slow
def test_20000_small_files_keep_the_server_within_the_bound(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    names = [f"f{number:05d}.txt" for number in range(FILES)]
    for name in names:
        (site / name).write_bytes(name.encode() * 10)  # 90 bytes: 1.8 MB of content in all
    (tmp_path / "server.py").write_text(SERVER)
    bound = 2 * MIB
    port = free_port()
    argv = [PYTHON, str(tmp_path / "server.py"), str(port), str(bound)]
    with child_server(argv, port, site) as process:
        assert fetch_all(port, names[:200]) == [200] * 200  # every path of the code run once
        before = status_kib(process.pid, "VmRSS") * 1024
        # Four clients at a time walk the rest; each file is kept as it is served.
        quarters = [names[200 + index :: 4] for index in range(4)]
        results: List[List[int]] = [[] for _ in quarters]
        threads = [
            threading.Thread(target=lambda i=i: results[i].extend(fetch_all(port, quarters[i])))
            for i in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        after = status_kib(process.pid, "VmRSS") * 1024
    assert sum(len(statuses) for statuses in results) == FILES - 200
    assert all(status == 200 for statuses in results for status in statuses)
    growth = after - before
    # The bound, and 3 MiB for the rest: the notes of missing .gz twins (4,096
    # paths), the checked-header memo, allocator slack.  Counting content only,
    # the same walk grew the server by 25 MiB.
    assert growth <= bound + 3 * MIB, f"RSS grew {growth / MIB:.1f} MiB"


def test_the_bound_is_a_keyword_and_zero_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_filecache, "SETTLE", 0.0)
    page = tmp_path / "page.txt"
    page.write_bytes(b"kept?")
    old = _filecache.TOTAL_LIMIT
    try:
        with pytest.raises(ValueError, match="fileCacheBytes"):
            picohttp.HttpServer(0, host="127.0.0.1", start=False, fileCacheBytes=-1)
        server = picohttp.HttpServer(0, host="127.0.0.1", start=False, fileCacheBytes=0)
        server.stop()
        assert _filecache.TOTAL_LIMIT == 0
        info = page.stat()
        _filecache.keep(str(page), str(page), info, page.read_bytes())
        assert _filecache.find(str(page), str(tmp_path)) is None
        _filecache.set_limit(old)
        _filecache.keep(str(page), str(page), info, page.read_bytes())
        assert _filecache.find(str(page), str(tmp_path)) is not None  # kept, with room
        _filecache.set_limit(0)
        assert _filecache.find(str(page), str(tmp_path)) is None  # evicted by the new bound
    finally:
        _filecache.set_limit(old)
