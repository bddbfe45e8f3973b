"""tests/corpus replayed whole, per line, per byte and at random splits: parser and socket.

Every valid case reaches the handler exactly as its JSON says; every invalid
case gets its status (or a silent close) and never reaches the handler; the
answer does not depend on how the bytes were split, and comes within the
timeout even when the client never half-closes.
"""

from __future__ import annotations

import selectors
import socket
import time
from typing import Dict, List, Optional, Tuple

import pytest
from attack import Recorder, attacked, send_in_pieces

from corpus import ALL, INVALID, SPLITS, VALID, Case, expected, parse, split
from support import connect, read_all


def test_the_corpus_is_big_enough():
    assert len(VALID) >= 40
    assert len(INVALID) >= 100
    assert all(case.expect.get("why") for case in ALL)
    statuses = {case.status for case in INVALID}
    assert statuses == {None, 400, 413, 414, 431, 501, 505}


@pytest.mark.parametrize("case", ALL, ids=str)
def test_parser_replay(case: Case):
    """Whole, per line, per byte and 20 random splits: one and the same outcome."""
    want = expected(case)
    for how in SPLITS:
        for seed in range(20 if how == "random" else 1):
            got, at_eof = parse(split(case.data, how, seed))
            assert got == want, f"split {how} (seed {seed})"
            # Incomplete requests are refused at EOF, complete or broken ones before it.
            assert at_eof == case.needs_eof


def answer_of(raw: bytes) -> Tuple[str, object]:
    """The outcome a raw response stands for (1xx interim responses skipped)."""
    while raw.startswith(b"HTTP/1.1 100 "):
        raw = raw.split(b"\r\n\r\n", 1)[1]
    if not raw:
        return ("close", None)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    length = next(
        int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:")
    )
    assert length == len(body), f"Content-Length {length}, body {len(body)}: {raw[:200]!r}"
    if status == 200:
        import json

        return ("request", json.loads(body))
    return ("status", status)


@pytest.mark.io
@pytest.mark.parametrize("how", SPLITS)
def test_socket_replay(threads, how):
    """Each case over a real socket, sent in pieces then half-closed."""
    recorder = Recorder()
    failures: List[str] = []
    with attacked(recorder, threads=threads) as server:
        for case in ALL:
            for seed in range(3 if how == "random" else 1):
                recorder.clear()
                pieces = split(case.data, how, seed, max_pieces=600)
                got = answer_of(send_in_pieces(server.port, pieces))
                calls = recorder.uris()
                if got != expected(case):
                    failures.append(f"{case} ({how}, seed {seed}): {got!r:.200}")
                elif len(calls) != (1 if case.valid else 0):
                    failures.append(f"{case} ({how}): handler called {len(calls)} times")
    assert failures == []


@pytest.mark.io
def test_socket_replay_without_half_close(threads):
    """All cases at once, the clients never closing: every one is answered within the bound.

    Complete or broken requests are answered at once; incomplete ones get a
    408 when headTimeout (or readTimeout) is up, never a hang.
    """
    timeout = 1.5
    recorder = Recorder()
    with attacked(recorder, threads=threads, headTimeout=timeout, readTimeout=timeout) as server:
        recorder.clear()
        selector = selectors.DefaultSelector()
        socks: Dict[socket.socket, Case] = {}
        answered_at: Dict[str, float] = {}
        start = time.monotonic()
        try:
            for case in ALL:
                sock = connect(server.port)
                sock.sendall(case.data)
                socks[sock] = case
                selector.register(sock, selectors.EVENT_READ)
            while len(answered_at) < len(socks) and time.monotonic() - start < timeout + 5:
                for key, _ in selector.select(0.5):
                    answered_at[socks[key.fileobj].name] = time.monotonic() - start  # type: ignore[index]
                    selector.unregister(key.fileobj)
            results = {case.name: read_all(sock, 5) for sock, case in socks.items()}
            handled = recorder.uris()
        finally:
            selector.close()
            for sock in socks:
                sock.close()
    failures = []
    for case in ALL:
        elapsed: Optional[float] = answered_at.get(case.name)
        if elapsed is None:
            failures.append(f"{case}: no answer")
            continue
        want = expected(case)
        if case.needs_eof:
            # A silent client: 408 once any byte came, a silent close when none did.
            # (A complete refusal, even a close without an answer, comes at once.)
            want = ("status", 408) if case.data else ("close", None)
            in_time = timeout - 0.1 <= elapsed < timeout + 3
        else:
            in_time = elapsed < timeout - 0.5  # answered at once, not at a timeout
        got = answer_of(results[case.name])
        if got != want or not in_time:
            failures.append(f"{case}: {got!r:.120} after {elapsed:.2f} s, want {want!r:.120}")
    assert failures == []
    assert len(handled) == len(VALID)
