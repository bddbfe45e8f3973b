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

import collections
import logging
import queue
import threading
import time
from typing import Any, Callable, Deque, List

log = logging.getLogger("picohttp")

_STOP = object()


class _Unclaimed:
    """An item queued while every thread was busy (no idle token was taken for it)."""

    __slots__ = ("item",)

    def __init__(self, item: Any) -> None:
        self.item = item


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
        # One token per worker that finished its item and waits for the next; the
        # submitter pops one per item (deque append and pop are atomic).  Items
        # queued at the cap add tokens no submit consumed; maxlen bounds them, and
        # at the cap no thread could be started anyway.
        self._idle: Deque[None] = collections.deque(maxlen=max_threads)
        self._threads: List[threading.Thread] = []
        # When each thread began its current item (0.0: between items); each
        # thread writes only its own slot, the loop thread reads them.
        self._busy_since: List[float] = []

    @property
    def size(self) -> int:
        """Threads started so far."""
        return len(self._threads)

    @property
    def idle(self) -> int:
        """Threads that finished their last item and wait for the next."""
        return len(self._idle)

    def submit(self, item: Any) -> bool:
        """Queue ``item`` (one caller only: the loop thread).

        Returns True when every thread was busy and more may be needed: the
        caller should call ``check()`` ``STUCK_AFTER`` seconds from now.
        """
        idle = self._idle
        if idle:
            idle.pop()  # claim an idle worker for this item
            self._queue.put(item)
            return False
        if len(self._threads) < EAGER and len(self._threads) < self._max:
            self._start()  # its first item needs no token
            self._queue.put(item)
            return False
        # Every thread is busy: the item waits for whichever frees first, and
        # that thread's idle token must go with it (see _run).
        self._queue.put(_Unclaimed(item))
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
        self._busy_since.append(0.0)
        thread = threading.Thread(
            target=self._run, args=(index,), name=f"picohttp-worker-{index + 1}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _run(self, index: int) -> None:
        get = self._queue.get
        became_idle = self._idle.append
        idle_pop = self._idle.pop
        work = self._work
        busy_since = self._busy_since
        clock = time.monotonic
        while True:
            item = get()
            if item is _STOP:
                return
            if type(item) is _Unclaimed:
                item = item.item
                # This thread's token said "idle", but it took an item nobody claimed.
                try:  # noqa: SIM105 - hot path: suppress() costs a context manager
                    idle_pop()
                except IndexError:
                    pass  # a submit claimed it meanwhile; the loop's check covers that item
            busy_since[index] = clock()
            try:
                work(item)
            except BaseException:  # a worker never dies of one request
                log.exception("unexpected error in a picohttp worker")
            busy_since[index] = 0.0
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
