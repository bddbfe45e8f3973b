"""The form parser (``_forms``): urlencoded and multipart bodies, without sockets.

Multipart bodies are parsed from bytes (in memory) and from files (spooled),
and from readers that hand out a few bytes at a time, so every way a delimiter
can straddle two reads is exercised; the result must never depend on it.
"""

from __future__ import annotations

import io
import random
from typing import Any, List, Optional, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import picohttp
from picohttp import _forms
from picohttp._forms import UploadedFile, parse_form, parse_options
from picohttp._message import _UNSET
from picohttp.testing import Client
from support import parse_request

BOUNDARY = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
CT = f"multipart/form-data; boundary={BOUNDARY}"


def part(name: str, content: bytes, filename: Optional[str] = None, extra: str = "") -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"Content-Disposition: {disposition}\r\n{extra}"
    return head.encode("utf-8") + b"\r\n" + content


def multipart(
    *parts: bytes, boundary: str = BOUNDARY, preamble: bytes = b"", epilogue=b""
) -> bytes:
    delimiter = b"--" + boundary.encode()
    body = preamble + (b"\r\n" if preamble else b"")
    for piece in parts:
        body += delimiter + b"\r\n" + piece + b"\r\n"
    return body + delimiter + b"--\r\n" + epilogue


class Trickle(io.RawIOBase):
    """A binary file whose read() hands out at most ``sizes`` bytes at a time (cycled)."""

    def __init__(self, data: bytes, sizes: List[int]) -> None:
        self._data = data
        self._at = 0
        self._sizes = sizes
        self._turn = 0

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self._at = offset
        return offset

    def read(self, size: int = -1) -> bytes:
        step = self._sizes[self._turn % len(self._sizes)]
        self._turn += 1
        piece = self._data[self._at : self._at + min(step, size if size >= 0 else step)]
        self._at += len(piece)
        return piece


_results: List[Any] = []


@pytest.fixture(autouse=True)
def _close_uploads():
    """Close every upload a test parsed (spooled ones are temporary files)."""
    yield
    while _results:
        for upload in _results.pop().every():
            upload.close()


def parsed(
    body: bytes, content_type: str = CT, sizes: Optional[List[int]] = None
) -> Tuple[Any, Any]:
    source: Any = body if sizes is None else Trickle(body, sizes)
    form, files = parse_form(content_type, source)
    _results.append(files)
    return form, files


def summary(result: Tuple[Any, Any]) -> Tuple[Any, ...]:
    form, files = result
    return (
        dict(form),
        {name: form.getlist(name) for name in form},
        {
            name: [(f.filename, f.contentType, f.size, f.file.read()) for f in files.getlist(name)]
            for name in files
        },
    )


def status_of(body: bytes, content_type: str = CT) -> int:
    with pytest.raises(picohttp.RemoteProtocolError) as caught:
        parsed(body, content_type)
    return caught.value.status


# -- urlencoded ---------------------------------------------------------------------


def test_urlencoded_like_the_query_string():
    form, files = parse_form(
        "application/x-www-form-urlencoded", b"a=1&b=h%C3%A9+x&c&d=&a=3&&e=%ZZ"
    )
    assert form == {"a": "3", "b": "hé x", "c": "", "d": "", "e": "%ZZ"}
    assert form.getlist("a") == ["1", "3"] and form.getlist("nope") == []
    assert files == {}


def test_urlencoded_charset_parameter_and_case_are_accepted():
    form, _ = parse_form("Application/X-WWW-Form-URLEncoded; charset=UTF-8", b"k=%E2%82%AC")
    assert form == {"k": "€"}


def test_files_alone_leave_an_urlencoded_body_unread():
    form, files = parse_form("application/x-www-form-urlencoded", b"&".join([b"a"] * 2000), False)
    assert form is None and files == {}  # 2,000 fields: reading them would be a 413
    request = parse_request(
        b"POST / HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 7\r\n\r\nx=1&y=2"
    )
    assert request.files == {} and getattr(request, "_form", None) is None
    assert request.form == {"x": "1", "y": "2"}


def test_urlencoded_from_a_spooled_file():
    spool = io.BytesIO(b"x=1&y=2")
    spool.read()  # the server hands over a file at any position: parsing starts at 0
    assert parse_form("application/x-www-form-urlencoded", spool)[0] == {"x": "1", "y": "2"}


def test_urlencoded_field_count_is_bounded():
    body = "&".join(f"f{i}=" for i in range(_forms.MAX_FIELDS)).encode()
    assert len(parse_form("application/x-www-form-urlencoded", body)[0]) == _forms.MAX_FIELDS
    with pytest.raises(picohttp.RemoteProtocolError) as caught:
        parse_form("application/x-www-form-urlencoded", body + b"&one=more")
    assert caught.value.status == 413 and "1000 fields" in caught.value.reason


@pytest.mark.parametrize(
    "content_type", [None, "", "text/plain", "application/json", "multipartform-data"]
)
def test_other_bodies_have_no_form(content_type):
    assert parse_form(content_type, b"a=1") == ({}, {})


def test_no_body_no_form():
    assert parse_form(CT, None) == ({}, {})


# -- multipart: what browsers, curl and requests send ---------------------------------


def test_fields_and_files():
    body = multipart(
        part("title", "Grüße".encode()),
        part("file", b"\x00\x01binary\r\n--not-the-boundary\r\n", "a.bin", "Content-Type: x/y\r\n"),
        part("empty", b""),
    )
    form, files = parsed(body)
    assert form == {"title": "Grüße", "empty": ""}
    upload = files["file"]
    assert isinstance(upload, UploadedFile)
    assert (upload.name, upload.filename, upload.contentType, upload.size) == (
        "file",
        "a.bin",
        "x/y",
        30,
    )
    assert upload.file.read() == b"\x00\x01binary\r\n--not-the-boundary\r\n"
    assert upload.headers["content-type"] == "x/y"
    assert "a.bin" in repr(upload)


def test_file_without_content_type_is_octet_stream_and_empty_file_is_kept():
    files = parsed(multipart(part("f", b"abc", "x.txt"), part("g", b"", "")))[1]
    assert files["f"].contentType == "application/octet-stream"
    assert (files["g"].filename, files["g"].size) == ("", 0)  # an empty <input type=file>


def test_repeated_names_last_wins_getlist_has_all():
    body = multipart(
        part("tag", b"a"), part("tag", b"b"), part("doc", b"1", "1.txt"), part("doc", b"2", "2.txt")
    )
    form, files = parsed(body)
    assert form == {"tag": "b"} and form.getlist("tag") == ["a", "b"]
    assert files["doc"].filename == "2.txt"
    assert [f.file.read() for f in files.getlist("doc")] == [b"1", b"2"]


def test_preamble_epilogue_and_transport_padding():
    body = (
        b"This is the preamble.\r\n--" + BOUNDARY.encode() + b" \t\r\n"
        + part("a", b"1")
        + b"\r\n--" + BOUNDARY.encode() + b"--\r\nepilogue, ignored\r\n--" + BOUNDARY.encode()
    )  # fmt: skip
    assert parsed(body)[0] == {"a": "1"}


def test_zero_parts():
    assert parsed(b"--" + BOUNDARY.encode() + b"--\r\n") == ({}, {})


def test_part_charset_decodes_a_text_field():
    body = multipart(
        part("a", "é".encode("latin-1"), extra="Content-Type: text/plain; charset=iso-8859-1\r\n")
    )
    assert parsed(body)[0] == {"a": "é"}


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        ('multipart/form-data; boundary="a b:c"', "a b:c"),  # quoted, with a space
        ("Multipart/Form-Data;boundary=xyz", "xyz"),
        ("multipart/form-data; charset=utf-8; boundary=q", "q"),
        ("multipart/form-data; boundary=" + "b" * 70, "b" * 70),
        ("multipart/form-data; boundary='()+_,-./:=?", "'()+_,-./:=?"),
    ],
)
def test_boundary_forms(content_type, boundary):
    assert parsed(multipart(part("a", b"1"), boundary=boundary), content_type)[0] == {"a": "1"}


# -- file names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("disposition", "filename"),
    [
        ('form-data; name="f"; filename="my file.txt"', "my file.txt"),
        ('form-data; name="f"; filename="naïve ü €.txt"', "naïve ü €.txt"),  # raw UTF-8
        ('form-data; name="f"; filename="a\\"b\\\\c.txt"', "c.txt"),  # a"b\c: the \ splits
        ('form-data; name="f"; filename="say \\"hi\\".txt"', 'say "hi".txt'),
        ('form-data; name="f"; filename="say %22hi%22.txt"', "say %22hi%22.txt"),  # as browsers
        ('form-data; name="f"; filename="a\\b\\x.txt"', "x.txt"),  # a raw \\, as browsers send
        ('form-data; name="f"; filename="tab\\tx.txt"', "tx.txt"),
        ("form-data; name=f; filename=plain.txt", "plain.txt"),
        ("form-data; name=\"f\"; filename*=UTF-8''na%C3%AFve%20%E2%82%AC.txt", "naïve €.txt"),
        ("form-data; name=\"f\"; filename*=utf-8'en'%E2%82%AC", "€"),
        ("form-data; name=\"f\"; filename*=ISO-8859-1''caf%E9.txt", "café.txt"),
        # RFC 6266 4.3: filename* wins over filename, in either order
        ('form-data; name="f"; filename="fallback.txt"; filename*=UTF-8\'\'%C3%BC.txt', "ü.txt"),
        ('form-data; name="f"; filename*=UTF-8\'\'%C3%BC.txt; filename="fallback.txt"', "ü.txt"),
        # RFC 2231 continuations, encoded and not
        (
            'form-data; name="f"; filename*0*=UTF-8\'\'%C3%BC; filename*1="ber "; '
            "filename*2*=%C3%A4",
            "über ä",
        ),
        ('form-data; name="f"; filename="C:\\\\Users\\\\me\\\\photo.jpg"', "photo.jpg"),  # old IE
        ('form-data; name="f"; filename="../../etc/passwd"', "passwd"),
        ('form-data; name="f"; filename=".."', ""),
        ('form-data; name="f"; filename="a/"', ""),
        ('FORM-DATA; NAME="f"; FILENAME="upper.txt";', "upper.txt"),
    ],
)
def test_content_disposition_filenames(disposition, filename):
    body = multipart(f"Content-Disposition: {disposition}\r\n\r\n".encode() + b"x")
    files = parsed(body)[1]
    assert files["f"].filename == filename


def test_non_utf8_filename_falls_back_to_latin1():
    body = multipart(b'Content-Disposition: form-data; name="f"; filename="caf\xe9"\r\n\r\nx')
    assert parsed(body)[1]["f"].filename == "café"


def test_field_name_with_spaces_and_non_ascii():
    body = multipart(part("my field ü", b"v"))
    assert parsed(body)[0] == {"my field ü": "v"}


def test_parse_options():
    assert parse_options('form-data; name="a;b"; x=1') == ("form-data", {"name": "a;b", "x": "1"})
    assert parse_options("text/plain") == ("text/plain", {})
    assert parse_options("a;;  b=2 ;") == ("a", {"b": "2"})


# -- strictness: 400 and 413 ---------------------------------------------------------------


def disposition_body(disposition: str) -> bytes:
    return multipart(f"Content-Disposition: {disposition}\r\n\r\n".encode() + b"x")


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (multipart(part("a", b"1")), "multipart/form-data", "without a boundary"),
        (
            multipart(part("a", b"1")),
            "multipart/form-data; boundary=",
            "invalid multipart boundary",
        ),
        (
            multipart(part("a", b"1"), boundary="b" * 71),
            "multipart/form-data; boundary=" + "b" * 71,
            "1-70",
        ),
        (b"", 'multipart/form-data; boundary="ends with space "', "invalid multipart boundary"),
        (b"", "multipart/form-data; boundary=a{b}", "invalid multipart boundary"),
        (b"", 'multipart/form-data; boundary="unterminated', "malformed parameters"),
        (b"", "multipart/form-data; boundary=a; boundary=b", "repeated"),
        (b"", CT, "no multipart delimiter"),
        (b"hello world, no delimiter here", CT, "no multipart delimiter"),
        (multipart(part("a", b"1"), boundary="other"), CT, "no multipart delimiter"),
        (multipart(part("a", b"1"))[:-4], CT, "before its closing delimiter"),  # "--\r\n" cut
        (multipart(part("a", b"1"))[:-8], CT, "before its closing delimiter"),
        (b"--" + BOUNDARY.encode() + b"\r\n", CT, "before its closing delimiter"),
        (
            b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: form-data; name=a",
            CT,
            "before its closing delimiter",
        ),
        (b"--" + BOUNDARY.encode(), CT, "before its closing delimiter"),
        (
            b"--"
            + BOUNDARY.encode()
            + b"X\r\n"
            + part("a", b"1")
            + b"\r\n--"
            + BOUNDARY.encode()
            + b"--",
            CT,
            "text after the boundary",
        ),
        (b"--" + BOUNDARY.encode() + b" " * 2000, CT, "malformed multipart delimiter line"),
        (multipart(b"Content-Type: text/plain\r\n\r\nx"), CT, "without Content-Disposition"),
        (multipart(b"\r\nx"), CT, "without Content-Disposition"),
        (disposition_body('attachment; name="a"'), CT, "not form-data"),
        (disposition_body('form-data; filename="a"'), CT, "without a name"),
        (disposition_body('form-data; name="a"; name="b"'), CT, "repeated"),
        (
            disposition_body("form-data; name=\"a\"; filename*=UTF-8''x; filename*0*=UTF-8''y"),
            CT,
            "given twice",
        ),
        (
            disposition_body('form-data; name="a"; filename*0="x"; filename*2="z"'),
            CT,
            "missing sections",
        ),
        (
            disposition_body("form-data; name=\"a\"; filename*=nosuchcharset''x"),
            CT,
            "unknown charset",
        ),
        (disposition_body("form-data; name=\"a\"; filename*=base64''eA=="), CT, "unknown charset"),
        (disposition_body('form-data; name="a"; filename*=x'), CT, "charset'language'"),
        (disposition_body("form-data; name=\"a\"; filename*=UTF-8''a%00b"), CT, "control"),
        (disposition_body("form-data; name*=UTF-8''a%0Ab"), CT, "control"),
        (disposition_body('form-data; name="a" junk'), CT, "malformed parameters"),
        (
            multipart(
                b"Content-Disposition: form-data; name=a\r\nContent-Disposition: form-data; "
                b"name=b\r\n\r\nx"
            ),
            CT,
            "repeated",
        ),
        (
            multipart(b'Content-Disposition: form-data; name="a"\r\n folded\r\n\r\nx'),
            CT,
            "malformed header",
        ),
        (multipart(b'Content-Disposition : form-data; name="a"\r\n\r\nx'), CT, "malformed header"),
        (
            multipart(b'Content-Disposition: form-data; name="a"\r\nno colon\r\n\r\nx'),
            CT,
            "malformed header",
        ),
        (multipart(b'Content-Disposition: form-data; name="a\x01"\r\n\r\nx'), CT, "control"),
        (multipart(b'Content-Disposition: form-data; name="a"\nX: y\r\n\r\nx'), CT, "control"),
        (
            multipart(
                b'Content-Disposition: form-data; name="a"\r\n' + b"X-A: b\r\n" * 16 + b"\r\nx"
            ),
            CT,
            "more than 16 header",
        ),
        (
            multipart(
                b'Content-Disposition: form-data; name="a"\r\nX: ' + b"v" * 9000 + b"\r\n\r\nx"
            ),
            CT,
            "head over 8192",
        ),
        (b"--" + BOUNDARY.encode() + b"\r\nX: " + b"v" * 9000, CT, "head over 8192"),
        (
            multipart(
                b'Content-Disposition: form-data; name="a"\r\n'
                b"Content-Transfer-Encoding: base64\r\nContent-Transfer-Encoding: x\r\n\r\nx"
            ),
            CT,
            "repeated",
        ),
    ],
)
def test_malformed_forms_are_400(body, content_type, words):
    with pytest.raises(picohttp.RemoteProtocolError) as caught:
        parsed(body, content_type)
    assert caught.value.status == 400
    assert words in caught.value.reason


def test_text_field_over_the_limit_is_413_a_file_of_that_size_is_fine():
    big = b"x" * (_forms.MAX_FIELD_BYTES + 1)
    with pytest.raises(picohttp.RemoteProtocolError) as caught:
        parsed(multipart(part("note", big)))
    assert caught.value.status == 413 and "'note'" in caught.value.reason
    assert parsed(multipart(part("note", big[:-1])))[0]["note"] == big[:-1].decode()
    assert parsed(multipart(part("doc", big, "big.txt")))[1]["doc"].size == len(big)


def test_part_count_is_bounded():
    body = multipart(*[part(f"f{i}", b"") for i in range(_forms.MAX_FIELDS)])
    assert len(parsed(body)[0]) == _forms.MAX_FIELDS
    assert status_of(multipart(*[part(f"f{i}", b"") for i in range(_forms.MAX_FIELDS + 1)])) == 413


def test_temporary_files_are_closed_when_a_later_part_is_malformed(monkeypatch):
    import tempfile

    made: List[Any] = []
    real = tempfile.TemporaryFile

    def tracking(*args: Any, **kwargs: Any) -> Any:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(tempfile, "TemporaryFile", tracking)
    body = multipart(part("a", b"1" * 100, "a.txt"), part("b", b"2", "b.txt"))[:-6]
    with pytest.raises(picohttp.RemoteProtocolError):
        parse_form(CT, io.BytesIO(body))  # a file: the spooled path, temporary files
    assert len(made) == 2 and all(file.closed for file in made)


# -- streaming: reads of any size give the same answer -----------------------------------


def tricky_body() -> bytes:
    b = BOUNDARY.encode()
    nasty = b"\r\n--" + b[:-1] + b"\r\n--" + b[:10] + b"\r\n" + b"\r" * 5 + b"-" * 40 + b"\r\n-"
    return multipart(
        part("a", nasty),
        part("f", nasty * 3 + bytes(range(256)), "f.bin"),
        part("g", b""),
        part("h", b"\r\n"),
        preamble=b"pre\r\n--" + b[:5],
        epilogue=b"--" + b,
    )


@pytest.mark.parametrize("sizes", [[1], [2], [3, 1], [7], [len(BOUNDARY) + 3], [64 * 1024]])
def test_result_does_not_depend_on_read_sizes(sizes):
    body = tricky_body()
    assert summary(parsed(body, sizes=sizes)) == summary(parsed(body))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 90), min_size=1, max_size=8), st.binary(max_size=300))
def test_any_read_sizes_any_content(sizes, content):
    body = multipart(part("x", content, "x.bin"), part("y", b"tail"))
    files = parsed(body, sizes=sizes)[1]
    assert files["x"].file.read() == content


def test_truncation_anywhere_is_400_never_anything_else():
    body = tricky_body()
    close = b"\r\n--" + BOUNDARY.encode() + b"--"
    complete = body.rindex(close) + len(close)  # the epilogue after it may be cut anywhere
    chance = random.Random(9)
    for cut in range(complete):
        with pytest.raises(picohttp.RemoteProtocolError) as caught:
            parsed(body[:cut], sizes=[chance.randint(1, 50)])
        assert caught.value.status == 400, cut
    for cut in range(complete, len(body) + 1):
        assert summary(parsed(body[:cut])) == summary(parsed(body))


def test_spooled_source_gives_temporary_files_memory_source_bytesio():
    body = multipart(part("f", b"data", "f.txt"))
    in_memory = parsed(body)[1]["f"]
    spooled = parsed(body, sizes=[100])[1]["f"]
    assert isinstance(in_memory.file, io.BytesIO)
    assert not isinstance(spooled.file, io.BytesIO) and spooled.file.fileno() >= 0
    assert in_memory.file.read() == spooled.file.read() == b"data"


def test_save_to_a_path_and_to_a_file(tmp_path):
    content = bytes(range(256)) * 50
    upload = parsed(multipart(part("f", content, "f.bin")), sizes=[4096])[1]["f"]
    upload.file.read(100)  # save() writes the whole upload whatever was read before
    upload.save(tmp_path / "a.bin")
    upload.save(str(tmp_path / "b.bin"))
    with open(tmp_path / "c.bin", "wb") as out:
        upload.save(out)
    for name in ("a.bin", "b.bin", "c.bin"):
        assert (tmp_path / name).read_bytes() == content
    upload.close()
    assert upload.file.closed


# -- through HttpRequest ------------------------------------------------------------------


def request_bytes(body: bytes, content_type: str = CT) -> bytes:
    head = f"POST /u HTTP/1.1\r\nHost: h\r\nContent-Type: {content_type}\r\n"
    return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def test_request_form_and_files_are_parsed_lazily_once():
    body = multipart(part("a", b"1"), part("f", b"xyz", "f.txt"))
    request = parse_request(request_bytes(body))
    assert getattr(request, "_form", None) is None  # nothing parsed until asked
    assert request.files["f"].file.read() == b"xyz"
    assert request.form == {"a": "1"}
    assert request.form is request.form and request.files is request.files
    assert request.data == body.decode()  # the spec's data: still the body as str


def test_spooled_request_streams_its_form_and_leaves_data_unread():
    content = bytes(range(256)) * 8192  # 2 MiB: over the 1 MiB spool threshold
    body = multipart(part("a", b"1"), part("f", content, "f.bin"))
    request = parse_request(request_bytes(body), cuts=range(0, len(body), 65536))
    assert not isinstance(request._body, bytes)  # spooled to a temporary file
    upload = request.files["f"]
    assert upload.size == len(content) and upload.file.read() == content
    assert request.form == {"a": "1"}
    assert request._data is _UNSET  # data was never decoded, the spool never read whole
    spool = request._body
    request.close()
    assert spool.closed and upload.file.closed


def test_constructed_request_with_data():
    request = picohttp.HttpRequest(
        "POST", headers={"Content-Type": "application/x-www-form-urlencoded"}, data="a=1&b=2"
    )
    assert request.form == {"a": "1", "b": "2"} and request.files == {}
    assert picohttp.HttpRequest().form == {}


def test_form_error_is_the_clients_status_through_the_test_client():
    seen: List[str] = []

    def handler(request: Any, response: Any) -> None:
        seen.append("called")
        response.data = request.form

    client = Client(handler)
    response = client.post("/", headers={"Content-Type": CT}, data=multipart(part("a", b"1"))[:-6])
    assert response.status == 400
    assert "closing delimiter" in response.text
    assert seen == ["called"]
    response = client.post("/", headers={"Content-Type": CT}, data=multipart(part("a", b"1")))
    assert response.status == 200 and response.json() == {"a": "1"}


def test_a_handler_may_raise_remote_protocol_error_for_a_4xx():
    def handler(request: Any, response: Any) -> None:
        raise picohttp.RemoteProtocolError(422, "the name must not be empty")

    response = Client(handler).get("/")
    assert (response.status, response.text) == (
        422,
        "422 Unprocessable Content: the name must not be empty\n",
    )


def test_remote_protocol_error_with_an_odd_status_is_a_500(caplog):
    def handler(request: Any, response: Any) -> None:
        raise picohttp.RemoteProtocolError(200, "not an error status")

    assert Client(handler).get("/").status == 500


def test_uploads_read_by_a_mounted_handler_are_closed_after_the_request():
    kept: List[Any] = []

    def upload(request: Any, response: Any) -> None:
        kept.extend(request.files.getlist("f"))
        response.data = {"path": request.path, "form": request.form, "size": kept[-1].size}

    inner = picohttp.Router()
    inner.mount("/files", upload)
    outer = picohttp.Router()
    outer.mount("/api", inner)
    content = bytes(range(256)) * 8192  # 2 MiB: spooled, so the parts are temporary files
    body = multipart(part("a", b"1"), part("f", content, "f.bin"), part("f", b"x", "g.bin"))
    response = Client(outer).post("/api/files/x", headers={"Content-Type": CT}, data=body)
    assert response.json() == {"path": ["x"], "form": {"a": "1"}, "size": 1}
    assert len(kept) == 2 and all(upload.file.closed for upload in kept)
