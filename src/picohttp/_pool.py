"""Worker threads for ``threads=True``: as few as keep up, more when handlers are slow.

Measured (wrk, 50 connections, hello handler, 2 cores): with a thread started
whenever none was idle, the burst of the load started all 32, every request
then woke a sleeping thread, and the futex and context-switch work cost 35%
more kernel time per request and a fifth of the throughput against two
threads that mostly find the next request already queued.  So:
- the first ``EAGER`` threads start as soon as a request finds none idle;
- beyond those, a request that finds every thread busy waits in the queue,
  and the selector loop calls ``check()`` ``STUCK_AFTER`` seconds later: if
  requests still wait and every thread has been on its current request for
  that long (slow handlers, not a busy CPU), threads start for all of them,
  up to the cap.  A slow handler thus delays others by at most ~10 ms.
Hand-off is ``queue.SimpleQueue`` (C, one lock) rather than a Condition and a
deque: it is the cheapest thread hand-off CPython has.  Past the cap, requests
wait in the queue in arrival order.  An idle server holds no threads.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Callable, List

log = logging.getLogger("picohttp")

_STOP = object()

#: Threads started on demand without waiting.
EAGER = 2
#: Seconds every thread must have been busy with one request before more start.
STUCK_AFTER = 0.01


class WorkerPool:
    """Run ``work(item)`` for each submitted item on at most ``max_threads`` threads."""

    def __init__(self, work: Callable[[Any], None], max_threads: int) -> None:
        self._work = work
        self._max = max_threads
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: List[threading.Thread] = []
        # When each thread began its current item, 0.0 while it is between items
        # (idle); each thread writes only its own slot, the loop thread reads them.
        self._busy_since: List[float] = []

    @property
    def size(self) -> int:
        """Threads started so far."""
        return len(self._threads)

    @property
    def idle(self) -> int:
        """Threads between items: waiting for the next one, or about to."""
        return self._busy_since.count(0.0)

    def submit(self, item: Any) -> bool:
        """Queue ``item`` (one caller only: the loop thread).

        Returns True when every thread was busy and more may be needed: the
        caller should call ``check()`` ``STUCK_AFTER`` seconds from now.
        """
        queue = self._queue
        # An idle thread for every item already waiting, and one more for this one?
        # (Counting only idle threads let a burst queue behind one busy thread.)
        if queue.qsize() < self._busy_since.count(0.0):
            queue.put(item)
            # Idle counts can be a moment stale (a thread that just took an item
            # has not marked itself busy yet), so the check still runs; it is
            # one qsize() when the queue has emptied.
            return len(self._threads) < self._max
        if len(self._threads) < EAGER and len(self._threads) < self._max:
            self._start()
            queue.put(item)
            return False
        queue.put(item)  # every thread is busy: it waits for whichever frees first
        return len(self._threads) < self._max

    def check(self, now: float) -> bool:
        """Start threads if requests wait behind threads all busy for ``STUCK_AFTER``.

        Returns True when requests still wait and another check is due later.
        """
        waiting = self._queue.qsize()
        if not waiting:
            return False
        busy_since = self._busy_since
        if any(since == 0.0 or now - since < STUCK_AFTER for since in busy_since):
            return True  # some thread is moving through the queue: look again later
        for _ in range(min(waiting, self._max - len(self._threads))):
            self._start()
        return False

    def _start(self) -> None:
        index = len(self._threads)
        self._busy_since.append(time.monotonic())  # busy: it starts to take an item
        thread = threading.Thread(
            target=self._run, args=(index,), name=f"picohttp-worker-{index + 1}", daemon=True
        )
        self._threads.append(thread)
        try:
            thread.start()
        except BaseException:  # no thread (memory, a limit): as if never tried
            self._threads.pop()
            self._busy_since.pop()
            raise

    def _run(self, index: int) -> None:
        get = self._queue.get
        work = self._work
        busy_since = self._busy_since
        clock = time.monotonic
        # Counted busy from _start() until here, so a submit does not start a second
        # thread for the item this one is about to take; idle from now on until it
        # has one (another thread may have taken the item that started this one).
        busy_since[index] = 0.0
        while True:
            item = get()
            if item is _STOP:
                return
            busy_since[index] = clock()
            try:
                work(item)
            except BaseException:  # a worker never dies of one request
                log.exception("unexpected error in a picohttp worker")
            busy_since[index] = 0.0

    def shutdown(self, timeout: float) -> int:
        """Let queued work finish, end the threads; return how many were still on a request
        at ``timeout`` (an idle thread that has not yet seen its stop does not count)."""
        for _ in self._threads:
            self._queue.put(_STOP)
        deadline = time.monotonic() + timeout
        current = threading.current_thread()
        busy = 0
        for index, thread in enumerate(self._threads):
            if thread is current:
                continue
            thread.join(max(0.0, deadline - time.monotonic()))
            busy += thread.is_alive() and self._busy_since[index] != 0.0
        return busy
