"""Three picohttp instances behind a real nginx ``upstream``, one killed and one restarted.

``deploy/picohttp@.socket`` + ``picohttp@.service`` (``app.py``, unchanged) run
three times under ``systemd-socket-activate``, each on its own unix socket,
behind ``deploy/nginx-upstream.conf``.  Under a steady wrk load through nginx,
instance 1 is killed with SIGKILL and instance 2 restarted with SIGHUP: every
request (idempotent GETs) succeeds, counted by wrk and in nginx's access log,
because nginx retries a failed one on the next instance (``proxy_next_upstream``).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from support import (
    ROOT,
    NotifyListener,
    alive,
    deploy_unit,
    free_port,
    nginx,
    public_directory,
    python_env,
    run_wrk,
    substituted,
    wrk_counts,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="systemd socket activation is Linux's"
)

DEPLOY = ROOT / "deploy"


@contextlib.contextmanager
def instances(
    run: Path, home: Path, notify: NotifyListener, count: int
) -> Iterator[List[subprocess.Popen]]:  # type: ignore[type-arg]
    """``count`` instances of picohttp@.service on picohttp@.socket, as systemd would run them."""
    activate = shutil.which("systemd-socket-activate")
    if activate is None:
        pytest.skip("systemd-socket-activate is not installed (Debian package systemd)")
    socket_unit = deploy_unit("picohttp@.socket")["Socket"]
    service = deploy_unit("picohttp@.service")["Service"]
    assert (socket_unit["SocketMode"], socket_unit["SocketGroup"]) == ("0660", "www-data")
    env = python_env()
    env["NOTIFY_SOCKET"] = notify.path
    passed = [f"--setenv={name}={env[name]}" for name in ("PYTHONPATH", "NOTIFY_SOCKET")]
    processes: List[subprocess.Popen] = []  # type: ignore[type-arg]
    try:
        for number in range(1, count + 1):
            path = substituted(
                socket_unit["ListenStream"], {"/run/picohttp": str(run), "%i": str(number)}
            )
            argv = shlex.split(substituted(service["ExecStart"], {"/home/pi/app": str(home)}))
            process = subprocess.Popen(
                [activate, "-l", path, *passed, *argv],
                cwd=home,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,  # no controlling terminal, as under systemd: see SIGHUP
            )
            processes.append(process)
            assert process.stderr is not None
            assert b"Listening on" in process.stderr.readline()
            # What SocketMode= and SocketGroup= make of it (nginx's workers run as nogroup here).
            os.chmod(path, int(socket_unit["SocketMode"], 8))
            os.chown(path, -1, 65534)
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
            process.communicate(timeout=30)


@pytest.mark.slow
def test_three_instances_behind_nginx_one_killed_one_restarted_no_request_fails(
    tmp_path: Path,
) -> None:
    front = free_port()
    home = tmp_path / "home-pi-app"
    home.mkdir()
    (home / ".venv" / "bin").mkdir(parents=True)
    (home / ".venv" / "bin" / "python").symlink_to(sys.executable)
    shutil.copy(DEPLOY / "app.py", home / "app.py")
    notify = NotifyListener(tmp_path)
    with public_directory() as run:  # nginx's workers (nobody) cannot enter tmp_path
        site = substituted(
            (DEPLOY / "nginx-upstream.conf").read_text(),
            {"listen 80;": f"listen 127.0.0.1:{front};", "/run/picohttp": str(run)},
        )
        with instances(run, home, notify, 3) as processes, nginx(site, tmp_path / "nginx", front):
            load = run_wrk(f"http://127.0.0.1:{front}/", 8, tmp_path)
            try:
                # Each instance starts at its first connection, from nginx, under load.
                started = {pid for _, pid, _ in notify.until("READY=1")}
                while len(started) < 3:
                    started |= {pid for _, pid, _ in notify.until("READY=1")}
                assert started == {p.pid for p in processes}
                time.sleep(2)  # pacing: the load runs a while on three instances
                processes[0].send_signal(signal.SIGKILL)
                time.sleep(2)
                processes[1].send_signal(signal.SIGHUP)
                successor = notify.until("READY=1")[-1][1]
                assert successor not in started
                output, _ = load.communicate(timeout=60)
            finally:
                if load.poll() is None:
                    load.kill()
                    load.communicate()
            assert processes[1].wait(30) == 0  # handed over, then stopped cleanly
            access = (tmp_path / "nginx" / "access.log").read_text().splitlines()
            errors = (tmp_path / "nginx" / "error.log").read_text()
            os.kill(successor, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while alive(successor) and time.monotonic() < deadline:
                time.sleep(0.05)
    notify.close()
    counts = wrk_counts(output)
    statuses = [line.split('"')[2].split()[0] for line in access]
    print(f"three instances, one killed, one restarted: {counts}, nginx logged {len(statuses)}")
    assert processes[0].returncode == -signal.SIGKILL
    assert counts["requests"] > 1000, output
    for failure in ("connect", "read", "write", "timeout", "non_2xx"):
        assert counts[failure] == 0, output
    # wrk counted every answer it got as 2xx (above); nginx also logs, as 499, a request
    # that wrk itself abandoned when its time was up (at most one per connection, 8).
    assert len(statuses) >= counts["requests"]
    assert set(statuses) <= {"200", "499"} and statuses.count("499") <= 8, set(statuses)
    # nginx did meet the dead instance, and passed those requests on to the others: a
    # request in flight at the kill ends "prematurely" (or is reset, when the kernel
    # closed a socket whose request the killed process had not read), later ones are
    # refused, unless nginx has already marked the instance down (max_fails).
    met = [
        line
        for line in errors.splitlines()
        if f"unix:{run}/app1.sock" in line
        and any(
            meeting in line
            for meeting in (
                "(111: Connection refused)",
                "prematurely closed",
                "(104: Connection reset by peer)",
            )
        )
    ]
    assert met, errors
