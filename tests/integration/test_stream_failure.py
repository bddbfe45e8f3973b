"""A streamed body whose generator raises: the client gets what was produced, the server goes on.

Regression: the exception escaped ``HttpServer._respond``, so with threads=True
the connection was never closed (the client hung, ``stop()`` waited out its
timeout) and with threads=False it killed the selector loop.
"""

from __future__ import annotations

import logging

from support import exchange, parse_response, serving


def handler(request, response):
    if request.path[0] == "broken":

        def pieces():
            yield "first part"
            raise ValueError("generator failed")

        response.data = pieces()
    else:
        response.data = "fine"


def test_failing_stream_is_cut_off_logged_and_the_server_keeps_serving(threads, caplog):
    with (
        caplog.at_level(logging.ERROR, logger="picohttp"),
        serving(handler, threads=threads, stopTimeout=1.0) as server,
    ):
        status, headers, body = parse_response(
            exchange(server.port, b"GET /broken HTTP/1.0\r\n\r\n", timeout=5)
        )
        assert status == 200
        assert body == b"first part"
        assert "content-length" not in headers
        for _ in range(3):
            assert (
                parse_response(exchange(server.port, b"GET / HTTP/1.0\r\n\r\n", timeout=5))[2]
                == b"fine"
            )
    failures = [
        r for r in caplog.records if r.exc_info and "generator failed" in str(r.exc_info[1])
    ]
    assert len(failures) == 1
    assert not [r for r in caplog.records if "still open" in r.getMessage()]
