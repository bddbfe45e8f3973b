"""What picohttp costs before any request: import time and an idle server's memory.

Import time is measured two ways, each the median of ``runs`` fresh processes
taken in turns (picohttp, http.server, an empty interpreter, again...):
- ``-X importtime``: the cumulative microseconds the interpreter reports for
  the ``picohttp`` and ``http.server`` imports themselves;
- the wall time of ``python -c "import ..."`` minus that of ``python -c pass``.

Memory is the resident set (VmRSS) of the spec's hello example serving on a
free port after it answered one request, against a bare interpreter that
only sleeps; both started by the same Python.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List

from .layout import SRC
from .load import HELLO, get
from .processes import Supervisor, free_port, rss_kib, wait_for_port

_HELLO_SERVER = """\
import sys
import picohttp

def requestHandler(request, response):
    if request.path[0] == "hello":
        response.data = "Hello world!"
    else:
        response.status = 404
        response.data = "I don't know what to say"

picohttp.HttpServer(int(sys.argv[1]), requestHandler, host="127.0.0.1")
"""

_BARE = "import sys, time\nsys.stdout.write('ready\\n')\nsys.stdout.flush()\ntime.sleep(120)\n"


def import_times(python: str, env: Dict[str, str], runs: int) -> Dict[str, Any]:
    """Median import cost of picohttp and http.server, in milliseconds.

    picohttp's bytecode is compiled first, as an installed package's is (the
    standard library's always is); without it each run would compile anew.
    """
    subprocess.run([python, "-m", "compileall", "-q", str(SRC / "picohttp")], check=True)
    wall: Dict[str, List[float]] = {"picohttp": [], "http.server": [], "": []}
    reported: Dict[str, List[float]] = {"picohttp": [], "http.server": []}
    for _ in range(runs):
        for module in wall:
            code = f"import {module}" if module else "pass"
            started = time.perf_counter()
            subprocess.run([python, "-c", code], env=env, check=True, timeout=60)
            wall[module].append((time.perf_counter() - started) * 1000)
        for module in reported:
            result = subprocess.run(
                [python, "-X", "importtime", "-c", f"import {module}"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            )
            reported[module].append(_cumulative_us(result.stderr, module) / 1000)
    bare = statistics.median(wall[""])
    return {
        "runs": runs,
        "importtime_ms": {module: statistics.median(v) for module, v in reported.items()},
        "process_ms": {
            module or "python -c pass": statistics.median(v) for module, v in wall.items()
        },
        "wall_minus_bare_ms": {
            module: statistics.median(v) - bare for module, v in wall.items() if module
        },
    }


def _cumulative_us(stderr: str, module: str) -> float:
    # "import time:   self [us] | cumulative | imported package", nested names indented
    pattern = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \| " + re.escape(module) + r"\s*$")
    for line in stderr.splitlines():
        match = pattern.match(line)
        if match:
            return float(match.group(1))
    raise RuntimeError(f"-X importtime printed no line for {module}")


def idle_rss(
    supervisor: Supervisor, python: str, env: Dict[str, str], workdir: Path
) -> Dict[str, Any]:
    """RSS (MiB) of an idle hello-example server and of a bare sleeping interpreter."""
    port = free_port()
    server = supervisor.start(
        [python, "-c", _HELLO_SERVER, str(port)], env=env, log=workdir / "rss-picohttp.log"
    )
    bare = subprocess.Popen(
        [python, "-c", _BARE], env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, server)
        started = rss_kib(server.pid)
        status, body = get(port, "/hello")
        if (status, body) != (200, HELLO):
            raise RuntimeError(f"the hello example answered {status} {body!r}")
        time.sleep(0.2)  # let the worker thread settle back to idle
        served = rss_kib(server.pid)
        assert bare.stdout is not None
        bare.stdout.readline()  # "ready": the interpreter is fully started
        bare_kib = rss_kib(bare.pid)
    finally:
        supervisor.stop(server)
        bare.kill()
        bare.wait()
    return {
        "bare_mib": bare_kib / 1024,
        "picohttp_started_mib": started / 1024,
        "picohttp_served_mib": served / 1024,
        "extra_mib": (served - bare_kib) / 1024,
    }


def measure(
    supervisor: Supervisor,
    python: str,
    env: Dict[str, str],
    workdir: Path,
    runs: int,
) -> Dict[str, Any]:
    result: Dict[str, Any] = {"imports": import_times(python, env, runs)}
    result["memory"] = idle_rss(supervisor, python, env, workdir)
    return result
