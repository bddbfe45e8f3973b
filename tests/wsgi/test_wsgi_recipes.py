"""The WSGI recipes of docs/guide/wsgi.md, run as written under real gunicorn and waitress.

Each command is taken from the page itself (only ``python3`` and the port are
swapped), serves ``deploy/app.py`` (``Hello {client}, over {scheme}``), and gets
what nginx would send: the request from 127.0.0.1 with the client's address
and scheme in ``X-Forwarded-For`` / ``X-Forwarded-Proto``.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import List

import pytest

from support import (
    PYTHON,
    ROOT,
    child_server,
    exchange,
    free_port,
    gunicorn_options,
    parse_response,
    python_env,
)

PAGE = ROOT / "docs" / "guide" / "wsgi.md"
FORWARDED = (
    b"GET / HTTP/1.0\r\nHost: pi.example.org\r\n"
    b"X-Forwarded-For: 203.0.113.9, 10.1.2.3\r\nX-Forwarded-Proto: https\r\n\r\n"
)
DIRECT = b"GET / HTTP/1.0\r\nHost: pi.example.org\r\n\r\n"


def documented(server: str) -> str:
    """The page's one command line that starts ``server``."""
    lines = [
        line for line in PAGE.read_text().splitlines() if line.startswith(f"python3 -m {server} ")
    ]
    assert len(lines) == 1, lines
    return lines[0]


def wsgi_app_file() -> str:
    """The page's ``wsgi_app.py`` block."""
    text = PAGE.read_text()
    block = text.split("e.g. `wsgi_app.py`:", 1)[1].split("```python\n", 1)[1]
    return block.split("```", 1)[0]


def argv(command: str, port: int) -> List[str]:
    words = shlex.split(command.replace("127.0.0.1:8080", f"127.0.0.1:{port}"))
    assert words[0] == "python3"
    return [PYTHON, *words[1:]]


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "deploy" / "app.py", tmp_path / "app.py")
    (tmp_path / "wsgi_app.py").write_text(wsgi_app_file())
    return tmp_path


def answers(port: int) -> List[bytes]:
    bodies = []
    for request in (FORWARDED, DIRECT):
        status, _, body = parse_response(exchange(port, request))
        assert status == 200, body
        bodies.append(body)
    return bodies


EXPECTED = [b"Hello 10.1.2.3, over https\n", b"Hello 127.0.0.1, over http\n"]


def test_the_gunicorn_recipe_sees_the_client_nginx_saw(app_dir: Path) -> None:
    pytest.importorskip("gunicorn")
    port = free_port()
    command = argv(documented("gunicorn"), port) + gunicorn_options()
    with child_server(command, port, app_dir, env=python_env()):
        assert answers(port) == EXPECTED


def test_the_waitress_recipe_sees_the_client_nginx_saw(app_dir: Path) -> None:
    pytest.importorskip("waitress")
    port = free_port()
    command = documented("waitress")
    assert "--trusted-proxy=127.0.0.1" in command and "x-forwarded-for" in command
    with child_server(argv(command, port), port, app_dir, env=python_env()):
        assert answers(port) == EXPECTED


def test_without_trusted_proxy_waitress_hides_the_client(app_dir: Path) -> None:
    """Why the recipe needs the flags: waitress drops X-Forwarded-* from untrusted peers."""
    pytest.importorskip("waitress")
    port = free_port()
    bare = [PYTHON, "-m", "waitress", f"--listen=127.0.0.1:{port}", "wsgi_app:application"]
    with child_server(bare, port, app_dir, env=python_env()):
        assert answers(port) == [b"Hello 127.0.0.1, over http\n"] * 2
