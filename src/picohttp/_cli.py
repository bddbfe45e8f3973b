"""The command line: ``python -m picohttp`` (or ``picohttp``), a drop-in for ``http.server``.

    python -m picohttp                      serve the current directory on port 8000
    python -m picohttp 8080 -d site         serve ./site on port 8080
    python -m picohttp app:handler -p 9000  serve an application's handler

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
    for name in attribute.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise SystemExit(f"picohttp: {module_name!r} has no attribute {attribute!r}") from None
    if not callable(target):
        raise SystemExit(f"picohttp: {spec} is not callable")
    return target  # type: ignore[no-any-return]


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
        "-b", "--bind", metavar="ADDRESS", help="address to listen on (default: all, IPv6 and IPv4)"
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
    return parser


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
    if host in (None, "", "::", "0.0.0.0"):
        urls = [f"{scheme}://127.0.0.1:{port}/"]
        try:
            import socket

            name = socket.gethostname()
            for info in socket.getaddrinfo(name, port, type=socket.SOCK_STREAM):
                address = str(info[4][0])
                if not address.startswith("127.") and address != "::1":
                    shown = f"[{address}]" if ":" in address else address
                    url = f"{scheme}://{shown}:{port}/"
                    if url not in urls:
                        urls.append(url)
        except OSError:
            pass
        return urls
    shown = f"[{host}]" if host and ":" in host else host
    return [f"{scheme}://{shown}:{port}/"]


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

    handler: Callable[..., Any]
    if app is not None:
        handler = load_handler(app)
        what = app
    else:
        directory = os.path.abspath(options.directory or os.getcwd())
        if not os.path.isdir(directory):
            parser.error(f"{directory} is not a directory")
        # Directory listings on, as `python -m http.server` users expect.
        handler = functools.partial(staticResource, staticBase=directory, listing=True)
        what = directory

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
        )
    except (OSError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 1
    urls = "  ".join(_urls(options.bind, server.port, "https" if tls else "http"))
    print(f"picohttp serving {what} on {urls}  (Ctrl-C to stop)", flush=True)
    server.start()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
