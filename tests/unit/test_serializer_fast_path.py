"""serialize's fast path (text, no handler headers) writes exactly what its general path writes.

An empty Headers dict takes the general path, a missing one the fast path; the
bytes on the wire must not depend on which.
"""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from picohttp import Headers, HttpResponse
from picohttp._errors import LocalProtocolError
from picohttp._serializer import serialize

DATE = "Thu, 26 Nov 2026 12:00:00 GMT"


def outcome(response: HttpResponse, method: str) -> Any:
    try:
        return serialize(response, method, DATE)
    except LocalProtocolError as error:
        return ("error", error.reason)


@settings(max_examples=400, deadline=None)
@given(
    st.text(max_size=40) | st.sampled_from(["<p>x</p>", " <b>", "\n<i>", "é", "\udcff", ""]),
    st.sampled_from([200, 201, 204, 299, 304, 404, 500, 100, 999, 1000, True, 200.0]),
    st.sampled_from(["HTTP/1.0", "HTTP/1.1"]),
    st.sampled_from(["GET", "HEAD", "POST"]),
)
def test_fast_and_general_paths_write_the_same_bytes(
    data: str, status: Any, protocol: str, method: str
) -> None:
    fast = HttpResponse(protocol, status, None, data)
    general = HttpResponse(protocol, status, Headers(), data)
    assert outcome(fast, method) == outcome(general, method)
