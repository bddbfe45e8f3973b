"""Dot files and dot folders (`.git/`, `.env`, `.ssh/`): not served unless asked (issue 15).

``./serve`` at the repository root answered ``/.git/config`` with 200.  Now
staticResource and the command line answer 404 to any path segment starting
with ``.``, and listings leave such names out, unless ``dotfiles=True`` /
``--dotfiles``.  (``python -m http.server`` and nginx serve them.)
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from picohttp import staticResource
from support import PYTHON, child_server, free_port, python_env, serving

SECRETS = {
    "/.env": "TOKEN=hunter2\n",
    "/.git/config": "[core]\n\tbare = false\n",
    "/.ssh/id_ed25519": "-----BEGIN OPENSSH PRIVATE KEY-----\n",
    "/docs/.secret.txt": "nested\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A folder as a repository or home folder looks: secrets in dot files beside the site."""
    root = tmp_path / "repo"
    for path, content in SECRETS.items():
        file = root / path.lstrip("/")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(content)
    (root / "docs" / "guide.txt").write_text("guide\n")
    (root / "readme.txt").write_text("readme\n")
    return root


def get(port: int, path: str, method: str = "GET") -> requests.Response:
    return requests.request(method, f"http://127.0.0.1:{port}{path}", timeout=10)


@pytest.fixture
def default_server(repo: Path) -> Iterator[Any]:
    with serving(functools.partial(staticResource, staticBase=str(repo), listing=True)) as server:
        yield server


def test_dot_files_and_folders_are_404_by_default(default_server: Any) -> None:
    port = default_server.port
    for path in [*SECRETS, "/.git/", "/.git", "/%2Egit/config", "/docs/%2esecret.txt"]:
        for method in ("GET", "HEAD"):
            reply = get(port, path, method)
            assert reply.status_code == 404, (method, path)
            assert "hunter2" not in reply.text and "core" not in reply.text
    assert get(port, "/readme.txt").text == "readme\n"  # the rest is served as before
    assert get(port, "/docs/guide.txt").text == "guide\n"


def test_listings_leave_dot_names_out_by_default(default_server: Any) -> None:
    root = get(default_server.port, "/").text
    assert 'href="readme.txt"' in root and 'href="docs/"' in root
    for name in (".env", ".git", ".ssh"):
        assert name not in root
    docs = get(default_server.port, "/docs/").text
    assert "guide.txt" in docs and ".secret.txt" not in docs


def test_dotfiles_true_serves_and_lists_them(repo: Path) -> None:
    handler = functools.partial(staticResource, staticBase=str(repo), listing=True, dotfiles=True)
    with serving(handler) as server:
        for path, content in SECRETS.items():
            assert get(server.port, path).text == content
        root = get(server.port, "/").text
        for name in ('href=".env"', 'href=".git/"', 'href=".ssh/"'):
            assert name in root


def test_the_command_line_refuses_dot_files_unless_dotfiles(repo: Path) -> None:
    for extra, status in (([], 404), (["--dotfiles"], 200)):
        port = free_port()
        argv = [PYTHON, "-m", "picohttp", "-b", "127.0.0.1", "-p", str(port), "-q", *extra]
        with child_server(argv, port, cwd=repo):  # the repository root, as `./serve` there
            assert get(port, "/.git/config").status_code == status
            assert get(port, "/.env").status_code == status
            assert (".git/" in get(port, "/").text) == (status == 200)
            assert get(port, "/readme.txt").status_code == 200


def test_dotfiles_with_a_handler_is_an_argument_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [PYTHON, "-m", "picohttp", "--dotfiles", "json:dumps"],
        cwd=tmp_path,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--dotfiles is for serving a directory" in done.stderr
