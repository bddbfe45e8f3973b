"""Hypothesis properties of the pure core.

- Any bytes, fed to ``RequestParser`` in any split, give an ``HttpRequest`` or a
  ``RemoteProtocolError`` with a 4xx/5xx status, nothing else, and the same
  answer however the bytes were split.
- A valid generated request round-trips (method, path segments, query,
  headers, body) whatever the split.
- ``serialize`` never writes CR, LF or NUL inside a header line, whatever
  header names and values a handler sets: it raises ``LocalProtocolError``
  exactly when a name is not a token or a value holds a control byte.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Tuple
from urllib.parse import quote, quote_plus

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from picohttp import HttpResponse, LocalProtocolError, RemoteProtocolError
from picohttp._parser import RequestParser
from picohttp._serializer import serialize
from support import request_snapshot

TCHAR = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
FRAMING = {"content-length", "transfer-encoding", "host", "expect", "content-type"}
# Field-value characters as the parser decodes them (Latin-1): VCHAR, SP, HTAB, obs-text.
VALUE_CHARS = "\t" + "".join(map(chr, range(0x20, 0x7F))) + "".join(map(chr, range(0x80, 0x100)))

tokens = st.text(alphabet=TCHAR, min_size=1, max_size=10)
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
cut_lists = st.lists(st.integers(min_value=1, max_value=600), max_size=10)
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(raw: bytes, cuts: List[int]) -> Tuple[Any, ...]:
    """What the parser makes of ``raw`` fed in pieces: a request, an error status, or nothing."""
    parser = RequestParser(client=("127.0.0.1", 1))
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(raw)}), len(raw)]
    try:
        for start, end in zip(bounds, bounds[1:]):
            request = parser.feed(raw[start:end])
            if request is not None:
                return ("request", request_snapshot(request))
        parser.eof()
    except RemoteProtocolError as error:
        assert 400 <= error.status <= 599, error.status
        assert isinstance(error.reason, str) and error.reason
        return ("error", error.status)
    return ("nothing",)


@st.composite
def valid_requests(draw: st.DrawFn) -> Tuple[bytes, Dict[str, Any]]:
    """A well-formed request and what a handler must see of it."""
    method = draw(tokens)
    segments = draw(st.lists(texts, min_size=1, max_size=5))
    pairs = draw(st.lists(st.tuples(texts, texts), max_size=4))
    protocol = draw(st.sampled_from(["HTTP/1.0", "HTTP/1.1"]))
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    body = draw(st.binary(max_size=300))
    chunked = protocol == "HTTP/1.1" and bool(body) and draw(st.booleans())

    target = "/" + "/".join(quote(segment, safe="") for segment in segments)
    if pairs:
        target += "?" + "&".join(quote_plus(k) + "=" + quote_plus(v) for k, v in pairs)

    fields: List[Tuple[str, str]] = []
    if protocol == "HTTP/1.1" or draw(st.booleans()):
        fields.append((draw(st.sampled_from(["Host", "host", "HOST"])), "example.test"))
    for _ in range(draw(st.integers(0, 5))):
        name = draw(tokens.filter(lambda n: n.lower() not in FRAMING))
        value = draw(st.text(alphabet=VALUE_CHARS, max_size=20)).strip(" \t")
        fields.append((name, value))
    if chunked:
        fields.append(("Transfer-Encoding", "chunked"))
    elif body:
        fields.append((draw(st.sampled_from(["Content-Length", "content-length"])), str(len(body))))
    position = draw(st.integers(0, len(fields)))  # framing fields need not come last
    if fields:
        fields.insert(position, fields.pop())

    expected_headers: Dict[str, str] = {}
    spelling: Dict[str, str] = {}
    for name, value in fields:
        folded = name.lower()
        if folded in spelling:
            expected_headers[spelling[folded]] += ", " + value
        else:
            spelling[folded] = name
            expected_headers[name] = value

    raw = f"{method} {target} {protocol}".encode() + eol
    for name, value in fields:
        raw += f"{name}: {value}".encode("latin-1") + eol
    raw += eol
    if chunked:
        rest = body
        while rest:
            size = draw(st.integers(1, len(rest)))
            raw += b"%x\r\n" % size + rest[:size] + b"\r\n"
            rest = rest[size:]
        raw += b"0\r\n\r\n"
    else:
        raw += body
    expected = {
        "method": method,
        "path": segments,
        "query": dict(pairs),
        "protocol": protocol,
        "headers": expected_headers,
        "uri": target,
        "body": body if body else None,
        "data": body.decode("utf-8", "surrogateescape") if body else None,
    }
    return raw, expected


@PROPERTY
@given(valid_requests(), cut_lists)
def test_valid_requests_round_trip_whatever_the_split(
    generated: Tuple[bytes, Dict[str, Any]], cuts: List[int]
) -> None:
    raw, expected = generated
    kind, *rest = outcome(raw, cuts)
    assert kind == "request", rest
    method, path, query, protocol, headers, uri, body, data, _client = rest[0]
    assert method == expected["method"]
    assert path == expected["path"]
    assert query == expected["query"]
    assert protocol == expected["protocol"]
    assert headers == list(expected["headers"].items())
    assert uri == expected["uri"]
    assert body == expected["body"]
    assert data == expected["data"]


@st.composite
def mutated_requests(draw: st.DrawFn) -> bytes:
    """A valid request with a few bytes inserted, deleted or replaced."""
    raw = bytearray(draw(valid_requests())[0])
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(raw)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        chunk = draw(
            st.one_of(
                st.sampled_from([b"\r", b"\n", b"\0", b" ", b":", b"\t", b"%", b"\r\n", b"\xff"]),
                st.binary(min_size=1, max_size=4),
            )
        )
        if action == "insert":
            raw[position:position] = chunk
        elif action == "delete":
            del raw[position : position + len(chunk)]
        else:
            raw[position : position + len(chunk)] = chunk
    return bytes(raw)


@settings(PROPERTY, max_examples=200)
@given(st.one_of(st.binary(max_size=400), mutated_requests()), cut_lists)
def test_any_bytes_give_a_request_or_a_precise_error_whatever_the_split(
    raw: bytes, cuts: List[int]
) -> None:
    whole = outcome(raw, [])
    assert outcome(raw, cuts) == whole
    assert outcome(raw, list(range(1, len(raw)))) == whole  # a byte at a time


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_NOT_WRITTEN = {"content-length", "connection", "transfer-encoding"}

header_names = st.one_of(
    tokens,
    st.text(max_size=10),
    st.sampled_from(["Content-Type", "Date", "Content-Length", "Set-Cookie"]),
)
header_values = st.one_of(
    st.text(max_size=20),
    st.text(alphabet="a\r\n\0\t\x7f\x0b ", max_size=6),
    st.binary(max_size=10),
    st.integers(),
    st.lists(st.text(max_size=8), max_size=3),
)


def _value_texts(name: str, value: Any) -> List[str]:
    # A list gives one line per item, except for Content-Type, which is one field.
    if isinstance(value, list) and name.lower() != "content-type":
        return [str(item) for item in value]
    if isinstance(value, bytes):
        return [value.decode("latin-1")]
    return [str(value)]


@settings(PROPERTY, max_examples=300)
@given(st.lists(st.tuples(header_names, header_values), max_size=6), st.text(max_size=20))
def test_serialize_never_writes_cr_lf_or_nul_in_a_header_line(
    fields: List[Tuple[str, Any]], text: str
) -> None:
    response = HttpResponse()
    response.data = text
    for name, value in fields:
        response.headers[name] = value
    bad = any(
        not _TOKEN.fullmatch(name)
        or (
            name.lower() not in _NOT_WRITTEN
            and any(_CONTROL.search(piece) for piece in _value_texts(name, value))
        )
        for name, value in response.headers.items()
    )
    try:
        head, _, _, _ = serialize(response, "GET", "Thu, 01 Jan 1970 00:00:00 GMT")
    except LocalProtocolError:
        assert bad, response.headers
        return
    assert not bad, response.headers
    assert head.endswith(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    for line in lines:
        assert b"\r" not in line and b"\n" not in line and b"\0" not in line
    for line in lines[1:]:
        name, colon, _ = line.partition(b": ")
        assert colon and _TOKEN.fullmatch(name.decode("ascii")), line
