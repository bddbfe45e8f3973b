"""The pure rules of _conditional.py: entity tags, RFC 9110 13.2.2 precedence, ranges, gzip."""

from __future__ import annotations

import os

import pytest

from picohttp import Headers
from picohttp._conditional import (
    UNSATISFIABLE,
    accepts_gzip,
    check_preconditions,
    if_range_holds,
    make_etag,
    parse_entity_tags,
    parse_range,
    select_range,
)
from picohttp._httpdate import format_http_date

ETAG = '"abc-10-ff"'
MTIME = 1_700_000_000
LM = format_http_date(MTIME)
EARLIER = format_http_date(MTIME - 60)
LATER = format_http_date(MTIME + 60)


def pre(method: str = "GET", **fields: str) -> int | None:
    headers = Headers({name.replace("_", "-"): value for name, value in fields.items()})
    return check_preconditions(method, headers, ETAG, MTIME)


def test_etag_is_strong_and_changes_with_inode_size_and_mtime(tmp_path):
    a = tmp_path / "a"
    a.write_bytes(b"x" * 10)
    tag = make_etag(os.stat(a))
    assert tag.startswith('"') and tag.endswith('"') and not tag.startswith("W/")
    b = tmp_path / "b"
    b.write_bytes(b"x" * 10)
    os.utime(b, ns=(os.stat(a).st_atime_ns, os.stat(a).st_mtime_ns))
    assert make_etag(os.stat(b)) != tag  # same size and mtime, other inode
    os.replace(b, a)  # what rsync and editors do
    assert make_etag(os.stat(a)) != tag
    stat = os.stat(a)
    a.write_bytes(b"y" * 11)
    assert make_etag(os.stat(a)) != make_etag(stat)


@pytest.mark.parametrize(
    ("value", "tags"),
    [
        ('"a"', [(False, '"a"')]),
        ('W/"a"', [(True, '"a"')]),
        ('"a", W/"b" ,"c"', [(False, '"a"'), (True, '"b"'), (False, '"c"')]),
        ('"a,b"', [(False, '"a,b"')]),  # a comma inside the quotes is part of the tag
        ('""', [(False, '""')]),
        ('"a",', [(False, '"a"')]),
        ("a", None),  # unquoted: malformed
        ('"a" "b"', None),
        ('"a', None),
    ],
)
def test_parse_entity_tags(value, tags):
    assert parse_entity_tags(value) == tags


def test_if_none_match_uses_weak_comparison_and_lists():
    assert pre(If_None_Match=ETAG) == 304
    assert pre(If_None_Match=f"W/{ETAG}") == 304
    assert pre(If_None_Match=f'"other", {ETAG}') == 304
    assert pre(If_None_Match='"other", W/"more"') is None
    assert pre(If_None_Match="*") == 304
    assert pre("HEAD", If_None_Match=ETAG) == 304
    assert pre(If_None_Match="garbage") is None


def test_if_modified_since():
    assert pre(If_Modified_Since=LM) == 304
    assert pre(If_Modified_Since=LATER) == 304
    assert pre(If_Modified_Since=EARLIER) is None
    assert pre(If_Modified_Since="yesterday") is None  # invalid dates are ignored
    assert pre(If_Modified_Since=f"{LM}, {LM}") is None  # so are lists
    assert pre("POST", If_Modified_Since=LM) is None  # only GET and HEAD


def test_if_none_match_takes_precedence_over_if_modified_since():
    # RFC 9110 13.2.2 step 3-4: If-Modified-Since is not even evaluated.
    assert pre(If_None_Match='"other"', If_Modified_Since=LATER) is None
    assert pre(If_None_Match=ETAG, If_Modified_Since=EARLIER) == 304


def test_if_match_and_if_unmodified_since_give_412():
    assert pre(If_Match=ETAG) is None
    assert pre(If_Match=f"W/{ETAG}") == 412  # If-Match compares strongly
    assert pre(If_Match='"other"') == 412
    assert pre(If_Match="*") is None
    assert pre(If_Unmodified_Since=LM) is None
    assert pre(If_Unmodified_Since=EARLIER) == 412
    # If-Match present: If-Unmodified-Since is ignored (step 2 only without step 1).
    assert pre(If_Match=ETAG, If_Unmodified_Since=EARLIER) is None
    # Step 1 comes before step 3: a failed If-Match wins over a matching If-None-Match.
    assert pre(If_Match='"other"', If_None_Match=ETAG) == 412
    assert pre("PUT", If_None_Match=ETAG) == 412


@pytest.mark.parametrize(
    ("value", "size", "expected"),
    [
        ("bytes=0-99", 1000, (0, 99)),
        ("bytes=10-", 1000, (10, 999)),
        ("bytes=-100", 1000, (900, 999)),
        ("bytes=-5000", 1000, (0, 999)),  # a suffix longer than the file: all of it
        ("bytes=990-5000", 1000, (990, 999)),  # last byte clipped to the file
        ("bytes=999-999", 1000, (999, 999)),
        ("Bytes = 5 - 6 ", 1000, (5, 6)),  # unit is case-insensitive, OWS allowed
        ("bytes=1000-", 1000, UNSATISFIABLE),
        ("bytes=1000-2000", 1000, UNSATISFIABLE),
        ("bytes=-0", 1000, UNSATISFIABLE),
        ("bytes=0-", 0, UNSATISFIABLE),  # an empty file has no bytes to give
        ("bytes=-1", 0, UNSATISFIABLE),
        ("bytes=5-2", 1000, None),  # invalid: ignored, the whole file
        ("bytes=0-1,5-6", 1000, None),  # several ranges: the whole file
        ("bytes=-", 1000, None),
        ("bytes=a-b", 1000, None),
        ("bytes=+1-2", 1000, None),
        ("items=0-1", 1000, None),
        ("bytes 0-1", 1000, None),
        ("bytes=", 1000, None),
    ],
)
def test_parse_range(value, size, expected):
    assert parse_range(value, size) == expected


def test_if_range():
    now = MTIME + 3600
    assert if_range_holds(ETAG, ETAG, MTIME, now)
    assert not if_range_holds('"other"', ETAG, MTIME, now)
    assert not if_range_holds(f"W/{ETAG}", ETAG, MTIME, now)  # weak tags never match
    assert if_range_holds(LM, ETAG, MTIME, now)
    assert not if_range_holds(LATER, ETAG, MTIME, now)  # a date must match exactly
    assert not if_range_holds(LM, ETAG, MTIME, MTIME + 0.5)  # modified this second: weak
    headers = Headers({"Range": "bytes=0-1", "If-Range": '"old"'})
    assert select_range(headers, 10, ETAG, MTIME, now) is None
    headers["If-Range"] = ETAG
    assert select_range(headers, 10, ETAG, MTIME, now) == (0, 1)
    assert select_range(Headers(), 10, ETAG, MTIME, now) is None


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("x-gzip", True),
        ("GZIP", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, *", False),  # an explicit refusal beats the wildcard
        ("*;q=0", False),
        ("deflate, br", False),
        ("identity", False),
        ("", False),
        (None, False),
        ("gzip;q=nonsense", False),
    ],
)
def test_accepts_gzip(value, allowed):
    assert accepts_gzip(value) is allowed
