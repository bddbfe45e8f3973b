"""A bounded run of tests/fuzz/mutation_fuzz.py in the normal suite (2,000 mutations per mode).

Longer runs: ``python tests/fuzz/mutation_fuzz.py --iterations 100000 [--sequential]``.
"""

from __future__ import annotations

import errno
import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from attack import attacked

from picohttp import _body
from picohttp._limits import Limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))
import mutation_fuzz

ITERATIONS = 2000
SEED = int(os.environ.get("PICOHTTP_FUZZ_SEED", "20261126"))


def test_mutated_requests_get_the_parsers_answer(threads):
    handler = mutation_fuzz.EchoHandler()
    limits = Limits(
        max_request_line=mutation_fuzz.LIMITS["maxRequestLine"],
        max_header_bytes=mutation_fuzz.LIMITS["maxHeaderBytes"],
        max_headers=mutation_fuzz.LIMITS["maxHeaders"],
        max_body=mutation_fuzz.LIMITS["maxBody"],
    )
    start = time.monotonic()
    with attacked(handler, threads=threads, **mutation_fuzz.LIMITS) as server:
        summary = mutation_fuzz.fuzz(
            server.port, handler, ITERATIONS, SEED + threads, limits=limits, concurrency=4
        )
    print(summary.report())
    assert summary.failures == []
    assert summary.iterations == ITERATIONS
    # The mutations reach every kind of answer, and some requests survive them.
    kinds = set(summary.outcomes)
    assert {"request", "status 400", "status 414", "status 431"} <= kinds
    assert len(kinds) >= 6
    assert time.monotonic() - start < 20


BODY_ITERATIONS = 1500


def _fuzz_limits() -> Limits:
    return Limits(
        max_request_line=mutation_fuzz.LIMITS["maxRequestLine"],
        max_header_bytes=mutation_fuzz.LIMITS["maxHeaderBytes"],
        max_headers=mutation_fuzz.LIMITS["maxHeaders"],
        max_body=mutation_fuzz.LIMITS["maxBody"],
    )


def test_mutated_bodies_get_the_parsers_and_the_form_parsers_answer(threads):
    """Content-Length, chunked and form bodies mutated: the server answers what the pure
    parser and form parser decide (a request, or the status of their RemoteProtocolError),
    never a 500; the handler reads request.form and request.files of every form."""
    handler = mutation_fuzz.EchoHandler()
    with attacked(handler, threads=threads, **mutation_fuzz.LIMITS) as server:
        summary = mutation_fuzz.fuzz(
            server.port,
            handler,
            BODY_ITERATIONS,
            SEED + 10 + threads,
            limits=_fuzz_limits(),
            concurrency=4,
            bodies=True,
        )
    print(summary.report())
    assert summary.failures == []
    assert summary.iterations == BODY_ITERATIONS
    assert "status 500" not in summary.outcomes
    # Bodies survive the mutations, and framing and form errors are reached.
    assert {"request", "status 400"} <= set(summary.outcomes)
    assert summary.handler_calls > summary.outcomes["request"]  # forms refused in the handler


def test_mutated_bodies_end_in_a_request_or_a_protocol_error_however_they_are_cut():
    """The pure invariant, without sockets: feeding a mutated body whole or in random reads
    gives the same outcome, and that outcome is a request (its form read) or a
    RemoteProtocolError: any other exception escapes oracle_in_pieces and fails the test."""
    import random

    limits = _fuzz_limits()
    kinds = set()
    for i in range(3000):
        rng = random.Random(f"{SEED}:pure:{i}")
        data = mutation_fuzz.mutate_body(rng)
        whole = mutation_fuzz.oracle_in_pieces([data], limits)
        points = sorted(rng.sample(range(1, len(data)), min(rng.randint(1, 6), len(data) - 1)))
        pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]
        assert mutation_fuzz.oracle_in_pieces(pieces, limits) == whole, (i, data)
        kinds.add(whole[0] if whole[0] != "status" else f"status {whole[1]}")
    assert {"request", "status 400"} <= kinds


@pytest.mark.parametrize("number", [errno.ENOSPC, errno.EMFILE])
def test_mutated_bodies_with_the_machine_failing_under_them(threads, monkeypatch, number):
    """The body fuzz again, with one in five stores of body bytes failing as a full disk
    (ENOSPC) or a process out of descriptors (EMFILE) would: every answer is still the
    parser's, or the fault's own 507/503, never a 500 or a hang; the health checks the
    fuzzer makes along the way are answered; the faults were really hit."""
    real_write = _body.BodySink.write
    rng = random.Random(f"{SEED}:faults:{number}")
    lock = threading.Lock()
    injected = []

    def failing_write(sink: Any, data: bytes) -> None:
        # Only the server's loop thread stores bodies it reads; the fuzzer's oracle
        # parses the same bytes in this process on its own threads, and must not fail.
        if threading.current_thread().name != "picohttp-loop":
            real_write(sink, data)
            return
        with lock:
            fail = rng.random() < 0.2
        if fail:
            injected.append(number)
            raise OSError(number, os.strerror(number))
        real_write(sink, data)

    monkeypatch.setattr(_body.BodySink, "write", failing_write)
    handler = mutation_fuzz.EchoHandler()
    with attacked(handler, threads=threads, **mutation_fuzz.LIMITS) as server:
        summary = mutation_fuzz.fuzz(
            server.port,
            handler,
            600,
            SEED + 20 + threads,
            limits=_fuzz_limits(),
            concurrency=4,
            bodies=True,
            fault_answers=(507,) if number == errno.ENOSPC else (503,),
        )
    print(summary.report(), f"{len(injected)} faults injected")
    assert summary.failures == []
    assert "status 500" not in summary.outcomes
    fault = "fault 507" if number == errno.ENOSPC else "fault 503"
    assert len(injected) >= 20 and summary.outcomes[fault] >= 10, summary.outcomes
    assert summary.outcomes["request"] > summary.outcomes[fault]  # most still get through
