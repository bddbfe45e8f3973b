"""``stop()``: under load, in-flight requests complete, nothing is answered twice or half,
new connections are refused, and nothing is left open."""

from __future__ import annotations

import gc
import socket
import threading
import time
from typing import Dict, List

from attack import Health

import picohttp
from support import open_fds, parse_response, read_all, thread_count, wait_until


def test_a_server_never_started_leaks_nothing_when_stopped():
    gc.collect()
    fds, threads = open_fds(), thread_count()
    for _ in range(3):
        server = picohttp.HttpServer(0, lambda q, r: None, host="127.0.0.1", start=False)
        server.stop()
        server.stop()  # idempotent
    assert open_fds() == fds
    assert thread_count() == threads


def test_stop_under_load_finishes_in_flight_requests_and_answers_each_once(threads):
    """Clients hammer the server while stop() is called from another thread.

    Every request the handler saw got exactly one complete response (its
    Content-Length matches and its body is the one made for it); requests in
    flight when stop() began completed; connections after stop are refused.
    """
    handled: List[str] = []
    in_flight = threading.Semaphore(0)
    lock = threading.Lock()

    def handler(request, response):
        uri = request.uri
        if uri.startswith("/slow"):
            in_flight.release()
            time.sleep(0.3)  # still working when stop() begins
        with lock:
            handled.append(uri)
        response.data = (uri + "|") * 100

    answers: Dict[str, bytes] = {}
    refused = []
    stop_called = threading.Event()

    def client(n: int) -> None:
        i = 0
        while True:
            uri = f"/{'slow' if i % 10 == 0 else 'fast'}/{n}/{i}"
            i += 1
            try:
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            except ConnectionResetError:
                continue  # caught half-way in the backlog as the listener closed: try again
            except OSError as exc:
                refused.append(exc)
                return
            with sock:
                try:
                    sock.sendall(f"GET {uri} HTTP/1.0\r\n\r\n".encode())
                    raw = read_all(sock, 10)
                except OSError:
                    raw = b""
            if raw:
                with lock:
                    answers[uri] = raw
            if stop_called.is_set() and not raw:
                continue  # reset in the backlog at stop: try again, it must be refused now

    health = Health()
    server = picohttp.HttpServer(
        0, handler, threads=threads, host="127.0.0.1", block=False, stopTimeout=5
    )
    clients = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for thread in clients:
        thread.start()
    # Load is on and at least one slow request is inside the handler.
    assert wait_until(lambda: len(answers) >= 50, 20)
    assert in_flight.acquire(timeout=10)
    with lock:
        seen_before_stop = len(handled)
    started = time.monotonic()
    stop_called.set()
    server.stop()
    stopped_in = time.monotonic() - started
    for thread in clients:
        thread.join(20)
    assert not any(thread.is_alive() for thread in clients)

    assert stopped_in < 5.0
    assert len(refused) == len(clients), "a client could still connect after stop()"
    assert all(isinstance(exc, ConnectionRefusedError) for exc in refused), refused
    # Exactly one complete, correct response per handled request, and none for others.
    assert sorted(answers) == sorted(handled)
    assert len(handled) == len(set(handled)), "a request was handled twice"
    for uri, raw in answers.items():
        status, headers, body = parse_response(raw)
        assert status == 200
        assert body == ((uri + "|") * 100).encode(), f"{uri}: a cut or foreign body"
        assert int(headers["content-length"]) == len(body)
        assert raw.count(b"HTTP/1.0 ") == 1
    assert len(handled) > seen_before_stop, "the in-flight requests did not complete"
    health.check_stopped()
