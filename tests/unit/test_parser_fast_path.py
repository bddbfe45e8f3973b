"""The parser's fast path (parse_head) and its precise path (_parse_head_strictly) agree.

parse_head handles the common shape with whole-buffer checks and hands anything
unusual to _parse_head_strictly; a request must never mean one thing on one
path and another thing on the other.
"""

from typing import Any, List, Tuple

from hypothesis import given, settings
from hypothesis import strategies as st

from picohttp._errors import RemoteProtocolError
from picohttp._limits import Limits
from picohttp._parser import RequestParser, _parse_head_strictly, parse_head, parse_request

LIMITS = Limits(max_headers=8, max_request_line=64)


def outcome(function: Any, head: bytes) -> Tuple[Any, ...]:
    try:
        method, target, version, headers, framing = function(head, LIMITS)
    except RemoteProtocolError as error:
        return ("error", error.status)
    return ("ok", method, target, version, list(headers.items()), sorted(framing.items()))


tokens = st.sampled_from(["GET", "POST", "Host", "Content-Length", "X-A", "x-a", "te", "Expect"])
pieces = st.one_of(
    tokens,
    st.sampled_from(
        [
            " ",
            ":",
            ": ",
            "\r\n",
            "\n",
            "\r",
            "\t",
            "/",
            "/a?b=c",
            "HTTP/1.1",
            "HTTP/1.0",
            "HTTP/2.0",
        ]
    ),
    st.sampled_from(["http://h/x", "*", "%2F", "\x00", "\x7f", "\xe9", "5", "5, 5", "chunked"]),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=4),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(pieces, max_size=24))
def test_fast_and_strict_paths_agree(parts: List[str]) -> None:
    head = "".join(parts).encode("latin-1")
    if not head.endswith(b"\n"):
        head += b"\r\n"
    assert outcome(parse_head, head) == outcome(_parse_head_strictly, head)


def test_typical_heads_agree() -> None:
    heads = [
        b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n",
        b"GET / HTTP/1.0\r\n",
        b"PUT /a/b?c=d HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nHost\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n  folded\r\n",
        b"GET / HTTP/1.1\nHost: x\n",
    ]
    for head in heads:
        assert outcome(parse_head, head) == outcome(_parse_head_strictly, head)


names = st.sampled_from(
    ["Host", "host", "HOST", "Content-Length", "content-length", "X-Y", "Accept", "a b", "", "é"]
)
separators = st.sampled_from([": ", ":", ":  ", " : ", ":\t", ": \t"])
values = st.sampled_from(["", "x", "5", "5, 5", " x", "x ", "a: b", "\xe9", "\xa0", "\t", "ok  ok"])
endings = st.sampled_from(["\r\n", "\r\n", "\r\n", "\n", "\r"])
request_lines = st.sampled_from(
    ["GET / HTTP/1.1", "GET /a?b HTTP/1.0", "get /x HTTP/1.1", "GET  / HTTP/1.1", "GET * HTTP/1.1"]
)


@settings(max_examples=500, deadline=None)
@given(
    request_lines,
    endings,
    st.lists(st.tuples(names, separators, values, endings), max_size=10),
)
def test_paths_agree_on_field_shapes(
    request_line: str, first_end: str, fields: List[Tuple[str, str, str, str]]
) -> None:
    text = request_line + first_end + "".join(n + s + v + e for n, s, v, e in fields)
    head = text.encode("latin-1")
    assert outcome(parse_head, head) == outcome(_parse_head_strictly, head)


def whole_parse(function: Any, data: bytes) -> Tuple[Any, ...]:
    try:
        result = function(data)
    except RemoteProtocolError as error:
        return ("error", error.status)
    if result is None:
        return ("none",)
    request, leftover = result
    return (
        "ok",
        request.method,
        request.path,
        request.query,
        request.protocol,
        list(request.headers.items()),
        request.body,
        leftover,
    )


def by_parser(data: bytes) -> Any:
    parser = RequestParser(LIMITS)
    request = parser.feed(data)
    return None if request is None else (request, parser.leftover)


bodies = st.sampled_from(["", "abc", "abcdef", "0\r\n\r\n", "3\r\nabc\r\n0\r\n\r\n"])
framing_fields = st.sampled_from(
    [
        "",
        "Host: h\r\n",
        "Host: h\r\nContent-Length: 3\r\n",
        "Content-Length: 3\r\n",
        "Host: h\r\nTransfer-Encoding: chunked\r\n",
        "Host: a,b\r\n",
        "Host: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n",
        "Content-Length: 0\r\n",
    ]
)


@settings(max_examples=500, deadline=None)
@given(
    request_lines,
    framing_fields,
    st.lists(st.tuples(names, separators, values), max_size=4),
    bodies,
)
def test_the_one_shot_parse_agrees_with_the_parser(
    request_line: str, framing: str, fields: List[Tuple[str, str, str]], body: str
) -> None:
    """parse_request (the accept fast path) declines or gives exactly what RequestParser gives."""
    text = request_line + "\r\n" + framing + "".join(n + s + v + "\r\n" for n, s, v in fields)
    data = (text + "\r\n" + body).encode("latin-1")
    fast = whole_parse(lambda d: parse_request(d, LIMITS), data)
    if fast != ("none",):
        assert fast == whole_parse(by_parser, data)
