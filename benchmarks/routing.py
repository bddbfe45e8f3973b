"""Routing cost against the number of routes: picohttp.Router stays flat.

Times ``router(request, response)`` (dispatch and the route function's call,
no sockets, no parsing) for a router with 1 route and one with 100, hitting
the first and the last route registered, and prints microseconds per
dispatch and the ratio to the 1-route case.  For contrast it times a naive
router that tries each route's regular expression in turn (what a list of
routes costs), whose last-route time grows with the number of routes.

    python benchmarks/routing.py            # a few seconds
    python benchmarks/routing.py --quick    # well under a second; proves the script runs
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from picohttp import HttpRequest, HttpResponse, Router


def endpoint(request: HttpRequest, response: HttpResponse, name: str) -> None:
    response.status = 200


def pattern(i: int) -> str:
    return f"/section{i}/items/{{name}}"


def target(i: int) -> List[str]:
    return [f"section{i}", "items", "apple"]


def trie_router(count: int) -> Callable[..., None]:
    router = Router()
    for i in range(count):
        router.route("GET", pattern(i))(endpoint)
    return router


class LinearRouter:
    """Each route a compiled regex, tried in order (the cost picohttp's trie avoids)."""

    def __init__(self, count: int) -> None:
        self.routes: List[Tuple[str, Any, Callable[..., None]]] = [
            ("GET", re.compile(rf"/section{i}/items/(?P<name>[^/]+)"), endpoint)
            for i in range(count)
        ]

    def __call__(self, request: HttpRequest, response: HttpResponse) -> None:
        path = "/" + "/".join(request.path)
        for method, regex, function in self.routes:
            match = regex.fullmatch(path)
            if match and method == request.method:
                function(request, response, **match.groupdict())
                return
        response.status = 404


def batch_size(handler: Callable[..., None], request: HttpRequest, seconds: float) -> int:
    """Dispatches per timed batch, so one batch takes about ``seconds``."""
    response = HttpResponse()
    batch = 1000
    while batch < 10_000_000:
        start = time.process_time()
        for _ in range(batch):
            handler(request, response)
        if time.process_time() - start > seconds:
            break
        batch *= 2
    return batch


def measure(cases: List[Tuple[Callable[..., None], List[str]]], seconds: float) -> List[float]:
    """Microseconds per dispatch for each case: the best batch of ``ROUNDS``.

    Cases take turns, round after round, so a burst of load from another
    process on a shared machine hits every case alike instead of one; and the
    clock is this process's CPU time, so time spent descheduled is not counted.
    """
    prepared = []
    for handler, path in cases:
        request = HttpRequest("GET", path)
        response = HttpResponse()
        handler(request, response)
        assert response.status == 200, f"{path} was not routed"
        prepared.append((handler, request, batch_size(handler, request, seconds / 10)))
    best = [float("inf")] * len(prepared)
    for _ in range(ROUNDS):
        for position, (handler, request, batch) in enumerate(prepared):
            response = HttpResponse()
            start = time.process_time()
            for _ in range(batch):
                handler(request, response)
            best[position] = min(best[position], (time.process_time() - start) / batch * 1e6)
    return best


ROUNDS = 15


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (proves the script runs)")
    parser.add_argument("--routes", type=int, default=100, help="routes in the large router")
    options = parser.parse_args()
    seconds = 0.01 if options.quick else 0.2
    many = options.routes

    rows = []
    cases: List[Tuple[Callable[..., None], List[str]]] = []
    for name, make in (
        ("picohttp.Router (trie)", trie_router),
        ("linear regex list", LinearRouter),
    ):
        large = make(many)
        for count, hit, handler, index in (
            (1, "first", make(1), 0),
            (many, "first", large, 0),
            (many, "last", large, many - 1),
        ):
            rows.append((name, count, hit))
            cases.append((handler, target(index)))
    times = measure(cases, seconds)

    version = sys.version.split()[0]
    print(f"Python {version}; CPU microseconds per dispatch, best of {ROUNDS} rounds")
    print(f"{'router':<24}{'routes':>7}{'hit':>7}{'us':>8}{'vs 1 route':>12}")
    single = 0.0
    for (name, count, hit), us in zip(rows, times):
        if count == 1:
            single = us
        print(f"{name:<24}{count:>7}{hit:>7}{us:>8.2f}{us / single:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
