"""A Router served by a real HttpServer, driven by requests over 127.0.0.1."""

from __future__ import annotations

import requests

import picohttp
from support import serving


def build(site):
    router = picohttp.Router()

    @router.route(["GET", "PUT"], "/items/{name}")
    def item(request, response, store, name):
        if request.method == "PUT":
            store[name] = request.data
            response.status = 201
        elif name in store:
            response.data = {"name": name, "value": store[name]}
        else:
            response.status = 404

    router.mount("/static", picohttp.staticResource, staticBase=str(site))
    return router


def test_router_behind_a_real_server(threads, tmp_path):
    (tmp_path / "app.js").write_text("console.log(1)")
    store: dict = {}
    with serving(build(tmp_path), store, threads=threads) as server:
        base = f"http://127.0.0.1:{server.port}"
        assert requests.put(f"{base}/items/pen", data="blue", timeout=5).status_code == 201
        assert store == {"pen": "blue"}
        assert requests.get(f"{base}/items/pen", timeout=5).json() == {
            "name": "pen",
            "value": "blue",
        }
        refused = requests.post(f"{base}/items/pen", data="x", timeout=5)
        assert refused.status_code == 405
        assert refused.headers["Allow"] == "GET, HEAD, PUT"
        assert requests.get(f"{base}/nowhere", timeout=5).status_code == 404
        script = requests.get(f"{base}/static/app.js", timeout=5)
        assert script.status_code == 200
        assert script.text == "console.log(1)"
        assert script.headers["Content-Type"].startswith("text/javascript")
        redirect = requests.get(f"{base}/static", timeout=5, allow_redirects=False)
        assert redirect.status_code == 301
        assert redirect.headers["Location"] == "/static/"
