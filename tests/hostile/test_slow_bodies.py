"""A body trickled a byte at a time cannot hold a connection for long (issue 13, minBodyRate).

Each trickle sends its next byte well inside ``readTimeout``, so the per-read
timeout alone never ends it; the whole-body rule (``headTimeout`` after the
head, plus a second per ``minBodyRate`` bytes) does, with a 408.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from typing import Dict, List

import pytest
from attack import Recorder, attacked, exchange_raw

from support import connect, parse_response, read_all

HEAD_TIMEOUT = 5.0  # the body's grace under minBodyRate (connecting 850 may take seconds)
READ_TIMEOUT = 8.0  # longer than the trickle's gap: it never fires
GAP = 1.0  # seconds between two bytes of a trickle
MARGIN = 4.0  # for a loaded CI machine


class Trickles:
    """``count`` connections sending a 1000-byte body one byte every ``GAP`` seconds."""

    def __init__(self, port: int, count: int) -> None:
        self.selector = selectors.DefaultSelector()
        self.started: Dict[socket.socket, float] = {}
        self.answers: Dict[socket.socket, bytes] = {}
        self.answered_after: List[float] = []
        for _ in range(count):
            sock = connect(port)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(b"POST /trickle HTTP/1.0\r\nContent-Length: 1000\r\n\r\nx")
            self.started[sock] = time.monotonic()
            self.selector.register(sock, selectors.EVENT_READ)
        self._next_byte = time.monotonic() + GAP

    @property
    def open(self) -> int:
        return len(self.started) - len(self.answers)

    def run(self, seconds: float) -> None:
        """Trickle on and collect answers for ``seconds`` (or until every one is answered)."""
        end = time.monotonic() + seconds
        while self.open and time.monotonic() < end:
            now = time.monotonic()
            if now >= self._next_byte:
                self._next_byte = now + GAP
                for sock in self.started:
                    if sock not in self.answers:
                        with contextlib.suppress(OSError):  # answered and closed: read below
                            sock.send(b"x")
            wait = max(0.0, min(self._next_byte, end) - time.monotonic())
            for key, _ in self.selector.select(wait):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                self.selector.unregister(sock)
                self.answered_after.append(time.monotonic() - self.started[sock])
                self.answers[sock] = read_all(sock, 5)
                sock.close()  # as a client does once answered: the server's lingering ends

    def close(self) -> None:
        for sock in self.started:
            sock.close()
        self.selector.close()


def test_850_trickled_bodies_leave_the_server_answering_and_end_in_408() -> None:
    recorder = Recorder()
    with attacked(recorder, headTimeout=HEAD_TIMEOUT, readTimeout=READ_TIMEOUT) as server:
        trickles = Trickles(server.port, 850)
        try:
            connected = time.monotonic()
            trickles.run(GAP * 1.5)  # at least one byte more on each
            assert trickles.open == 850, "a trickle was ended before its bound"
            begin = time.monotonic()
            raw = exchange_raw(server.port, b"GET /normal HTTP/1.0\r\n\r\n", timeout=5)
            normal = time.monotonic() - begin
            assert parse_response(raw)[0] == 200
            assert trickles.open == 850  # still all open while the normal client was served
            trickles.run(HEAD_TIMEOUT + MARGIN + (time.monotonic() - connected))
            print(
                f"850 trickles: normal client answered in {normal * 1000:.0f} ms; trickles "
                f"ended {min(trickles.answered_after):.2f}-{max(trickles.answered_after):.2f} s "
                f"after their head (bound {HEAD_TIMEOUT} s + 1000 B / 500 B/s)"
            )
            assert normal < 1.0, f"{normal:.2f} s"
            assert trickles.open == 0, f"{trickles.open} trickles still open"
            statuses = {parse_response(raw)[0] for raw in trickles.answers.values()}
            assert statuses == {408}
            assert all(b"minBodyRate" in raw for raw in trickles.answers.values())
            # Not ended before the bound; the client's clock starts when it has sent the
            # head, which on a loaded machine can be up to a second after the server's.
            assert min(trickles.answered_after) >= HEAD_TIMEOUT - 1.0
            assert max(trickles.answered_after) < HEAD_TIMEOUT + 2 + MARGIN
            assert recorder.uris() == ["/health", "/normal"]  # no half body reached the handler
        finally:
            trickles.close()


def test_trickles_at_the_connection_cap_are_ended_so_others_get_in() -> None:
    """The issue's case: trickles fill maxConnections; the rule frees the slots."""
    with attacked(
        Recorder(), headTimeout=HEAD_TIMEOUT, readTimeout=READ_TIMEOUT, maxConnections=50
    ) as server:
        trickles = Trickles(server.port, 50)
        try:
            trickles.run(0.5)
            with connect(server.port) as sock:  # waits in the backlog: every slot is taken
                sock.sendall(b"GET /normal HTTP/1.0\r\n\r\n")
                begin = time.monotonic()
                trickles.run(HEAD_TIMEOUT + MARGIN)
                raw = read_all(sock, MARGIN)
                waited = time.monotonic() - begin
            assert parse_response(raw)[0] == 200
            assert waited < HEAD_TIMEOUT + MARGIN
            assert trickles.open == 0
        finally:
            trickles.close()


@pytest.mark.parametrize("rate", [0, -1, True, "500"])
def test_min_body_rate_must_be_a_positive_number(rate: object) -> None:
    import picohttp

    with pytest.raises(ValueError, match="minBodyRate"):
        picohttp.HttpServer(0, Recorder(), start=False, minBodyRate=rate)  # type: ignore[arg-type]
