"""The servers measured: one ``Server`` entry each, in ``SERVERS``.

Adding a server is adding an entry: a key for ``--servers``, a label, its
family (which decides the ratios it enters), the command that starts it on
``ctx.port``, and how it serves the static file.  Its application lives in
``benchmarks/servers/``.  Every server listens on 127.0.0.1 only, answers
``/hello`` with "Hello world!", ``/big`` with 256 KiB and ``/4k.txt`` with the
4 KiB file, 404 otherwise, and writes no access log.
"""

from __future__ import annotations

import getpass
import grp
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable, Dict, FrozenSet, List, Optional

from .layout import APPS, SRC

PICOHTTP = "picohttp"
PURE = "pure"  # pure-Python, one process: the peers of the 3x target
C_EXTRAS = "c-extras"  # Python with C parsers and event loop: the 1.5x target
REFERENCE = "reference"  # nginx: the ceiling


@dataclass(frozen=True)
class Context:
    """What one server start needs to know."""

    python: str  # the benchmark environment's interpreter
    port: int
    files: Path  # 4k.txt and big.bin
    workdir: Path  # this start's own scratch directory (logs, nginx's prefix)


@dataclass(frozen=True)
class Server:
    key: str
    label: str
    family: str
    command: Callable[[Context], List[str]]
    static: str  # how it serves /4k.txt, for the report
    version: Callable[[], str]
    prepare: Optional[Callable[[Context], None]] = None
    available: Callable[[], Optional[str]] = lambda: None  # a reason it cannot run, or None
    only: Optional[FrozenSet[str]] = None  # the scenarios it serves, when not all


def environment(ctx: Context) -> Dict[str, str]:
    """Environment for every server: the apps and picohttp's ``src/`` importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(APPS), str(SRC)])
    env["BENCH_FILES"] = str(ctx.files)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _package(*names: str) -> Callable[[], str]:
    """``"name version"`` of each of ``names`` in this environment, comma-separated."""

    def version() -> str:
        parts = []
        for name in names:
            try:
                parts.append(f"{name} {metadata.version(name)}")
            except metadata.PackageNotFoundError:
                parts.append(f"{name} not installed")
        return ", ".join(parts)

    return version


def _picohttp_version() -> str:
    match = re.search(r'__version__ = "([^"]+)"', (SRC / "picohttp" / "__init__.py").read_text())
    version = match.group(1) if match else "?"
    try:
        commit = subprocess.run(
            ["git", "-C", str(SRC), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"picohttp {version} ({commit})" if commit else f"picohttp {version}"


def _python_version() -> str:
    import platform

    return f"Python {platform.python_version()}"


def nginx_binary() -> Optional[str]:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def _nginx_version() -> str:
    binary = nginx_binary()
    if binary is None:
        return "not installed"
    result = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
    return "nginx " + ((result.stderr or result.stdout).strip().rpartition("/")[2] or "?")


def _nginx_prepare(ctx: Context) -> None:
    user = ""
    if os.geteuid() == 0:
        # Workers of a root master switch to "nobody" unless told; ours read files in a
        # private temporary directory, so they stay the user we are.
        user = f"user {getpass.getuser()} {grp.getgrgid(os.getegid()).gr_name};"
    text = (APPS / "nginx.conf").read_text()
    for name, value in {
        "@USER@": user,
        "@PREFIX@": str(ctx.workdir),
        "@PORT@": str(ctx.port),
        "@FILES@": str(ctx.files),
    }.items():
        text = text.replace(name, value)
    (ctx.workdir / "nginx.conf").write_text(text)


def _nginx_command(ctx: Context) -> List[str]:
    binary = nginx_binary()
    assert binary is not None
    # -e: the error log before the configuration is read (nginx >= 1.19.5), else it
    # tries /var/log/nginx first.
    prefix = str(ctx.workdir)
    return [binary, "-p", prefix, "-e", f"{prefix}/error.log", "-c", f"{prefix}/nginx.conf"]


def _nginx_available() -> Optional[str]:
    return None if nginx_binary() else "nginx is not installed"


def _script(name: str, *arguments: str) -> Callable[[Context], List[str]]:
    """``python servers/NAME PORT FILES ARGUMENTS...``"""

    def command(ctx: Context) -> List[str]:
        return [ctx.python, str(APPS / name), str(ctx.port), str(ctx.files), *arguments]

    return command


def _picohttp(*keywords: str) -> Callable[[Context], List[str]]:
    """picohttp_app.py with ``HttpServer`` keywords, e.g. ``"threads=False"``."""
    return _script("picohttp_app.py", *keywords)


def _uvicorn(http: str, loop: str) -> Callable[[Context], List[str]]:
    def command(ctx: Context) -> List[str]:
        return [
            *(
                ctx.python,
                "-m",
                "uvicorn",
                "asgi_app:app",
                "--host=127.0.0.1",
                f"--port={ctx.port}",
            ),
            *(f"--http={http}", f"--loop={loop}", "--lifespan=off", "--no-access-log"),
            "--log-level=warning",
        ]

    return command


SERVERS: List[Server] = [
    Server(
        "picohttp",
        "picohttp threads=True",
        PICOHTTP,
        _picohttp(),
        "staticResource (<= 64 KiB kept in memory)",
        _picohttp_version,
    ),
    Server(
        "picohttp-seq",
        "picohttp threads=False",
        PICOHTTP,
        _picohttp("threads=False"),
        "staticResource (<= 64 KiB kept in memory)",
        _picohttp_version,
    ),
    Server(
        "picohttp-w2",
        "picohttp workers=2",
        PICOHTTP,
        _picohttp("workers=2"),
        "staticResource (<= 64 KiB kept in memory)",
        _picohttp_version,
    ),
    Server(
        "picohttp-files",
        "picohttp command line, a folder",
        PICOHTTP,
        lambda ctx: [
            *(ctx.python, "-m", "picohttp", "-d", str(ctx.files), "-p", str(ctx.port), "-q"),
        ],
        "staticResource itself: kept files answered on the loop thread",
        _picohttp_version,
        only=frozenset(("static", "1m", "100m")),  # the spec's first example: files only
    ),
    Server(
        "http.server",
        "http.server ThreadingHTTPServer",
        PURE,
        _script("httpserver_app.py"),
        "SimpleHTTPRequestHandler",
        _python_version,
    ),
    Server(
        "gunicorn",
        "gunicorn sync, 1 worker",
        PURE,
        lambda ctx: [
            *(ctx.python, "-m", "gunicorn", "wsgi_app:app", "--bind", f"127.0.0.1:{ctx.port}"),
            *("--workers", "1", "--worker-class", "sync", "--log-level", "warning"),
        ],
        "wsgi.file_wrapper (sendfile)",
        _package("gunicorn"),
    ),
    Server(
        "waitress",
        "waitress, 4 threads",
        PURE,
        lambda ctx: [
            ctx.python,
            "-m",
            "waitress",
            f"--port={ctx.port}",
            "--host=127.0.0.1",
            "wsgi_app:app",
        ],
        "wsgi.file_wrapper (read in blocks)",
        _package("waitress"),
    ),
    Server(
        "microdot",
        "microdot (asyncio)",
        PURE,
        _script("microdot_app.py"),
        "send_file",
        _package("microdot"),
    ),
    Server(
        "uvicorn-h11",
        "uvicorn h11 + asyncio",
        PURE,
        _uvicorn("h11", "asyncio"),
        "file read per request (bare ASGI)",
        _package("uvicorn", "h11"),
    ),
    Server(
        "uvicorn-c",
        "uvicorn httptools + uvloop",
        C_EXTRAS,
        _uvicorn("httptools", "uvloop"),
        "file read per request (bare ASGI)",
        _package("uvicorn", "httptools", "uvloop"),
    ),
    Server(
        "nginx",
        "nginx, 1 worker",
        REFERENCE,
        _nginx_command,
        "static file (sendfile)",
        _nginx_version,
        prepare=_nginx_prepare,
        available=_nginx_available,
    ),
]

BY_KEY: Dict[str, Server] = {server.key: server for server in SERVERS}
