"""staticResource over real sockets, with ``requests`` and ``curl`` as the clients.

Validators and 304s, ranges (206/416, If-Range, a video-style seek, a resumed
download), pre-compressed ``.gz`` files, directory listings, Cache-Control,
non-ASCII names, and what held before (containment, 301, 405, 404s).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from static_site import APP_JS, INDEX_HTML, ODD_NAME, UNICODE_NAME

from picohttp import staticResource
from picohttp._httpdate import format_http_date, parse_http_date
from support import PYTHON, exchange, free_port, parse_response, python_env, serving, wait_for_port

CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")
PLAIN = {"Accept-Encoding": "identity"}


def static(site: Path, **keywords):
    return functools.partial(staticResource, staticBase=str(site), **keywords)


def get(server, path: str, **kwargs) -> requests.Response:
    kwargs.setdefault("timeout", 10)
    return requests.get(f"http://127.0.0.1:{server.port}{path}", **kwargs)


def curl(*args: str) -> subprocess.CompletedProcess:
    assert CURL is not None
    return subprocess.run(
        [CURL, "-sS", "--max-time", "20", *args], capture_output=True, timeout=30, check=False
    )


# -- validators and 304 ---------------------------------------------------------------


def test_file_carries_validators_and_no_cache_control_by_default(site, threads):
    with serving(static(site), threads=threads) as server:
        reply = get(server, "/data.bin", headers=PLAIN)
    assert reply.status_code == 200
    assert reply.content == (site / "data.bin").read_bytes()
    etag = reply.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"', etag)  # strong: no W/
    mtime = int(os.stat(site / "data.bin").st_mtime)
    assert parse_http_date(reply.headers["Last-Modified"]) == mtime
    assert reply.headers["Accept-Ranges"] == "bytes"
    assert reply.headers["Content-Type"] == "application/octet-stream"
    assert "Cache-Control" not in reply.headers
    assert "Vary" not in reply.headers  # no .gz twin: nothing to vary on


def test_if_none_match_gives_304_without_body(site, threads):
    with serving(static(site), threads=threads) as server:
        etag = get(server, "/index.html").headers["ETag"]
        for value in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
            raw = exchange(
                server.port,
                f"GET /index.html HTTP/1.1\r\nHost: x\r\nIf-None-Match: {value}\r\n\r\n".encode(),
            )
            status, headers, body = parse_response(raw)
            assert status == 304, value
            assert body == b""
            assert "content-length" not in headers
            assert headers["etag"] == etag  # RFC 9110 15.4.5: the 200's validators
            assert "last-modified" in headers
        miss = get(server, "/index.html", headers={"If-None-Match": '"nope"'})
        assert miss.status_code == 200 and miss.text == INDEX_HTML
        head = requests.head(
            f"http://127.0.0.1:{server.port}/index.html",
            headers={"If-None-Match": etag},
            timeout=10,
        )
        assert head.status_code == 304


def test_if_modified_since_and_its_precedence(site):
    with serving(static(site)) as server:
        last_modified = get(server, "/index.html").headers["Last-Modified"]
        later = format_http_date(parse_http_date(last_modified) + 3600)
        earlier = format_http_date(parse_http_date(last_modified) - 3600)
        for date in (last_modified, later):
            reply = get(server, "/index.html", headers={"If-Modified-Since": date})
            assert reply.status_code == 304 and reply.content == b""
        reply = get(server, "/index.html", headers={"If-Modified-Since": earlier})
        assert reply.status_code == 200 and reply.text == INDEX_HTML
        # If-None-Match wins: a non-matching tag means 200 even if the date says "unchanged".
        both = get(
            server,
            "/index.html",
            headers={"If-None-Match": '"old"', "If-Modified-Since": later},
        )
        assert both.status_code == 200 and both.text == INDEX_HTML


def test_a_changed_file_gets_new_validators(site):
    with serving(static(site)) as server:
        first = get(server, "/index.html")
        path = site / "index.html"
        path.write_text(INDEX_HTML + "<!-- edited -->\n", encoding="utf-8")
        later = os.stat(path).st_mtime + 5
        os.utime(path, (later, later))
        reply = get(server, "/index.html", headers={"If-None-Match": first.headers["ETag"]})
        assert reply.status_code == 200
        assert reply.text.endswith("<!-- edited -->\n")
        assert reply.headers["ETag"] != first.headers["ETag"]
        since = first.headers["Last-Modified"]
        assert get(server, "/index.html", headers={"If-Modified-Since": since}).status_code == 200


def test_if_match_and_if_unmodified_since_give_412(site):
    with serving(static(site)) as server:
        reply = get(server, "/index.html")
        etag, last_modified = reply.headers["ETag"], reply.headers["Last-Modified"]
        assert get(server, "/index.html", headers={"If-Match": etag}).status_code == 200
        failed = get(server, "/index.html", headers={"If-Match": '"other"'})
        assert failed.status_code == 412 and INDEX_HTML not in failed.text
        earlier = format_http_date(parse_http_date(last_modified) - 60)
        reply = get(server, "/index.html", headers={"If-Unmodified-Since": earlier})
        assert reply.status_code == 412


# -- ranges -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=0-99", 0, 99), ("bytes=1000-", 1000, None), ("bytes=-500", None, None)],
)
def test_single_range_gives_206(site, threads, header, first, last):
    content = (site / "data.bin").read_bytes()
    size = len(content)
    if first is None:
        first, last = size - 500, size - 1
    elif last is None:
        last = size - 1
    with serving(static(site), threads=threads) as server:
        reply = get(server, "/data.bin", headers={"Range": header})
    assert reply.status_code == 206
    assert reply.headers["Content-Range"] == f"bytes {first}-{last}/{size}"
    assert int(reply.headers["Content-Length"]) == last - first + 1
    assert reply.content == content[first : last + 1]
    assert reply.headers["Content-Type"] == "application/octet-stream"
    assert reply.headers["Accept-Ranges"] == "bytes"


def test_unsatisfiable_range_gives_416(site, threads):
    size = os.stat(site / "data.bin").st_size
    with serving(static(site), threads=threads) as server:
        for header in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
            reply = get(server, "/data.bin", headers={"Range": header})
            assert reply.status_code == 416, header
            assert reply.headers["Content-Range"] == f"bytes */{size}"
            assert len(reply.content) < 100  # a short message, not the file
        empty = get(server, "/empty.txt", headers={"Range": "bytes=0-"})
        assert empty.status_code == 416 and empty.headers["Content-Range"] == "bytes */0"


def test_ignored_ranges_give_the_whole_file(site):
    content = (site / "data.bin").read_bytes()
    with serving(static(site)) as server:
        for header in ("bytes=0-1,10-20", "bytes=9-3", "pages=1-2", "bytes=x-"):
            reply = get(server, "/data.bin", headers={"Range": header})
            assert reply.status_code == 200, header
            assert reply.content == content
        head = requests.head(
            f"http://127.0.0.1:{server.port}/data.bin", headers={"Range": "bytes=0-9"}, timeout=10
        )
        # RFC 9110 14.2: GET is the only method ranges are defined for.
        assert head.status_code == 200
        assert head.headers["Content-Length"] == str(len(content))


def test_if_range(site):
    content = (site / "data.bin").read_bytes()
    stamp = time.time() - 100  # If-Range dates need a file older than a second
    os.utime(site / "data.bin", (stamp, stamp))
    with serving(static(site)) as server:
        full = get(server, "/data.bin")
        etag, last_modified = full.headers["ETag"], full.headers["Last-Modified"]
        for validator in (etag, last_modified):
            reply = get(server, "/data.bin", headers={"Range": "bytes=5-9", "If-Range": validator})
            assert reply.status_code == 206 and reply.content == content[5:10]
        older = format_http_date(parse_http_date(last_modified) - 1)
        for stale in ('"changed"', f"W/{etag}", older):
            reply = get(server, "/data.bin", headers={"Range": "bytes=5-9", "If-Range": stale})
            assert reply.status_code == 200 and reply.content == content


def test_video_style_seek(site, threads):
    """What a media element does: open with ``bytes=0-``, then seek with ``bytes=N-``."""
    content = (site / "data.bin").read_bytes()
    size = len(content)
    with serving(static(site), threads=threads) as server:
        with get(server, "/data.bin", headers={"Range": "bytes=0-"}, stream=True) as opening:
            assert opening.status_code == 206
            assert opening.headers["Content-Range"] == f"bytes 0-{size - 1}/{size}"
            assert opening.raw.read(4096) == content[:4096]
        # the player leaves the first response unfinished and jumps ahead
        seek_to = 700_001
        with get(server, "/data.bin", headers={"Range": f"bytes={seek_to}-"}, stream=True) as seek:
            assert seek.status_code == 206
            assert seek.headers["Content-Range"] == f"bytes {seek_to}-{size - 1}/{size}"
            assert seek.raw.read() == content[seek_to:]


@needs_curl
def test_curl_resumes_a_download(site, tmp_path, threads):
    content = (site / "data.bin").read_bytes()
    target = tmp_path / "download.bin"
    target.write_bytes(content[:333_333])  # an interrupted earlier download
    with serving(static(site), threads=threads) as server:
        url = f"http://127.0.0.1:{server.port}/data.bin"
        result = curl("-C", "-", "-o", str(target), "-w", "%{http_code} %{size_download}", url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == f"206 {len(content) - 333_333}"
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(content).digest()


@needs_curl
def test_curl_range_and_conditional(site):
    content = (site / "data.bin").read_bytes()
    with serving(static(site)) as server:
        url = f"http://127.0.0.1:{server.port}/data.bin"
        ranged = curl("-r", "100-199", url)
        assert ranged.stdout == content[100:200]
        headers = curl("-D", "-", "-o", os.devnull, url).stdout.decode()
        etag = re.search(r"ETag: (\S+)", headers).group(1)
        code = curl("-o", os.devnull, "-w", "%{http_code}", "-H", f"If-None-Match: {etag}", url)
        assert code.stdout == b"304"
        # curl -z sends If-Modified-Since with the file's own time
        local = site / "data.bin"
        code = curl("-o", os.devnull, "-w", "%{http_code}", "-z", str(local), url)
        assert code.stdout == b"304"


# -- pre-compressed files ---------------------------------------------------------------------


def test_gzip_twin_is_served_to_clients_that_accept_it(site, threads):
    gz = (site / "app.js.gz").read_bytes()
    with serving(static(site), threads=threads) as server:
        zipped = get(server, "/app.js", headers={"Accept-Encoding": "gzip"}, stream=True)
        raw = zipped.raw.read(decode_content=False)
        plain = get(server, "/app.js", headers=PLAIN)
        refused = get(server, "/app.js", headers={"Accept-Encoding": "gzip;q=0, br"})
        star = get(server, "/app.js", headers={"Accept-Encoding": "*"}, stream=True)
    assert zipped.status_code == 200
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert zipped.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert zipped.headers["Vary"] == "Accept-Encoding"
    assert zipped.headers["Content-Length"] == str(len(gz))
    assert raw == gz and gzip.decompress(raw).decode() == APP_JS
    assert plain.text == APP_JS and "Content-Encoding" not in plain.headers
    assert plain.headers["Vary"] == "Accept-Encoding"  # the answer depended on it
    assert plain.headers["ETag"] != zipped.headers["ETag"]  # two representations, two tags
    assert "Content-Encoding" not in refused.headers and refused.text == APP_JS
    assert star.headers["Content-Encoding"] == "gzip"


def test_gzip_twin_validators_and_ranges_apply_to_the_gz_bytes(site):
    gz = (site / "app.js.gz").read_bytes()
    accept = {"Accept-Encoding": "gzip"}
    with serving(static(site)) as server:
        etag = get(server, "/app.js", headers=accept).headers["ETag"]
        not_modified = get(server, "/app.js", headers={**accept, "If-None-Match": etag})
        assert not_modified.status_code == 304
        assert not_modified.headers["Vary"] == "Accept-Encoding"
        # the plain file does not match the gz tag
        assert get(server, "/app.js", headers={**PLAIN, "If-None-Match": etag}).status_code == 200
        part = get(server, "/app.js", headers={**accept, "Range": "bytes=0-9"}, stream=True)
        assert part.status_code == 206
        assert part.headers["Content-Range"] == f"bytes 0-9/{len(gz)}"
        assert part.raw.read(decode_content=False) == gz[:10]


@needs_curl
def test_curl_compressed_and_listing_and_416(site):
    with serving(static(site, listing=True)) as server:
        base = f"http://127.0.0.1:{server.port}"
        zipped = curl("--compressed", "-D", "-", base + "/app.js").stdout.decode()
        head, _, body = zipped.partition("\r\n\r\n")
        assert "Content-Encoding: gzip" in head and "Vary: Accept-Encoding" in head
        assert body == APP_JS  # curl decoded the .gz twin
        listing = curl(base + "/sub%20dir/").stdout.decode()
        assert f'href="{quote(UNICODE_NAME, safe="")}"' in listing
        size = os.stat(site / "data.bin").st_size
        refused = curl("-r", f"{size}-", "-D", "-", "-o", os.devnull, base + "/data.bin")
        assert refused.stdout.startswith(b"HTTP/1.0 416 ")
        assert f"Content-Range: bytes */{size}".encode() in refused.stdout


def test_gz_requested_by_name_is_just_a_file(site):
    with serving(static(site)) as server:
        reply = get(server, "/app.js.gz", headers=PLAIN, stream=True)
        assert reply.headers["Content-Type"] == "application/gzip"
        assert "Content-Encoding" not in reply.headers
        assert reply.raw.read() == (site / "app.js.gz").read_bytes()


def test_a_gz_twin_outside_the_base_is_not_served(site, tmp_path):
    (tmp_path / "outside.gz").write_bytes(gzip.compress(b"secret"))
    (site / "style.css.gz").symlink_to(tmp_path / "outside.gz")
    with serving(static(site)) as server:
        reply = get(server, "/style.css", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in reply.headers
    assert reply.text.startswith("body {")


# -- Cache-Control -------------------------------------------------------------------------


def test_cache_control_keyword(site):
    with serving(static(site, cacheControl="max-age=3600")) as server:
        reply = get(server, "/index.html")
        assert reply.headers["Cache-Control"] == "max-age=3600"
        etag = reply.headers["ETag"]
        assert (
            get(server, "/index.html", headers={"If-None-Match": etag}).headers["Cache-Control"]
            == "max-age=3600"
        )
        assert (
            get(server, "/data.bin", headers={"Range": "bytes=0-0"}).headers["Cache-Control"]
            == "max-age=3600"
        )
        # errors are not to be cached for an hour, nor carry the file's validators
        for extra in ({"Range": "bytes=99999999-"}, {"If-Match": '"other"'}):
            failed = get(server, "/data.bin", headers=extra)
            assert failed.status_code in (412, 416)
            assert "Cache-Control" not in failed.headers and "ETag" not in failed.headers
        assert "Cache-Control" not in get(server, "/missing").headers


# -- names -----------------------------------------------------------------------------------


def test_space_and_non_ascii_names(site, threads):
    with serving(static(site), threads=threads) as server:
        # requests percent-encodes the path as a browser does
        reply = get(server, f"/sub dir/{UNICODE_NAME}")
        assert reply.status_code == 200 and reply.text == "unicode file\n"
        encoded = "/sub%20dir/" + quote(ODD_NAME)
        reply = get(server, encoded)
        assert reply.status_code == 200 and reply.text == "odd name\n"


@needs_curl
def test_curl_percent_encoded_name(site):
    with serving(static(site)) as server:
        url = f"http://127.0.0.1:{server.port}/sub%20dir/" + quote(UNICODE_NAME)
        assert curl(url).stdout == b"unicode file\n"


# -- directory listing --------------------------------------------------------------------


def test_listing_is_off_by_default(site):
    with serving(static(site)) as server:
        reply = get(server, "/sub%20dir/")
    assert reply.status_code == 404
    assert UNICODE_NAME not in reply.text


def test_listing(site, threads):
    with serving(static(site, listing=True), threads=threads) as server:
        reply = get(server, "/sub%20dir/")
        assert reply.status_code == 200
        assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
        page = reply.text
        links = re.findall(r'<a href="([^"]*)">([^<]*)</a>', page)
        assert links[0] == ("../", "../")
        texts = [text for _, text in links[1:]]
        # directories first, then names sorted without regard to case
        assert texts == [
            "nested/",
            "a&amp;b &lt;c&gt; #1?.txt",
            "apple.txt",
            "Zebra.txt",
            "ünï cödé.txt",
        ]
        assert "<c>" not in page  # escaped, never markup
        expected = {
            "nested/": "nested\n",
            quote(ODD_NAME, safe=""): "odd name\n",
            quote(UNICODE_NAME, safe=""): "unicode file\n",
        }
        hrefs = [href for href, _ in links[1:]]
        for href in expected:
            assert href in hrefs
        # every link works when followed as a browser follows it
        for href, _ in links[1:]:
            followed = get(server, "/sub%20dir/" + href)
            assert followed.status_code == 200, href
        assert get(server, "/sub%20dir/" + quote(ODD_NAME, safe="")).text == "odd name\n"
        root = get(server, "/").text  # the root has an index.html: that wins
        assert root == INDEX_HTML


def test_listing_hides_dotfiles_and_has_no_parent_link_at_the_root(site):
    (site / "index.html").unlink()
    with serving(static(site, listing=True)) as server:
        page = get(server, "/").text
        assert ".hidden" not in page and 'href="../"' not in page
        assert 'href="sub%20dir/"' in page and 'href="data.bin"' in page
        assert "escape.txt" not in page  # a symlink out of the base: it would 404
        # hidden from the index, and not served by name either (unlike nginx)
        assert get(server, "/.hidden").status_code == 404


def test_command_line_directory_mode_lists(site):
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, "-m", "picohttp", "--bind", "127.0.0.1", "-p", str(port), "-d", str(site), "-q"],
        env=python_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, process=process)
        reply = requests.get(f"http://127.0.0.1:{port}/sub%20dir/nested/", timeout=10)
        assert reply.status_code == 200
        assert '<a href="deep.txt">deep.txt</a>' in reply.text
    finally:
        process.terminate()
        process.wait(10)
        assert process.stderr is not None
        process.stderr.close()


# -- what held before ----------------------------------------------------------------------------


def test_containment_and_errors_still_hold(site, threads):
    with serving(static(site, listing=True), threads=threads) as server:
        port = server.port
        redirect = get(server, "/sub%20dir?x=1", allow_redirects=False)
        assert redirect.status_code == 301
        assert redirect.headers["Location"] == "/sub%20dir/?x=1"
        raw = exchange(port, b"GET //evil.example/sub%20dir HTTP/1.0\r\n\r\n")
        location = parse_response(raw)[1].get("location", "")
        assert not location.startswith("//")
        post = requests.post(f"http://127.0.0.1:{port}/index.html", timeout=10)
        assert post.status_code == 405 and post.headers["Allow"] == "GET, HEAD"
        assert get(server, "/index.html/").status_code == 404
        assert get(server, "/missing.txt").status_code == 404
        assert get(server, "/escape.txt").status_code == 404  # a symlink out of the base
        for target in ("/../secret.txt", "/%2e%2e/secret.txt", "/sub%20dir/..%2f..%2fsecret.txt"):
            raw = exchange(port, f"GET {target} HTTP/1.0\r\n\r\n".encode())
            status, _, body = parse_response(raw)
            assert status == 404 and b"never served" not in body, target
        if (site / "pipe").exists():
            started = time.monotonic()
            assert get(server, "/pipe").status_code == 404  # a FIFO is never opened to read
            assert time.monotonic() - started < 5


def test_unreadable_file_is_403(site):
    if os.geteuid() == 0:
        pytest.skip("root reads every file: permissions cannot be tested as root")
    (site / "locked.txt").write_text("locked")
    os.chmod(site / "locked.txt", 0)
    with serving(static(site)) as server:
        assert get(server, "/locked.txt").status_code == 403
