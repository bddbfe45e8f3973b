"""``stop()``: under load, in-flight requests complete, nothing is answered twice or half,
new connections are refused, and nothing is left open."""

from __future__ import annotations

import gc

import picohttp
from support import open_fds, thread_count


def test_a_server_never_started_leaks_nothing_when_stopped():
    gc.collect()
    fds, threads = open_fds(), thread_count()
    for _ in range(3):
        server = picohttp.HttpServer(0, lambda q, r: None, host="127.0.0.1", start=False)
        server.stop()
        server.stop()  # idempotent
    assert open_fds() == fds
    assert thread_count() == threads
