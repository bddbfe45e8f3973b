"""picohttp.testing.Client: the handler runs in process, through the server's own code."""

from __future__ import annotations

import io
import logging
import socket

import pytest

import picohttp
from picohttp.testing import Client, TestResponse
from support import echo, hello


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch):
    """Prove the client never opens a socket: any attempt fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the test client opened a socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_get_runs_the_handler_and_parses_the_wire_format():
    response = Client(hello).get("/hello")
    assert isinstance(response, TestResponse)
    assert response.status == 200
    assert response.reason == "OK"
    assert response.protocol == "HTTP/1.0"
    assert response.data == b"Hello world!"
    assert response.text == "Hello world!"
    assert response.headers["content-length"] == "12"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Connection"] == "close"
    assert "Date" in response.headers
    assert response.raw.startswith(b"HTTP/1.0 200 OK\r\n")
    assert response.raw.endswith(b"\r\n\r\nHello world!")


def test_status_from_the_handler():
    response = Client(hello).get("/other")
    assert response.status == 404
    assert response.reason == "Not Found"
    assert response.text == "I don't know what to say"


def test_request_fields_as_the_parser_makes_them():
    seen = Client(echo).get("/a%2Fb/c?x=1+2&y=%C3%A9&z", headers={"X-Thing": "v"}).json()
    assert seen["method"] == "GET"
    assert seen["path"] == ["a/b", "c"]
    assert seen["query"] == {"x": "1 2", "y": "é", "z": ""}
    assert seen["protocol"] == "HTTP/1.1"
    assert seen["headers"] == {"Host": "localhost", "X-Thing": "v"}
    assert seen["data"] is None
    assert seen["uri"] == "/a%2Fb/c?x=1+2&y=%C3%A9&z"


def test_target_characters_a_browser_escapes_are_escaped():
    seen = Client(echo).get("/café au lait?q=a b").json()
    assert seen["uri"] == "/caf%C3%A9%20au%20lait?q=a%20b"
    assert seen["path"] == ["café au lait"]
    assert seen["query"] == {"q": "a b"}


@pytest.mark.parametrize(
    ("data", "expected_data", "expected_type"),
    [
        ("grüße", "grüße", None),
        (b"\x00\x01raw", "\x00\x01raw", None),
        ({"a": [1, 2]}, '{"a": [1, 2]}', "application/json"),
        ([1, "x"], '[1, "x"]', "application/json"),
    ],
)
def test_body_kinds(data, expected_data, expected_type):
    seen = Client(echo).put("/item", data=data).json()
    assert seen["data"] == expected_data
    assert seen["headers"]["Content-Length"] == str(len(expected_data.encode()))
    assert seen["headers"].get("Content-Type") == expected_type


def test_post_patch_delete_options_send_their_method():
    client = Client(echo)
    assert client.post("/", data="x").json()["method"] == "POST"
    assert client.patch("/", data="x").json()["method"] == "PATCH"
    assert client.delete("/").json()["method"] == "DELETE"
    assert client.options("/").json()["method"] == "OPTIONS"
    assert client.request("PROPFIND", "/").json()["method"] == "PROPFIND"


def test_headers_as_pairs_keep_repeats():
    seen = Client(echo).get("/", headers=[("X-A", "1"), ("x-a", "2")]).json()
    assert seen["headers"]["X-A"] == "1, 2"


def test_head_gets_the_get_headers_and_no_body():
    client = Client(hello)
    get, head = client.get("/hello"), client.head("/hello")
    assert head.status == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"] == "12"


def test_extra_handler_arguments_are_passed_like_httpserver_args():
    def handler(request, response, greeting, store):
        store.append(request.path[0])
        response.data = f"{greeting}, {request.path[0]}"

    store: list = []
    client = Client(handler, "Hi", store)
    assert client.get("/bob").text == "Hi, bob"
    assert store == ["bob"]


def test_handler_exception_is_the_servers_500_and_is_logged(caplog):
    def broken(request, response):
        response.data = "never sent"
        raise RuntimeError("kaput")

    with caplog.at_level(logging.ERROR, logger="picohttp"):
        response = Client(broken).get("/x")
    assert response.status == 500
    assert b"kaput" not in response.data and b"never sent" not in response.data
    assert response.text.startswith("500 Internal Server Error")
    errors = [r for r in caplog.records if r.name == "picohttp" and r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None and "kaput" in str(errors[0].exc_info[1])


def test_unsendable_header_is_a_500():
    def splitting(request, response):
        response.headers["X-Bad"] = "a\r\nSet-Cookie: evil=1"

    response = Client(splitting).get("/")
    assert response.status == 500
    assert "Set-Cookie" not in response.headers


def test_file_body_is_read_from_its_position(tmp_path):
    path = tmp_path / "page.bin"
    path.write_bytes(b"0123456789")
    opened = []

    def handler(request, response):
        file = open(path, "rb")  # noqa: SIM115 - the server closes it
        file.seek(3)
        opened.append(file)
        response.data = file

    response = Client(handler).get("/")
    assert response.data == b"3456789"
    assert response.headers["Content-Length"] == "7"
    assert opened[0].closed


def test_in_memory_file_body():
    def handler(request, response):
        response.data = io.BytesIO(b"from memory")

    assert Client(handler).get("/").data == b"from memory"


def test_streamed_body_is_collected_and_the_generator_closed():
    closed = []

    def handler(request, response):
        def pieces():
            try:
                yield "one,"
                yield b"two"
            finally:
                closed.append(True)

        response.data = pieces()

    response = Client(handler).get("/")
    assert response.data == b"one,two"
    assert "Content-Length" not in response.headers
    assert closed == [True]


def test_a_stream_that_fails_midway_is_cut_off_and_logged(caplog):
    def handler(request, response):
        def pieces():
            yield "start"
            raise ValueError("midway")

        response.data = pieces()

    with caplog.at_level(logging.ERROR, logger="picohttp"):
        response = Client(handler).get("/")
    assert response.status == 200  # the head was already sent
    assert response.data == b"start"
    assert any("midway" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_json_helper_and_default_content_type():
    def handler(request, response):
        response.data = {"name": "ünï", "n": [1, 2]}

    response = Client(handler).get("/")
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"name": "ünï", "n": [1, 2]}


def test_text_uses_the_response_charset():
    def handler(request, response):
        response.headers["Content-Type"] = "text/plain; charset=latin-1"
        response.data = "café"

    response = Client(handler).get("/")
    assert response.data == "café".encode("latin-1")
    assert response.text == "café"


def test_repeated_response_headers():
    def handler(request, response):
        response.headers["Set-Cookie"] = ["a=1", "b=2"]

    response = Client(handler).get("/")
    assert response.headers["set-cookie"] == "a=1, b=2"
    assert [v for n, v in response.header_list if n == "Set-Cookie"] == ["a=1", "b=2"]


def test_no_body_statuses():
    def handler(request, response):
        response.status = 204
        response.data = "ignored"

    response = Client(handler).get("/")
    assert response.status == 204
    assert response.data == b""
    assert "Content-Length" not in response.headers


# -- protocol errors come back as the 4xx a socket client would read ------------


def never_called(request, response):
    raise AssertionError("the handler must not see a refused request")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Bad Name": "x"}, 400),
        ({"Content-Length": "+5"}, 400),
        ({"Content-Length": "5", "Transfer-Encoding": "chunked"}, 400),
        ({"Transfer-Encoding": "gzip"}, 501),
        ({f"X-{i}": "v" for i in range(101)}, 431),
    ],
)
def test_refused_request_is_the_parsers_status(headers, status):
    response = Client(never_called).request("POST", "/", headers=headers, data="hello")
    assert response.status == status
    assert response.text.startswith(f"{status} ")


def test_body_over_maxbody_is_413():
    client = Client(never_called, maxBody=10)
    assert client.post("/", data="x" * 11).status == 413
    assert Client(echo, maxBody=10).post("/", data="x" * 10).json()["data"] == "x" * 10


def test_long_target_is_414():
    assert Client(never_called, maxRequestLine=100).get("/" + "a" * 200).status == 414


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET /\r\n\r\n", 400),
        (b"GET / HTTP/1.0\r\nX: a\rb\r\n\r\n", 400),
        (b"POST / HTTP/1.0\r\nContent-Length: 10\r\n\r\nshort", 400),
    ],
)
def test_raw_bytes_are_parsed_as_sent(raw, status):
    assert Client(never_called).send(raw).status == status


def test_chunked_body_through_send():
    raw = (
        b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    assert Client(echo).send(raw).json()["data"] == "hello world"


def test_large_body_is_spooled_and_closed_afterwards():
    kept = []

    def handler(request, response):
        kept.append(request._body)
        response.data = str(len(request.body))

    response = Client(handler).put("/", data=b"x" * (2 * 1024 * 1024))
    assert response.text == str(2 * 1024 * 1024)
    assert not isinstance(kept[0], bytes) and kept[0].closed


def test_build_gives_the_bytes_sent():
    raw = Client(echo).build("PUT", "/a b", headers={"X-Y": "1"}, data={"k": 1})
    assert raw == (
        b"PUT /a%20b HTTP/1.1\r\nHost: localhost\r\nX-Y: 1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 8\r\n\r\n"
        b'{"k": 1}'
    )


def test_client_address_is_configurable():
    def handler(request, response):
        response.data = list(request.client)

    assert Client(handler).get("/").json() == ["127.0.0.1", 50000]
    assert Client(handler, client=("::1", 1234)).get("/").json() == ["::1", 1234]


def test_bad_arguments():
    with pytest.raises(TypeError):
        Client("not callable")
    with pytest.raises(TypeError, match="maxbody"):
        Client(echo, maxbody=1)
    with pytest.raises(TypeError):
        Client(echo).post("/", data=object())


def test_staticresource_through_the_client(tmp_path):
    (tmp_path / "index.html").write_text("<h1>home</h1>")
    client = Client(picohttp.staticResource, str(tmp_path))
    response = client.get("/")
    assert response.status == 200
    assert response.text == "<h1>home</h1>"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert client.get("/missing").status == 404
    assert client.get("/../etc/passwd").status == 404


def test_bytes_after_the_request_are_ignored():
    raw = b"GET /hello HTTP/1.0\r\n\r\n" + b"x" * 200_000
    assert Client(hello).send(raw).text == "Hello world!"
