"""``WorkerPool``: few threads for quick items, one per item for stuck ones (no sockets).

The loop's timer is played by the test: when ``submit`` asks for a check, the
loop calls ``check()`` ``STUCK_AFTER`` seconds later, and again while it
returns True.
"""

from __future__ import annotations

import threading
import time
from typing import Any, List

from picohttp._pool import EAGER, STUCK_AFTER, WorkerPool
from support import wait_until


def run_checks(pool: WorkerPool, until: threading.Event, timeout: float = 10.0) -> None:
    """What the loop does: check() every STUCK_AFTER while it asks to, until ``until`` is set."""
    deadline = time.monotonic() + timeout
    while not until.is_set() and time.monotonic() < deadline:
        time.sleep(STUCK_AFTER)  # the loop's timer, not a synchronisation guess
        pool.check(time.monotonic())


def test_a_burst_of_stuck_items_gets_one_thread_per_item() -> None:
    burst = 10
    barrier = threading.Barrier(burst + 1)
    done: List[Any] = []

    def work(item: Any) -> None:
        barrier.wait(10)  # every item must be running at once to pass
        done.append(item)

    pool = WorkerPool(work, max_threads=32)
    asks = [pool.submit(item) for item in range(burst)]
    # Only an item that started one of the first EAGER threads needs no check.
    assert asks.count(False) <= EAGER
    all_running = threading.Event()
    checker = threading.Thread(target=run_checks, args=(pool, all_running))
    checker.start()
    started = time.monotonic()
    barrier.wait(10)  # raises BrokenBarrierError if an item waits behind another
    waited = time.monotonic() - started
    all_running.set()
    checker.join()
    assert pool.shutdown(10) == 0
    assert sorted(done) == list(range(burst))
    assert pool.size == burst
    assert waited < 1.0  # a few STUCK_AFTER periods, not a handler's length


def test_quick_items_keep_the_pool_small() -> None:
    done = threading.Semaphore(0)

    def work(item: Any) -> None:
        done.release()

    pool = WorkerPool(work, max_threads=32)
    for item in range(2000):
        if pool.submit(item):
            pool.check(time.monotonic())  # as the loop would
    for _ in range(2000):
        assert done.acquire(timeout=10)
    assert pool.size <= EAGER
    assert pool.shutdown(10) == 0


def test_idle_workers_are_reused_and_the_cap_holds() -> None:
    lock = threading.Lock()
    running = [0, 0]
    done = threading.Semaphore(0)

    def work(item: Any) -> None:
        with lock:
            running[0] += 1
            running[1] = max(running)
        with lock:
            running[0] -= 1
        done.release()

    pool = WorkerPool(work, max_threads=3)
    for item in range(5):  # one at a time: the first worker is idle again each time
        pool.submit(item)
        assert done.acquire(timeout=10)
        assert wait_until(lambda: pool.idle == 1)  # back in get(), waiting
    assert pool.size == 1
    for item in range(50):
        if pool.submit(item):
            pool.check(time.monotonic() + 1.0)  # however stuck they look, the cap holds
    for _ in range(50):
        assert done.acquire(timeout=10)
    assert pool.size <= 3
    assert running[1] <= 3
    assert pool.shutdown(10) == 0


def test_a_thread_started_for_an_item_another_took_counts_as_idle() -> None:
    """A started thread is busy until it reaches get(); then idle, whoever took its item."""
    done = threading.Semaphore(0)

    def work(item: Any) -> None:
        done.release()

    pool = WorkerPool(work, max_threads=8)
    for round_ in range(50):  # bursts of two: the second may start a thread the first frees
        pool.submit(round_)
        pool.submit(round_)
        assert done.acquire(timeout=10) and done.acquire(timeout=10)
    assert pool.size <= EAGER
    assert wait_until(lambda: pool.idle == pool.size)  # nobody stuck "busy" forever
    assert pool.shutdown(10) == 0


def test_shutdown_at_once_counts_only_threads_still_on_an_item() -> None:
    started = threading.Event()
    release = threading.Event()
    quick_done = threading.Event()

    def work(item: Any) -> None:
        if item == "stuck":
            started.set()
            release.wait(10)
        else:
            quick_done.set()

    pool = WorkerPool(work, max_threads=4)
    pool.submit("stuck")
    assert started.wait(10)
    pool.submit("quick")  # the only thread is busy: a second one starts (EAGER)
    assert quick_done.wait(10)
    assert pool.size == 2
    assert wait_until(lambda: pool.idle == 1)  # the quick item's thread is between items
    try:
        # No time to wait: the idle thread has not seen its stop yet, and must not count.
        assert pool.shutdown(0) == 1
    finally:
        release.set()
    assert pool.shutdown(10) == 0
