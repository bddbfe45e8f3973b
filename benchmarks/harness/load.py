"""Scenarios, the correctness check before each load, and one wrk run.

wrk is told ``Connection: close``, so every request gets its own connection
(HTTP/1.0 semantics), also from servers that would otherwise keep it open.
``wrk_report.lua`` prints wrk's summary as JSON; its latency is from the
request written to the response read, so connect time is not in it.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from .layout import WRK_SCRIPT
from .processes import Supervisor, exited

HELLO = b"Hello world!"
STATIC_NAME = "4k.txt"
BIG_NAME = "big.bin"


ONE_MIB_NAME = "1m.bin"
HUNDRED_MIB_NAME = "100m.bin"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    path: str
    expected: bytes
    connections: Optional[int] = None  # at most this many wrk connections (huge bodies)


def make_files(directory: Path) -> Dict[str, Scenario]:
    """Write the files every server serves; return the scenarios that use them."""
    directory.mkdir(parents=True, exist_ok=True)
    line = b"picohttp benchmark static file: 64 lines of 64 bytes, 4 KiB....\n"
    assert len(line) == 64
    static = line * 64
    big = bytes(range(256)) * 1024  # 256 KiB, every byte value
    # Files past picohttp's 64 KiB memory cache: they leave by sendfile, as nginx's do.
    one_mib = big * 4
    hundred_mib = one_mib * 100
    (directory / STATIC_NAME).write_bytes(static)
    (directory / BIG_NAME).write_bytes(big)
    (directory / ONE_MIB_NAME).write_bytes(one_mib)
    (directory / HUNDRED_MIB_NAME).write_bytes(hundred_mib)
    directory.chmod(0o755)  # nginx's worker reads it
    for name in (STATIC_NAME, BIG_NAME, ONE_MIB_NAME, HUNDRED_MIB_NAME):
        (directory / name).chmod(0o644)
    scenarios = [
        Scenario("hello", 'hello: GET /hello, "Hello world!" (12 bytes)', "/hello", HELLO),
        Scenario("static", f"static: GET /{STATIC_NAME}, a 4 KiB file", f"/{STATIC_NAME}", static),
        Scenario("big", "big: GET /big, a 256 KiB body", "/big", big),
        Scenario("1m", f"1m: GET /{ONE_MIB_NAME}, a 1 MiB file", f"/{ONE_MIB_NAME}", one_mib),
        Scenario(
            "100m",
            f"100m: GET /{HUNDRED_MIB_NAME}, a 100 MiB file (8 connections)",
            f"/{HUNDRED_MIB_NAME}",
            hundred_mib,
            connections=8,  # 50 x 100 MiB in flight would measure the page cache, not servers
        ),
    ]
    return {scenario.key: scenario for scenario in scenarios}


class AnswerError(Exception):
    """The server answered, but not what the scenario expects."""


def get(port: int, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def check(port: int, scenario: Scenario) -> None:
    """One GET must return 200 and exactly the expected body."""
    try:
        status, body = get(port, scenario.path)
    except (OSError, http.client.HTTPException) as exc:
        raise AnswerError(f"GET {scenario.path} failed: {exc!r}") from None
    if status != 200 or body != scenario.expected:
        shown = body[:60] + (b"..." if len(body) > 60 else b"")
        raise AnswerError(
            f"GET {scenario.path}: status {status}, {len(body)} bytes {shown!r}; "
            f"expected 200 and {len(scenario.expected)} bytes"
        )


def check_not_found(port: int) -> None:
    """Any other path is a 404."""
    try:
        status, _ = get(port, "/no-such-thing")
    except (OSError, http.client.HTTPException) as exc:
        raise AnswerError(f"GET /no-such-thing failed: {exc!r}") from None
    if status != 404:
        raise AnswerError(f"GET /no-such-thing: status {status}, expected 404")


def run_wrk(
    supervisor: Supervisor,
    log: Path,
    port: int,
    path: str,
    duration: int,
    connections: int,
    threads: int,
) -> Dict[str, Any]:
    """Run wrk once; return its summary (requests, errors by kind, latency percentiles)."""
    argv = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout", "5s",
        "-H", "Connection: close",
        "-s", str(WRK_SCRIPT),
        f"http://127.0.0.1:{port}{path}",
    ]  # fmt: skip
    process = supervisor.start(argv, env=_wrk_env(), log=log)
    try:
        if not exited(process, duration + 60):
            raise RuntimeError(f"wrk did not finish within {duration + 60} s")
    finally:
        supervisor.stop(process)
    output = log.read_text(errors="replace")
    for line in output.splitlines():
        if line.startswith("BENCH_JSON "):
            result: Dict[str, Any] = json.loads(line[len("BENCH_JSON ") :])
            result["rps"] = result["requests"] / max(result["duration_us"], 1) * 1e6
            return result
    raise RuntimeError(f"wrk printed no summary (exit {process.returncode}):\n{output[-2000:]}")


def _wrk_env() -> Dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if not key.startswith("LUA")}
