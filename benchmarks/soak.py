#!/usr/bin/env python3
"""Soak picohttp: concurrent clients mixing good and broken requests for a bounded time.

Every good request's answer is checked byte for byte (status line, framing
headers, body), and must come: a good request that gets a wrong, cut or no
answer counts as lost, and one lost request fails the run.  Broken requests
(garbage, bad or oversized Content-Length, bad versions, truncated heads and
bodies, resets mid-request and mid-response, abandoned slow heads) must get
their 4xx/5xx or a close, never a hang.  Hostile clients of issue 13 join
them: bodies in 1-byte chunks (echoed exactly), 16 MiB urlencoded forms of
``xy&xy&...`` (413 at the 1,001st field) sent from their own threads, and a
handler raising ``SystemExit`` (500; only with ``--system-exit``).  Pools of
slowloris heads, trickling bodies (1 MiB announced, a byte now and then) and
streamed answers that are never read are held open all along.  At the end the
server is stopped and its threads and file descriptors must be back to where
they started.

    python benchmarks/soak.py --duration 60 --clients 16
    python benchmarks/soak.py --duration 10 --sequential --json

Only 127.0.0.1, bounded in time and connections.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import json
import os
import random
import selectors
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Counter, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import picohttp

LARGE = hashlib.sha256(b"soak").digest() * 8192  # 256 KiB, the same in every run
PIECE = b"0123456789abcdef" * 4096  # 64 KiB pieces of a streamed answer


def handler(request: picohttp.HttpRequest, response: picohttp.HttpResponse) -> None:
    kind = request.path[0]
    if kind == "small":
        response.data = f"small {request.path[1]} {request.query.get('q', '')}"
    elif kind == "large":
        response.data = LARGE
    elif kind == "echo":
        response.headers["Content-Type"] = "application/octet-stream"
        response.data = request.body or b""
    elif kind == "stream":
        response.data = (PIECE for _ in range(int(request.path[1])))
    elif kind == "form":
        response.data = f"{len(request.form)} fields"
    elif kind == "exit":
        raise SystemExit(3)  # as argparse does in a handler given a bad query
    else:
        response.status = 404
        response.data = "no such thing"


#: 16 MiB less a byte (within maxBody) of 5.6 million one-field pieces.
BIG_FORM = b"xy&" * (16 * 1024 * 1024 // 3)
BIG_FORM_REQUEST = (
    b"POST /form HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(BIG_FORM), BIG_FORM)
)


def small_body(n: int, q: str) -> bytes:
    return f"small {n} {q}".encode()


class Client:
    """One soak client: its own random stream, counters and a connection helper."""

    def __init__(self, port: int, rng: random.Random, timeout: float) -> None:
        self.port = port
        self.rng = rng
        self.timeout = timeout

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def request(self, data: bytes, half_close: bool = True) -> bytes:
        with self.connect() as sock:
            try:
                for piece in self.pieces(data):
                    sock.sendall(piece)
                if half_close:
                    sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return read_all(sock)

    def pieces(self, data: bytes) -> List[bytes]:
        if len(data) < 2 or self.rng.random() < 0.5:
            return [data]
        cut = self.rng.randrange(1, len(data))
        return [data[:cut], data[cut:]]


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(262144)
        except ConnectionResetError:
            chunks.append(b"<RST>")
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def check_answer(
    raw: bytes, status: int, body: Optional[bytes], content_type: Optional[str] = None
) -> Optional[str]:
    """``None`` if ``raw`` is exactly the expected answer, else what is wrong."""
    while raw.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"):
        raw = raw[25:]
    head, sep, got_body = raw.partition(b"\r\n\r\n")
    if not sep:
        return f"no complete head: {raw[:80]!r}"
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith(f"HTTP/1.0 {status} "):
        return f"status line {lines[0]!r}"
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(": ")
        fields[name.lower()] = value
    if fields.get("connection") != "close" or "date" not in fields:
        return f"framing headers {fields}"
    if body is not None:
        if fields.get("content-length") != str(len(body)):
            return f"Content-Length {fields.get('content-length')} != {len(body)}"
        if got_body != body:
            return f"body differs ({len(got_body)} bytes, expected {len(body)})"
    elif "content-length" in fields and int(fields["content-length"]) != len(got_body):
        return "Content-Length does not match the body"
    if content_type is not None and fields.get("content-type") != content_type:
        return f"Content-Type {fields.get('content-type')!r}"
    return None


# -- good requests: (name, function(client) -> problem or None) ----------------------


def good_small(c: Client) -> Optional[str]:
    n, q = c.rng.randrange(10**6), c.rng.choice(["", "x", "caf%C3%A9"])
    raw = c.request(f"GET /small/{n}?q={q} HTTP/1.0\r\nUser-Agent: soak\r\n\r\n".encode())
    want = small_body(n, q.replace("caf%C3%A9", "caf\u00e9"))
    return check_answer(raw, 200, want, "text/plain; charset=utf-8")


def good_large(c: Client) -> Optional[str]:
    return check_answer(c.request(b"GET /large HTTP/1.0\r\n\r\n"), 200, LARGE)


def good_head(c: Client) -> Optional[str]:
    raw = c.request(b"HEAD /large HTTP/1.0\r\n\r\n")
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/1.0 200 "):
        return f"HEAD answer {raw[:60]!r}"
    if b"\r\nContent-Length: %d\r\n" % len(LARGE) not in head + b"\r\n":
        return "HEAD without the GET's Content-Length"
    return "HEAD answer has a body" if rest else None


def good_echo(c: Client) -> Optional[str]:
    body = bytes(c.rng.randrange(256) for _ in range(c.rng.choice([0, 1, 100, 5000, 70000])))
    raw = c.request(b"POST /echo HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    return check_answer(raw, 200, body, "application/octet-stream")


def good_chunked(c: Client) -> Optional[str]:
    parts = [bytes([65 + i]) * c.rng.randrange(1, 3000) for i in range(c.rng.randrange(1, 6))]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    head = b"PUT /echo HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: chunked\r\n\r\n"
    return check_answer(c.request(head + chunked), 200, b"".join(parts))


def good_stream(c: Client) -> Optional[str]:
    n = c.rng.randrange(1, 6)
    raw = c.request(f"GET /stream/{n} HTTP/1.0\r\n\r\n".encode())
    return check_answer(raw, 200, None) or (
        None if raw.endswith(b"\r\n\r\n" + PIECE * n) else "streamed body differs"
    )


def good_expect(c: Client) -> Optional[str]:
    body = b"expect me" * 100
    with c.connect() as sock:
        sock.sendall(
            b"PUT /echo HTTP/1.1\r\nHost: soak\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        interim = sock.recv(25)
        if interim != b"HTTP/1.1 100 Continue\r\n\r\n":
            return f"no 100 Continue: {interim!r}"
        sock.sendall(body)
        return check_answer(read_all(sock), 200, body)


GOOD: List[Tuple[str, Callable[[Client], Optional[str]]]] = [
    ("small", good_small),
    ("small", good_small),
    ("small", good_small),
    ("large", good_large),
    ("head", good_head),
    ("echo", good_echo),
    ("chunked", good_chunked),
    ("stream", good_stream),
    ("expect", good_expect),
]

# -- broken requests: what they send, and the answers allowed ------------------------

BROKEN: List[Tuple[str, bytes, Tuple[Optional[int], ...]]] = [
    ("garbage", b"\x80\x03\x01\x00\xa5garbage\r\n\r\n", (400,)),
    ("tls-hello", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", (None,)),  # closed at once
    ("nul", b"GET /\x00 HTTP/1.0\r\n\r\n", (400,)),
    ("bad-cl", b"POST /echo HTTP/1.0\r\nContent-Length: +5\r\n\r\nhello", (400,)),
    ("dup-cl", b"POST /e HTTP/1.0\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", (400,)),
    ("huge-cl", b"POST /echo HTTP/1.0\r\nContent-Length: 99999999999\r\n\r\n", (413,)),
    ("te-http10", b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", (400,)),
    ("bad-chunk", b"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", (400,)),
    ("http2", b"GET / HTTP/2.0\r\n\r\n", (505,)),
    ("no-host", b"GET / HTTP/1.1\r\n\r\n", (400,)),
    ("long-line", b"GET /" + b"a" * 9000 + b" HTTP/1.0\r\n\r\n", (414,)),
    ("many-headers", b"GET / HTTP/1.0\r\n" + b"X: y\r\n" * 120 + b"\r\n", (431,)),
    ("truncated-head", b"GET /small/1 HTTP/1.0\r\nHost: x", (400,)),
    ("truncated-body", b"POST /echo HTTP/1.0\r\nContent-Length: 100\r\n\r\nshort", (400,)),
    ("empty", b"", (None,)),
]  # fmt: skip


def broken_request(c: Client) -> Tuple[str, Optional[str]]:
    name, data, allowed = c.rng.choice(BROKEN)
    raw = c.request(data)
    if raw.endswith(b"<RST>"):
        return name, f"reset: {raw[:60]!r}"
    status = int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.0 ") else None
    if status not in allowed:
        return name, f"answer {raw[:60]!r}, allowed {allowed}"
    if status is not None:
        problem = check_answer(raw, status, None, "text/plain; charset=utf-8")
        if problem:
            return name, problem
    return name, None


def tiny_chunks(c: Client) -> Tuple[str, Optional[str]]:
    """A body in 1-byte chunks (16 connections of these cost 8 s of CPU in 5 s once)."""
    body = bytes(c.rng.randrange(97, 123) for _ in range(c.rng.randrange(500, 3000)))
    chunked = b"".join(b"1\r\n%s\r\n" % body[i : i + 1] for i in range(len(body)))
    head = b"PUT /echo HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: chunked\r\n\r\n"
    return "tiny-chunks", check_answer(c.request(head + chunked + b"0\r\n\r\n"), 200, body)


def big_form(c: Client) -> Tuple[str, Optional[str]]:
    """16 MiB of ``xy&``: a 413 at the 1,001st field, not 26 times the body in memory."""
    raw = c.request(BIG_FORM_REQUEST)
    problem = check_answer(raw, 413, None, "text/plain; charset=utf-8")
    if problem is None and b"more than 1000 fields" not in raw:
        problem = f"answer {raw[-80:]!r}"
    return "big-form", problem


def system_exit(c: Client) -> Tuple[str, Optional[str]]:
    """A handler raising SystemExit: a 500, and the server goes on (issue 13)."""
    raw = c.request(b"GET /exit HTTP/1.0\r\n\r\n")
    return "system-exit", check_answer(raw, 500, None, "text/plain; charset=utf-8")


def reset_midway(c: Client) -> Tuple[str, Optional[str]]:
    """Leave with an RST in the middle of a request or of a large answer."""
    with c.connect() as sock:
        if c.rng.random() < 0.5:
            sock.sendall(b"POST /echo HTTP/1.0\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        else:
            sock.sendall(b"GET /large HTTP/1.0\r\n\r\n")
            sock.recv(1000)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return "reset-midway", None


def abandon_slow_head(c: Client) -> Tuple[str, Optional[str]]:
    with c.connect() as sock:
        sock.sendall(b"GET /small/1 HTTP/1.0\r\nX-Slow: ")
        time.sleep(c.rng.random() * 0.05)
    return "abandoned-head", None


class Pool:
    """Connections held open all run long; each one the server ends is replaced.

    ``opener(port)`` makes one (it has sent what it sends); ``poke(sock)``, if
    given, runs for each every ``poke_every`` seconds (a trickled byte).
    ``watch=False``: the server's answer is expected and never read (an unread
    stream), so the connections are only held, never replaced.
    """

    def __init__(
        self,
        port: int,
        size: int,
        opener: Callable[[int], socket.socket],
        poke: Optional[Callable[[socket.socket], None]] = None,
        poke_every: float = 0.5,
        watch: bool = True,
    ) -> None:
        self.watch = watch
        self.port = port
        self.size = size
        self.opener = opener
        self.poke = poke
        self.poke_every = poke_every
        self.opened = 0
        self.held: List[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _open(self, selector: selectors.BaseSelector) -> None:
        sock = self.opener(self.port)
        if self.watch:
            selector.register(sock, selectors.EVENT_READ)
        else:
            self.held.append(sock)  # only closed at the end
        self.opened += 1

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        for _ in range(self.size):
            self._open(selector)
        poked = time.monotonic()
        while not self.stop.is_set():
            if not self.watch:
                self.stop.wait(0.1)
                continue
            for key, _ in selector.select(0.1):
                selector.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]
                if not self.stop.is_set():
                    self._open(selector)
            if self.poke is not None and time.monotonic() - poked >= self.poke_every:
                poked = time.monotonic()
                for key in list(selector.get_map().values()):
                    # OSError: the server ended it, and the select above replaces it.
                    with contextlib.suppress(OSError):
                        self.poke(key.fileobj)  # type: ignore[arg-type]
        for key in list(selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        for sock in self.held:
            sock.close()
        selector.close()


def open_slowloris(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET / HTTP/1.0\r\nX-Slowloris: ")
    return sock


def open_trickle(port: int) -> socket.socket:
    """1 MiB announced, 10 KiB sent; then a byte each poke (1 MiB less a little in 400 such
    connections once held 400 MiB of memory)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST /echo HTTP/1.0\r\nContent-Length: 1048576\r\n\r\n" + b"t" * 10240)
    return sock


def trickle_byte(sock: socket.socket) -> None:
    sock.send(b"t", socket.MSG_DONTWAIT)


def open_unread_stream(port: int) -> socket.socket:
    """A streamed answer of 6 GiB whose reader never reads (a dashboard left open)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(b"GET /stream/100000 HTTP/1.0\r\n\r\n")
    return sock


def run_soak(
    duration: float,
    clients: int,
    sequential: bool,
    seed: int,
    slowloris: int,
    trickles: int = 20,
    unread_streams: int = 4,
    form_senders: int = 2,
    with_system_exit: bool = False,
) -> Dict[str, Any]:
    threads_before = threading.active_count()
    fds_before = len(os.listdir("/proc/self/fd"))
    server = picohttp.HttpServer(
        0, handler, threads=not sequential, block=False, host="127.0.0.1", headTimeout=2.0
    )
    good: Counter[str] = collections.Counter()
    broken: Counter[str] = collections.Counter()
    lost: List[str] = []
    wrong: List[str] = []
    lock = threading.Lock()
    end = time.monotonic() + duration
    hostile: List[Callable[[Client], Tuple[str, Optional[str]]]] = [tiny_chunks]
    if with_system_exit:
        hostile.append(system_exit)

    def client(n: int) -> None:
        c = Client(server.port, random.Random(f"{seed}:{n}"), timeout=15)
        while time.monotonic() < end:
            roll = c.rng.random()
            try:
                if roll < 0.7:
                    name, action = c.rng.choice(GOOD)
                    problem = action(c)
                    with lock:
                        good[name] += 1
                        if problem:
                            lost.append(f"{name}: {problem}")
                    continue
                if roll < 0.86:
                    name, problem = broken_request(c)
                elif roll < 0.9:
                    name, problem = c.rng.choice(hostile)(c)
                elif roll < 0.95:
                    name, problem = reset_midway(c)
                else:
                    name, problem = abandon_slow_head(c)
            except OSError as exc:
                name, problem = "error", repr(exc)
                if roll < 0.7:
                    with lock:
                        lost.append(f"good request: {exc!r}")
                    continue
            with lock:
                broken[name] += 1
                if problem:
                    wrong.append(f"{name}: {problem}")

    def send_forms(n: int) -> None:
        """16 MiB forms one after another, a pause between (they are heavy to send)."""
        c = Client(server.port, random.Random(f"{seed}:form{n}"), timeout=30)
        while time.monotonic() < end:
            try:
                name, problem = big_form(c)
            except OSError as exc:
                name, problem = "big-form", repr(exc)
            with lock:
                broken[name] += 1
                if problem:
                    wrong.append(f"{name}: {problem}")
            time.sleep(0.25)

    pools = {
        "slowloris": Pool(server.port, slowloris, open_slowloris),
        "trickle": Pool(server.port, trickles, open_trickle, trickle_byte),
        "unread_stream": Pool(server.port, unread_streams, open_unread_stream, watch=False),
    }
    for pool in pools.values():
        pool.thread.start()
    started = time.monotonic()
    workers = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    workers += [threading.Thread(target=send_forms, args=(n,)) for n in range(form_senders)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(duration + 60)
    elapsed = time.monotonic() - started
    hung = sum(worker.is_alive() for worker in workers)
    for pool in pools.values():
        pool.stop.set()
    for pool in pools.values():
        pool.thread.join(10)
    server.stop()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        threading.active_count() != threads_before or len(os.listdir("/proc/self/fd")) != fds_before
    ):
        time.sleep(0.05)
    leaked_threads = threading.active_count() - threads_before
    leaked_fds = len(os.listdir("/proc/self/fd")) - fds_before
    return {
        "mode": "sequential" if sequential else "threads",
        "seconds": round(elapsed, 2),
        "clients": clients,
        "slowloris_held": slowloris,
        "slowloris_opened": pools["slowloris"].opened,
        "trickles_held": trickles,
        "trickles_opened": pools["trickle"].opened,
        "unread_streams_held": unread_streams,
        "unread_streams_opened": pools["unread_stream"].opened,
        "form_senders": form_senders,
        "system_exit": with_system_exit,
        "good": sum(good.values()),
        "good_by_kind": dict(good),
        "good_lost_or_wrong": len(lost),
        "broken": sum(broken.values()),
        "broken_by_kind": dict(broken),
        "broken_wrong": len(wrong),
        "hung_clients": hung,
        "leaked_threads": leaked_threads,
        "leaked_fds": leaked_fds,
        "problems": (lost + wrong)[:20],
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds (default 30)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--slowloris", type=int, default=50, help="partial heads held open")
    parser.add_argument("--trickles", type=int, default=20, help="trickling bodies held open")
    parser.add_argument(
        "--unread-streams", type=int, default=4, help="streamed answers held open, never read"
    )
    parser.add_argument(
        "--form-senders", type=int, default=2, help="threads sending 16 MiB urlencoded forms"
    )
    parser.add_argument(
        "--system-exit", action="store_true", help="mix in a handler that raises SystemExit"
    )
    parser.add_argument("--sequential", action="store_true", help="threads=False")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = parser.parse_args(argv)
    result = run_soak(
        args.duration,
        args.clients,
        args.sequential,
        args.seed,
        args.slowloris,
        args.trickles,
        args.unread_streams,
        args.form_senders,
        args.system_exit,
    )
    result["seed"] = args.seed
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(
            f"soak ({result['mode']}, seed {args.seed}): {result['seconds']} s, "
            f"{result['clients']} clients, {result['slowloris_held']} slowloris held "
            f"({result['slowloris_opened']} opened in all), {result['trickles_held']} "
            f"trickling bodies ({result['trickles_opened']}), {result['unread_streams_held']} "
            f"unread streams ({result['unread_streams_opened']}), "
            f"{result['form_senders']} 16 MiB form senders\n"
            f"  good requests:   {result['good']} {result['good_by_kind']}\n"
            f"  lost or wrong:   {result['good_lost_or_wrong']}\n"
            f"  broken requests: {result['broken']} {result['broken_by_kind']}\n"
            f"  broken answered wrongly: {result['broken_wrong']}\n"
            f"  hung clients {result['hung_clients']}, leaked threads "
            f"{result['leaked_threads']}, leaked fds {result['leaked_fds']}"
        )
        for problem in result["problems"]:
            print("  PROBLEM", problem)
    failed = (
        result["good_lost_or_wrong"]
        or result["broken_wrong"]
        or result["hung_clients"]
        or result["leaked_threads"]
        or result["leaked_fds"]
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
