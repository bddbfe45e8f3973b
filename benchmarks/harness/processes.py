"""Child processes the benchmark starts: each in its own process group, all ended on exit.

Every server runs in a new session, so stopping it ends its whole group
(gunicorn's or nginx's master and workers alike) by that group's id, and
nothing else.  On Linux each child also gets ``PR_SET_PDEATHSIG``: should the
benchmark itself be killed outright, its servers receive SIGTERM instead of
living on.  ``Supervisor.stop_all`` runs from ``bench.py``'s ``finally``, so
Ctrl-C, SIGTERM and errors all pass through it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Dict, List, Optional, Sequence

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    """A port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Supervisor:
    """Starts processes and guarantees they are gone afterwards."""

    def __init__(self) -> None:
        self._children: List[subprocess.Popen[bytes]] = []

    def start(
        self, argv: Sequence[str], env: Dict[str, str], log: Path, cwd: Optional[Path] = None
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` with stdout and stderr going to ``log``."""
        with open(log, "wb") as output:
            process = subprocess.Popen(
                list(argv),
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # safe: the benchmark starts no threads
            )
        self._children.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        """SIGTERM the process's group, wait, then SIGKILL what is left of the group.

        The leader is reaped only after the sweep: while it is a zombie its id
        still names our group, so the signals cannot reach anyone else.
        """
        if process.returncode is None:
            if not exited(process):
                _signal_group(process.pid, signal.SIGTERM)
                if not exited(process, timeout):
                    _signal_group(process.pid, signal.SIGKILL)
                    exited(process, 5.0)
            # Workers may outlive a master that died first: sweep the group.
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
        if process in self._children:
            self._children.remove(process)

    def stop_all(self) -> None:
        for process in list(self._children):
            with contextlib.suppress(Exception):
                self.stop(process, timeout=5.0)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def exited(process: subprocess.Popen[bytes], timeout: float = 0.0) -> bool:
    """Whether the process has ended (waiting up to ``timeout``), without reaping it."""
    if process.returncode is not None:
        return True
    deadline = time.monotonic() + timeout
    while True:
        try:
            info = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        if info is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Return once something accepts on 127.0.0.1:``port``; raise if the process exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if exited(process):
            raise RuntimeError("exited before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"not listening on port {port} after {timeout:.0f} s") from None
            time.sleep(0.05)  # nothing to wait on but the port itself


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of every live process in group ``pgid``, summed (from /proc).

    Counts all threads of each process; a worker that exits during a run takes its time
    with it, which the caller sees as a failed run anyway.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pgid:  # state, ppid, pgrp
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
    return total / ticks


def group_rss_kib(pgid: int) -> int:
    """Resident memory of every process in group ``pgid``, summed (KiB, from /proc)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pgid:  # state, ppid, pgrp
                continue
            total += rss_kib(int(entry))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
    return total


def rss_kib(pid: int) -> int:
    """VmRSS of one process in KiB (0 if it has none, e.g. a zombie)."""
    for line in Path("/proc", str(pid), "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def read_line(stream: Optional[IO[bytes]]) -> str:
    return stream.readline().decode(errors="replace").strip() if stream else ""
