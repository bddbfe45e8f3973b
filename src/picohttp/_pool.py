"""Worker threads for ``threads=True``: started as needed, up to a cap, then reused.

A thread is started only when a request arrives and none is idle, so an idle
server holds no threads and a hello-world load settles on the few it needs.
Hand-off is ``queue.SimpleQueue`` (C, one lock) rather than a Condition and a
deque: it is the cheapest thread hand-off CPython has.  Past the cap, requests
wait in the queue in arrival order.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from typing import Any, Callable, Deque, List

log = logging.getLogger("picohttp")

_STOP = object()


class WorkerPool:
    """Run ``work(item)`` for each submitted item on at most ``max_threads`` threads."""

    def __init__(self, work: Callable[[Any], None], max_threads: int) -> None:
        self._work = work
        self._max = max_threads
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # One token per worker that finished its item and waits for the next; the
        # submitter pops one per item (deque append and pop are atomic).  Items
        # queued at the cap add tokens no submit consumed; maxlen bounds them, and
        # at the cap no thread could be started anyway.
        self._idle: Deque[None] = collections.deque(maxlen=max_threads)
        self._threads: List[threading.Thread] = []

    @property
    def size(self) -> int:
        """Threads started so far."""
        return len(self._threads)

    @property
    def idle(self) -> int:
        """Threads that finished their last item and wait for the next."""
        return len(self._idle)

    def submit(self, item: Any) -> None:
        """Queue ``item``; start a thread if none is idle and the cap allows (one caller only)."""
        idle = self._idle
        if idle:
            idle.pop()  # claim an idle worker for this item (only this caller pops)
        elif len(self._threads) < self._max:
            thread = threading.Thread(
                target=self._run, name=f"picohttp-worker-{len(self._threads) + 1}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        self._queue.put(item)

    def _run(self) -> None:
        get = self._queue.get
        became_idle = self._idle.append
        work = self._work
        while True:
            item = get()
            if item is _STOP:
                return
            try:
                work(item)
            except BaseException:  # a worker never dies of one request
                log.exception("unexpected error in a picohttp worker")
            # Idle only once its item is done: counting a thread idle while it waits
            # in get() let a burst of requests queue behind one busy worker.
            became_idle(None)

    def shutdown(self, timeout: float) -> int:
        """Let queued work finish, end the threads; return how many still ran at ``timeout``."""
        for _ in self._threads:
            self._queue.put(_STOP)
        deadline = time.monotonic() + timeout
        current = threading.current_thread()
        alive = 0
        for thread in self._threads:
            if thread is current:
                continue
            thread.join(max(0.0, deadline - time.monotonic()))
            alive += thread.is_alive()
        return alive
