"""``_target``: request target -> the spec's ``path`` list and ``query`` dict (design.md 1)."""

from __future__ import annotations

import json
import os

import pytest

from picohttp._target import parse_query, parse_target, split_target, unquote


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("/", [""]),
        ("/a", ["a"]),
        ("/a/b", ["a", "b"]),
        ("/a/", ["a", ""]),
        ("/a//b", ["a", "", "b"]),
        ("//", ["", ""]),
        ("/hello%20world", ["hello world"]),
        ("/caf%C3%A9/%E2%98%83", ["café", "☃"]),
        ("/a+b", ["a+b"]),  # '+' is a space only in the query
    ],
)
def test_path_is_split_on_slash_then_each_segment_decoded(target: str, path: list[str]) -> None:
    assert parse_target(target) == (path, {})


def test_encoded_slash_stays_inside_its_segment() -> None:
    assert parse_target("/a%2Fb/c")[0] == ["a/b", "c"]
    assert parse_target("/a%2fb")[0] == ["a/b"]
    assert parse_target("/%2F")[0] == ["/"]


def test_encoded_dots_are_decoded_but_not_interpreted() -> None:
    # ".." is the handler's (or staticResource's) business; the parser never resolves it.
    assert parse_target("/a/../b")[0] == ["a", "..", "b"]
    assert parse_target("/%2e%2E/x")[0] == ["..", "x"]
    assert parse_target("/%252e%252e")[0] == ["%2e%2e"]  # decoded once, not twice


def test_bad_escapes_stay_as_sent_and_bad_utf8_keeps_its_bytes() -> None:
    assert parse_target("/100%")[0] == ["100%"]
    assert parse_target("/%zz%4")[0] == ["%zz%4"]
    assert parse_target("/%G1x")[0] == ["%G1x"]
    # Bytes that are not UTF-8 decode as os.fsdecode does, never as U+FFFD.
    assert parse_target("/a%ffb")[0] == ["a\udcffb"]
    assert parse_target("/%C3")[0] == ["\udcc3"]
    assert parse_target("/%91")[0] == ["\udc91"]


@pytest.mark.parametrize(
    "raw", [b"\x91", b"\xff\xfe", b"a\xc3", b"\xc3\xa9\x80", b"\xed\xa0\x80", bytes(range(256))]
)
def test_every_byte_of_a_path_segment_can_be_recovered(raw: bytes) -> None:
    from urllib.parse import quote

    (segment,), _ = parse_target("/" + quote(raw, safe=""))
    assert segment.encode("utf-8", "surrogateescape") == raw
    assert segment == os.fsdecode(raw) or os.name == "nt"
    assert "\ufffd" not in segment


def test_the_query_still_decodes_bad_utf8_as_the_replacement_character() -> None:
    assert parse_target("/p?q=%91&r=%C3%A9") == (["p"], {"q": "\ufffd", "r": "\xe9"})


def test_absolute_form_uses_its_path() -> None:
    assert parse_target("http://example.com/a/b?x=1") == (["a", "b"], {"x": "1"})
    assert parse_target("https://example.com:8443/a%2Fb") == (["a/b"], {})
    assert parse_target("http://example.com") == ([""], {})
    assert parse_target("http://example.com?q=1") == ([""], {"q": "1"})


def test_asterisk_form() -> None:
    assert parse_target("*") == (["*"], {})


def test_fragment_is_dropped() -> None:
    assert parse_target("/a#frag") == (["a"], {})
    assert parse_target("/a?x=1#frag") == (["a"], {"x": "1"})


def test_split_target_keeps_the_raw_encoded_parts() -> None:
    assert split_target("/a%2Fb?x=%20") == ("/a%2Fb", "x=%20")
    assert split_target("http://h/p?q") == ("/p", "q")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a=1&b=2", {"a": "1", "b": "2"}),
        ("q=hello+world", {"q": "hello world"}),
        ("q=a%2Bb", {"q": "a+b"}),  # an encoded plus is a plus
        ("x", {"x": ""}),  # blank values are kept
        ("x=", {"x": ""}),
        ("x&y=1", {"x": "", "y": "1"}),
        ("a=1&a=2&a=3", {"a": "3"}),  # the last repeat wins
        ("a=1&&b=2&", {"a": "1", "b": "2"}),  # empty pieces are skipped
        ("k%20ey=v%3Dal", {"k ey": "v=al"}),
        ("a=b=c", {"a": "b=c"}),  # only the first '=' separates
        ("%E2%98%83=%C3%A9", {"☃": "é"}),
        ("bad=%zz%", {"bad": "%zz%"}),
        ("my+key=1", {"my key": "1"}),
    ],
)
def test_query_rules(query: str, expected: dict[str, str]) -> None:
    assert parse_query(query) == expected
    assert parse_target("/p?" + query) == (["p"], expected)


def test_empty_query_is_an_empty_dict() -> None:
    assert parse_target("/p?") == (["p"], {})
    assert parse_target("/p") == (["p"], {})


def test_query_is_a_dict_of_str() -> None:
    _, query = parse_target("/?a=1")
    # A dict subclass only for getlist: json.dumps and dict() treat it as the spec's dict.
    assert isinstance(query, dict) and json.dumps(query) == '{"a": "1"}'
    assert all(type(k) is str and type(v) is str for k, v in query.items())


def test_query_getlist_gives_every_value_in_order() -> None:
    _, query = parse_target("/?t=1&x&t=2&t=a%20b+c&u=&t=")
    assert query == {"t": "", "x": "", "u": ""}  # the last value wins, as the spec's dict
    assert query.getlist("t") == ["1", "2", "a b c", ""]
    assert query.getlist("x") == [""]
    assert query.getlist("missing") == []
    assert parse_target("/p")[1].getlist("t") == []  # no query string: still a QueryDict
    copied = query.copy()
    assert copied.getlist("t") == ["1", "2", "a b c", ""]
    query["added"] = "by the handler"
    assert query.getlist("added") == ["by the handler"]


def test_unquote() -> None:
    assert unquote("a%20b") == "a b"
    assert unquote("a+b") == "a+b"
    assert unquote("a+b", plus=True) == "a b"
    assert unquote("%") == "%"
    assert unquote("%%41") == "%A"
    assert unquote("%41%") == "A%"
    assert unquote("no escapes") == "no escapes"
