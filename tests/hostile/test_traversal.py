"""staticResource under attack: no byte of a file outside staticBase, ever.

A secret file sits beside the base directory (and a symlink inside the base
points at it); more than 40 traversal targets are sent with raw sockets, each
as GET and HEAD, in both concurrency modes.  Also here: the directory
redirect never yields a ``//`` Location, a NUL or a trailing slash after a
file name is a 404 (never a 500), and control bytes never reach the log.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Iterator, List

import pytest
from attack import attacked, exchange_raw, picohttp_log

import picohttp
from support import parse_response

MARK = b"TOP-SECRET-" + secrets.token_hex(8).encode()

#: Traversal targets, raw as they go on the wire.  None may return MARK or /etc/passwd.
ATTACKS = [
    b"/../secret.txt",
    b"/../../../../../../../../etc/passwd",
    b"/sub/../../secret.txt",
    b"/sub/../../../../../../../etc/passwd",
    b"/./../secret.txt",
    b"/..%2fsecret.txt",
    b"/..%2Fsecret.txt",
    b"/%2e%2e/secret.txt",
    b"/%2E%2E/secret.txt",
    b"/%2e%2E/secret.txt",
    b"/.%2e/secret.txt",
    b"/%2e./secret.txt",
    b"/%2e%2e%2fsecret.txt",
    b"/sub%2f..%2f..%2fsecret.txt",
    b"/sub/%2e%2e/%2e%2e/secret.txt",
    b"/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    b"/%252e%252e/secret.txt",
    b"/%252e%252e%252fsecret.txt",
    b"/..%252fsecret.txt",
    b"/..%255csecret.txt",
    b"/..\\secret.txt",
    b"/..%5csecret.txt",
    b"/..%5Csecret.txt",
    b"/%2e%2e%5c%2e%2e%5c%2e%2e%5cetc%5cpasswd",
    b"/sub\\..\\..\\secret.txt",
    b"/..;/secret.txt",
    b"/..;foo=bar/secret.txt",
    b"/sub/..;/..;/secret.txt",
    b"/%2e%2e;/secret.txt",
    b"/secret.txt%00.html",
    b"/..%00/secret.txt",
    b"/%00../secret.txt",
    b"/%00/../secret.txt",
    b"/%2fetc%2fpasswd",
    b"/%2Fetc/passwd",
    b"//etc/passwd",
    b"///..//..//secret.txt",
    b"http://localhost/../secret.txt",
    b"http://localhost/%2e%2e/secret.txt",
    b"https://localhost/..%2f..%2fetc%2fpasswd",
    b"/%c0%ae%c0%ae/secret.txt",
    b"/%c0%ae%c0%ae%c0%afsecret.txt",
    b"/%e0%80%ae%e0%80%ae/secret.txt",
    b"/..%c0%afsecret.txt",
    b"/..%c1%9csecret.txt",
    b"/%uff0e%uff0e/secret.txt",
    b"/%ef%bc%8e%ef%bc%8e/secret.txt",
    b"/link.txt",
    b"/linkdir/secret.txt",
    b"/linkdir/",
    b"/linkdir",
    b"/sub/uplink/secret.txt",
    b"/C:%5csecret.txt",
    b"/c:/secret.txt",
    b"/~/secret.txt",
    b"/..",
    b"/.",
    b"/%2e",
    b"/%2e%2e",
    b"/sub/..",
    b"/..?x=/secret.txt",
    b"/..#/secret.txt",
    b"*",
]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    base = tmp_path / "site"
    (base / "sub").mkdir(parents=True)
    (base / "evil.com").mkdir()
    (base / "index.html").write_text("<p>home</p>")
    (base / "file.txt").write_text("inside")
    (base / "sub" / "index.html").write_text("<p>sub</p>")
    (base / "evil.com" / "index.html").write_text("<p>not a host</p>")
    (tmp_path / "secret.txt").write_bytes(MARK)
    os.symlink(tmp_path / "secret.txt", base / "link.txt")
    os.symlink(tmp_path, base / "linkdir")
    os.symlink(tmp_path, base / "sub" / "uplink")
    yield base


def test_at_least_forty_distinct_attacks():
    assert len(set(ATTACKS)) == len(ATTACKS) >= 40


def test_no_traversal_form_leaks_a_byte(threads, site: Path):
    leaks: List[str] = []
    with attacked(picohttp.staticResource, str(site), threads=threads) as server:
        # The base itself is served, so a 404 below is a refusal, not a broken server.
        raw = exchange_raw(server.port, b"GET /file.txt HTTP/1.0\r\n\r\n")
        assert parse_response(raw)[0] == 200 and raw.endswith(b"inside")
        for target in ATTACKS:
            for method in (b"GET", b"HEAD"):
                raw = exchange_raw(server.port, method + b" " + target + b" HTTP/1.0\r\n\r\n")
                status = parse_response(raw)[0]
                if MARK in raw or b"root:" in raw or status not in (400, 403, 404):
                    leaks.append(f"{method.decode()} {target!r}: {raw[:120]!r}")
    assert leaks == []


@pytest.mark.parametrize(
    "target, location",
    [
        (b"/sub", "/sub/"),
        (b"//sub", "/sub/"),
        (b"///sub", "/sub/"),
        (b"//evil.com", "/evil.com/"),
        (b"http://localhost//evil.com", "/evil.com/"),
        (b"//evil.com?x=1", "/evil.com/?x=1"),
        (b"/sub?next=//evil.com", "/sub/?next=//evil.com"),
    ],
)
def test_a_directory_redirect_never_starts_with_two_slashes(site: Path, target, location):
    with attacked(picohttp.staticResource, str(site)) as server:
        raw = exchange_raw(server.port, b"GET " + target + b" HTTP/1.0\r\n\r\n")
        status, headers, _ = parse_response(raw)
        assert status == 301
        assert headers["location"] == location
        assert not headers["location"].startswith("//")


@pytest.mark.parametrize(
    "target",
    [
        b"/file.txt/",
        b"/file.txt%00",
        b"/file.txt%00.png",
        b"/sub/index.html/",
        b"/sub/index.html%00/",
        b"/file.txt/.",
        b"/file.txt/x",
        b"/" + b"a" * 300,
        b"/" + b"%41" * 300,
        b"/%ff",
    ],
)
def test_a_nul_or_slash_after_a_file_name_is_404_never_500(site: Path, target):
    with picohttp_log() as log, attacked(picohttp.staticResource, str(site)) as server:
        raw = exchange_raw(server.port, b"GET " + target + b" HTTP/1.0\r\n\r\n")
        assert parse_response(raw)[0] == 404
    assert log.errors() == []


HOSTILE_LINES = [
    b"GET /\x1b[31mred HTTP/1.0\r\n\r\n",
    b"GET /a\rX-Injected: 1 HTTP/1.0\r\n\r\n",
    b"GET /%0d%0aInjected:%20yes HTTP/1.0\r\n\r\n",
    b"GET /%1b%5b2J HTTP/1.0\r\n\r\n",
    b"G\x08ET / HTTP/1.0\r\n\r\n",
    b"GET / HTTP/1.0\r\nUser-Agent: \x1b]0;owned\x07\r\n\r\n",
    b"GET / HTTP/1.0\r\nContent-Length: \x1b[1m5\r\n\r\n",
    b"GET /\xc3\xa9\xe2\x80\xae HTTP/1.0\r\n\r\n",
    b'\x1b[2J\x1b[H fake line\n127.0.0.1 - - [x] "GET /admin" 200 -\r\n\r\n',
]


def test_the_logs_escape_control_bytes(threads, site: Path):
    """Access and debug records carry no raw control byte from a request (no log injection)."""
    records: List[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep(logging.DEBUG)
    logger = logging.getLogger("picohttp")
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(keep)
    try:
        with attacked(picohttp.staticResource, str(site), threads=threads) as server:
            for line in HOSTILE_LINES:
                exchange_raw(server.port, line)
    finally:
        logger.removeHandler(keep)
        logger.setLevel(old_level)
    access = [r for r in records if r.name == "picohttp.access"]
    assert len(access) >= len(HOSTILE_LINES)
    for record in records:
        message = record.getMessage()
        assert message.isprintable(), repr(message)
        assert "\x1b" not in message and "\r" not in message and "\n" not in message


def test_escape_for_log():
    from picohttp._exchange import escape_for_log

    for text in ["\x1b[31m", "a\r\nb", "\x00", "caf\u00e9 \u202e", '"quoted"', "\x7f"]:
        escaped = escape_for_log(text)
        assert escaped.isascii() and escaped.isprintable()
    assert escape_for_log("GET / HTTP/1.0") == "GET / HTTP/1.0"
