"""``Headers``: a real ``dict`` whose lookups ignore case, names kept as sent."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

from picohttp import Headers


def make() -> Headers:
    return Headers({"Content-Type": "text/plain", "X-Custom": "1"})


def test_is_a_dict_with_names_as_sent() -> None:
    headers = make()
    assert isinstance(headers, dict)
    assert list(headers) == ["Content-Type", "X-Custom"]
    assert dict(headers) == {"Content-Type": "text/plain", "X-Custom": "1"}
    assert headers == {"Content-Type": "text/plain", "X-Custom": "1"}


def test_lookups_ignore_case() -> None:
    headers = make()
    assert headers["content-type"] == "text/plain"
    assert headers["CONTENT-TYPE"] == "text/plain"
    assert headers.get("content-TYPE") == "text/plain"
    assert headers.get("missing") is None
    assert headers.get("missing", "d") == "d"
    assert "x-custom" in headers
    assert "X-CUSTOM" in headers
    assert "missing" not in headers
    assert 42 not in headers
    with pytest.raises(KeyError):
        headers["missing"]


def test_setting_another_case_replaces_the_entry_and_takes_the_new_spelling() -> None:
    headers = make()
    headers["content-type"] = "application/json"
    assert len(headers) == 2
    assert headers["Content-Type"] == "application/json"
    assert list(headers) == ["X-Custom", "content-type"]


def test_del_and_pop_ignore_case() -> None:
    headers = make()
    del headers["CONTENT-type"]
    assert "Content-Type" not in headers
    assert list(headers) == ["X-Custom"]
    with pytest.raises(KeyError):
        del headers["content-type"]
    assert headers.pop("x-CUSTOM") == "1"
    assert headers == {}
    assert headers.pop("x-custom", "gone") == "gone"
    with pytest.raises(KeyError):
        headers.pop("x-custom")
    # The lowercase index forgot the names too: setting again starts fresh.
    headers["X-Custom"] = "2"
    assert headers == {"X-Custom": "2"}


def test_popitem_and_clear_keep_the_index_in_step() -> None:
    headers = make()
    assert headers.popitem() == ("X-Custom", "1")
    assert "x-custom" not in headers
    headers.clear()
    assert "content-type" not in headers
    assert headers == {}


def test_setdefault_ignores_case() -> None:
    headers = make()
    assert headers.setdefault("content-type", "other") == "text/plain"
    assert len(headers) == 2
    assert headers.setdefault("Accept", "*/*") == "*/*"
    assert headers["accept"] == "*/*"


def test_update_and_constructor_forms_ignore_case() -> None:
    headers = make()
    headers.update({"CONTENT-TYPE": "text/html"}, Extra="e")
    assert headers["content-type"] == "text/html"
    assert len(headers) == 3
    headers.update([("x-custom", "2")])
    assert headers["X-Custom"] == "2"
    assert len(headers) == 3
    assert Headers([("A", "1"), ("a", "2")]) == {"a": "2"}
    assert Headers(Accept="x")["accept"] == "x"
    assert Headers() == {}


def test_in_place_union_ignores_case() -> None:
    headers = make()
    headers |= {"content-type": "text/html"}
    assert headers["Content-Type"] == "text/html"
    assert "CONTENT-TYPE" in headers
    assert len(headers) == 2
    assert isinstance(headers, Headers)


def test_copy_is_independent_and_still_case_insensitive() -> None:
    headers = make()
    for duplicate in (headers.copy(), copy.copy(headers), copy.deepcopy(headers)):
        assert isinstance(duplicate, Headers)
        assert duplicate == headers
        duplicate["content-type"] = "changed"
        assert duplicate["CONTENT-TYPE"] == "changed"
        assert headers["Content-Type"] == "text/plain"
        del duplicate["x-custom"]
        assert "X-Custom" in headers


def test_pickle_round_trip() -> None:
    clone = pickle.loads(pickle.dumps(make()))
    assert isinstance(clone, Headers)
    assert clone["content-type"] == "text/plain"
    assert list(clone) == ["Content-Type", "X-Custom"]


def test_json_dumps_gives_the_names_as_sent() -> None:
    assert json.loads(json.dumps(make())) == {"Content-Type": "text/plain", "X-Custom": "1"}


def test_repr() -> None:
    assert repr(Headers({"A": "1"})) == "Headers({'A': '1'})"


def test_union_gives_headers() -> None:
    merged = make() | {"content-type": "text/html", "New": "n"}
    assert isinstance(merged, Headers)
    assert merged["CONTENT-TYPE"] == "text/html"
    assert len(merged) == 3
    assert make()["content-type"] == "text/plain"


def test_a_copy_is_independent_and_still_case_insensitive() -> None:
    original = Headers({"Content-Type": "text/plain", "ETag": '"1"'})
    copied = original.copy()
    copied["Content-Type"] = "text/html"
    copied["x-new"] = "1"
    assert original == {"Content-Type": "text/plain", "ETag": '"1"'}
    assert copied == {"Content-Type": "text/html", "ETag": '"1"', "x-new": "1"}
    assert copied["CONTENT-TYPE"] == "text/html" and "X-NEW" in copied
    assert "x-new" not in original and original["content-type"] == "text/plain"
    assert list(copied) == ["Content-Type", "ETag", "x-new"]  # names as spelled, in order
    assert dict(copied) == {"Content-Type": "text/html", "ETag": '"1"', "x-new": "1"}


def test_has_any_finds_a_name_in_any_case() -> None:
    from picohttp._headers import has_any

    wanted = frozenset(("range", "if-none-match"))
    assert has_any(Headers({"RANGE": "bytes=0-1"}), wanted)
    assert not has_any(Headers({"Host": "x", "Accept": "*/*"}), wanted)
    assert has_any({"If-None-Match": '"a"'}, wanted)  # a plain dict put there by a handler
    assert not has_any({}, wanted)
