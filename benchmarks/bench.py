#!/usr/bin/env python3
"""picohttp against its peers under load: one command, from a fresh clone.

    python3 benchmarks/bench.py            the full run: 3 rounds x 9 servers x 3 scenarios
    python3 benchmarks/bench.py --quick    a smoke run (1 round, 1 s, hello only): proves the
                                           tool works and asserts no speed
    python3 benchmarks/bench.py --help     every option

It installs what it needs: wrk and nginx from Debian's packages when missing
(as root with apt-get), and the peers plus matplotlib in its own environment,
``benchmarks/.venv`` (pinned in ``requirements.txt``), in which it then runs
itself.  picohttp is imported from this checkout's ``src/``.

Each server runs as its own process on 127.0.0.1 and a free port; wrk drives
it with 50 connections and ``Connection: close`` (one request per connection,
HTTP/1.0 semantics).  Servers are interleaved round by round, in a rotating
order, so that drift of the machine hits all alike.  A server must answer
each scenario correctly before and after its load.  Results: a table printed
and written to ``results/latest.md`` and ``results/latest.json``, and charts
``results/hello.png`` and ``results/scenarios.png`` (``--quick`` writes to
``results/tmp/``).  Exit status: 0, or 1 when a server failed to start or
answer (never for speed), 2 when the tool cannot run at all.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, NoReturn, Optional, Sequence

from harness import footprint, report
from harness.layout import REQUIREMENTS, RESULTS, ROOT, SRC, VENV
from harness.load import AnswerError, Scenario, check, check_not_found, make_files, run_wrk
from harness.processes import (
    Supervisor,
    free_port,
    group_cpu_seconds,
    group_rss_kib,
    tail,
    wait_for_port,
)
from harness.servers import BY_KEY, SERVERS, Context, Server, environment

_IN_VENV = "PICOHTTP_BENCH_VENV"


def say(text: str) -> None:
    print(text, flush=True)


def fail(text: str) -> NoReturn:
    print(f"bench.py: {text}", file=sys.stderr, flush=True)
    sys.exit(2)


# -- setting up ------------------------------------------------------------------------


def ensure_system_tools(need_nginx: bool) -> None:
    """wrk (and nginx) from Debian's packages when missing and we may install them."""
    missing = [] if shutil.which("wrk") else ["wrk"]
    if need_nginx and not (shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK)):
        missing.append("nginx")
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        say(f"missing {' '.join(missing)}, and not root with apt-get to install them")
        return
    say(f"installing {' '.join(missing)} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log = Path(tempfile.gettempdir()) / "picohttp-bench-apt.log"
    with open(log, "wb") as output:
        ok = (
            subprocess.run(["apt-get", "update", "-q"], stdout=output, stderr=output, env=env)
            .returncode == 0
            and subprocess.run(
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
                stdout=output,
                stderr=output,
                env=env,
            ).returncode == 0
        )  # fmt: skip
    if not ok:
        say(f"apt-get failed (see {log}):\n{tail(log)}")


def ensure_venv() -> Path:
    """``benchmarks/.venv`` for this Python with the pinned requirements; cheap when done."""
    python = VENV / "bin" / "python"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    stamp = VENV / ".requirements-installed"
    same_python = _venv_version() == platform.python_version()
    if same_python and stamp.exists() and stamp.read_text().strip() == wanted:
        return python
    base = getattr(sys, "_base_executable", None) or sys.executable
    started = time.monotonic()
    say(f"making {VENV.relative_to(ROOT)} ({platform.python_version()}) from {REQUIREMENTS.name}")
    if not same_python:
        result = subprocess.run(
            [base, "-m", "venv", "--clear", str(VENV)], capture_output=True, text=True
        )
        if result.returncode != 0:
            fail(f"cannot make {VENV}: {result.stderr.strip() or result.stdout.strip()}")
    log = VENV / "pip.log"
    with open(log, "wb") as output:
        result_code = subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q",
             "-r", str(REQUIREMENTS)],
            stdout=output,
            stderr=output,
        ).returncode  # fmt: skip
    if result_code != 0:
        fail(f"pip could not install {REQUIREMENTS} (see {log}):\n{tail(log, 25)}")
    stamp.write_text(wanted + "\n")
    say(f"  done in {time.monotonic() - started:.0f} s")
    return python


def _venv_version() -> Optional[str]:
    """The Python version ``benchmarks/.venv`` was made with, if it exists."""
    try:
        config = (VENV / "pyvenv.cfg").read_text()
    except OSError:
        return None
    if not (VENV / "bin" / "python").exists():
        return None
    for line in config.splitlines():
        name, _, value = line.partition("=")
        if name.strip() in ("version", "version_info"):
            return value.strip()
    return None


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


# -- facts about the run -----------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def wrk_version() -> str:
    result = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    first = (result.stdout or result.stderr).strip().splitlines()[0]
    return first.split(" [")[0].removeprefix("wrk ").strip() if first else "?"


def load_average() -> str:
    return f"{os.getloadavg()[0]:.2f}"


# -- one server, one round -------------------------------------------------------------


class Run:
    """The whole benchmark: its settings, its processes, and what it measured."""

    def __init__(
        self, options: argparse.Namespace, servers: List[Server], scenarios: List[Scenario]
    ) -> None:
        self.options = options
        self.servers = servers
        self.scenarios = scenarios
        self.supervisor = Supervisor()
        self.results: Dict[str, Any] = {
            "scenarios": {
                s.key: {"title": s.title, "path": s.path, "runs": {v.key: [] for v in servers}}
                for s in scenarios
            },
            "memory": {server.key: [] for server in servers},
            "failures": [],
        }

    def serve(self, server: Server, round_number: int, workdir: Path, files: Path) -> None:
        """Start ``server``, check it, load it with each scenario, stop it."""
        scratch = workdir / f"{server.key}-round{round_number}"
        scratch.mkdir()
        for attempt in (1, 2):
            ctx = Context(python=sys.executable, port=free_port(), files=files, workdir=scratch)
            if server.prepare is not None:
                server.prepare(ctx)
            log = scratch / "server.log"
            process = self.supervisor.start(server.command(ctx), environment(ctx), log, scratch)
            try:
                wait_for_port(ctx.port, process)
                break
            except RuntimeError as exc:
                self.supervisor.stop(process)
                if attempt == 2 or "exited" not in str(exc):
                    self._failed(server, round_number, "start", f"{exc}\n{tail(log)}")
                    return
                # Perhaps someone took the free port meanwhile: once more, on another.
        current = "start"
        try:
            check_not_found(ctx.port)
            memory = {"start_mib": group_rss_kib(process.pid) / 1024}
            for scenario in self.scenarios:
                if server.only is not None and scenario.key not in server.only:
                    continue
                current = scenario.key
                check(ctx.port, scenario)
                self._load(server, scenario, ctx, round_number, process.pid)
                check(ctx.port, scenario)  # still right after the load
            memory["end_mib"] = group_rss_kib(process.pid) / 1024
            self.results["memory"][server.key].append(memory)
        except (RuntimeError, AnswerError, OSError) as exc:
            self._failed(server, round_number, current, f"{exc}\n{tail(log)}")
        finally:
            self.supervisor.stop(process)

    def _load(
        self, server: Server, scenario: Scenario, ctx: Context, round_number: int, pgid: int
    ) -> None:
        options = self.options
        log = ctx.workdir / f"wrk-{scenario.key}.log"
        load = {
            "connections": min(options.connections, scenario.connections or options.connections),
            "threads": options.threads,
        }
        if options.warmup > 0:
            run_wrk(self.supervisor, log, ctx.port, scenario.path, options.warmup, **load)
        cpu_before = group_cpu_seconds(pgid)
        rss_before = group_rss_kib(pgid) / 1024
        result = run_wrk(self.supervisor, log, ctx.port, scenario.path, options.duration, **load)
        cpu = group_cpu_seconds(pgid) - cpu_before
        # Resident memory around the load: a server that streams a file stays flat.
        result["rss_mib"] = {"before": rss_before, "after": group_rss_kib(pgid) / 1024}
        result["round"] = round_number
        # The server's own CPU per answered request: a figure the load generator cannot cap
        # (at ~40k req/s wrk itself is the ceiling, and req/s stops telling servers apart).
        result["cpu_us_per_request"] = cpu * 1e6 / result["requests"] if result["requests"] else 0
        if result["requests"] == 0:
            raise RuntimeError(f"answered no request under load: {json.dumps(result['errors'])}")
        self.results["scenarios"][scenario.key]["runs"][server.key].append(result)
        errors = sum(result["errors"][k] for k in ("connect", "read", "write", "timeout"))
        say(
            f"  {server.label:<34} {scenario.key:<7} {result['rps']:>9,.0f} req/s"
            f"  p50 {result['latency_us']['p50'] / 1000:6.2f} ms"
            f"  p99 {result['latency_us']['p99'] / 1000:6.2f} ms"
            f"  CPU {result['cpu_us_per_request']:6.1f} us/req"
            f"  RSS {result['rss_mib']['before']:.0f}->{result['rss_mib']['after']:.0f} MiB"
            f"  socket errors {errors}  non-2xx {result['errors']['status']}"
        )

    def _failed(self, server: Server, round_number: int, scenario: str, message: str) -> None:
        say(f"  {server.label}: FAILED ({scenario}): {message.strip()}")
        self.results["failures"].append(
            {"server": server.key, "round": round_number, "scenario": scenario, "message": message}
        )


# -- the command -------------------------------------------------------------------------


def parse(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench.py",
        description="Measure picohttp against its peers with wrk (see benchmarks/bench.py).",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 round, 1 s per server, hello only, results in results/tmp/",
    )
    parser.add_argument("--duration", type=int, help="seconds per measured run (default 5)")
    parser.add_argument("--warmup", type=int, help="seconds of warm-up before each run (default 1)")
    parser.add_argument("--rounds", type=int, help="rounds over all servers (default 3)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (50)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument(
        "--servers", help=f"comma-separated subset of: {', '.join(s.key for s in SERVERS)}"
    )
    parser.add_argument(
        "--scenarios",
        help="comma-separated subset of: hello, static, big, 1m, 100m "
        "(default: all but 100m, which needs servers that stream files)",
    )
    parser.add_argument(
        "--import-runs", type=int, help="process starts per import-time sample (default 20)"
    )
    parser.add_argument("--no-footprint", action="store_true", help="skip import time and RSS")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG charts")
    parser.add_argument("--output", type=Path, help="directory for the results (default results/)")
    parser.add_argument(
        "--note", default="", help="a line for the report, e.g. 'other jobs were running'"
    )
    parser.add_argument("--list", action="store_true", help="list the servers and exit")
    options = parser.parse_args(argv)
    quick = options.quick
    for name, full, smoke in (
        ("duration", 5, 1),
        ("warmup", 1, 0),
        ("rounds", 3, 1),
        ("import_runs", 20, 5),
    ):
        if getattr(options, name) is None:
            setattr(options, name, smoke if quick else full)
    if options.scenarios is None:
        options.scenarios = "hello" if quick else "hello,static,big,1m"
    if options.output is None:
        options.output = RESULTS / "tmp" if quick else RESULTS
    if options.duration < 1 or options.rounds < 1 or options.connections < 1 or options.threads < 1:
        parser.error("--duration, --rounds, --connections and --threads must be at least 1")
    return options


def choose(options: argparse.Namespace, files: Path) -> tuple[List[Server], List[Scenario]]:
    servers = SERVERS
    if options.servers:
        keys = [key.strip() for key in options.servers.split(",") if key.strip()]
        unknown = [key for key in keys if key not in BY_KEY]
        if unknown:
            fail(f"unknown server(s) {', '.join(unknown)}; known: {', '.join(BY_KEY)}")
        servers = [BY_KEY[key] for key in keys]
    available = []
    for server in servers:
        reason = server.available()
        if reason:
            say(f"skipping {server.label}: {reason}")
        else:
            available.append(server)
    known = make_files(files)
    keys = [key.strip() for key in options.scenarios.split(",") if key.strip()]
    unknown = [key for key in keys if key not in known]
    if unknown:
        fail(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return available, [known[key] for key in keys]


def main(argv: Optional[Sequence[str]] = None) -> int:
    options = parse(argv)
    if options.list:
        for server in SERVERS:
            say(f"{server.key:<14} {server.label:<34} {server.family:<9} static: {server.static}")
        return 0
    if not in_venv():
        if os.environ.get(_IN_VENV):
            fail(f"running under {sys.executable}, not {VENV}: is the environment broken?")
        need_nginx = options.servers is None or "nginx" in options.servers
        ensure_system_tools(need_nginx)
        python = ensure_venv()
        os.environ[_IN_VENV] = "1"
        os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])
    if not shutil.which("wrk"):
        if options.quick:  # like the tests that need a missing tool: skip, say why
            say("bench.py --quick skipped: wrk is not installed (apt-get install wrk)")
            return 0
        fail("wrk is not installed (apt-get install wrk)")
    return measure(options)


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def measure(options: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, _on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix="picohttp-bench-"))
    workdir.chmod(0o755)  # nginx's worker reads the files below it
    started = time.monotonic()
    run: Optional[Run] = None
    try:
        servers, scenarios = choose(options, workdir / "files")
        if not servers:
            fail("no server to measure")
        run = Run(options, servers, scenarios)
        results = run.results
        results["settings"] = {
            "quick": options.quick,
            "duration": options.duration,
            "warmup": options.warmup,
            "rounds": options.rounds,
            "connections": options.connections,
            "wrk_threads": min(options.threads, options.connections),
        }
        results["servers"] = {
            s.key: {
                "label": s.label,
                "family": s.family,
                "static": s.static,
                "version": s.version(),
            }
            for s in servers
        }
        results["meta"] = {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{os.cpu_count()} cores, {cpu_model()}, Linux {platform.release()}",
            "python": f"Python {platform.python_version()}",
            "wrk": wrk_version(),
            "load_before": load_average(),
            "note": options.note,
        }
        say(
            f"picohttp benchmark: {len(servers)} servers x {len(scenarios)} scenario(s) x "
            f"{options.rounds} round(s), {options.duration} s each after {options.warmup} s"
            f" warm-up; load average {results['meta']['load_before']}"
        )
        if not options.no_footprint:
            say(f"footprint: import time ({options.import_runs} runs each) and idle RSS")
            env = dict(os.environ, PYTHONPATH=str(SRC))
            try:
                results["footprint"] = footprint.measure(
                    run.supervisor, sys.executable, env, workdir, options.import_runs
                )
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                results["failures"].append(
                    {"server": "footprint", "round": 0, "scenario": "-", "message": str(exc)}
                )
                say(f"  footprint FAILED: {exc}")
        for round_number in range(1, options.rounds + 1):
            shift = (round_number - 1) % len(servers)
            order = servers[shift:] + servers[:shift]
            say(f"round {round_number}/{options.rounds}: {', '.join(s.key for s in order)}")
            for server in order:
                run.serve(server, round_number, workdir, workdir / "files")
        results["meta"]["load_after"] = load_average()
        results["meta"]["seconds"] = round(time.monotonic() - started)
        write(results, options)
        if results["failures"]:
            say(f"{len(results['failures'])} failure(s): see above")
            return 1
        return 0
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        if run is not None:
            run.supervisor.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


def write(results: Dict[str, Any], options: argparse.Namespace) -> None:
    output: Path = options.output
    output.mkdir(parents=True, exist_ok=True)
    title = "picohttp benchmark" + (
        " (--quick smoke run: not a measurement)" if options.quick else ""
    )
    text = report.markdown(results, title)
    (output / "latest.md").write_text(text)
    (output / "latest.json").write_text(json.dumps(report.summary_json(results), indent=1) + "\n")
    say("\n" + text)
    written = [output / "latest.md", output / "latest.json"]
    if not options.no_chart:
        from harness import chart

        try:
            written += chart.draw(results, output)
        except ImportError as exc:  # matplotlib missing: the numbers still stand
            say(f"no chart: {exc}")
    say("wrote " + ", ".join(_shown(path) for path in written))
    say(f"took {results['meta']['seconds']} s")


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
