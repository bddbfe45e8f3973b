"""``staticResource`` over real sockets: the spec's behaviour, and nothing outside the base.

Requests go out on raw sockets (and ``curl --path-as-is``) so that no client
normalises a path before the server sees it.  A secret file lives *outside*
the base; no response may ever contain it.
"""

from __future__ import annotations

import functools
import mimetypes
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import pytest

import picohttp
from support import exchange, parse_response, serving

SECRET = b"TOP-SECRET-7f3a9c: never served"


@pytest.fixture
def tree(tmp_path: Path) -> Dict[str, Path]:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    base = tmp_path / "site"
    base.mkdir()
    (base / "index.html").write_text("<h1>home</h1>")
    (base / "a.txt").write_text("file a")
    (base / "style.css").write_text("p {}")
    (base / "notes.unknownext").write_bytes(b"unknown kind")
    (base / "picture.tif").write_bytes(b"II*\x00")
    (base / "home.htm").write_text("<p>custom default</p>")
    (base / "dir").mkdir()
    (base / "dir" / "index.html").write_text("<p>dir home</p>")
    (base / "dir" / "nested.txt").write_text("nested")
    (base / "example.com").mkdir()
    (base / "example.com" / "index.html").write_text("not an open redirect")
    os.symlink(base / "a.txt", base / "link_in")
    os.symlink(outside / "secret.txt", base / "link_out")
    os.symlink(outside, base / "dirlink_out")
    os.symlink("../outside/secret.txt", base / "relative_link_out")
    return {"base": base, "outside": outside, "secret": outside / "secret.txt"}


@pytest.fixture
def site(tree: Dict[str, Path], threads: bool) -> Iterator[Tuple[int, Dict[str, Path]]]:
    handler = functools.partial(picohttp.staticResource, staticBase=str(tree["base"]))
    with serving(handler, threads=threads) as server:
        yield server.port, tree


def request(port: int, target: str, method: str = "GET") -> Tuple[int, Dict[str, str], bytes]:
    raw = exchange(port, f"{method} {target} HTTP/1.0\r\n\r\n".encode())
    assert SECRET not in raw
    return parse_response(raw)


def test_get_files_and_the_default_resource(site: Tuple[int, Any]) -> None:
    port, _ = site
    status, headers, body = request(port, "/")
    assert (status, body, headers["content-type"]) == (
        200,
        b"<h1>home</h1>",
        "text/html; charset=utf-8",
    )
    status, headers, body = request(port, "/a.txt")
    assert (status, body, headers["content-length"]) == (200, b"file a", "6")
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert request(port, "/dir/")[2] == b"<p>dir home</p>"
    assert request(port, "/dir/nested.txt")[2] == b"nested"
    assert request(port, "/dir/index.html")[2] == b"<p>dir home</p>"
    assert request(port, "/a.txt?cache=bust")[2] == b"file a"


def test_head(site: Tuple[int, Any]) -> None:
    port, _ = site
    status, headers, body = request(port, "/a.txt", "HEAD")
    assert (status, body, headers["content-length"]) == (200, b"", "6")
    assert headers["content-type"] == "text/plain; charset=utf-8"


def test_directory_without_slash_is_redirected(site: Tuple[int, Any]) -> None:
    port, _ = site
    status, headers, _ = request(port, "/dir")
    assert (status, headers["location"]) == (301, "/dir/")
    assert request(port, "/dir?x=1&y=%20")[1]["location"] == "/dir/?x=1&y=%20"
    # Never "//host/": that is an open redirect (CVE-2021-28861 in http.server).
    status, headers, _ = request(port, "//example.com")
    assert status == 301
    assert headers["location"] == "/example.com/"
    status, headers, _ = request(port, "///example.com")
    assert not headers["location"].startswith("//")
    status, headers, _ = request(port, "http://host//example.com")
    assert not headers["location"].startswith("//")


def test_other_methods_get_405_with_allow(site: Tuple[int, Any]) -> None:
    port, _ = site
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "get"):
        status, headers, _ = request(port, "/a.txt", method)
        assert (status, headers["allow"]) == (405, "GET, HEAD")


def test_content_type_from_table_mimetypes_and_default(tree: Dict[str, Path]) -> None:
    base = str(tree["base"])
    default = functools.partial(picohttp.staticResource, staticBase=base)
    custom = functools.partial(
        picohttp.staticResource, staticBase=base, defaultMime="application/octet-stream"
    )
    guessed, _ = mimetypes.guess_type("x.tif")
    assert guessed  # Python's own table knows TIFF
    with serving(default) as server:
        assert request(server.port, "/style.css")[1]["content-type"] == "text/css; charset=utf-8"
        assert request(server.port, "/picture.tif")[1]["content-type"] == guessed
        assert request(server.port, "/notes.unknownext")[1]["content-type"] == "text/plain"
    with serving(custom) as server:
        content_type = request(server.port, "/notes.unknownext")[1]["content-type"]
        assert content_type == "application/octet-stream"


def test_default_resource_parameter(tree: Dict[str, Path]) -> None:
    handler = functools.partial(
        picohttp.staticResource, staticBase=str(tree["base"]), defaultResource="home.htm"
    )
    with serving(handler) as server:
        assert request(server.port, "/")[2] == b"<p>custom default</p>"
        assert request(server.port, "/dir/")[0] == 404  # dir has no home.htm


def test_empty_static_base_is_the_current_directory(
    tree: Dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tree["base"])
    with serving(picohttp.staticResource) as server:  # the spec's defaults
        assert request(server.port, "/")[2] == b"<h1>home</h1>"
        assert request(server.port, "/a.txt")[2] == b"file a"
        assert request(server.port, "/../outside/secret.txt")[0] == 404
        monkeypatch.chdir(tree["base"] / "dir")  # read at each request
        assert request(server.port, "/nested.txt")[2] == b"nested"


def test_not_found_cases(site: Tuple[int, Any]) -> None:
    port, _ = site
    for target in ("/missing.txt", "/a.txt/", "/dir/nested.txt/", "/a.txt%00", "/a.txt%00.html"):
        assert request(port, target)[0] == 404, target


def test_a_symlink_inside_the_base_is_served(site: Tuple[int, Any]) -> None:
    port, _ = site
    assert request(port, "/link_in")[2] == b"file a"


TRAVERSALS = [
    "/../outside/secret.txt",
    "/dir/../../outside/secret.txt",
    "/%2e%2e/outside/secret.txt",
    "/%2E%2e/outside/secret.txt",
    "/.%2E/outside/secret.txt",
    "/%252e%252e/outside/secret.txt",
    "/..%2foutside%2fsecret.txt",
    "/..%2Foutside/secret.txt",
    "/..\\outside\\secret.txt",
    "/..%5coutside%5csecret.txt",
    "/dir/..%5c..%5coutside%5csecret.txt",
    "/./../outside/secret.txt",
    "/..%00/outside/secret.txt",
    "/link_out",
    "/relative_link_out",
    "/dirlink_out/secret.txt",
    "http://host/../outside/secret.txt",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_traversal_is_refused(site: Tuple[int, Any], target: str) -> None:
    port, _ = site
    status, _, _ = request(port, target)  # request() asserts the secret is absent
    assert status in (400, 403, 404)


def test_absolute_paths_are_refused(site: Tuple[int, Any]) -> None:
    port, tree = site
    secret = str(tree["secret"])
    for target in (
        "/" + secret,
        "/%2F" + secret.lstrip("/").replace("/", "%2F"),
        "/" + secret.replace("/", "%2f"),
    ):
        status, _, _ = request(port, target)
        assert status in (400, 403, 404), target


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_traversal_with_curl_path_as_is(site: Tuple[int, Any]) -> None:
    port, _ = site
    for path in ("/../outside/secret.txt", "/%2e%2e/outside/secret.txt", "/link_out"):
        result = subprocess.run(
            [
                "curl",
                "-sS",
                "--path-as-is",
                "--max-time",
                "10",
                "-o",
                "-",
                "-w",
                "\n%{http_code}",
                f"http://127.0.0.1:{port}{path}",
            ],
            capture_output=True,
            timeout=20,
        )
        assert SECRET not in result.stdout
        assert result.stdout.rsplit(b"\n", 1)[-1] == b"404", path
