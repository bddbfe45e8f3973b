"""``serialize``: each data type of the README's response table, and the header rules."""

from __future__ import annotations

import array
import enum
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from picohttp import HttpResponse, LocalProtocolError
from picohttp._serializer import FileBody, error_head, serialize

DATE = "Tue, 14 Nov 2023 22:13:20 GMT"


def run(
    data: Any = None,
    headers: dict[str, Any] | None = None,
    status: Any = 200,
    method: str = "GET",
    protocol: str = "HTTP/1.0",
) -> tuple[str, list[tuple[str, str]], Any, int | None]:
    """``(status line, [(name, value)], body, length)`` of one serialized response."""
    response = HttpResponse()
    response.data = data
    response.status = status
    response.protocol = protocol
    if headers:
        response.headers.update(headers)
    head, body, code, length = serialize(response, method, DATE)
    assert head.endswith(b"\r\n\r\n")
    assert head.count(b"\r\n\r\n") == 1
    lines = head[:-4].decode("latin-1").split("\r\n")
    assert code == int(lines[0].split(" ")[1])
    fields = [tuple(line.split(": ", 1)) for line in lines[1:]]
    assert all(len(field) == 2 for field in fields)
    return lines[0], fields, body, length  # type: ignore[return-value]


def field(fields: list[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in fields if key.lower() == name.lower()]
    assert len(values) <= 1, values
    return values[0] if values else None


def test_defaults() -> None:
    line, fields, body, length = run()
    assert line == "HTTP/1.0 200 OK"
    assert fields == [("Content-Length", "0"), ("Date", DATE), ("Connection", "close")]
    assert body == b""
    assert length == 0


@pytest.mark.parametrize(
    ("text", "content_type"),
    [
        ("Hello world!", "text/plain; charset=utf-8"),
        ("<!doctype html><p>hi", "text/html; charset=utf-8"),
        ("<p>hi</p>", "text/html; charset=utf-8"),
        ("  \n<html></html>", "text/html; charset=utf-8"),  # leading whitespace ignored
        ("a < b", "text/plain; charset=utf-8"),
        ("", None),
    ],
)
def test_str_content_type_rule(text: str, content_type: str | None) -> None:
    _, fields, body, length = run(text)
    assert field(fields, "Content-Type") == content_type
    assert body == text.encode()
    assert length == len(body)


def test_non_ascii_text_length_is_in_bytes() -> None:
    text = "héllo wörld ☃ 😀"  # 15 characters, 22 bytes
    _, fields, body, length = run(text)
    assert body == text.encode("utf-8")
    assert (len(text), length) == (15, 22)
    assert field(fields, "Content-Length") == "22"


def test_handler_text_type_gets_a_charset_and_a_named_charset_encodes() -> None:
    _, fields, body, _ = run("é", {"Content-Type": "text/csv"})
    assert field(fields, "Content-Type") == "text/csv; charset=utf-8"
    assert body == "é".encode()
    _, fields, body, length = run("é€", {"content-type": "text/plain; charset=cp1252"})
    assert field(fields, "Content-Type") == "text/plain; charset=cp1252"
    assert body == b"\xe9\x80"
    assert length == 2
    _, fields, body, _ = run("{}", {"Content-Type": "application/json"})
    assert field(fields, "Content-Type") == "application/json"  # not a text/* type: as set
    _, fields, _, _ = run("<svg/>", {"Content-Type": "image/svg+xml"})
    assert field(fields, "Content-Type") == "image/svg+xml; charset=utf-8"


def test_text_the_named_charset_cannot_encode_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="latin-1"):
        run("☃", {"Content-Type": "text/plain; charset=latin-1"})


@pytest.mark.parametrize("charset", ["base64", "rot13", "zlib", "no-such-codec"])
def test_charsets_that_are_no_text_encoding_send_utf8(charset: str) -> None:
    # Python knows base64, rot13 and zlib as codecs, but they map bytes to bytes
    # (or str to str); str.encode() raised LookupError, which no caller expected.
    body = run("h\u00e9", {"Content-Type": f"text/plain; charset={charset}"})[2]
    assert body == "h\u00e9".encode()


def test_idna_errors_are_local_protocol_errors() -> None:
    with pytest.raises(LocalProtocolError):
        run("a" * 100, {"Content-Type": "text/plain; charset=idna"})  # label too long


def test_str_subclasses_are_text() -> None:
    class Markup(str):
        pass

    class Colour(str, enum.Enum):
        RED = "<b>red</b>"

    _, fields, body, _ = run(Markup("<b>safe</b>"))
    assert (body, field(fields, "Content-Type")) == (b"<b>safe</b>", "text/html; charset=utf-8")
    _, _, body, _ = run(Colour.RED)
    assert body == b"<b>red</b>"


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x01binary\xff",
        bytearray(b"\x00\x01binary\xff"),
        memoryview(b"\x00\x01binary\xff"),
        memoryview(b"xx\x00\x01binary\xffyy")[2:-2],
    ],
    ids=["bytes", "bytearray", "memoryview", "memoryview-slice"],
)
def test_bytes_like_sent_as_is_without_a_content_type(data: Any) -> None:
    _, fields, body, length = run(data)
    assert body == b"\x00\x01binary\xff"
    assert length == 9
    assert field(fields, "Content-Type") is None
    assert field(fields, "Content-Length") == "9"


def test_bytes_subclass_and_multibyte_memoryview() -> None:
    class Blob(bytes):
        pass

    assert run(Blob(b"abc"))[2] == b"abc"
    numbers = array.array("i", [1, 2, 3])
    _, _, body, length = run(memoryview(numbers))
    assert body == numbers.tobytes()
    assert length == 3 * numbers.itemsize  # bytes, not items


@pytest.mark.parametrize("data", [{"a": [1, 2], "é": None}, [1, "two", {"3": True}], {}, []])
def test_dict_and_list_are_json(data: Any) -> None:
    _, fields, body, length = run(data)
    assert field(fields, "Content-Type") == "application/json"
    assert json.loads(body) == data
    assert length == len(body)


def test_json_keeps_the_handlers_content_type_and_refuses_what_json_cannot_say() -> None:
    _, fields, body, _ = run({"a": 1}, {"Content-Type": "application/vnd.api+json"})
    assert field(fields, "Content-Type") == "application/vnd.api+json"
    assert json.loads(body) == {"a": 1}
    with pytest.raises(LocalProtocolError, match="JSON"):
        run({"a": object()})
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(LocalProtocolError):
        run(looped)


def test_binary_file_is_a_file_body_from_its_position(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(b"0123456789")
    with open(path, "rb") as file:
        file.seek(3)
        _, fields, body, length = run(file)
        assert isinstance(body, FileBody)
        assert (body.file, body.offset, body.length) == (file, 3, 7)
        assert length == 7
        assert field(fields, "Content-Length") == "7"
        assert field(fields, "Content-Type") is None
        assert not file.closed


def test_in_memory_binary_file() -> None:
    stream = io.BytesIO(b"abcdef")
    stream.read(2)
    _, fields, body, length = run(stream)
    assert isinstance(body, FileBody)
    assert (body.offset, length, field(fields, "Content-Length")) == (2, 4, "4")


def test_text_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("text")
    with open(path) as file, pytest.raises(LocalProtocolError, match="'rb'"):
        run(file)
    with pytest.raises(LocalProtocolError):
        run(io.StringIO("text"))


@pytest.mark.parametrize("data", [42, 4.2, object(), ("a", "b"), {1, 2}])
def test_other_types_are_refused(data: Any) -> None:
    with pytest.raises(LocalProtocolError, match="cannot send"):
        run(data)


def test_handler_content_length_and_framing_fields_are_replaced() -> None:
    _, fields, _, _ = run(
        "four",
        {
            "Content-Length": "999",
            "connection": "keep-alive",
            "Transfer-Encoding": "chunked",
        },
    )
    assert field(fields, "Content-Length") == "4"
    assert field(fields, "Connection") == "close"
    assert field(fields, "Transfer-Encoding") is None


@pytest.mark.parametrize("status", [100, 101, 103, 199, 204, 304])
def test_no_body_and_no_content_length_for_1xx_204_304(status: int) -> None:
    _, fields, body, length = run("ignored body", {"Content-Length": "5"}, status=status)
    assert body == b""
    assert length is None
    assert field(fields, "Content-Length") is None


def test_no_body_status_closes_a_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"data")
    file = open(path, "rb")  # noqa: SIM115 - the serializer must close it
    _, _, body, _ = run(file, status=304)
    assert body == b""
    assert file.closed


def test_head_gets_the_get_headers_and_no_body(tmp_path: Path) -> None:
    _, get_fields, _, _ = run("<p>é</p>")
    _, head_fields, body, length = run("<p>é</p>", method="HEAD")
    assert head_fields == get_fields
    assert field(head_fields, "Content-Length") == "9"
    assert body == b""
    assert length == 9  # for the access log: what GET would have sent
    path = tmp_path / "f"
    path.write_bytes(b"12345")
    file = open(path, "rb")  # noqa: SIM115 - the serializer must close it
    _, fields, body, _ = run(file, method="HEAD")
    assert (body, field(fields, "Content-Length"), file.closed) == (b"", "5", True)


def test_date_added_unless_set() -> None:
    assert field(run()[1], "Date") == DATE
    _, fields, _, _ = run(headers={"date": "Mon, 01 Jan 2024 00:00:00 GMT"})
    assert field(fields, "Date") == "Mon, 01 Jan 2024 00:00:00 GMT"


def test_handler_headers_kept_in_order_with_their_spelling() -> None:
    _, fields, _, _ = run(headers={"X-One": "1", "x-two": 2, "X-Bytes": b"caf\xe9"})
    assert fields[:3] == [("X-One", "1"), ("x-two", "2"), ("X-Bytes", "café")]


def test_list_values_give_one_line_each() -> None:
    _, fields, _, _ = run(headers={"Set-Cookie": ["a=1", "b=2"], "Vary": ("Accept", "Origin")})
    assert [f for f in fields if f[0] in ("Set-Cookie", "Vary")] == [
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("Vary", "Accept"),
        ("Vary", "Origin"),
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Bad", "a\r\nSet-Cookie: evil=1"),
        ("X-Bad", "a\nb"),
        ("X-Bad", "a\rb"),
        ("X-Bad", "a\x00b"),
        ("X-Bad", "a\x7fb"),
        ("X-Bad", b"a\r\nb"),
        ("X-Bad", ["fine", "a\r\nb"]),
        ("Content-Type", "text/html\r\nX: y"),
        ("Date", "today\r\n"),
        ("X-Bad\r\nInjected", "v"),
        ("X-Bad\n", "v"),
        ("X\x00", "v"),
        ("X Bad", "v"),
        ("X:Bad", "v"),
        ("", "v"),
        ("Ünicode", "v"),
    ],
)
def test_cr_lf_nul_in_names_or_values_raise(name: str, value: Any) -> None:
    with pytest.raises(LocalProtocolError):
        run(headers={name: value})


def test_tab_and_non_ascii_values_are_allowed() -> None:
    _, fields, _, _ = run(headers={"X-Tab": "a\tb", "X-Latin": "café"})
    assert ("X-Tab", "a\tb") in fields
    assert ("X-Latin", "café") in fields


def test_non_latin1_header_values_leave_as_utf8() -> None:
    response = HttpResponse()
    response.headers["X-Snow"] = "☃"
    head, _, _, _ = serialize(response, "GET", DATE)
    assert "X-Snow: ☃\r\n".encode() in head


@pytest.mark.parametrize(
    ("status", "line"),
    [
        (200, "HTTP/1.0 200 OK"),
        (201, "HTTP/1.0 201 Created"),
        (404, "HTTP/1.0 404 Not Found"),
        (418, "HTTP/1.0 418 I'm a Teapot"),
        (299, "HTTP/1.0 299 "),  # unknown: empty reason, the space stays (RFC 9112 4)
        (999, "HTTP/1.0 999 "),
        (100, "HTTP/1.0 100 Continue"),
    ],
)
def test_status_line(status: int, line: str) -> None:
    assert run(status=status)[0] == line


def test_int_like_statuses() -> None:
    import http

    assert run(status=http.HTTPStatus.CREATED)[0] == "HTTP/1.0 201 Created"


@pytest.mark.parametrize("status", ["200", 200.0, None, True, 99, 1000, -1, 0])
def test_invalid_status_is_refused(status: Any) -> None:
    with pytest.raises(LocalProtocolError):
        run(status=status)


def test_protocol_as_the_handler_set_it() -> None:
    assert run(protocol="HTTP/1.1")[0] == "HTTP/1.1 200 OK"
    for bad in ("HTTP/1.0\r\nX: y", "", "HTTP 1.0", None):
        with pytest.raises(LocalProtocolError):
            run(protocol=bad)


def test_error_head_is_a_complete_plain_response() -> None:
    raw = error_head(413, "body too big", DATE)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 413 Content Too Large\r\n")
    assert b"Content-Length: %d" % len(body) in head
    assert body == b"413 Content Too Large: body too big\n"


def test_file_descriptor_is_not_leaked_by_refused_responses(tmp_path: Path) -> None:
    """The serializer only closes bodies it will not send; a refused head leaves the file open."""
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with open(path, "rb") as file:
        with pytest.raises(LocalProtocolError):
            run(file, headers={"X": "a\nb"})
        assert os.fstat(file.fileno()).st_size == 1


def test_remembered_header_lines_never_let_a_bad_value_through() -> None:
    # Checked lines are remembered per (name, value): a value seen good stays good,
    # a new one is checked, and a bad one is refused however often it comes.
    for _ in range(3):
        response = HttpResponse(headers={"X-Tag": "ok", "Content-Type": "text/css"}, data=b"x")
        head = serialize(response, "GET", DATE)[0]
        assert b"\r\nX-Tag: ok\r\n" in head and b"\r\nContent-Type: text/css\r\n" in head
    for name in ("X-Tag", "Content-Type"):
        for _ in range(2):
            bad = HttpResponse(headers={name: "ok\r\nSet-Cookie: x=1"}, data=b"x")
            with pytest.raises(LocalProtocolError, match="control character"):
                serialize(bad, "GET", DATE)
