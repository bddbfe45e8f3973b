"""A short run of benchmarks/soak.py in each concurrency mode (a few seconds each).

Longer runs: ``python benchmarks/soak.py --duration 300 --clients 16 [--sequential]``.
The mix includes issue 13's hostile clients: bodies in 1-byte chunks, 16 MiB
urlencoded forms, trickling bodies and never-read streams held open; and, each in a
run of its own, a handler raising SystemExit and more never-read streams than
worker threads.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from support import PYTHON, ROOT, python_env

sys.path.insert(0, str(ROOT / "benchmarks"))
import soak


@pytest.mark.parametrize("mode", ["threads", "sequential"])
def test_soak_loses_nothing(mode):
    command = [PYTHON, str(ROOT / "benchmarks" / "soak.py"), "--duration", "3", "--json"]
    command += ["--clients", "6", "--seed", "20261126"]
    if mode == "sequential":
        command.append("--sequential")
    done = subprocess.run(
        command, env=python_env(), capture_output=True, text=True, timeout=90, check=False
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(result)
    assert result["problems"] == [], result["problems"]
    assert done.returncode == 0, done.stderr[-2000:]
    assert result["good_lost_or_wrong"] == 0
    assert result["broken_wrong"] == 0
    assert result["hung_clients"] == 0
    assert result["leaked_threads"] == 0 and result["leaked_fds"] == 0
    # Enough traffic of every kind for the zero to mean something.
    assert result["good"] >= 300
    assert set(result["good_by_kind"]) == {name for name, _ in soak.GOOD}
    assert result["broken"] >= 100
    assert result["slowloris_opened"] > result["slowloris_held"]  # timed out and replaced
    # The hostile clients of issue 13 came, and were answered as they should be
    # (broken_wrong above): an exact echo of 1-byte chunks, a 413 for each form.
    assert result["broken_by_kind"].get("tiny-chunks", 0) >= 5
    assert result["broken_by_kind"].get("big-form", 0) >= 2
    assert result["trickles_opened"] >= result["trickles_held"] == 20
    assert result["unread_streams_opened"] >= result["unread_streams_held"] == 4


@pytest.mark.parametrize("mode", ["threads", "sequential"])
def test_soak_with_a_handler_raising_system_exit(mode):
    command = [PYTHON, str(ROOT / "benchmarks" / "soak.py"), "--duration", "3", "--json"]
    command += ["--clients", "6", "--seed", "20261203", "--system-exit"]
    if mode == "sequential":
        command.append("--sequential")
    done = subprocess.run(
        command, env=python_env(), capture_output=True, text=True, timeout=90, check=False
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(result)
    assert result["problems"] == [], result["problems"]
    assert done.returncode == 0, done.stderr[-2000:]
    assert result["broken_by_kind"].get("system-exit", 0) >= 5
    assert result["leaked_threads"] == 0 and result["leaked_fds"] == 0


def test_the_soak_checker_notices_a_cut_or_wrong_answer():
    good = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\nDate: x\r\nConnection: close\r\n\r\nhello"
    assert soak.check_answer(good, 200, b"hello") is None
    assert soak.check_answer(good[:-1], 200, b"hello") is not None
    assert soak.check_answer(good.replace(b"hello", b"hellO"), 200, b"hello") is not None
    assert soak.check_answer(good, 404, b"hello") is not None
    assert soak.check_answer(b"", 200, b"hello") is not None


def test_soak_with_more_unread_streams_than_worker_threads():
    command = [PYTHON, str(ROOT / "benchmarks" / "soak.py"), "--duration", "3", "--json"]
    command += ["--clients", "6", "--seed", "20261203", "--unread-streams", "40"]
    done = subprocess.run(
        command, env=python_env(), capture_output=True, text=True, timeout=90, check=False
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(result)
    assert result["problems"] == [], result["problems"]
    assert done.returncode == 0, done.stderr[-2000:]
    assert result["good"] >= 300 and result["unread_streams_opened"] >= 40
