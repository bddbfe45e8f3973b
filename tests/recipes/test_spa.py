"""``staticResource(..., fallback="index.html")``: client-side routes survive a reload.

A reload of ``/users/42`` in a single-page app asks the server for a path that
only the app's router knows; with ``fallback`` it gets the app's index (200),
while a missing asset (``/app.js``) stays a 404 and everything that exists is
served exactly as without it.  Clients: curl and requests.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from picohttp import Router, staticResource
from support import exchange, parse_response, serving

CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")
INDEX = '<!DOCTYPE html><title>app</title><div id="root"></div><script src="/app.js"></script>\n'


@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "empty").mkdir()
    (root / "index.html").write_text(INDEX)
    (root / "app.js").write_text("document.title = 'routed';\n")
    (root / "assets" / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (root / "docs" / "index.html").write_text("<p>docs</p>")
    (tmp_path / "secret.html").write_text("secret")
    return root


def spa(root: Path, fallback: str = "index.html", **keywords: object) -> functools.partial:  # type: ignore[type-arg]
    return functools.partial(staticResource, staticBase=str(root), fallback=fallback, **keywords)


@needs_curl
def test_reload_of_a_client_route_with_curl(app: Path, threads: bool) -> None:
    assert CURL is not None
    with serving(spa(app), threads=threads) as server:
        base = f"http://127.0.0.1:{server.port}"
        for route in ("/users/42", "/settings", "/deep/a/b/c", "/users/42/", "/caf%C3%A9"):
            result = subprocess.run(
                [CURL, "-s", "-w", "\n%{http_code} %{content_type}", base + route],
                capture_output=True,
                timeout=30,
                check=True,
            )
            body, _, status = result.stdout.decode().rpartition("\n")
            assert status == "200 text/html; charset=utf-8", route
            assert body == INDEX, route


def test_missing_assets_stay_404_and_real_files_are_unchanged(app: Path, threads: bool) -> None:
    with serving(spa(app), threads=threads) as server:
        base = f"http://127.0.0.1:{server.port}"

        def get(path: str) -> requests.Response:
            return requests.get(base + path, timeout=10)

        assert get("/app.js").text == "document.title = 'routed';\n"
        assert get("/assets/logo.svg").headers["Content-Type"] == "image/svg+xml"
        for missing in ("/missing.js", "/assets/missing.png", "/users/john.doe", "/favicon.ico"):
            reply = get(missing)
            assert reply.status_code == 404, missing
            assert reply.text == "404 Not Found\n"
        # directories: their own index, the 301 to the slashed form, no listing: as before
        assert get("/docs/").text == "<p>docs</p>"
        redirect = requests.get(base + "/docs", allow_redirects=False, timeout=10)
        assert redirect.status_code == 301 and redirect.headers["Location"] == "/docs/"
        assert get("/empty/").status_code == 404
        assert get("/").text == INDEX
        assert get("/app.js/").status_code == 404  # a file is not a directory, fallback or not


def test_head_and_conditional_requests_on_a_route(app: Path) -> None:
    with serving(spa(app)) as server:
        url = f"http://127.0.0.1:{server.port}/users/42"
        head = requests.head(url, timeout=10)
        full = requests.get(url, timeout=10)
        again = requests.get(url, headers={"If-None-Match": full.headers["ETag"]}, timeout=10)
        posted = requests.post(url, data="x", timeout=10)
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(INDEX))
    assert head.headers["Content-Type"] == "text/html; charset=utf-8"
    assert head.content == b""
    assert full.headers["ETag"] == head.headers["ETag"]
    assert again.status_code == 304
    assert posted.status_code == 405


def test_without_fallback_a_route_is_404(app: Path) -> None:
    with serving(functools.partial(staticResource, staticBase=str(app))) as server:
        raw = exchange(server.port, b"GET /users/42 HTTP/1.0\r\n\r\n")
    assert parse_response(raw)[0] == 404


def test_fallback_is_contained_in_the_base(app: Path) -> None:
    for fallback in ("../secret.html", "/../secret.html", "docs/../../secret.html"):
        with serving(spa(app, fallback=fallback)) as server:
            status, _, body = parse_response(exchange(server.port, b"GET /route HTTP/1.0\r\n\r\n"))
        assert status == 404, fallback
        assert b"secret" not in body
    outside = app.parent / "outside.html"
    outside.write_text("outside")
    os.symlink(outside, app / "link.html")
    with serving(spa(app, fallback="link.html")) as server:
        status, _, body = parse_response(exchange(server.port, b"GET /route HTTP/1.0\r\n\r\n"))
    assert status == 404 and b"outside" not in body


def test_fallback_in_a_subdirectory_a_missing_one_and_a_traversal(app: Path) -> None:
    with serving(spa(app, fallback="docs/index.html")) as server:
        nested = parse_response(exchange(server.port, b"GET /x/y HTTP/1.0\r\n\r\n"))
        traversal = parse_response(exchange(server.port, b"GET /%2e%2e/secret HTTP/1.0\r\n\r\n"))
    assert nested[0] == 200 and nested[2] == b"<p>docs</p>"
    assert traversal[0] == 404  # refused paths never fall back
    with serving(spa(app, fallback="nothing.html")) as server:
        missing = parse_response(exchange(server.port, b"GET /x HTTP/1.0\r\n\r\n"))
    assert missing[0] == 404


def test_fallback_under_a_router_mount_beside_an_api(app: Path) -> None:
    router = Router()

    @router.route("GET", "/api/users/{name}")
    def user(request: object, response: object, name: str) -> None:
        response.data = {"name": name}  # type: ignore[attr-defined]

    router.mount("/", staticResource, staticBase=str(app), fallback="index.html")
    with serving(router) as server:
        base = f"http://127.0.0.1:{server.port}"
        api = requests.get(base + "/api/users/ann", timeout=10)
        page = requests.get(base + "/users/ann", timeout=10)
        asset = requests.get(base + "/nope.css", timeout=10)
    assert api.json() == {"name": "ann"}
    assert page.status_code == 200 and page.text == INDEX
    assert asset.status_code == 404
