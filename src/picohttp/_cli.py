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
import re
import sys

from . import __version__
from ._auth import basicAuth, read_users
from ._server import HttpServer, ImportedServerError, refusing_servers
from ._service import listen_hint
from ._static import staticResource
from ._wrappers import cors, forcing_headers, header_fields, withHeaders

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Callable, Dict, List, Optional, Sequence


class UsageError(Exception):
    """A bad argument: reported as argparse reports its own (``picohttp: error: ...``, exit 2)."""


def load_handler(spec: str) -> Callable[..., Any]:
    """Import ``"module:function"`` (dotted names allowed), looking in the current directory.

    Raises ``UsageError`` with what to do when it cannot, including for a
    module that starts a server of its own when imported.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise UsageError(f"{spec!r} is not module:function")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        with refusing_servers(f"{module_name} makes an HttpServer when imported"):
            target: Any = importlib.import_module(module_name)
    except ImportedServerError as exc:
        raise UsageError(
            f"{module_name!r} starts a server when it is imported{_where_in(exc, module_name)}, "
            f"so picohttp cannot import its handler: put that HttpServer(...) under "
            f'`if __name__ == "__main__":` (then `python {module_name.replace(".", "/")}.py` '
            f"still serves, and tests can import it too)"
        ) from None
    except ImportError as exc:
        raise UsageError(f"cannot import {module_name!r}: {exc}") from None
    except SyntaxError as exc:  # the file, line and caret say it all; importlib's frames do not
        import traceback

        detail = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
        raise UsageError(f"cannot import {module_name!r}:\n{detail}") from None
    for name in attribute.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise UsageError(f"{module_name!r} has no attribute {attribute!r}") from None
    if not callable(target):
        raise UsageError(f"{spec} is not callable")
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


def _where_in(exc: BaseException, module_name: str) -> str:
    """`` (app.py, line 9)``: the application's line that made the server."""
    import traceback

    package = os.path.dirname(os.path.abspath(__file__))
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith(package) and not frame.filename.startswith("<frozen")
    ]
    if not frames:
        return ""
    return f" ({os.path.relpath(frames[-1].filename)}, line {frames[-1].lineno})"


def port_number(text: str) -> int:
    """argparse ``type`` of a port: 0 to 65535."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port: give a number from 1 to 65535 (0: any free port)"
        )
    return int(text)


def positive_number(text: str) -> int:
    """argparse ``type`` of a count: 1 or more."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of 1 or more")
    return int(text)


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
        "--version", action="version", version=f"picohttp {__version__}", help="show the version"
    )
    parser.add_argument(
        "-p", "--port", type=port_number, help="port to listen on (default 8000; 0 = any free port)"
    )
    parser.add_argument(
        "-b",
        "--bind",
        metavar="ADDRESS",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 or :: "
        "to serve the network), or unix:PATH for a unix socket",
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
        type=positive_number,
        default=32,
        metavar="N",
        help="cap on handler threads (default 32)",
    )
    parser.add_argument(
        "--workers",
        type=positive_number,
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
        "--dotfiles",
        action="store_true",
        help="serve and list dot files and dot folders (.git/, .env): 404 by default, "
        "unlike python -m http.server",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="send Cache-Control: no-store with every response (development)",
    )
    parser.add_argument(
        "--auth",
        action="append",
        default=[],
        metavar="USER:PASSWORD",
        help="ask for this user name and password (HTTP Basic; repeatable; use with HTTPS)",
    )
    parser.add_argument(
        "--auth-file",
        metavar="FILE",
        help="ask for a user:password of this file (one per line, # comments)",
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


def _users(
    parser: argparse.ArgumentParser, pairs: List[str], path: Optional[str]
) -> Dict[str, str]:
    """The ``--auth`` pairs and the ``--auth-file`` lines as one name -> password dict."""
    users: Dict[str, str] = {}
    if path is not None:
        try:
            with open(path, encoding="utf-8") as lines:
                users.update(read_users(lines, path))
        except (OSError, UnicodeError, ValueError) as exc:
            parser.error(f"--auth-file: {exc}")
    for pair in pairs:
        name, colon, password = pair.partition(":")
        if not colon or not name:
            parser.error(f"--auth {pair!r}: expected USER:PASSWORD")
        users[name] = password
    return users


def _tls_context(certfile: str, keyfile: Optional[str]) -> Any:
    """A server ``ssl.SSLContext`` with the certificate loaded (ssl imported only for HTTPS).

    Raises ``UsageError`` saying what is wrong with the files.
    """
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile)
    except OSError as exc:  # ssl.SSLError too: a bad PEM, a key that does not match
        if keyfile is None and _pem_kinds(certfile) == {"CERTIFICATE"}:
            raise UsageError(
                f"{certfile} holds no private key: give the key's file with --keyfile "
                f"(e.g. --certfile {certfile} --keyfile server.key)"
            ) from None
        raise UsageError(f"cannot use {certfile} as a certificate: {exc}") from None
    return context


def _pem_kinds(path: str) -> set[str]:
    """What a PEM file holds: ``{"CERTIFICATE"}``, ``{"CERTIFICATE", "PRIVATE KEY"}``..."""
    try:
        with open(path, "rb") as file:
            text = file.read(1024 * 1024).decode("ascii", "replace")
    except OSError:
        return set()
    kinds = set()
    for kind in re.findall(r"-----BEGIN ([A-Z0-9 ]+)-----", text):
        kinds.add("PRIVATE KEY" if kind.endswith("PRIVATE KEY") else kind)
    return kinds


def _split_positionals(
    parser: argparse.ArgumentParser, values: List[str]
) -> tuple[Optional[int], Optional[str]]:
    port: Optional[int] = None
    app: Optional[str] = None
    for value in values:
        if value.isdigit() and port is not None:
            parser.error(f"the port is given twice ({port} and {value}): give it once")
        if value.isdigit():
            try:
                port = port_number(value)
            except argparse.ArgumentTypeError as exc:
                parser.error(f"argument PORT: {exc}")
        elif ":" in value and app is None:
            app = value
        else:
            parser.error(f"unexpected argument {value!r} (expected a port or module:function)")
    return port, app


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    options = parser.parse_args(argv)
    port, app = _split_positionals(parser, options.positional)
    if options.port is not None:
        if port is not None and port != options.port:
            parser.error(f"the port is given twice ({port} and -p {options.port}): give it once")
        port = options.port
    if port is None:
        port = 8000
    if options.keyfile and not options.certfile:
        parser.error("--keyfile needs --certfile")
    extra = [_parse_header(parser, text) for text in options.header]
    if options.dotfiles and app is not None:
        parser.error("--dotfiles is for serving a directory; it does not apply to MODULE:FUNCTION")
    if options.spa and app is not None:
        parser.error("--spa serves a directory's index.html; it does not apply to MODULE:FUNCTION")
    users = _users(parser, options.auth, options.auth_file)
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
        try:
            handler = load_handler(app)
        except UsageError as exc:
            parser.error(str(exc))
        what = app
    else:
        # Directory listings on, as `python -m http.server` users expect.
        handler = functools.partial(
            staticResource,
            staticBase=directory,
            listing=True,
            fallback="index.html" if options.spa else None,
            dotfiles=options.dotfiles,
        )
        what = directory
    if users:  # inside cors: a preflight carries no credentials, and needs none
        handler = basicAuth(handler, users)  # HttpServer warns if it listens beyond loopback
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
    except UsageError as exc:
        parser.error(str(exc))
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
    except OSError as exc:
        print(f"picohttp: {_command_line_hint(exc, port)}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"picohttp: {exc}", file=sys.stderr)
        return 1
    # The server says where it listens once Ctrl-C and SIGTERM stop it quietly;
    # this handler words that line for the command line, on stdout.
    listening = logging.getLogger("picohttp.listening")
    listening.addHandler(_ListeningLine(what))
    listening.setLevel(logging.INFO)
    listening.propagate = False
    server.start()
    return 0


class _ListeningLine(logging.Handler):
    """Print the server's listening record as the command line's own line, on stdout."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def emit(self, record: logging.LogRecord) -> None:
        urls = getattr(record, "urls", "?")
        print(f"picohttp serving {self.what} on {urls}  (Ctrl-C to stop)", flush=True)


def _command_line_hint(exc: OSError, port: int) -> str:
    """The bind error with its hint in command-line terms (``-p 0``, not ``port=0``)."""
    text = str(exc.strerror or exc).replace("picohttp cannot listen", "cannot listen", 1)
    python_hint = listen_hint(exc.errno, port)
    return text.replace(python_hint, listen_hint(exc.errno, port, "-p ")) if python_hint else text


def _supervise(argv: Optional[Sequence[str]], port: int, host: Optional[str]) -> int:
    """``--reload``: check the port now (a busy one fails at once), then supervise children."""
    from ._reload import probe_port, run

    try:
        port = probe_port(host, port)  # -p 0: the free port every child will use
    except OSError:
        try:  # for its message, which says what to do
            HttpServer(port, start=False, host=host).stop()
        except OSError as exc:
            print(f"picohttp: {_command_line_hint(exc, port)}", file=sys.stderr)
            return 1
    return run(sys.argv[1:] if argv is None else list(argv), port, host)
