"""picohttp.Router: dispatch on path and method, captures, 404/405, mounts, the trie."""

from __future__ import annotations

import pytest

import picohttp
from picohttp import HttpRequest, HttpResponse, Router
from picohttp.testing import Client


def make_router() -> Router:
    router = Router()

    @router.route("GET", "/")
    def home(request, response):
        response.data = "home"

    @router.route(["GET", "PUT"], "/items/{name}")
    def item(request, response, name):
        response.data = {"method": request.method, "name": name, "path": request.path}

    @router.route("DELETE", "/items/{name}")
    def remove(request, response, name):
        response.status = 204

    @router.route("GET", "/items/special")
    def special(request, response):
        response.data = "the literal segment wins"

    @router.route("GET", "/users/{user}/posts/{post}")
    def post(request, response, user, post):
        response.data = {"user": user, "post": post}

    @router.route("GET", "/files/{path:rest}")
    def files(request, response, rest):
        response.data = {"rest": rest}

    return router


@pytest.fixture
def client() -> Client:
    return Client(make_router())


def test_literal_route(client):
    response = client.get("/")
    assert response.status == 200
    assert response.text == "home"


def test_capture_is_a_keyword_argument(client):
    assert client.get("/items/apple").json() == {
        "method": "GET",
        "name": "apple",
        "path": ["items", "apple"],
    }


def test_several_methods_on_one_route(client):
    assert client.put("/items/pear", data="x").json()["method"] == "PUT"
    assert client.delete("/items/pear").status == 204


def test_captures_are_decoded_segments(client):
    assert client.get("/items/a%2Fb%20c").json()["name"] == "a/b c"
    assert client.get("/items/caf%C3%A9").json()["name"] == "café"


def test_literal_segment_beats_capture(client):
    assert client.get("/items/special").text == "the literal segment wins"
    # ... but only for its own methods: PUT still reaches the capture route.
    assert client.put("/items/special", data="x").json()["name"] == "special"


def test_two_captures(client):
    assert client.get("/users/ann/posts/42").json() == {"user": "ann", "post": "42"}


def test_catch_all_takes_the_rest_joined_by_slash(client):
    assert client.get("/files/a/b/c.txt").json() == {"rest": "a/b/c.txt"}
    assert client.get("/files/a/").json() == {"rest": "a/"}
    assert client.get("/files/").json() == {"rest": ""}
    assert client.get("/files").status == 404


@pytest.mark.parametrize(
    "target", ["/nothing", "/items", "/items/", "/items/a/b", "/users/ann/posts", "/users//posts/1"]
)
def test_unknown_paths_are_404(client, target):
    response = client.get(target)
    assert response.status == 404
    assert response.text == "404 Not Found\n"
    assert "Allow" not in response.headers


def test_known_path_other_method_is_405_with_allow(client):
    response = client.post("/items/apple", data="x")
    assert response.status == 405
    assert response.headers["Allow"] == "DELETE, GET, HEAD, PUT"
    assert client.request("PATCH", "/").headers["Allow"] == "GET, HEAD"
    assert client.delete("/files/x").headers["Allow"] == "GET, HEAD"


def test_head_is_answered_by_the_get_route(client):
    head = client.head("/users/ann/posts/1")
    assert head.status == 200
    assert head.data == b""
    get = client.get("/users/ann/posts/1")
    assert head.headers["Content-Length"] == get.headers["Content-Length"] == str(len(get.data))


def test_explicit_head_route_wins_over_get():
    router = Router()
    router.route("GET", "/x")(lambda request, response: setattr(response, "status", 200))
    router.route("HEAD", "/x")(lambda request, response: setattr(response, "status", 299))
    assert Client(router).head("/x").status == 299


def test_server_args_reach_route_functions_before_the_captures():
    router = Router()
    seen = []

    @router.route("GET", "/{name}")
    def greet(request, response, store, greeting, name):
        store.append(name)
        response.data = f"{greeting}, {name}"

    client = Client(router, seen, "Hello")
    assert client.get("/ann").text == "Hello, ann"
    assert seen == ["ann"]


def test_the_router_is_a_plain_handler():
    router = make_router()
    request = HttpRequest("GET", ["items", "fig"])
    response = HttpResponse()
    router(request, response)
    assert response.data == {"method": "GET", "name": "fig", "path": ["items", "fig"]}


def test_trailing_slash_is_significant():
    router = Router()
    router.route("GET", "/about")(lambda request, response: setattr(response, "data", "a"))
    router.route("GET", "/about/")(lambda request, response: setattr(response, "data", "b"))
    client = Client(router)
    assert client.get("/about").text == "a"
    assert client.get("/about/").text == "b"


def test_method_is_case_sensitive():
    router = Router()
    router.route("GET", "/")(lambda request, response: None)
    assert Client(router).request("get", "/").status == 405


def test_any_token_method():
    router = Router()
    router.route("PROPFIND", "/dav")(lambda request, response: setattr(response, "status", 207))
    assert Client(router).request("PROPFIND", "/dav").status == 207


# -- mounts -------------------------------------------------------------------


@pytest.fixture
def site(tmp_path):
    (tmp_path / "index.html").write_text("<h1>index</h1>")
    (tmp_path / "css").mkdir()
    (tmp_path / "css" / "main.css").write_text("body{}")
    (tmp_path / "css" / "index.html").write_text("css index")
    return tmp_path


def test_mount_staticresource_under_a_prefix(site):
    router = make_router()
    router.mount("/static", picohttp.staticResource, staticBase=str(site))
    client = Client(router)
    css = client.get("/static/css/main.css")
    assert css.status == 200
    assert css.text == "body{}"
    assert css.headers["Content-Type"].startswith("text/css")
    assert client.get("/static/").text == "<h1>index</h1>"
    assert client.get("/static/missing.txt").status == 404
    assert client.get("/static/../../etc/passwd").status == 404
    assert client.post("/static/index.html", data="x").status == 405  # staticResource's answer
    assert client.get("/items/apple").json()["name"] == "apple"  # routes still work


def test_mount_prefix_without_slash_redirects(site):
    router = Router()
    router.mount("/static", picohttp.staticResource, staticBase=str(site))
    client = Client(router)
    response = client.get("/static?v=1")
    assert response.status == 301
    assert response.headers["Location"] == "/static/?v=1"
    assert client.post("/static", data="x").status == 308


def test_directory_redirect_inside_a_mount_keeps_the_prefix(site):
    router = Router()
    router.mount("/static", picohttp.staticResource, staticBase=str(site))
    response = Client(router).get("/static/css")
    assert response.status == 301
    assert response.headers["Location"] == "/static/css/"


def test_mounted_handler_sees_the_path_without_the_prefix():
    seen = []

    def handler(request, response, *args, **kwargs):
        seen.append((request.path, request.uri, args, kwargs))

    router = Router()
    router.mount("/api/v1/", handler, "arg", key="value")
    client = Client(router, "server-arg")
    client.get("/api/v1/a/b?x=1")
    client.get("/api/v1/")
    assert seen == [
        (["a", "b"], "/api/v1/a/b?x=1", ("arg",), {"key": "value"}),
        ([""], "/api/v1/", ("arg",), {"key": "value"}),
    ]


def test_routes_beat_mounts_and_the_deepest_mount_wins():
    def tag(name):
        def handler(request, response):
            response.data = {"by": name, "path": request.path}

        return handler

    router = Router()
    router.mount("/", tag("root"))
    router.mount("/a", tag("a"))
    router.mount("/a/b", tag("ab"))
    router.route("GET", "/a/route")(tag("route"))
    client = Client(router)
    assert client.get("/").json() == {"by": "root", "path": [""]}
    assert client.get("/zzz/y").json() == {"by": "root", "path": ["zzz", "y"]}
    assert client.get("/a/x").json() == {"by": "a", "path": ["x"]}
    assert client.get("/a/b/c").json() == {"by": "ab", "path": ["c"]}
    assert client.get("/a/route").json() == {"by": "route", "path": ["a", "route"]}
    # A path a route knows gets 405 for other methods, not the mount's answer.
    assert client.put("/a/route", data="x").status == 405


def test_a_router_mounted_in_a_router():
    api = Router()
    api.route("GET", "/items/{name}")(
        lambda request, response, db, name: setattr(response, "data", db[name])
    )
    site = Router()
    site.mount("/api", api, {"x": "found"})
    client = Client(site)
    assert client.get("/api/items/x").text == "found"
    assert client.get("/api/nope").status == 404


# -- registration errors -------------------------------------------------------


def noop(request, response, **captures):
    pass


@pytest.mark.parametrize(
    ("methods", "pattern", "message"),
    [
        ("GET,PUT", "/", "as a list"),
        ([], "/", "at least one"),
        ("G T", "/", "invalid HTTP method"),
        ("GET", "items", "starts with '/'"),
        ("GET", "/a/{b", "whole segment"),
        ("GET", "/a/x{b}", "whole segment"),
        ("GET", "/{int:id}", "unknown capture"),
        ("GET", "/{path:rest}/more", "last segment"),
        ("GET", "/{a}/{a}", "twice"),
        ("GET", "/{1x}", "identifier"),
    ],
)
def test_bad_routes_are_refused_at_registration(methods, pattern, message):
    with pytest.raises(ValueError, match=message):
        Router().route(methods, pattern)(noop)


def test_duplicate_route_is_refused():
    router = Router()
    router.route("GET", "/items/{name}")(noop)
    with pytest.raises(ValueError, match="already routed"):
        router.route(["PUT", "GET"], "/items/{other}")(noop)
    router.route("PUT", "/items/{other}")(noop)  # the failed call registered nothing


def test_function_without_the_capture_parameter_is_refused():
    def wrong(request, response, nme):
        pass

    with pytest.raises(TypeError, match="no parameter name"):
        Router().route("GET", "/items/{name}")(wrong)


def test_mount_errors():
    router = Router()
    router.mount("/s", noop)
    with pytest.raises(ValueError, match="already"):
        router.mount("/s/", noop)
    with pytest.raises(ValueError, match="literal"):
        router.mount("/{x}", noop)
    with pytest.raises(TypeError):
        router.mount("/t", "not callable")


def test_routes_lists_everything():
    router = make_router()
    router.mount("/static", noop)
    listed = {(method, pattern) for method, pattern, _ in router.routes()}
    assert listed == {
        ("GET", "/"),
        ("GET", "/items/{name}"),
        ("PUT", "/items/{name}"),
        ("DELETE", "/items/{name}"),
        ("GET", "/items/special"),
        ("GET", "/users/{user}/posts/{post}"),
        ("GET", "/files/{path:rest}"),
        ("*", "/static"),
    }


# -- the structure that keeps routing cost flat --------------------------------


def test_literal_segments_are_indexed_in_dicts_not_scanned():
    router = Router()
    for i in range(100):
        router.route("GET", f"/r{i}/items/{{name}}")(noop)
    root = router._root
    # One dict entry per first segment: dispatch is a lookup, not a loop over 100 routes.
    assert isinstance(root.static, dict)
    assert sorted(root.static) == sorted(f"r{i}" for i in range(100))
    leaf = root.static["r99"].static["items"].param
    assert leaf is not None
    assert list(leaf.endpoints) == ["GET"]
    assert leaf.endpoints["GET"].names == ("name",)
    # Routes sharing a prefix share its nodes.
    router.route("PUT", "/r5/items/{other}")(noop)
    assert set(root.static["r5"].static["items"].param.endpoints) == {"GET", "PUT"}
    assert len(root.static) == 100


@pytest.mark.io
def test_routing_benchmark_runs_and_reports_every_case():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "routing.py"
    result = subprocess.run(
        [sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith(("pico", "lin"))]
    assert [(row[-4], row[-3]) for row in rows] == [
        ("1", "first"),
        ("100", "first"),
        ("100", "last"),
    ] * 2
    assert all(float(row[-2]) > 0 and float(row[-1]) > 0 for row in rows)


def test_a_literal_dead_end_backtracks_to_the_capture():
    router = Router()

    @router.route("GET", "/a/b/c")
    def literal(request, response):
        response.data = "literal"

    @router.route("GET", "/a/{x}/d")
    def captured(request, response, x):
        response.data = f"captured {x}"

    @router.route("GET", "/a/{path:rest}")
    def rest(request, response, rest):
        response.data = f"rest {rest}"

    client = Client(router)
    assert client.get("/a/b/c").text == "literal"
    assert client.get("/a/b/d").text == "captured b"  # "b" is literal, but leads nowhere
    assert client.get("/a/b/e").text == "rest b/e"
    assert client.get("/a/b").text == "rest b"
