"""``WorkerPool``: a burst of items gets a thread each, up to the cap (no sockets)."""

from __future__ import annotations

import threading
from typing import Any, List

from picohttp._pool import WorkerPool
from support import wait_until


def test_a_burst_gets_one_thread_per_item() -> None:
    burst = 10
    barrier = threading.Barrier(burst + 1)
    done: List[Any] = []

    def work(item: Any) -> None:
        barrier.wait(10)  # every item must be running at once to pass
        done.append(item)

    pool = WorkerPool(work, max_threads=32)
    for item in range(burst):
        pool.submit(item)
    barrier.wait(10)  # raises BrokenBarrierError if an item waits behind another
    assert pool.shutdown(10) == 0
    assert sorted(done) == list(range(burst))
    assert pool.size == burst


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
        pool.submit(item)
    for _ in range(50):
        assert done.acquire(timeout=10)
    assert pool.size <= 3
    assert running[1] <= 3
    assert pool.shutdown(10) == 0
