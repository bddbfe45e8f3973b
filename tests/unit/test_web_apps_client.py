"""Issue 16 through ``picohttp.testing.Client``: json, getlist, HttpError, errorHandler,
redirect, cookies, basicAuth, and the client's ``json=``, ``cookies=``, ``auth=``.

The same features over real sockets: tests/integration/test_web_apps_server.py.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
from typing import Any, List, Tuple

import pytest

import picohttp
from picohttp import HttpError, HttpRequest, HttpResponse, Router, basicAuth
from picohttp.testing import Client


def show_json(request: HttpRequest, response: HttpResponse) -> None:
    response.data = {"json": request.json}


def json_error_handler(
    request: HttpRequest, response: HttpResponse, status: int, message: str
) -> None:
    response.data = {"error": message, "status": status}


# -- request.json ------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON", "text/x+json"],
)
def test_json_body_is_parsed_for_json_media_types(content_type: str) -> None:
    client = Client(show_json)
    response = client.post("/", {"Content-Type": content_type}, '{"a": [1, 2.5, null, "é"]}')
    assert response.status == 200
    assert response.json() == {"json": {"a": [1, 2.5, None, "é"]}}


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, None),  # no body
        ({"Content-Type": "application/json"}, None),
        ({"Content-Type": "application/json", "Content-Length": "0"}, ""),  # empty body
        ({"Content-Type": "text/plain"}, '{"a": 1}'),  # another Content-Type
        ({"Content-Type": "application/x-www-form-urlencoded"}, "a=1"),
        ({"Content-Type": "application/jsonp"}, '{"a": 1}'),
        ({}, '{"a": 1}'),  # no Content-Type at all
    ],
)
def test_json_is_none_without_a_json_body(headers: dict[str, str], body: Any) -> None:
    assert Client(show_json).post("/", headers, body).json() == {"json": None}


def test_invalid_json_is_a_400_with_the_parsers_position_never_a_500(caplog: Any) -> None:
    client = Client(show_json)
    with caplog.at_level(logging.DEBUG, logger="picohttp"):
        response = client.post("/", {"Content-Type": "application/json"}, '{"a": 1,}')
    assert response.status == 400
    try:  # the parser's own position: 3.13's json reports a trailing comma a column earlier
        json.loads('{"a": 1,}')
    except ValueError as exc:
        assert isinstance(exc, json.JSONDecodeError)
        assert f"line {exc.lineno} column {exc.colno}" in response.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # an answer, not a fault


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a": "\xff"}', "not UTF-8: byte 0xff at 7"),
        (b"[" * 100_000, "nested too deeply"),  # RecursionError inside json: still a 400
        (b"1" * 5000, "not valid JSON"),  # over int's digit limit (3.11+), else a plain number
    ],
)
def test_bodies_json_cannot_take_are_400s(body: bytes, expected: str) -> None:
    response = Client(show_json).post("/", {"Content-Type": "application/json"}, body)
    if body.startswith(b"1") and response.status == 200:
        return  # an interpreter without the int digit limit reads it as a number: fine
    assert response.status == 400, response.text
    assert expected in response.text


def test_json_is_parsed_only_when_read_and_once() -> None:
    seen: List[Any] = []

    def handler(request: HttpRequest, response: HttpResponse) -> None:
        if request.path[0] == "read":
            seen.append(request.json)
            seen.append(request.json)
        response.data = "ok"

    client = Client(handler)
    # A handler that never reads json is not failed by a body that is not JSON.
    assert client.post("/skip", {"Content-Type": "application/json"}, "{oops").status == 200
    assert client.post("/read", json={"k": [1]}).status == 200
    assert seen[0] == {"k": [1]} and seen[0] is seen[1]


# -- request.query.getlist -----------------------------------------------------------


def test_query_getlist_through_the_test_client() -> None:
    def handler(request: HttpRequest, response: HttpResponse) -> None:
        response.data = {
            "query": request.query,
            "t": request.query.getlist("t"),
            "none": request.query.getlist("none"),
        }

    assert Client(handler).get("/?t=1&t=2&x=%C3%A9&t=a+b").json() == {
        "query": {"t": "a b", "x": "é"},  # still the spec's dict: the last value wins
        "t": ["1", "2", "a b"],
        "none": [],
    }
    assert Client(handler).get("/").json()["t"] == []  # no query string at all


def test_a_hand_made_request_query_has_getlist_too() -> None:
    request = HttpRequest("GET", ["a"], {"q": "1"})
    assert request.query == {"q": "1"} and request.query.getlist("q") == ["1"]
    assert HttpRequest().query.getlist("q") == []


# -- HttpError -------------------------------------------------------------------------


def test_http_error_becomes_its_answer_with_headers_logged_at_debug(caplog: Any) -> None:
    def handler(request: HttpRequest, response: HttpResponse) -> None:
        response.headers["X-Lost"] = "the half-made response is dropped"
        if request.path[0] == "plain":
            raise HttpError(404)
        raise HttpError(429, "slow down", {"Retry-After": "60"})

    client = Client(handler)
    with caplog.at_level(logging.DEBUG, logger="picohttp"):
        limited = client.get("/limited")
        missing = client.get("/plain")
    assert limited.status == 429
    assert limited.headers["Retry-After"] == "60" and "X-Lost" not in limited.headers
    assert limited.text == "429 Too Many Requests: slow down\n"
    assert missing.status == 404 and missing.text == "404 Not Found\n"
    levels = {r.levelno for r in caplog.records if r.name == "picohttp"}
    assert levels == {logging.DEBUG}  # not a handler failure
    head = client.head("/limited")
    assert head.status == 429 and head.data == b"" and head.headers["Content-Length"] == "33"


def test_http_error_checks_its_arguments() -> None:
    for status in (200, 302, 600, "404", True):
        with pytest.raises(ValueError):
            HttpError(status)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        HttpError(404, b"bytes")  # type: ignore[arg-type]
    error = HttpError(409, "taken", {"X-A": "b"})
    assert (error.status, error.message, error.headers) == (409, "taken", {"X-A": "b"})
    assert str(error) == "409: taken"


def test_http_error_headers_that_would_split_the_response_are_a_500() -> None:
    def handler(request: HttpRequest, response: HttpResponse) -> None:
        raise HttpError(400, "x", {"X-Bad": "a\r\nSet-Cookie: evil=1"})

    response = Client(handler).get("/")
    assert response.status == 500 and b"evil" not in response.raw


# -- errorHandler ----------------------------------------------------------------------


def api() -> Router:
    router = Router()

    @router.route("GET", "/items/{name}")
    def get_item(request: HttpRequest, response: HttpResponse, name: str) -> None:
        if name == "boom":
            raise RuntimeError("secret detail of the failure")
        if name == "own404":
            response.status = 404  # the handler's own answer: not through errorHandler
            response.data = "my own 404"
            return
        if name == "missing":
            raise HttpError(404, f"no item {name}", {"X-Item": name})
        response.data = {"name": name}

    @router.route(["POST", "PUT"], "/items")
    def post_item(request: HttpRequest, response: HttpResponse) -> None:
        response.data = {"got": request.json, "form": dict(request.form)}

    return router


def test_every_error_answer_goes_through_the_error_handler(caplog: Any) -> None:
    client = Client(api(), errorHandler=json_error_handler)
    with caplog.at_level(logging.DEBUG, logger="picohttp"):
        answers = {
            "HttpError": client.get("/items/missing"),
            "404": client.get("/nowhere"),
            "405": client.delete("/items"),
            "500": client.get("/items/boom"),
            "json": client.post("/items", {"Content-Type": "application/json"}, "[1,"),
            "413": client.post("/items", data="&".join(f"f{i}=1" for i in range(1001)),
                               headers={"Content-Type": "application/x-www-form-urlencoded"}),
        }  # fmt: skip
    for answer in answers.values():
        assert answer.headers["Content-Type"] == "application/json", answer.raw
    assert answers["HttpError"].json() == {"error": "no item missing", "status": 404}
    assert answers["HttpError"].headers["X-Item"] == "missing"
    assert answers["404"].json() == {"error": "Not Found", "status": 404}
    assert answers["405"].status == 405 and answers["405"].headers["Allow"] == "POST, PUT"
    assert answers["405"].json() == {"error": "Method Not Allowed", "status": 405}
    assert answers["500"].json() == {"error": "the request handler failed", "status": 500}
    assert b"secret" not in answers["500"].raw
    assert answers["json"].status == 400 and "line 1 column 4" in answers["json"].json()["error"]
    assert answers["413"].status == 413 and "fields" in answers["413"].json()["error"]
    # The exception's text is in the log, with its traceback, once.
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert "secret detail" in str(failures[0].exc_info[1])


def test_a_status_the_handler_sets_itself_is_its_own_answer() -> None:
    called: List[int] = []

    def spy(request: HttpRequest, response: HttpResponse, status: int, message: str) -> None:
        called.append(status)

    client = Client(api(), errorHandler=spy)
    response = client.get("/items/own404")
    assert (response.status, response.text, called) == (404, "my own 404", [])
    assert client.get("/items/ok").json() == {"name": "ok"} and called == []


def test_the_error_handler_gets_the_request_and_an_empty_response() -> None:
    seen: List[Tuple[Any, ...]] = []

    def record(request: HttpRequest, response: HttpResponse, status: int, message: str) -> None:
        seen.append((request.method, request.uri, response.status, response.data, status))
        response.data = f"<h1>{status}</h1>"

    client = Client(api(), errorHandler=record)
    response = client.get("/nowhere?x=1")
    assert seen == [("GET", "/nowhere?x=1", 404, None, 404)]
    assert response.headers["Content-Type"].startswith("text/html")
    head = client.head("/nowhere")
    assert head.status == 404 and head.data == b""


def test_a_failing_error_handler_sends_the_plain_answer_and_is_logged(caplog: Any) -> None:
    def broken(request: HttpRequest, response: HttpResponse, status: int, message: str) -> None:
        response.data = "half"
        raise ValueError("the error handler broke")

    client = Client(api(), errorHandler=broken)
    with caplog.at_level(logging.ERROR, logger="picohttp"):
        not_allowed = client.delete("/items")
        missing = client.get("/items/missing")
    assert not_allowed.status == 405 and not_allowed.headers["Allow"] == "POST, PUT"
    assert not_allowed.text == "405 Method Not Allowed\n"
    assert missing.status == 404 and missing.text == "404 Not Found: no item missing\n"
    logged = [r for r in caplog.records if "errorHandler" in r.getMessage()]
    assert len(logged) == 2 and all(r.exc_info for r in logged)


def test_an_error_handler_must_be_callable() -> None:
    with pytest.raises(TypeError, match="errorHandler"):
        Client(api(), errorHandler="not a function")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="errorHandler"):
        picohttp.HttpServer(0, api(), start=False, errorHandler=42)  # type: ignore[arg-type]


# -- response.redirect -----------------------------------------------------------------


@pytest.mark.parametrize("status", [302, 303, 307, 308])
def test_redirect(status: int) -> None:
    def handler(request: HttpRequest, response: HttpResponse) -> None:
        response.redirect("../login?next=/a b/é", status)

    response = Client(handler).post("/app/page")
    assert response.status == status
    assert response.headers["Location"] == "../login?next=/a%20b/%C3%A9"  # relative stays so
    assert "../login" in response.text


def test_redirect_default_is_303_and_bad_arguments_are_refused() -> None:
    response = HttpResponse()
    response.redirect("https://example.com/")
    assert (response.status, response.headers["Location"]) == (303, "https://example.com/")
    for status in (200, 301, 304, 404):
        with pytest.raises(ValueError, match="302, 303, 307 or 308"):
            HttpResponse().redirect("/", status)
    for location in ("", "/a\r\nSet-Cookie: x=1", "/\x00"):
        with pytest.raises(ValueError):
            HttpResponse().redirect(location)


# -- cookies ----------------------------------------------------------------------------


def test_cookies_in_and_several_set_cookie_fields_out() -> None:
    def handler(request: HttpRequest, response: HttpResponse) -> None:
        response.setCookie("visits", str(int(request.cookies.get("visits", "0")) + 1))
        response.setCookie("theme", "dark", maxAge=60, httpOnly=False, sameSite="Strict")
        response.deleteCookie("old")
        response.data = {"cookies": request.cookies}

    response = Client(handler).get("/", cookies={"visits": "41", "old": "x"})
    assert response.json() == {"cookies": {"visits": "41", "old": "x"}}
    fields = [value for name, value in response.header_list if name == "Set-Cookie"]
    assert fields == [
        "visits=42; Path=/; HttpOnly; SameSite=Lax",  # not Secure: the request was plain HTTP
        "theme=dark; Max-Age=60; Path=/; SameSite=Strict",
        "old=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
    ]


def test_set_cookie_keeps_a_set_cookie_the_handler_wrote_itself() -> None:
    response = HttpResponse()
    response.headers["set-cookie"] = "a=1"
    response.setCookie("b", "2")
    assert response.headers["Set-Cookie"] == ["a=1", "b=2; Path=/; HttpOnly; SameSite=Lax"]


def test_a_refused_cookie_is_a_clear_error_for_the_handler() -> None:
    def handler(request: HttpRequest, response: HttpResponse) -> None:
        try:
            response.setCookie("name", "two words")
        except ValueError as exc:
            response.data = str(exc)

    text = Client(handler).get("/").text
    assert "name" in text and "encode it" in text


def test_secure_defaults_to_https_requests() -> None:
    request = HttpRequest(scheme="https")
    response = HttpResponse()
    response.request = request
    response.setCookie("a", "1")
    response.deleteCookie("b")
    assert response.headers["Set-Cookie"][0] == "a=1; Path=/; Secure; HttpOnly; SameSite=Lax"
    assert response.headers["Set-Cookie"][1].endswith("; Secure")
    response.setCookie("c", "3", secure=False)
    assert "Secure" not in response.headers["Set-Cookie"][2]


# -- basicAuth ---------------------------------------------------------------------------


def whoami(request: HttpRequest, response: HttpResponse, *args: Any) -> None:
    response.data = {"user": request.user, "args": list(args)}


def test_basic_auth_with_a_dict() -> None:
    client = Client(basicAuth(whoami, {"ann": "pw1", "bob": "pässwörd"}, realm="Home"))
    for auth in (None, ("ann", "wrong"), ("nobody", "pw1"), ("ann", "")):
        refused = client.get("/", auth=auth)
        assert refused.status == 401, auth
        assert refused.headers["WWW-Authenticate"] == 'Basic realm="Home", charset="UTF-8"'
    assert client.get("/", auth=("ann", "pw1")).json() == {"user": "ann", "args": []}
    assert client.get("/", auth=("bob", "pässwörd")).json()["user"] == "bob"  # UTF-8
    assert client.get("/", auth=("ann", "pw1:with:colons")).status == 401


@pytest.mark.parametrize(
    "authorization",
    ["Basic", "Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode(), "Bearer x", "basic"],
)
def test_malformed_credentials_are_a_401_never_a_500(authorization: str) -> None:
    client = Client(basicAuth(whoami, {"ann": "pw"}))
    assert client.get("/", {"Authorization": authorization}).status == 401


def test_basic_auth_scheme_is_case_insensitive() -> None:
    token = base64.b64encode(b"ann:pw").decode()
    client = Client(basicAuth(whoami, {"ann": "pw"}))
    assert client.get("/", {"Authorization": f"bAsIc {token}"}).json()["user"] == "ann"


def test_basic_auth_with_a_function_and_under_the_router() -> None:
    checked: List[Tuple[str, str]] = []

    def check(name: str, password: str) -> bool:
        checked.append((name, password))
        return password == name[::-1]

    router = Router()
    router.route("GET", "/private/{item}")(
        basicAuth(lambda request, response, item: whoami(request, response, item), check)
    )
    router.route("GET", "/public")(whoami)
    client = Client(router)
    assert client.get("/public").json() == {"user": None, "args": []}
    assert client.get("/private/x").status == 401
    assert client.get("/private/x", auth=("abc", "cba")).json() == {"user": "abc", "args": ["x"]}
    assert checked == [("abc", "cba")]


def test_the_401_goes_through_the_error_handler_with_its_challenge() -> None:
    client = Client(basicAuth(whoami, {"a": "b"}), errorHandler=json_error_handler)
    response = client.get("/")
    assert response.json() == {"error": "Unauthorized", "status": 401}
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="picohttp"')


def test_passwords_are_compared_in_constant_time(monkeypatch: Any) -> None:
    compared: List[Tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    client = Client(basicAuth(whoami, {"ann": "pw"}))
    assert client.get("/", auth=("ann", "pw")).status == 200
    assert client.get("/", auth=("nobody", "pw")).status == 401
    # Both went through compare_digest: an unknown name costs a comparison too.
    assert [given for given, _ in compared] == [b"pw", b"pw"]


def test_basic_auth_checks_its_arguments() -> None:
    with pytest.raises(ValueError):
        basicAuth(whoami, {"a:b": "c"})
    with pytest.raises(ValueError):
        basicAuth(whoami, {"a": 1})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        basicAuth(whoami, ["a"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="realm"):
        basicAuth(whoami, {"a": "b"}, realm='say "hi"')
    with pytest.raises(TypeError):
        basicAuth("handler", {"a": "b"})  # type: ignore[arg-type]


def test_one_warning_for_passwords_over_plain_http_from_beyond_loopback(caplog: Any) -> None:
    guarded = basicAuth(whoami, {"ann": "pw"})
    local = Client(guarded)
    remote = Client(guarded, client=("192.168.1.20", 40000))
    with caplog.at_level(logging.WARNING, logger="picohttp"):
        local.get("/", auth=("ann", "pw"))
        assert not caplog.records  # loopback: the password never left the machine
        for _ in range(3):
            assert remote.get("/", auth=("ann", "pw")).status == 200
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "plain HTTP" in warnings[0].getMessage()
    assert "192.168.1.20" in warnings[0].getMessage()


# -- the test client's own arguments -----------------------------------------------------


def test_client_json_cookies_and_auth_build_the_fields_a_real_client_sends() -> None:
    raw = Client(whoami).build(
        "POST", "/", json={"a": "é"}, cookies={"s": "1", "t": "2"}, auth=("u", "p")
    )
    head, _, body = raw.partition(b"\r\n\r\n")
    assert body == b'{"a": "\\u00e9"}'
    assert b"\r\nContent-Type: application/json\r\n" in head
    assert b"\r\nCookie: s=1; t=2\r\n" in head
    assert b"\r\nAuthorization: Basic dTpw\r\n" in head
    with pytest.raises(TypeError, match="not both"):
        Client(whoami).build("POST", "/", data="x", json={"a": 1})
    echoed = Client(show_json).put("/", json=[1, None])
    assert echoed.json() == {"json": [1, None]}
