"""A bounded run of tests/fuzz/mutation_fuzz.py in the normal suite (2,000 mutations per mode).

Longer runs: ``python tests/fuzz/mutation_fuzz.py --iterations 100000 [--sequential]``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from attack import attacked

from picohttp import Limits

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
