"""HTTPS: ``HttpServer(..., tls=ssl.SSLContext)`` with real clients (requests, curl, ssl).

The certificate is made at test time by trustme (a throwaway CA); clients
trust that CA through its file, as a user's would.  Every exchange runs in both
concurrency modes.  Handshakes are driven by the selector: clients that never
finish theirs are held while a normal client is timed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

import picohttp
from picohttp import HttpRequest, HttpResponse
from support import (
    PYTHON,
    alive,
    child_pids,
    connect,
    open_fds,
    parse_response,
    python_env,
    read_all,
    serving,
    wait_until,
)

trustme = pytest.importorskip("trustme", reason="trustme (dev extra) makes the test certificate")
requests = pytest.importorskip("requests")

BIG = os.urandom(6 * 1024 * 1024 + 123)  # several MiB: many TLS records, many partial sends
CURL = shutil.which("curl")


class Certs:
    def __init__(self, directory: Path) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
        self.ca_file = str(directory / "ca.pem")
        self.cert_file = str(directory / "server.pem")
        self.key_file = str(directory / "server.key")
        ca.cert_pem.write_to_path(self.ca_file)
        cert.cert_chain_pems[0].write_to_path(self.cert_file)
        cert.private_key_pem.write_to_path(self.key_file)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("site")
    (base / "index.html").write_text("<h1>It works over TLS</h1>\n")
    (base / "data.bin").write_bytes(os.urandom(700 * 1024 + 7))  # past the 64 KiB join limit
    return base


def app(request: HttpRequest, response: HttpResponse, site: Path) -> None:
    what = request.path[0]
    if what == "echo":
        response.data = f"{request.method} {request.data!r}"
    elif what == "big":
        response.data = BIG
    elif what == "stream":
        response.data = (f"piece {i}\n" for i in range(200))
    elif what == "pid":
        response.data = str(os.getpid())
    else:
        picohttp.staticResource(request, response, str(site))


@pytest.fixture
def https(certs: Certs, site: Path, threads: bool) -> Iterator[Tuple[picohttp.HttpServer, str]]:
    with serving(app, site, threads=threads, tls=certs.server_context()) as server:
        yield server, f"https://127.0.0.1:{server.port}"


def curl(*arguments: str) -> subprocess.CompletedProcess[bytes]:
    if CURL is None:
        pytest.skip("curl is not installed")
    return subprocess.run([CURL, "-sS", "--max-time", "30", *arguments], capture_output=True)


# -- the exchanges -------------------------------------------------------------------


def test_get_head_post_with_requests(https: Tuple[picohttp.HttpServer, str], certs: Certs) -> None:
    _, url = https
    # verify= on each call: a session's verify loses to $REQUESTS_CA_BUNDLE.
    got = requests.get(f"{url}/echo", verify=certs.ca_file)
    assert (got.status_code, got.text) == (200, "GET None")
    head = requests.head(f"{url}/echo", verify=certs.ca_file)
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len("HEAD None"))
    assert head.content == b""
    posted = requests.post(f"{url}/echo", data="héllo wörld".encode(), verify=certs.ca_file)
    assert posted.text == "POST 'héllo wörld'"
    chunked = requests.post(f"{url}/echo", data=iter([b"chunk", b"ed"]), verify=certs.ca_file)
    assert chunked.text == "POST 'chunked'"


def test_static_files_without_sendfile(
    https: Tuple[picohttp.HttpServer, str], certs: Certs, site: Path
) -> None:
    # os.sendfile would write the file around TLS, in clear: the client would fail.
    _, url = https
    got = requests.get(f"{url}/data.bin", verify=certs.ca_file)
    assert got.status_code == 200
    assert got.content == (site / "data.bin").read_bytes()
    index = curl("--cacert", certs.ca_file, f"{url}/")
    assert index.returncode == 0, index.stderr
    assert index.stdout == b"<h1>It works over TLS</h1>\n"
    ranged = requests.get(
        f"{url}/data.bin", headers={"Range": "bytes=100-199"}, verify=certs.ca_file
    )
    assert ranged.status_code == 206
    assert ranged.content == (site / "data.bin").read_bytes()[100:200]


def test_a_large_response(https: Tuple[picohttp.HttpServer, str], certs: Certs) -> None:
    _, url = https
    got = requests.get(f"{url}/big", verify=certs.ca_file)
    assert got.status_code == 200
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(BIG).digest()
    by_curl = curl("--cacert", certs.ca_file, f"{url}/big")
    assert by_curl.returncode == 0, by_curl.stderr
    assert by_curl.stdout == BIG


def test_a_slow_reader_of_a_large_response(
    https: Tuple[picohttp.HttpServer, str], certs: Certs
) -> None:
    # The response outgrows the socket buffers: the rest is finished by the loop
    # (SSLWantWriteError is "would block") while this client reads in small sips.
    server, _ = https
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    with certs.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as client:
        client.sendall(b"GET /big HTTP/1.0\r\n\r\n")
        chunks = []
        while True:
            chunk = client.recv(8192)
            if not chunk:
                break
            chunks.append(chunk)
            if len(chunks) % 64 == 0:
                time.sleep(0.001)
    status, _, body = parse_response(b"".join(chunks))
    assert status == 200 and body == BIG


def test_a_streamed_response(https: Tuple[picohttp.HttpServer, str], certs: Certs) -> None:
    _, url = https
    by_curl = curl("--cacert", certs.ca_file, f"{url}/stream")
    assert by_curl.returncode == 0, by_curl.stderr
    assert by_curl.stdout == "".join(f"piece {i}\n" for i in range(200)).encode()


def test_curl_post_with_expect_continue(
    https: Tuple[picohttp.HttpServer, str], certs: Certs, tmp_path: Path
) -> None:
    body = tmp_path / "body.txt"
    body.write_text("x" * 300_000)
    started = time.monotonic()
    result = curl(
        "--cacert", certs.ca_file, "-H", "Expect: 100-continue", "--data-binary", f"@{body}",
        f"{https[1]}/echo",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"POST {'x' * 300_000!r}".encode()
    assert time.monotonic() - started < 0.9  # the 100 Continue came at once, not after curl's 1 s


def test_extra_bytes_after_the_request_are_drained_before_the_close(
    https: Tuple[picohttp.HttpServer, str], certs: Certs
) -> None:
    # Lingering close over TLS: bytes beyond the request, and a POST without framing.
    server, _ = https
    for request in (
        b"GET /echo HTTP/1.0\r\n\r\n" + b"junk" * 5000,
        b"POST /echo HTTP/1.0\r\n\r\nunframed body, ignored",
    ):
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        with certs.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as client:
            client.sendall(request)
            answer = read_all(client, 30)
        status, _, body = parse_response(answer)
        assert status == 200
        assert body in (b"GET None", b"POST None")


# -- clients that do not play along -----------------------------------------------------


def https_latency(url: str, certs: Certs) -> float:
    started = time.perf_counter()
    got = requests.get(f"{url}/echo", verify=certs.ca_file, timeout=30)
    assert got.text == "GET None"
    return time.perf_counter() - started


def test_clients_that_never_handshake_delay_no_one(
    certs: Certs, site: Path, threads: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="picohttp")
    fds = open_fds()
    with serving(app, site, threads=threads, tls=certs.server_context(), headTimeout=1.5) as server:
        url = f"https://127.0.0.1:{server.port}"
        base = statistics.median(https_latency(url, certs) for _ in range(5))
        held: List[socket.socket] = []
        try:
            for index in range(40):
                sock = connect(server.port)
                if index % 2:  # half send a TLS record header and stop; half send nothing
                    sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00")
                held.append(sock)
            loaded = [https_latency(url, certs) for _ in range(5)]
            print(f"HTTPS request: {base * 1000:.2f} ms median alone, "
                  f"{statistics.median(loaded) * 1000:.2f} ms median (max {max(loaded) * 1000:.2f})"
                  f" with 40 clients stalled in the handshake")  # fmt: skip
            # A blocking handshake would hold everyone for the 1.5 s headTimeout.
            assert max(loaded) < 1.0
            # The stalled ones are dropped once headTimeout runs out, with a DEBUG line each.
            started = time.monotonic()
            for sock in held[1::2]:
                sock.settimeout(20)
                assert sock.recv(100) == b""
            assert time.monotonic() - started < 10
        finally:
            for sock in held:
                sock.close()
        assert https_latency(url, certs) < 1.0
    assert wait_until(lambda: open_fds() == fds)  # every TLS socket closed
    timeouts = [r for r in caplog.records if "TLS handshake timed out" in r.getMessage()]
    assert len(timeouts) >= 20
    assert all(r.levelno == logging.DEBUG for r in timeouts)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_stop_does_not_wait_for_clients_stuck_in_the_handshake(
    certs: Certs, site: Path, threads: bool
) -> None:
    server = picohttp.HttpServer(
        0, app, args=(site,), threads=threads, block=False, host="127.0.0.1",
        tls=certs.server_context(), stopTimeout=8,
    )  # fmt: skip
    held = [connect(server.port) for _ in range(5)]
    for sock in held:
        sock.sendall(b"\x16\x03\x01")
    https_latency(f"https://127.0.0.1:{server.port}", certs)  # they are accepted by now
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 4
    for sock in held:
        sock.close()


def test_plain_http_to_the_tls_port(
    https: Tuple[picohttp.HttpServer, str], certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="picohttp")
    server, url = https
    with connect(server.port) as client:
        client.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        status, _, body = parse_response(read_all(client))
    assert status == 400
    assert b"this port speaks HTTPS, not HTTP" in body
    by_curl = curl("-i", f"http://127.0.0.1:{server.port}/")
    assert by_curl.stdout.startswith(b"HTTP/1.0 400 Bad Request")
    records = [r for r in caplog.records if r.name.startswith("picohttp")]
    failures = [r for r in records if "TLS handshake failed" in r.getMessage()]
    assert len(failures) == 2  # once per client
    assert all(r.levelno == logging.DEBUG and not r.exc_info for r in failures)
    assert not [r for r in records if r.levelno >= logging.WARNING]
    assert https_latency(url, certs) < 5  # and the server goes on


def test_a_client_that_rejects_the_certificate(
    https: Tuple[picohttp.HttpServer, str], certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="picohttp")
    _, url = https
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{url}/echo", verify=True)  # the system's CAs do not know ours
    by_curl = curl(f"{url}/echo")
    assert by_curl.returncode == 60  # curl: peer certificate cannot be authenticated
    assert https_latency(url, certs) < 5  # the server survives both

    def failed() -> List[logging.LogRecord]:
        return [r for r in caplog.records if "TLS handshake failed" in r.getMessage()]

    assert wait_until(lambda: len(failed()) == 2)
    assert all(r.levelno == logging.DEBUG and not r.exc_info for r in failed())
    assert "alert" in failed()[0].getMessage()  # the client's alert, e.g. unknown ca
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_reset_during_the_handshake(https: Tuple[picohttp.HttpServer, str], certs: Certs) -> None:
    server, url = https
    for _ in range(10):
        sock = connect(server.port)
        sock.sendall(b"\x16\x03\x01\x00\x05hello")  # a record too short to be a ClientHello
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # RST
    assert https_latency(url, certs) < 5


# -- configuration -----------------------------------------------------------------


def test_tls_must_be_a_server_context(certs: Certs) -> None:
    with pytest.raises(TypeError, match=r"ssl\.SSLContext"):
        picohttp.HttpServer(0, app, ("site",), start=False, tls="server.pem")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="PROTOCOL_TLS_SERVER"):
        picohttp.HttpServer(0, app, ("site",), start=False, tls=certs.client_context())


def test_plain_servers_do_not_import_ssl() -> None:
    code = (
        "import sys, picohttp\n"
        "picohttp.HttpServer(0, start=False, host='127.0.0.1').stop()\n"
        "print('ssl' in sys.modules)\n"
    )
    result = subprocess.run(
        [PYTHON, "-c", code], env=python_env(), capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers=N is Linux only")
def test_tls_with_workers(certs: Certs, site: Path) -> None:
    server = picohttp.HttpServer(
        0, app, args=(site,), host="127.0.0.1", block=False, workers=2,
        tls=certs.server_context(),
    )  # fmt: skip
    try:
        seen = set()
        for _ in range(400):  # a new connection each: SO_REUSEPORT hashes per connection
            got = requests.get(f"https://127.0.0.1:{server.port}/pid", verify=certs.ca_file)
            seen.add(int(got.text))
            if len(seen) == 2:
                break
        assert len(seen) == 2
    finally:
        server.stop()
    assert not [pid for pid in seen if alive(pid)]
    assert not child_pids(os.getpid())


def test_command_line_certfile_and_keyfile(certs: Certs, tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("from the command line\n")
    process = subprocess.Popen(
        [PYTHON, "-m", "picohttp", "-p", "0", "-b", "127.0.0.1", "-d", str(tmp_path),
         "--certfile", certs.cert_file, "--keyfile", certs.key_file],
        env=python_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"https://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        got = requests.get(match[0], verify=certs.ca_file, timeout=30)
        assert got.text == "from the command line\n"
    finally:
        process.send_signal(2)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err


def test_command_line_keyfile_needs_certfile(certs: Certs) -> None:
    result = subprocess.run(
        [PYTHON, "-m", "picohttp", "-p", "0", "--keyfile", certs.key_file],
        env=python_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--certfile" in result.stderr


def test_command_line_bad_certificate_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    result = subprocess.run(
        [PYTHON, "-m", "picohttp", "-p", "0", "--certfile", str(bad)],
        env=python_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2  # a bad argument: argparse's status and its usage line
    assert "picohttp: error: cannot use" in result.stderr
    assert "bad.pem" in result.stderr and "Traceback" not in result.stderr


def test_every_io_module_counts_ssl_want_errors_as_would_block(certs: Certs, site: Path) -> None:
    with serving(app, site, tls=certs.server_context()):
        pass
    holders = {
        name: module.WOULD_BLOCK
        for name, module in list(sys.modules.items())
        if name.startswith("picohttp") and hasattr(module, "WOULD_BLOCK")
    }
    assert {"picohttp._send", "picohttp._loop", "picohttp._server", "picohttp._tls"} <= set(holders)
    for name, kinds in holders.items():
        assert ssl.SSLWantReadError in kinds and ssl.SSLWantWriteError in kinds, name
        assert BlockingIOError in kinds, name


def test_the_handler_sees_https_as_the_scheme(certs: Certs, threads: bool) -> None:
    """request.scheme is "https" on a TLS server (and stays "http" on a plain one)."""

    def scheme(request: HttpRequest, response: HttpResponse) -> None:
        response.data = request.scheme

    with serving(scheme, threads=threads, tls=certs.server_context()) as server:
        reply = requests.get(f"https://127.0.0.1:{server.port}/", verify=certs.ca_file, timeout=10)
        assert reply.text == "https"
    with serving(scheme, threads=threads) as server:
        assert requests.get(f"http://127.0.0.1:{server.port}/", timeout=10).text == "http"
