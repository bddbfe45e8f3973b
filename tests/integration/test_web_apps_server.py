"""Issue 16 over real sockets: requests, curl and http.client against a running server.

A small JSON API (Router, request.json, HttpError, errorHandler), redirects,
cookies, basicAuth (plain, behind a trusted proxy, over TLS with a trustme
certificate) and the ``--auth`` options of the command line.  The same
features through the test client: tests/unit/test_web_apps_client.py.
"""

from __future__ import annotations

import http.client
import json
import logging
import shutil
import ssl
import subprocess
import textwrap
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

import picohttp
from picohttp import HttpError, HttpRequest, HttpResponse, Router, basicAuth
from support import (
    PYTHON,
    child_server,
    exchange,
    free_port,
    parse_response,
    python_env,
    serving,
)

requests = pytest.importorskip("requests")
CURL = shutil.which("curl")


def json_errors(request: HttpRequest, response: HttpResponse, status: int, message: str) -> None:
    response.data = {"error": message, "status": status}


def make_api() -> Router:
    items: Dict[str, Any] = {}
    router = Router()

    @router.route("GET", "/items")
    def list_items(request: HttpRequest, response: HttpResponse) -> None:
        wanted = request.query.getlist("name")
        response.data = {k: v for k, v in items.items() if not wanted or k in wanted}

    @router.route("PUT", "/items/{name}")
    def put_item(request: HttpRequest, response: HttpResponse, name: str) -> None:
        if request.json is None:
            raise HttpError(415, "send JSON")
        items[name] = request.json
        response.status = 201
        response.data = {name: items[name]}

    @router.route("GET", "/items/{name}")
    def get_item(request: HttpRequest, response: HttpResponse, name: str) -> None:
        if name not in items:
            raise HttpError(404, f"no item {name}")
        response.data = items[name]

    @router.route("GET", "/boom")
    def boom(request: HttpRequest, response: HttpResponse) -> None:
        raise RuntimeError("password=hunter2")

    @router.route("POST", "/form")
    def form(request: HttpRequest, response: HttpResponse) -> None:
        response.data = dict(request.form)

    @router.route("POST", "/login")
    def login(request: HttpRequest, response: HttpResponse) -> None:
        response.setCookie("session", request.form.get("user", "anon"))
        response.setCookie("seen", "1", maxAge=3600)
        response.redirect("whoami")  # relative: /whoami, after a 303 as a GET

    @router.route("GET", "/whoami")
    def whoami(request: HttpRequest, response: HttpResponse) -> None:
        response.data = {"cookies": request.cookies, "user": request.user}

    @router.route("POST", "/logout")
    def logout(request: HttpRequest, response: HttpResponse) -> None:
        response.deleteCookie("session")
        response.redirect("/whoami", 302)

    return router


@pytest.fixture
def api(threads: bool) -> Iterator[str]:
    with serving(make_api(), threads=threads, errorHandler=json_errors) as server:
        yield f"http://127.0.0.1:{server.port}"


def test_a_json_api_with_requests(api: str) -> None:
    put = requests.put(f"{api}/items/lamp", json={"on": True, "level": 0.5})
    assert (put.status_code, put.json()) == (201, {"lamp": {"on": True, "level": 0.5}})
    requests.put(f"{api}/items/fan", json={"on": False})
    requests.put(f"{api}/items/tv", json=[])
    assert requests.get(f"{api}/items/lamp").json() == {"on": True, "level": 0.5}
    both = requests.get(f"{api}/items", params=[("name", "lamp"), ("name", "fan")])
    assert both.json() == {"lamp": {"on": True, "level": 0.5}, "fan": {"on": False}}


def test_every_error_of_the_api_is_json(api: str, caplog: Any) -> None:
    def error(response: Any) -> Any:
        assert response.headers["Content-Type"] == "application/json", response.text
        return response.status_code, response.json()

    with caplog.at_level(logging.ERROR, logger="picohttp"):
        assert error(requests.get(f"{api}/items/nope")) == (
            404,
            {"error": "no item nope", "status": 404},
        )
        assert error(requests.get(f"{api}/nowhere"))[0] == 404
        not_allowed = requests.delete(f"{api}/items/lamp")
        assert error(not_allowed) == (405, {"error": "Method Not Allowed", "status": 405})
        assert not_allowed.headers["Allow"] == "GET, HEAD, PUT"
        bad = requests.put(
            f"{api}/items/x", data=b'{"on": tru}', headers={"Content-Type": "application/json"}
        )
        assert error(bad)[0] == 400 and "line 1 column 8" in bad.json()["error"]
        assert error(requests.put(f"{api}/items/x", data="text"))[0] == 415
        failed = requests.get(f"{api}/boom")
        assert error(failed) == (500, {"error": "the request handler failed", "status": 500})
        assert "hunter2" not in failed.text
        fields = "&".join(f"f{i}=v" for i in range(1001))  # over the form's field limit
        too_many = requests.post(
            f"{api}/form",
            data=fields,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert error(too_many)[0] == 413
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(failures) == 1 and failures[0].getMessage().endswith("raised on GET /boom")
    assert failures[0].exc_info and "hunter2" in str(failures[0].exc_info[1])  # the log has it


def test_protocol_errors_before_a_request_keep_their_plain_answers(api: str) -> None:
    port = int(api.rsplit(":", 1)[1])
    status, headers, body = parse_response(exchange(port, b"GET /items HTTP/1.1\r\n\r\n"))
    assert status == 400 and headers["content-type"].startswith("text/plain")  # no Host
    assert b"Host" in body


def test_cookies_and_redirects_with_a_requests_session(api: str) -> None:
    session = requests.Session()
    landed = session.post(f"{api}/login", data={"user": "ann"})
    assert [r.status_code for r in landed.history] == [303]
    assert landed.history[0].headers["Location"] == "whoami"  # relative stays relative
    assert landed.request.method == "GET"  # 303: the browser follows with a GET
    assert landed.json() == {"cookies": {"session": "ann", "seen": "1"}, "user": None}
    gone = session.post(f"{api}/logout")
    assert gone.json()["cookies"] == {"seen": "1"}


def test_several_set_cookie_fields_reach_http_client(api: str) -> None:
    port = int(api.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(
        "POST", "/login", "user=bob", {"Content-Type": "application/x-www-form-urlencoded"}
    )
    response = connection.getresponse()
    cookies = [value for name, value in response.getheaders() if name == "Set-Cookie"]
    connection.close()
    assert response.status == 303 and response.getheader("Location") == "whoami"
    assert cookies == [
        "session=bob; Path=/; HttpOnly; SameSite=Lax",
        "seen=1; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax",
    ]


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_curl_sends_cookies_and_sees_the_redirect(api: str) -> None:
    assert CURL is not None
    out = subprocess.run(
        [CURL, "-s", "-i", "-b", "session=zoe; theme=dark", f"{api}/whoami"],
        capture_output=True,
        timeout=30,
        check=True,
    ).stdout
    assert b'{"cookies": {"session": "zoe", "theme": "dark"}, "user": null}' in out
    moved = subprocess.run(
        [CURL, "-s", "-i", "-X", "POST", f"{api}/logout"], capture_output=True, timeout=30
    ).stdout
    assert moved.startswith(b"HTTP/1.0 302 ") and b"\r\nLocation: /whoami\r\n" in moved


# -- basicAuth --------------------------------------------------------------------------


def secret(request: HttpRequest, response: HttpResponse) -> None:
    response.data = {"user": request.user, "scheme": request.scheme}


def test_basic_auth_with_requests_and_curl(threads: bool, caplog: Any) -> None:
    guarded = basicAuth(secret, {"ann": "s3cret", "bøb": "pässwörd"}, realm="Lamp")
    with (
        caplog.at_level(logging.WARNING, logger="picohttp"),
        serving(guarded, threads=threads) as server,
    ):
        url = f"http://127.0.0.1:{server.port}/"
        refused = requests.get(url)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == 'Basic realm="Lamp", charset="UTF-8"'
        assert requests.get(url, auth=("ann", "wrong")).status_code == 401
        assert requests.get(url, auth=("ann", "s3cret")).json() == {
            "user": "ann",
            "scheme": "http",
        }
        if CURL is not None:
            out = subprocess.run(
                [CURL, "-s", "-u", "bøb:pässwörd", url], capture_output=True, timeout=30
            ).stdout
            assert json.loads(out)["user"] == "bøb"
    assert not caplog.records  # 127.0.0.1: no password crossed a network


def test_one_warning_when_passwords_come_over_plain_http_from_another_machine(
    caplog: Any,
) -> None:
    guarded = basicAuth(secret, {"ann": "pw"})
    # Behind a trusted proxy, request.client and request.scheme are the proxy's report.
    with (
        caplog.at_level(logging.WARNING, logger="picohttp"),
        serving(guarded, trustProxy=True) as server,
    ):
        url = f"http://127.0.0.1:{server.port}/"
        over_https = {"X-Forwarded-For": "192.0.2.7", "X-Forwarded-Proto": "https"}
        assert requests.get(url, auth=("ann", "pw"), headers=over_https).status_code == 200
        assert not caplog.records
        for _ in range(3):
            plain = {"X-Forwarded-For": "192.0.2.8", "X-Forwarded-Proto": "http"}
            assert requests.get(url, auth=("ann", "pw"), headers=plain).status_code == 200
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "192.0.2.8" in warnings[0]


def test_a_server_guarded_beyond_loopback_without_tls_warns_at_startup(caplog: Any) -> None:
    def started(handler: Any, host: str, **keywords: Any) -> List[str]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="picohttp"):
            picohttp.HttpServer(0, handler, host=host, start=False, **keywords).stop()
        return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    guard = basicAuth(secret, {"ann": "pw"})
    assert started(guard, "127.0.0.1") == []
    warned = started(guard, "0.0.0.0")
    assert len(warned) == 1 and "plain HTTP on 0.0.0.0" in warned[0]
    assert started(guard, "0.0.0.0") == []  # once per guard
    # Found through the wrappers around it (cors, withHeaders, errorHandler's own).
    wrapped = picohttp.cors(picohttp.withHeaders(basicAuth(secret, {"a": "b"}), {"X-A": "b"}))
    assert len(started(wrapped, "0.0.0.0", errorHandler=json_errors)) == 1
    assert started(secret, "0.0.0.0") == []  # no password asked: nothing to warn about


def test_a_trusted_proxys_https_makes_cookies_secure() -> None:
    def handler(request: HttpRequest, response: HttpResponse) -> None:
        response.setCookie("sid", "1")

    with serving(handler, trustProxy=True) as server:
        url = f"http://127.0.0.1:{server.port}/"
        proxied = requests.get(url, headers={"X-Forwarded-Proto": "https"})
        direct = requests.get(url)
    assert proxied.headers["Set-Cookie"] == "sid=1; Path=/; Secure; HttpOnly; SameSite=Lax"
    assert direct.headers["Set-Cookie"] == "sid=1; Path=/; HttpOnly; SameSite=Lax"


def test_basic_auth_and_secure_cookies_over_tls(tmp_path: Path, caplog: Any) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    def handler(request: HttpRequest, response: HttpResponse) -> None:
        response.setCookie("sid", "abc")
        secret(request, response)

    router = Router()
    router.route("GET", "/private")(basicAuth(handler, {"ann": "pw"}))
    # host 0.0.0.0: listening beyond loopback, yet TLS keeps the password safe: no warning.
    with (
        caplog.at_level(logging.WARNING, logger="picohttp"),
        serving(router, tls=context, host="0.0.0.0", errorHandler=json_errors) as server,
    ):
        url = f"https://127.0.0.1:{server.port}/private"
        refused = requests.get(url, verify=str(ca_file))
        assert refused.status_code == 401 and refused.json()["error"] == "Unauthorized"
        assert "Basic" in refused.headers["WWW-Authenticate"]
        answer = requests.get(url, auth=("ann", "pw"), verify=str(ca_file))
    assert answer.json() == {"user": "ann", "scheme": "https"}
    assert answer.headers["Set-Cookie"] == "sid=abc; Path=/; Secure; HttpOnly; SameSite=Lax"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_failing_error_handler_still_answers_and_the_server_serves_on(threads: bool) -> None:
    def broken(request: HttpRequest, response: HttpResponse, status: int, message: str) -> None:
        raise KeyError("oops")

    with serving(make_api(), threads=threads, errorHandler=broken) as server:
        port = server.port
        status, headers, body = parse_response(exchange(port, b"DELETE /items HTTP/1.0\r\n\r\n"))
        assert (status, headers["allow"], body) == (405, "GET, HEAD", b"405 Method Not Allowed\n")
        ok = requests.get(f"http://127.0.0.1:{port}/items")
        assert ok.status_code == 200 and ok.json() == {}


# -- the command line ---------------------------------------------------------------------


APP = """
def handler(request, response):
    response.data = {"user": request.user}
"""


def run_cli(tmp_path: Path, args: List[str], port: int) -> Iterator[str]:
    (tmp_path / "authapp.py").write_text(textwrap.dedent(APP))
    argv = [PYTHON, "-m", "picohttp", "authapp:handler", "-p", str(port), *args]
    with child_server(argv, port, tmp_path):
        yield f"http://127.0.0.1:{port}/"


def test_cli_auth_and_auth_file(tmp_path: Path) -> None:
    users = tmp_path / "users.txt"
    users.write_text("# household\nann:pw:with:colons\n\nbob:b0b\n")
    port = free_port()
    args = ["--auth", "eve:3ve", "--auth-file", str(users)]  # 127.0.0.1, the default
    for url in run_cli(tmp_path, args, port):
        assert requests.get(url).status_code == 401
        assert requests.get(url, auth=("ann", "pw:with:colons")).json() == {"user": "ann"}
        assert requests.get(url, auth=("bob", "b0b")).json() == {"user": "bob"}
        assert requests.get(url, auth=("eve", "3ve")).json() == {"user": "eve"}
        assert requests.get(url, auth=("eve", "bad")).status_code == 401
    assert "basicAuth" not in (tmp_path / "server.err").read_text()  # loopback only: no warning


def test_cli_warns_once_for_auth_on_every_interface_without_tls(tmp_path: Path) -> None:
    port = free_port()
    # The command line answers this machine only unless told: --bind 0.0.0.0 serves the LAN.
    for url in run_cli(tmp_path, ["--bind", "0.0.0.0", "--auth", "ann:pw"], port):
        assert requests.get(url, auth=("ann", "pw")).json() == {"user": "ann"}
    err = (tmp_path / "server.err").read_text()
    assert err.count("basicAuth over plain HTTP") == 1, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--auth", "nocolon"], "expected USER:PASSWORD"),
        (["--auth-file", "missing.txt"], "--auth-file"),
        (["--auth-file", "bad.txt"], "line 2: expected name:password"),
    ],
)
def test_cli_auth_mistakes_are_one_clear_line(
    tmp_path: Path, args: List[str], message: str
) -> None:
    (tmp_path / "bad.txt").write_text("ann:pw\njust-a-name\n")
    done = subprocess.run(
        [PYTHON, "-m", "picohttp", "-p", "0", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        env=python_env(),
    )
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
