"""``X-Forwarded-For`` / ``X-Forwarded-Proto`` as a trusted proxy reports them (pure)."""

from __future__ import annotations

import pytest

from picohttp import Headers, HttpRequest
from picohttp._forwarded import apply_forwarded, forwarded, parse_address, proxy_hops


def test_trust_proxy_values() -> None:
    assert [proxy_hops(value) for value in (False, True, 0, 1, 3)] == [0, 1, 0, 1, 3]
    for bad in (-1, 1.5, "yes", None):
        with pytest.raises(ValueError, match="trustProxy"):
            proxy_hops(bad)


@pytest.mark.parametrize(
    ("field", "hops", "address"),
    [
        ("203.0.113.9", 1, "203.0.113.9"),
        ("6.6.6.6, 203.0.113.9", 1, "203.0.113.9"),  # the client's own entry is on the left
        ("6.6.6.6,203.0.113.9", 1, "203.0.113.9"),
        ("6.6.6.6, 203.0.113.9", 2, "6.6.6.6"),  # two proxies: the second appended the first's
        ("203.0.113.9", 2, None),  # fewer entries than proxies: it did not come through both
        ("6.6.6.6, 203.0.113.9, 10.0.0.2", 2, "203.0.113.9"),
        ("2001:db8::1", 1, "2001:db8::1"),
        ("2001:DB8:0:0::1", 1, "2001:db8::1"),  # normalised
        ("[2001:db8::1]:4711", 1, "2001:db8::1"),  # with a port, as some balancers send
        ("203.0.113.9:4711", 1, "203.0.113.9"),
        ("::ffff:203.0.113.9", 1, "203.0.113.9"),  # as the server shows IPv4 peers
        ("unknown", 1, None),
        ("evil\r\nheader", 1, None),
        ("", 1, None),
        ("6.6.6.6, ", 1, None),  # an empty last entry is no address
        ("1.2.3.4.5", 1, None),
    ],
)
def test_the_client_is_the_entry_the_nearest_trusted_proxy_added(
    field: str, hops: int, address: str
) -> None:
    assert forwarded(Headers({"X-Forwarded-For": field}), hops)[0] == address


@pytest.mark.parametrize(
    ("field", "hops", "scheme"),
    [
        ("https", 1, "https"),
        ("HTTPS", 1, "https"),
        ("http", 1, "http"),
        ("http, https", 1, "https"),
        ("http, https", 2, "http"),
        ("https", 2, None),
        ("ftp", 1, None),
        ("", 1, None),
    ],
)
def test_the_scheme_by_the_same_rule(field: str, hops: int, scheme: str) -> None:
    assert forwarded(Headers({"x-forwarded-proto": field}), hops)[1] == scheme


def test_apply_sets_client_and_scheme_and_keeps_the_headers() -> None:
    headers = {"X-Forwarded-For": "6.6.6.6, 198.51.100.4", "X-Forwarded-Proto": "https"}
    request = HttpRequest("GET", [""], headers=headers, client=("127.0.0.1", 5000))
    assert request.scheme == "http"
    assert apply_forwarded(request, 1) == ("198.51.100.4", 0)  # a forwarded port is unknown
    assert (request.client, request.scheme) == (("198.51.100.4", 0), "https")
    assert dict(request.headers) == headers  # still there for the handler to read
    plain = HttpRequest("GET", [""], headers={"X-Forwarded-For": "junk"}, client=("::1", 5))
    assert apply_forwarded(plain, 1) == ("::1", 5)
    assert plain.scheme == "http"


def test_parse_address_alone() -> None:
    assert parse_address("10.1.2.3") == "10.1.2.3"
    assert parse_address("[::1]") == "::1"
    assert parse_address("[::1") is None
