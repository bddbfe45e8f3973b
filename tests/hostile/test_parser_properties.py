"""Hypothesis properties and a state machine for the pure parser (bounded for the normal run).

- Any bytes, cut anywhere: the parser returns a request, asks for more, or
  raises RemoteProtocolError with a status from design.md's list; nothing
  else, and the outcome does not depend on the cuts.
- Any well-formed request, serialized and cut anywhere, parses back to what
  was sent (path segments, query, headers, body by Content-Length or chunked).
- Content-Length is accepted exactly when it is 1-19 ASCII digits (or a list
  of equal ones), whatever ``int()`` would take.
- A state machine feeds a request in random steps and checks, at each step,
  that nothing is returned early and the head is declared done exactly when
  its last byte has arrived.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any, Dict, List, Optional, Tuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from picohttp import RemoteProtocolError
from picohttp._limits import Limits
from picohttp._parser import RequestParser

STATUSES = {400, 413, 414, 431, 501, 505}
LIMITS = Limits(max_request_line=512, max_header_bytes=2048, max_headers=20, max_body=4096)
PROFILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TCHAR = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
tokens = st.text(alphabet=TCHAR, min_size=1, max_size=12)
# Field values: VCHAR and obs-text with inner spaces and tabs (no leading/trailing OWS).
value_chars = st.characters(min_codepoint=0x21, max_codepoint=0xFF, blacklist_characters="\x7f")
field_values = st.builds(
    lambda first, middle: (first + middle).rstrip(" \t") if middle else first,
    value_chars,
    st.text(alphabet=st.one_of(value_chars, st.sampled_from(" \t")), max_size=30),
) | st.just("")

# Fragments that steer random bytes into the parser's deeper states.
FRAGMENTS = [
    b"GET ", b"POST ", b"/", b"/a%2Fb", b"?x=1", b" HTTP/1.0", b" HTTP/1.1", b" HTTP/2.0",
    b"\r\n", b"\n", b"\r", b"\r\n\r\n", b"Host: h", b"Content-Length: ", b"5", b"-1", b"+1",
    b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip", b": ", b" ", b"\t", b"\0",
    b"5\r\nhello\r\n", b"0\r\n\r\n", b"ffffffff\r\n", b"Expect: 100-continue", b"\xff",
]  # fmt: skip
request_like = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=6)), max_size=24
).map(b"".join)


def cuts_of(data: bytes) -> st.SearchStrategy[List[bytes]]:
    """``data`` cut at random points (including cuts that leave empty pieces)."""
    return st.lists(st.integers(0, len(data)), max_size=10).map(
        lambda points: [
            data[a:b] for a, b in zip([0, *sorted(points)], [*sorted(points), len(data)])
        ]
    )


Outcome = Tuple[str, Any]


def outcome(pieces: List[bytes], limits: Limits = LIMITS) -> Outcome:
    parser = RequestParser(limits)
    try:
        for piece in pieces:
            request = parser.feed(piece)
            if request is not None:
                return "request", (
                    request.method,
                    request.path,
                    request.query,
                    request.protocol,
                    dict(request.headers),
                    request.body,
                )
        parser.eof()
    except RemoteProtocolError as error:
        assert error.status in STATUSES, error
        return "status", error.status
    return "close", None


@PROFILE
@given(st.data())
def test_any_bytes_any_cuts_one_outcome(data: st.DataObject):
    raw = data.draw(st.one_of(st.binary(max_size=200), request_like), label="raw")
    pieces = data.draw(cuts_of(raw), label="pieces")
    assert outcome(pieces) == outcome([raw])


CHUNK_NOISE = [b"5", b"0", b"F", b";", b" ", b"\t", b"\r\n", b"\n", b"\r", b":", b"\0", b"-"]
extensions = st.sampled_from([b"", b";x=1", b" ;y", b";" + b"e" * 6000])
line_ends = st.sampled_from([b"\r\n", b"\n"])


@st.composite
def chunked_bodies(draw: st.DrawFn) -> bytes:
    """A chunked body (long extensions and trailers included), perhaps with noise inserted."""
    out = b""
    for data in draw(st.lists(st.binary(max_size=20), max_size=4)):
        end = draw(line_ends)
        out += b"%x%s%s%s%s" % (len(data), draw(extensions), end, data, end)
    end = draw(line_ends)
    out += b"0" + draw(extensions) + end
    for trailer in draw(st.lists(st.sampled_from([b"X-T: v", b"X-L: " + b"t" * 5000]), max_size=2)):
        out += trailer + end
    out += end
    if draw(st.booleans()):
        at = draw(st.integers(0, len(out)))
        out = out[:at] + draw(st.sampled_from(CHUNK_NOISE)) + out[at:]
    return out


@PROFILE
@given(chunked_bodies(), st.data())
def test_any_chunked_body_any_cuts_one_outcome(body: bytes, data: st.DataObject):
    """The chunk decoder's answer does not depend on where the reads end."""
    raw = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    pieces = data.draw(cuts_of(raw), label="pieces")
    assert outcome(pieces) == outcome([raw])


# -- well-formed requests round-trip -------------------------------------------------


@st.composite
def requests_(draw: st.DrawFn) -> Dict[str, Any]:
    protocol = draw(st.sampled_from(["HTTP/1.0", "HTTP/1.1"]))
    segments = draw(st.lists(st.text(max_size=8), min_size=1, max_size=4))
    query_pairs = draw(
        st.dictionaries(st.text(min_size=1, max_size=6), st.text(max_size=6), max_size=3)
    )
    names = draw(st.lists(tokens, max_size=6, unique_by=str.lower))
    reserved = {"host", "content-length", "transfer-encoding", "expect"}
    fields = [(name, draw(field_values)) for name in names if name.lower() not in reserved]
    if protocol == "HTTP/1.1":
        fields.append(("Host", "example.com"))
    body: Optional[bytes] = draw(st.one_of(st.none(), st.binary(max_size=300)))
    chunked = body is not None and protocol == "HTTP/1.1" and draw(st.booleans())
    if body is not None and chunked:
        fields.append(("Transfer-Encoding", "chunked"))
    elif body is not None:
        fields.append(("Content-Length", str(len(body))))
    sizes = draw(st.lists(st.integers(1, 64), max_size=8)) if chunked else []
    return {
        "method": draw(tokens),
        "segments": segments,
        "query": query_pairs,
        "protocol": protocol,
        "fields": fields,
        "body": body,
        "chunked": chunked,
        "chunk_sizes": sizes,
        "line_end": draw(st.sampled_from([b"\r\n", b"\n"])),
    }


def wire(req: Dict[str, Any]) -> bytes:
    end = req["line_end"]
    path = "/" + "/".join(urllib.parse.quote(s, safe="") for s in req["segments"])
    if req["query"]:
        path += "?" + urllib.parse.urlencode(req["query"], quote_via=urllib.parse.quote)
    head = f"{req['method']} {path} {req['protocol']}".encode() + end
    for name, value in req["fields"]:
        head += name.encode() + b": " + value.encode("latin-1") + end
    head += end
    body = req["body"]
    if body is None:
        return head
    if not req["chunked"]:
        return head + body
    out, rest = [], body
    for size in req["chunk_sizes"]:
        if not rest:
            break
        out.append(b"%x\r\n%s\r\n" % (len(rest[:size]), rest[:size]))
        rest = rest[size:]
    if rest:
        out.append(b"%X;ext=1\r\n%s\r\n" % (len(rest), rest))
    return head + b"".join(out) + b"0\r\n\r\n"


@settings(PROFILE, max_examples=120)
@given(requests_(), st.data())
def test_well_formed_requests_round_trip(req: Dict[str, Any], data: st.DataObject):
    raw = wire(req)
    pieces = data.draw(cuts_of(raw), label="pieces")
    kind, parsed = outcome(pieces, Limits())
    assert kind == "request", parsed
    method, path, query, protocol, headers, body = parsed
    assert method == req["method"]
    assert path == req["segments"]
    assert query == req["query"]
    assert protocol == req["protocol"]
    assert headers == dict(req["fields"])
    expected_body = req["body"]
    if expected_body is None or (expected_body == b"" and not req["chunked"]):
        assert body in (None, b"")
    else:
        assert body == expected_body


# -- Content-Length accepted exactly when it is digits ---------------------------------

cl_chars = st.sampled_from([*"0123456789 \t+-_.,xXeE", "\u00b2", "\u00bd", "\u00b9", "a"])


def content_length_oracle(value: str) -> Optional[int]:
    """RFC 9110 8.6 as design.md reads it: 1*DIGIT, or a list of equal ones; else None."""
    pieces = [piece.strip(" \t") for piece in value.split(",")]
    if not all(re.fullmatch(r"[0-9]{1,19}", piece) for piece in pieces):
        return None
    lengths = {int(piece) for piece in pieces}
    return lengths.pop() if len(lengths) == 1 else None


@PROFILE
@given(st.text(alphabet=cl_chars, min_size=0, max_size=24))
def test_content_length_is_digits_or_400(value: str):
    value = value.strip(" \t")
    head = b"POST / HTTP/1.0\r\nContent-Length: " + value.encode("latin-1") + b"\r\n\r\n"
    kind, got = outcome([head + b"x" * 64], Limits(max_body=50))
    want = content_length_oracle(value)
    if want is None:
        assert (kind, got) == ("status", 400)
    elif want > 50:
        assert (kind, got) == ("status", 413)
    else:
        assert kind == "request"
        assert got[5] == b"x" * want


@PROFILE
@given(st.integers(0, 10**25), st.sampled_from(["{}", "+{}", "-{}", "{}_0", "0x{}", " {} "]))
def test_content_length_never_trusts_int(number: int, template: str):
    """Numbers int() accepts in forms RFC 9110 does not: 400 before any body is read."""
    text = template.format(number)
    parser = RequestParser(LIMITS)
    try:
        parser.feed(b"PUT / HTTP/1.0\r\nContent-Length: " + text.encode() + b"\r\n\r\n")
        verdict: object = "accepted"
    except RemoteProtocolError as error:
        verdict = error.status
    if template in ("{}", " {} ") and len(str(number)) <= 19:
        assert verdict == (413 if number > LIMITS.max_body else "accepted")
    else:
        assert verdict == 400


# -- the state machine ----------------------------------------------------------------


class FeedingMachine(RuleBasedStateMachine):
    """Feed one well-formed request in random steps; check the parser's state at each."""

    @initialize(req=requests_())
    def start(self, req: Dict[str, Any]) -> None:
        self.req = req
        self.raw = wire(req)
        end = req["line_end"]
        self.head_end = self.raw.index(end + end) + 2 * len(end)
        self.parser = RequestParser(Limits())
        self.fed = 0
        self.result: Any = None

    @precondition(lambda self: self.result is None)
    @rule(size=st.integers(0, 40))
    def feed(self, size: int) -> None:
        piece = self.raw[self.fed : self.fed + size]
        self.fed += len(piece)
        self.result = self.parser.feed(piece)
        if self.fed < len(self.raw):
            assert self.result is None, "a request before its last byte"

    @precondition(lambda self: self.result is None)
    @rule()
    def feed_the_rest(self) -> None:
        self.result = self.parser.feed(self.raw[self.fed :])
        self.fed = len(self.raw)

    @precondition(lambda self: self.result is not None)
    @rule(extra=st.binary(min_size=1, max_size=20))
    def bytes_after_the_request(self, extra: bytes) -> None:
        before = self.parser.leftover
        assert self.parser.feed(extra) is None
        assert self.parser.leftover == before + len(extra)

    @invariant()
    def head_done_exactly_when_the_head_is_in(self) -> None:
        if not hasattr(self, "parser"):
            return
        assert self.parser.head_done == (self.fed >= self.head_end)

    @invariant()
    def complete_exactly_at_the_end(self) -> None:
        if not hasattr(self, "parser"):
            return
        if self.fed >= len(self.raw):
            assert self.result is not None
            assert self.result.method == self.req["method"]
            body = self.req["body"]
            if body:
                assert self.result.body == body


FeedingMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
test_feeding_machine = FeedingMachine.TestCase
