"""``python -m picohttp ... --reload``: restart the server when a ``.py`` file changes.

The process the user started is a supervisor that never imports the
application: it runs the command line again as a child (the same arguments,
marked by ``CHILD_ENV`` so the child serves instead of supervising) and polls
the modification times of the ``.py`` files under the current directory every
``POLL`` seconds (standard library only: no inotify, no threads).

On a change it first compiles the changed files: a syntax error is reported
on stderr and the running child keeps serving the previous code until the
next change.  Otherwise the child is stopped (SIGTERM: a graceful stop,
SIGKILL after ``STOP_WAIT`` s), and once it has exited, and so closed its
listening socket, a new child binds the same port (``SO_REUSEADDR`` lets it
despite connections in TIME_WAIT).  A child that exits on its own (an import
error) is reported, and the next change starts a new one.  Ctrl-C reaches
both processes from a terminal; a signal sent to the supervisor alone is
passed on, and the supervisor waits for the child before it exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import Any, Dict, List, Optional, Sequence, TextIO, Tuple

    Stamps = Dict[str, Tuple[int, int]]  # path -> (mtime in ns, size)

CHILD_ENV = "PICOHTTP_RELOADER_CHILD"
POLL = 0.3  # seconds between scans: a change is picked up within about a second
STOP_WAIT = 1.0  # seconds a stopping child may take before it is killed
FINAL_WAIT = 7.0  # on Ctrl-C: the server's stopTimeout (5 s) and some margin
# Directories never scanned: virtual environments, caches, version control,
# JavaScript dependencies.  Hidden directories (".venv", ".git") are skipped too.
_SKIP_DIRS = frozenset(("__pycache__", "node_modules", "site-packages", "venv", "env"))


class _Terminated(BaseException):  # a signal, like KeyboardInterrupt: not an Exception
    """SIGTERM (or SIGHUP) reached the supervisor."""


def scan(root: str) -> Stamps:
    """``{path: (mtime_ns, size)}`` of every ``.py`` file under ``root``."""
    found: Stamps = {}
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            entries = os.scandir(directory)
        except OSError:
            continue  # removed meanwhile, or unreadable
        with entries:
            for entry in entries:
                name = entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if not name.startswith(".") and name not in _SKIP_DIRS:
                            pending.append(entry.path)
                    elif name.endswith(".py"):
                        info = entry.stat()
                        found[entry.path] = (info.st_mtime_ns, info.st_size)
                except OSError:
                    continue
    return found


def changed_files(before: Stamps, after: Stamps) -> List[str]:
    """Files added, modified or removed between two scans, sorted."""
    return sorted(
        {path for path, stamp in after.items() if before.get(path) != stamp}
        | (before.keys() - after.keys())
    )


def syntax_error(path: str) -> Optional[str]:
    """The compiler's report for ``path``, or ``None`` when it compiles (or is gone)."""
    try:
        with open(path, "rb") as file:
            source = file.read()
    except OSError:
        return None
    import warnings

    try:
        # Only errors matter here: a SyntaxWarning (an invalid escape) is the
        # child's to show, once, and must not turn into an error.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as exc:  # IndentationError and TabError are SyntaxErrors
        import traceback

        return "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
    except ValueError as exc:  # e.g. a NUL byte in the source
        return f"{path}: {exc}"
    return None


def _forget_bytecode(path: str) -> None:
    """Remove ``path``'s cached bytecode, so the next child compiles the new source.

    A ``.pyc`` is checked against the source's size and mtime in whole
    seconds: an edit within the same second that keeps the size (``"one"`` to
    ``"two"``) would otherwise be served from the stale cache.
    """
    import contextlib
    import importlib.util

    # No cache, or none this interpreter writes: nothing to forget.
    with contextlib.suppress(OSError, ValueError, NotImplementedError):
        os.remove(importlib.util.cache_from_source(path))


def probe_port(host: Optional[str], port: int) -> int:
    """Bind ``host``:``port`` as the server would, without listening; returns the port bound.

    Never listening matters: a client that connected to a probe (a test
    polling the port, a browser) would be reset when it closes.  Raises
    ``OSError`` when the server could not bind there either.
    """
    import socket

    if host in (None, "", "::") and socket.has_dualstack_ipv6():
        family: int = socket.AF_INET6
        address: Any = ("::", port)
    else:
        name = "0.0.0.0" if host in (None, "", "::") else host
        family, _, _, _, address = socket.getaddrinfo(
            name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if os.name != "nt":  # as socket.create_server does: TIME_WAIT must not block a restart
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and host in (None, "", "::"):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        return int(sock.getsockname()[1])


def _child_command(argv: Sequence[str], port: int) -> List[str]:
    # "-c" rather than "-m picohttp": this picohttp may not be on the child's
    # sys.path (it was found through the parent's); appended last, so an
    # installed copy found first is the same one the parent imported anyway.
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = (
        "import sys; sys.path.append(" + repr(package_root) + "); "
        "from picohttp._cli import main; sys.exit(main())"
    )
    # The last -p wins: the port the supervisor checked (a real one for -p 0).
    return [sys.executable, "-c", code, *argv, "-p", str(port)]


class Supervisor:
    """Runs the server as a child process and restarts it when the code changes."""

    def __init__(
        self, argv: Sequence[str], port: int, host: Optional[str], root: str, out: TextIO
    ) -> None:
        self.command = _child_command(argv, port)
        self.port = port
        self.host = host
        self.root = root
        self.out = out
        self.child: Optional[subprocess.Popen[bytes]] = None
        self.reported_exit = False

    def say(self, message: str) -> None:
        print(f"picohttp: {message}", file=self.out, flush=True)

    def start_child(self) -> None:
        self._wait_for_port()
        env = dict(os.environ)
        env[CHILD_ENV] = "1"
        self.child = subprocess.Popen(self.command, env=env)
        self.reported_exit = False

    def stop_child(self, wait: float = STOP_WAIT) -> None:
        """SIGTERM (a graceful stop), SIGKILL after ``wait`` seconds; returns once it exited."""
        child = self.child
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(wait)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.child = None

    def kill_child(self) -> None:
        child = self.child
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        self.child = None

    def _wait_for_port(self, timeout: float = 5.0) -> None:
        """Until the port can be bound again: the old child's socket is gone for certain."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                probe_port(self.host, self.port)
                return
            except OSError:
                if time.monotonic() > deadline:
                    return  # the child will say why it cannot listen
                time.sleep(0.05)

    def check_child(self) -> None:
        child = self.child
        if child is not None and not self.reported_exit and child.poll() is not None:
            self.reported_exit = True
            self.say(
                f"the server exited with status {child.returncode}; "
                "waiting for a change to a .py file to start it again (Ctrl-C to quit)"
            )

    def run(self) -> int:
        """Supervise until Ctrl-C or SIGTERM; returns the exit status."""
        restore = _install_signal_handlers()
        try:
            try:
                self.watch()
            except (KeyboardInterrupt, _Terminated):
                self.stop_child(FINAL_WAIT)  # the child got Ctrl-C too, or gets SIGTERM now
        except (KeyboardInterrupt, _Terminated):
            pass  # a second Ctrl-C while waiting: kill below
        finally:
            self.kill_child()
            for signum, previous in restore:
                signal.signal(signum, previous)
        return 0

    def watch(self) -> None:
        stamps = scan(self.root)
        self.say(f"--reload: watching the .py files under {self.root}")
        self.start_child()
        while True:
            time.sleep(POLL)
            self.check_child()
            current = scan(self.root)
            changed = changed_files(stamps, current)
            if changed:
                stamps = current
                self.on_change(changed)

    def on_change(self, changed: List[str]) -> None:
        for path in changed:
            error = syntax_error(path)
            if error is not None:
                running = self.child is not None and self.child.poll() is None
                still = "; the previous version keeps serving" if running else ""
                self.say(f"not restarting, {os.path.relpath(path, self.root)} has an error{still}:")
                print(error, file=self.out, flush=True)
                return
        for path in changed:
            _forget_bytecode(path)
        names = ", ".join(os.path.relpath(path, self.root) for path in changed[:3])
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        self.say(f"{names}{more} changed: restarting")
        self.stop_child()
        self.start_child()


def _install_signal_handlers() -> List[Tuple[int, Any]]:
    def terminate(signum: int, frame: Any) -> None:
        raise _Terminated

    restore: List[Tuple[int, Any]] = []
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            restore.append((signum, signal.signal(signum, terminate)))
    return restore


def run(argv: Sequence[str], port: int, host: Optional[str]) -> int:
    """Serve ``argv`` (the command line without its supervision) and restart it on changes."""
    return Supervisor(argv, port, host, os.getcwd(), sys.stderr).run()
