"""The command line: ``python -m picohttp`` (or ``picohttp``), a drop-in for ``http.server``.

    python -m picohttp                      serve the current directory on port 8000
    python -m picohttp 8080 -d site         serve ./site on port 8080
    python -m picohttp app:handler -p 9000  serve an application's handler
    python -m picohttp app:handler --reload restart it when a .py file changes

Unlike the library, the command line writes to the terminal: where it listens
(URLs that work in a browser, never ``http://0.0.0.0``), and one Common Log
Format line per request on stderr unless ``--quiet``.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import os
import sys

from ._server import HttpServer
from ._static import staticResource
from ._wrappers import cors, forcing_headers, header_fields, withHeaders

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Callable, List, Optional, Sequence


def load_handler(spec: str) -> Callable[..., Any]:
    """Import ``"module:function"`` (dotted names allowed), looking in the current directory."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"picohttp: {spec!r} is not module:function")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(f"picohttp: cannot import {module_name!r}: {exc}") from None
    except SyntaxError as exc:  # the file, line and caret say it all; importlib's frames do not
        import traceback

        detail = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
        raise SystemExit(f"picohttp: cannot import {module_name!r}:\n{detail}") from None
    for name in attribute.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise SystemExit(f"picohttp: {module_name!r} has no attribute {attribute!r}") from None
    if not callable(target):
        raise SystemExit(f"picohttp: {spec} is not callable")
    return target  # type: ignore[no-any-return]


def _octal(text: str) -> int:
    """``--socket-mode``'s permissions, in octal as chmod takes them (``660``, ``0o660``)."""
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an octal mode such as 660") from None
    if not 0 <= mode <= 0o777:
        raise argparse.ArgumentTypeError(f"{text!r} is not a mode from 000 to 777")
    return mode


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="picohttp",
        description="Serve a directory (like python -m http.server) or an application's "
        "handler (module:function) over HTTP/1.0.",
    )
    parser.add_argument(
        "positional",
        nargs="*",
        metavar="[PORT] [MODULE:FUNCTION]",
        help="a port number and/or the handler to serve (default: the current directory)",
    )
    parser.add_argument(
        "-p", "--port", type=int, help="port to listen on (default 8000; 0 = any free port)"
    )
    parser.add_argument(
        "-b",
        "--bind",
        metavar="ADDRESS",
        help="address to listen on (default: all, IPv6 and IPv4), or unix:PATH for a unix socket",
    )
    parser.add_argument(
        "--fd",
        type=int,
        metavar="N",
        help="serve the listening socket open as descriptor N (e.g. from a supervisor)",
    )
    parser.add_argument(
        "--socket-mode",
        type=_octal,
        default=0o660,
        metavar="OCTAL",
        help="permissions of a unix:PATH socket file (default 660)",
    )
    parser.add_argument(
        "-d", "--directory", help="directory to serve (default: the current directory)"
    )
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="handle requests one at a time (threads=False)",
    )
    parser.add_argument(
        "--max-threads",
        type=int,
        default=32,
        metavar="N",
        help="cap on handler threads (default 32)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="processes sharing the port (Linux; default 1)",
    )
    parser.add_argument(
        "--certfile", metavar="PEM", help="serve HTTPS with this certificate (chain), PEM"
    )
    parser.add_argument(
        "--keyfile", metavar="PEM", help="the certificate's private key (default: in --certfile)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no access log")
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar='"NAME: VALUE"',
        help="add this header to every response (repeatable)",
    )
    parser.add_argument(
        "--cors",
        action="store_true",
        help="let pages of any origin call this server (Access-Control-Allow-Origin: *, "
        "preflights answered)",
    )
    parser.add_argument(
        "--spa",
        action="store_true",
        help="single-page app: a missing path without a file extension gets index.html",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="send Cache-Control: no-store with every response (development)",
    )
    parser.add_argument(
        "--reload",
        action="store_true",
        help="restart the server when a .py file under the current directory changes",
    )
    return parser


def _parse_header(parser: argparse.ArgumentParser, text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name or name != name.strip():
        parser.error(f'--header {text!r}: expected "Name: value"')
    try:
        header_fields([(name, value.strip())])  # the library's checks, before serving
    except ValueError as exc:
        parser.error(f"--header {text!r}: {exc}")
    return name, value.strip()


def _tls_context(certfile: str, keyfile: Optional[str]) -> Any:
    """A server ``ssl.SSLContext`` with the certificate loaded (ssl imported only for HTTPS)."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    return context


def _split_positionals(
    parser: argparse.ArgumentParser, values: List[str]
) -> tuple[Optional[int], Optional[str]]:
    port: Optional[int] = None
    app: Optional[str] = None
    for value in values:
        if value.isdigit() and port is None:
            port = int(value)
        elif ":" in value and app is None:
            app = value
        else:
            parser.error(f"unexpected argument {value!r} (expected a port or module:function)")
    return port, app


def _urls(host: Optional[str], port: int, scheme: str = "http") -> List[str]:
    """URLs that reach a server bound to ``host``: never ``0.0.0.0`` or ``[::]``.

    Bound to every interface: ``127.0.0.1`` and this machine's LAN addresses
    (IPv4 only when the socket takes no IPv6); else the bind address.
    """
    if host in (None, "", "::", "0.0.0.0"):
        urls = [f"{scheme}://127.0.0.1:{port}/"]
        import socket

        # bind_socket takes IPv6 too only where the OS has dual-stack sockets.
        ipv6 = host != "0.0.0.0" and socket.has_dualstack_ipv6()
        for address in _lan_addresses(ipv6):
            shown = f"[{address}]" if ":" in address else address
            url = f"{scheme}://{shown}:{port}/"
            if url not in urls:
                urls.append(url)
        return urls
    shown = f"[{host}]" if host and ":" in host else host
    return [f"{scheme}://{shown}:{port}/"]


def _lan_addresses(ipv6: bool) -> List[str]:
    """This machine's addresses that other machines can reach, best first; no loopback.

    The address of the default route (a UDP ``connect`` sends nothing, it only
    picks the interface, as werkzeug does), then those the host name resolves to.
    IPv6 link-local addresses are left out: a URL needs their zone to work.
    """
    import ipaddress
    import socket

    found: List[str] = []
    probes = [(socket.AF_INET, "10.255.255.255")]
    if ipv6 and socket.has_ipv6:
        probes.append((socket.AF_INET6, "fd00:ffff::1"))
    for family, target in probes:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((target, 9))
                found.append(str(probe.getsockname()[0]))
        except OSError:
            continue  # no route of that family
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, type=socket.SOCK_STREAM)
        found.extend(str(info[4][0]) for info in infos)
    except OSError:
        pass
    addresses: List[str] = []
    for text in found:
        try:
            address = ipaddress.ip_address(text.split("%")[0])
        except ValueError:
            continue
        if address.is_loopback or address.is_link_local or address.is_unspecified:
            continue
        if address.version == 6 and not ipv6:
            continue
        if str(address) not in addresses:
            addresses.append(str(address))
    return addresses


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    options = parser.parse_args(argv)
    port, app = _split_positionals(parser, options.positional)
    if options.port is not None:
        port = options.port
    if port is None:
        port = 8000
    if options.keyfile and not options.certfile:
        parser.error("--keyfile needs --certfile")
    extra = [_parse_header(parser, text) for text in options.header]
    if options.spa and app is not None:
        parser.error("--spa serves a directory's index.html; it does not apply to MODULE:FUNCTION")
    directory = os.path.abspath(options.directory or os.getcwd())
    if app is None and not os.path.isdir(directory):
        parser.error(f"{directory} is not a directory")

    if options.reload and (options.fd is not None or (options.bind or "").startswith("unix:")):
        parser.error("--reload needs a TCP port; restart a unix or --fd server with SIGHUP")
    if options.reload:
        from ._reload import CHILD_ENV

        # Popped, so that a picohttp the application itself starts supervises as asked.
        if not os.environ.pop(CHILD_ENV, None):
            return _supervise(argv, port, options.bind)

    handler: Callable[..., Any]
    if app is not None:
        handler = load_handler(app)
        what = app
    else:
        # Directory listings on, as `python -m http.server` users expect.
        handler = functools.partial(
            staticResource,
            staticBase=directory,
            listing=True,
            fallback="index.html" if options.spa else None,
        )
        what = directory
    # Outermost last: --header and --no-cache reach cors's preflight answers too.
    if options.cors:
        handler = cors(handler)
    if extra:
        handler = withHeaders(handler, extra)
    if options.no_cache:
        handler = forcing_headers(handler, {"Cache-Control": "no-store"})

    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(logging.Formatter("%(message)s"))
    package_logger = logging.getLogger("picohttp")
    package_logger.addHandler(stream)
    package_logger.setLevel(logging.WARNING)
    access = logging.getLogger("picohttp.access")
    access.setLevel(logging.WARNING if options.quiet else logging.INFO)

    tls = None
    try:
        if options.certfile:
            tls = _tls_context(options.certfile, options.keyfile)
    except OSError as exc:  # ssl.SSLError too: a missing file, a bad PEM, a key that does not match
        print(f"picohttp: cannot use {options.certfile} as a certificate: {exc}", file=sys.stderr)
        return 1
    try:
        server = HttpServer(
            port,
            handler,
            threads=not options.sequential,
            start=False,
            host=options.bind,
            maxThreads=options.max_threads,
            workers=options.workers,
            tls=tls,
            fd=options.fd,
            socketMode=options.socket_mode,
        )
    except (OSError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 1
    if server.port == 0:  # a unix socket (--bind unix:PATH, or one handed over)
        urls = server.where()
    else:
        urls = "  ".join(_urls(options.bind, server.port, "https" if tls else "http"))
    print(f"picohttp serving {what} on {urls}  (Ctrl-C to stop)", flush=True)
    server.start()
    return 0


def _supervise(argv: Optional[Sequence[str]], port: int, host: Optional[str]) -> int:
    """``--reload``: check the port now (a busy one fails at once), then supervise children."""
    from ._reload import probe_port, run

    try:
        port = probe_port(host, port)  # -p 0: the free port every child will use
    except OSError:
        try:  # for its message, which says what to do
            HttpServer(port, start=False, host=host).stop()
        except OSError as exc:
            print(exc, file=sys.stderr)
            return 1
    return run(sys.argv[1:] if argv is None else list(argv), port, host)
