#!/usr/bin/env python3
"""Socket-level mutation fuzzer: thousands of mutated requests against a live picohttp.

Each iteration takes a request from tests/corpus (or two, spliced), applies
one to four mutations (byte flips, inserted CR/LF/NUL/colons/spaces, deleted,
duplicated or repeated spans, limit-busting numbers, truncation), sends it on
a fresh connection in one to three pieces, half-closes, and reads the answer.

The oracle is picohttp's own pure parser fed the same bytes: the server must
answer exactly what the parser decides (the same 4xx/5xx, a silent close, or a
200 whose echo of the request matches the parser's request field for field),
with a Content-Length that matches the body, within the timeout; the handler
must be called exactly for the requests the parser accepts.  Every
``--check-every`` iterations a normal request must still be served.  Without
``--port`` the script starts its own server and, at the end, checks that the
server's threads and file descriptors are back to where they started.

    python tests/fuzz/mutation_fuzz.py --iterations 100000 --seed 7
    python tests/fuzz/mutation_fuzz.py --sequential --concurrency 8

With ``--bodies`` the mutations go to the body instead: Content-Length bodies
(the length then follows the mutated body, or not), chunked bodies (chunk
lines, extensions, data CRLFs and trailers mutated with their own tokens) and
form bodies (urlencoded and multipart, charsets and ``filename*`` included).
The handler reads ``request.form`` and ``request.files`` too, so the oracle is
the parser and then the form parser: every outcome must be a request or a
``RemoteProtocolError``, never another exception, and never a 500.

A failure prints its seed and iteration, enough to replay it alone with
``--seed S --first I --iterations 1``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Counter, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
for extra in (ROOT / "src", ROOT / "tests", ROOT / "tests" / "hostile"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import picohttp  # noqa: E402
from picohttp import RemoteProtocolError  # noqa: E402
from picohttp._limits import Limits  # noqa: E402
from picohttp._parser import RequestParser, TlsHandshakeError  # noqa: E402

#: Small limits, so that mutations reach every limit branch.
LIMITS = {
    "maxRequestLine": 1024,
    "maxHeaderBytes": 4096,
    "maxHeaders": 30,
    "maxBody": 8192,
}
TOKENS = [
    b"\r", b"\n", b"\r\n", b"\r\n\r\n", b"\0", b":", b" ", b"\t", b"\x0b", b"\x7f", b"\xff",
    b"\xc3\xa9", b"%", b"%00", b"%2e%2e", b"/", b"..", b"?", b"#", b",", b";", b"=", b"-", b"+",
    b"0", b"9", b"0x", b"Content-Length: ", b"Content-Length: 99999999999\r\n",
    b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n", b"Transfer-Encoding: gzip\r\n",
    b"Host: h\r\n", b"Expect: 100-continue\r\n", b" HTTP/1.1", b" HTTP/2.0", b"HTTP/1.0",
    b"0\r\n\r\n", b"ffff\r\n", b"5\r\nhello\r\n", b"\x16\x03\x01",
]  # fmt: skip


def echo(request: Any, body: Optional[bytes]) -> Dict[str, Any]:
    """The request as JSON data; for a form body, its fields and files too.

    Reading a malformed form raises ``RemoteProtocolError``, which the server
    answers with its status: the caller's business.
    """
    seen = {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "protocol": request.protocol,
        "headers": dict(request.headers),
        "body": None if body is None else body.decode("latin-1"),
    }
    content_type = (request.headers.get("Content-Type") or "").lower()
    if "form" in content_type:
        files = request.files
        try:
            seen["form"] = {name: request.form.getlist(name) for name in request.form}
            seen["files"] = {
                name: [[f.filename, f.contentType, f.size] for f in files.getlist(name)]
                for name in files
            }
        finally:
            for name in files:
                for upload in files.getlist(name):
                    upload.close()
    return seen


class EchoHandler:
    """Answers every request with its own parse, as JSON; counts the calls."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, request: Any, response: Any) -> None:
        with self._lock:
            self.calls += 1
        response.headers["Content-Type"] = "application/json"
        response.data = json.dumps(echo(request, request.body)).encode()


def seeds() -> List[bytes]:
    from corpus import ALL  # tests/hostile/corpus.py: the .http files, decoded

    return [case.data for case in ALL if 0 < len(case.data) <= 2048] + [
        b"GET / HTTP/1.0\r\n\r\n",
        b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    ]


def mutate(rng: random.Random, corpus: List[bytes]) -> bytes:
    data = bytearray(rng.choice(corpus))
    for _ in range(rng.randint(1, 4)):
        size = len(data)
        at = rng.randint(0, size)
        op = rng.randrange(10)
        if op == 0 and size:  # flip a byte
            data[rng.randrange(size)] = rng.randrange(256)
        elif op == 1:  # insert a random byte
            data[at:at] = bytes([rng.randrange(256)])
        elif op in (2, 3):  # insert an interesting token
            data[at:at] = rng.choice(TOKENS)
        elif op == 4 and size:  # delete a span
            data[at : at + rng.randint(1, 8)] = b""
        elif op == 5 and size:  # duplicate a span (a header line, a chunk, ...)
            end = min(size, at + rng.randint(1, 40))
            data[at:at] = data[at:end]
        elif op == 6 and size:  # repeat a span to bust a limit
            end = min(size, at + rng.randint(1, 4))
            data[at:at] = data[at:end] * rng.choice([50, 500, 3000])
        elif op == 7:  # splice with another request
            other = rng.choice(corpus)
            data = data[:at] + other[rng.randint(0, len(other)) :]
        elif op == 8 and size:  # truncate
            del data[at:]
        elif op == 9:  # a number where one was
            digits = [i for i, b in enumerate(data) if 0x30 <= b <= 0x39]
            if digits:
                i = rng.choice(digits)
                data[i : i + 1] = rng.choice([b"99999999999999999999", b"-1", b"+5", b"0", b"8193"])
    return bytes(data)


_POST = b"POST /b?q=1 HTTP/1.1\r\nHost: h\r\n"
#: Charsets a client may name, known, unknown and not text at all.
CHARSETS = [
    b"utf-8", b"iso-8859-1", b"utf-16", b"shift_jis", b"idna", b"undefined", b"punycode",
    b"rot13", b"base64", b"zlib", b"unicode_escape", b"no-such-charset",
]  # fmt: skip


def _multipart(rng: random.Random) -> bytes:
    charset, name_charset = rng.choice(CHARSETS), rng.choice(CHARSETS)
    return (
        b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nfirst\r\n'
        b'--B\r\nContent-Disposition: form-data; name="t"\r\n'
        b"Content-Type: text/plain; charset=%s\r\n\r\ncaf\xe9 \\N{x}\r\n"
        b'--B\r\nContent-Disposition: form-data; name="f"; filename="a.txt"; '
        b"filename*=%s''%%C3%%A9.txt\r\nContent-Type: text/plain\r\n\r\nfile body\r\n"
        b"--B--\r\n"
    ) % (charset, name_charset)


#: Bodies to mutate: (head fields after Host, body, framing).
BODIES = [
    (b"Content-Type: text/plain\r\n", b"hello world", "length"),
    (b"Content-Type: text/plain; charset=utf-16\r\n", b"h\x00i\x00", "length"),
    (b"Content-Type: application/x-www-form-urlencoded\r\n", b"a=1&b=%C3%A9&c=x+y&d", "length"),
    (b"Content-Type: multipart/form-data; boundary=B\r\n", b"multipart", "length"),
    (b"Content-Type: multipart/form-data; boundary=B\r\n", b"multipart", "chunked"),
    (b"Content-Type: application/x-www-form-urlencoded\r\n", b"a=1&b=2", "chunked"),
    (b"Content-Type: text/plain\r\n", b"chunk one, chunk two", "chunked-ext"),
]
BODY_TOKENS = [
    b"\r", b"\n", b"\r\n", b"\0", b" ", b"\t", b";", b"=", b'"', b"\\", b"&", b"+", b"%",
    b"%FF", b"%C3", b"%%", b"0", b"f", b"ffffffff", b"-1", b"0x1", b"\x80", b"\xff",
    b";ext", b";e=v", b';e="q\\"x"', b"; e = v", b"0\r\n\r\n", b"0\r\nX-T: v\r\n\r\n",
    b"--B\r\n", b"--B--", b"\r\n--B\r\n", b"\r\n\r\n", b"Content-Disposition: form-data; ",
    b'name="n"', b"name*=utf-8''%E2%82%AC", b"filename*=undefined''x", b"filename*=idna''x",
    b"filename*=rot13''x", b"filename*=utf-16''%FF", b"filename*0*=utf-8''a", b"filename*1=b",
    *(
        b"Content-Type: text/plain; charset=%s\r\n" % name
        for name in (b"idna", b"base64", b"punycode", b"zlib", b"unicode_escape", b"undefined")
    ),
]  # fmt: skip


def _chunked(body: bytes, rng: random.Random, extensions: bool) -> bytes:
    out = b""
    at = 0
    while at < len(body):
        size = rng.randint(1, 9)
        piece = body[at : at + size]
        at += size
        ext = rng.choice([b"", b";a", b";a=b", b' ; n = "v\\"x"', b";x;y=1"]) if extensions else b""
        out += b"%x%s\r\n%s\r\n" % (len(piece), ext, piece)
    return out + rng.choice([b"0\r\n\r\n", b"0;last\r\nX-Sum: 1\r\n\r\n"])


def mutate_body(rng: random.Random) -> bytes:
    """A request whose head is sound and whose body (or its framing) is mutated."""
    fields, body, framing = rng.choice(BODIES)
    if body == b"multipart":
        body = _multipart(rng)
    if framing == "length":
        wire = bytearray(body)
    else:
        wire = bytearray(_chunked(body, rng, framing == "chunked-ext"))
    for _ in range(rng.randint(0, 3)):
        size = len(wire)
        at = rng.randint(0, size)
        op = rng.randrange(6)
        if op == 0 and size:  # flip a byte
            wire[rng.randrange(size)] = rng.randrange(256)
        elif op in (1, 2):  # insert a body token
            wire[at:at] = rng.choice(BODY_TOKENS)
        elif op == 3 and size:  # delete a span
            wire[at : at + rng.randint(1, 8)] = b""
        elif op == 4 and size:  # duplicate a span (a chunk, a part, a field)
            end = min(size, at + rng.randint(1, 60))
            wire[at:at] = wire[at:end] * rng.choice([1, 2, 40])
        elif op == 5 and size:  # truncate
            del wire[at:]
    if framing == "length":
        # Mostly the true length of the mutated body, sometimes the original one.
        length = len(wire) if rng.random() < 0.8 else len(body)
        head = _POST + fields + b"Content-Length: %d\r\n\r\n" % length
    else:
        head = _POST + fields + b"Transfer-Encoding: chunked\r\n\r\n"
    return head + bytes(wire)


def oracle(data: bytes, limits: Limits) -> Tuple[str, Any]:
    parser = RequestParser(limits)
    try:
        request = parser.feed(data)
        if request is None:
            parser.eof()
            return ("close", None)
        return ("request", echo(request, request.body))  # forms raise RemoteProtocolError too
    except TlsHandshakeError:  # the server closes without an HTTP answer
        return ("close", None)
    except RemoteProtocolError as error:
        return ("status", error.status)


def parser_accepts(data: bytes, limits: Limits) -> bool:
    """Whether the parser makes a request of ``data``: the handler runs, even for a bad form."""
    try:
        return RequestParser(limits).feed(data) is not None
    except RemoteProtocolError:
        return False


def oracle_in_pieces(pieces: List[bytes], limits: Limits) -> Tuple[str, Any]:
    """``oracle`` for bytes fed in several reads; any exception but RemoteProtocolError escapes."""
    parser = RequestParser(limits)
    try:
        for piece in pieces:
            request = parser.feed(piece)
            if request is not None:
                return ("request", echo(request, request.body))
        parser.eof()
        return ("close", None)
    except TlsHandshakeError:
        return ("close", None)
    except RemoteProtocolError as error:
        return ("status", error.status)


def answer_of(raw: bytes) -> Tuple[str, Any]:
    while raw.startswith(b"HTTP/1.1 100 "):
        raw = raw.split(b"\r\n\r\n", 1)[1]
    if not raw:
        return ("close", None)
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/1.0 "):
        return ("malformed", raw[:80])
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    lengths = [int(line[15:]) for line in lines if line.lower().startswith(b"content-length:")]
    if lengths != [len(body)]:
        return ("bad-length", (lengths, len(body)))
    if status == 200:
        return ("request", json.loads(body))
    return ("status", status)


def exchange(port: int, pieces: List[bytes], timeout: float) -> Tuple[bytes, bool]:
    """Send, half-close, read until EOF: ``(answer, whether it ended in a reset)``."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for piece in pieces:
                sock.sendall(piece)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # answered and closed early: the answer is what counts
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return b"".join(chunks), True
            if not chunk:
                return b"".join(chunks), False
            chunks.append(chunk)


@dataclass
class Summary:
    iterations: int = 0
    outcomes: Counter[str] = field(default_factory=collections.Counter)
    failures: List[str] = field(default_factory=list)
    handler_calls: int = 0
    accepted: int = 0  # requests the handler was called for
    resets: int = 0
    seconds: float = 0.0

    def report(self) -> str:
        top = ", ".join(f"{k}: {v}" for k, v in sorted(self.outcomes.items()))
        return (
            f"{self.iterations} mutated requests in {self.seconds:.1f} s "
            f"({self.iterations / max(self.seconds, 1e-9):.0f}/s); outcomes {top}; "
            f"handler called {self.handler_calls} times for {self.accepted} accepted; "
            f"{self.resets} reset after a complete answer; "
            f"{len(self.failures)} failures"
        )


def fuzz(
    port: int,
    handler: EchoHandler,
    iterations: int,
    seed: int,
    *,
    limits: Limits,
    concurrency: int = 4,
    first: int = 0,
    timeout: float = 10.0,
    check_every: int = 250,
    bodies: bool = False,
    fault_answers: Tuple[int, ...] = (),
) -> Summary:
    """Send ``iterations`` mutated requests to ``port``; compare each answer with the parser.

    ``bodies``: mutate bodies (Content-Length, chunked, forms) behind a sound head.
    ``fault_answers``: statuses the server may give instead of the parser's answer,
    because the test injects faults of the machine into it (507 for a full disk,
    503 for no descriptor); counted as ``fault NNN``, and the handler may then run
    fewer times than the parser accepted.
    """
    corpus = seeds()
    summary = Summary()
    lock = threading.Lock()
    counter = iter(range(first, first + iterations))
    calls_before = handler.calls
    start = time.monotonic()

    def worker() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            rng = random.Random(f"{seed}:{i}")
            data = mutate_body(rng) if bodies else mutate(rng, corpus)
            cuts = sorted(rng.sample(range(1, len(data)), min(2, len(data) - 1))) if data else []
            pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])] or [b""]
            want = oracle(data, limits)
            handled = want[0] == "request" or (bodies and parser_accepts(data, limits))
            reset = False
            try:
                raw, reset = exchange(port, pieces, timeout)
                got = answer_of(raw)
            except OSError as exc:
                got = ("error", repr(exc))
            # A reset is acceptable only after a complete answer: the client then sent
            # bytes after a GET/HEAD request that the server had no reason to wait for.
            ok = got == want and not (reset and got[0] == "close")
            faulted = not ok and got[0] == "status" and got[1] in fault_answers
            health = None
            if i % check_every == 0:
                health = answer_of(exchange(port, [b"GET /health HTTP/1.0\r\n\r\n"], timeout)[0])
            with lock:
                summary.iterations += 1
                summary.outcomes[f"{want[0]} {want[1]}" if want[0] == "status" else want[0]] += 1
                summary.accepted += handled and not faulted
                if faulted:
                    summary.outcomes[f"fault {got[1]}"] += 1
                    ok = True
                summary.resets += reset
                if not ok:
                    summary.failures.append(
                        f"seed {seed} iteration {i}: sent {data[:300]!r}: "
                        f"got {got!r:.200}, parser says {want!r:.200}"
                    )
                if health is not None and health[0] != "request":
                    summary.failures.append(f"iteration {i}: health check got {health!r:.200}")

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary.seconds = time.monotonic() - start
    health_checks = sum(1 for i in range(first, first + iterations) if i % check_every == 0)
    summary.handler_calls = handler.calls - calls_before - health_checks
    # With faults injected, a body that failed to store after the parser had taken
    # its head is counted neither way: the handler may not run more often, though.
    if summary.handler_calls != summary.accepted and not (
        fault_answers and summary.handler_calls <= summary.accepted
    ):
        summary.failures.append(
            f"the handler ran {summary.handler_calls} times for {summary.accepted} requests"
        )
    return summary


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--first", type=int, default=0, help="first iteration number (replay)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--sequential", action="store_true", help="threads=False")
    parser.add_argument("--port", type=int, help="fuzz a running server with LIMITS and echo")
    parser.add_argument("--check-every", type=int, default=250)
    parser.add_argument("--show", type=int, default=10, help="failures to print")
    parser.add_argument("--bodies", action="store_true", help="mutate bodies, not heads")
    args = parser.parse_args(argv)
    limits = Limits(
        max_request_line=LIMITS["maxRequestLine"],
        max_header_bytes=LIMITS["maxHeaderBytes"],
        max_headers=LIMITS["maxHeaders"],
        max_body=LIMITS["maxBody"],
    )
    handler = EchoHandler()
    if args.port:
        summary = fuzz(
            args.port, handler, args.iterations, args.seed, limits=limits,
            concurrency=args.concurrency, first=args.first, check_every=args.check_every,
            bodies=args.bodies,
        )  # fmt: skip
    else:
        threads_before, fds_before = threading.active_count(), _fds()
        server = picohttp.HttpServer(
            0, handler, threads=not args.sequential, block=False, host="127.0.0.1", **LIMITS
        )
        try:
            summary = fuzz(
                server.port, handler, args.iterations, args.seed, limits=limits,
                concurrency=args.concurrency, first=args.first, check_every=args.check_every,
                bodies=args.bodies,
            )  # fmt: skip
        finally:
            server.stop()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            threading.active_count() != threads_before or _fds() != fds_before
        ):
            time.sleep(0.05)
        if threading.active_count() != threads_before:
            summary.failures.append(f"threads {threading.active_count()} != {threads_before}")
        if _fds() != fds_before:
            summary.failures.append(f"open fds {_fds()} != {fds_before} after stop")
    print(f"seed {args.seed}: {summary.report()}")
    for failure in summary.failures[: args.show]:
        print("FAIL", failure)
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())
