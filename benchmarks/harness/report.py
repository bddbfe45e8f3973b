"""From raw runs to the report: medians, ratios, the issue's targets, Markdown and JSON.

Every number in the report is a median over rounds: requests/s, p50 and p99
latency.  Errors are summed over rounds.  The ratios compare medians taken in
the same run, so machine speed cancels out; the targets are the issue's.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from .servers import C_EXTRAS, PICOHTTP, PURE, REFERENCE

#: Idle picohttp server vs a bare interpreter: the issue's "within a few MB".
RSS_BUDGET_MIB = 5.0


@dataclass
class Row:
    """One server in one scenario, summarised over rounds."""

    key: str
    label: str
    family: str
    rounds: int
    rps: float
    rps_min: float
    rps_max: float
    p50_ms: float
    p99_ms: float
    cpu_us: Optional[float]  # server CPU (user + system) per answered request, median
    rss_after_mib: Optional[float]  # server RSS after the load, largest over rounds
    rss_growth_mib: Optional[float]  # RSS after the load minus before it, largest over rounds
    socket_errors: int
    errors_by_kind: Dict[str, int]
    non_2xx: int


def summarise(results: Dict[str, Any]) -> Dict[str, List[Row]]:
    """Per scenario, one Row per server that completed at least one run, fastest first."""
    tables: Dict[str, List[Row]] = {}
    for scenario, data in results["scenarios"].items():
        rows = []
        for key, runs in data["runs"].items():
            if not runs:
                continue
            server = results["servers"][key]
            kinds = {
                kind: sum(run["errors"][kind] for run in runs)
                for kind in ("connect", "read", "write", "timeout")
            }
            rates = [run["rps"] for run in runs]
            cpus = [run["cpu_us_per_request"] for run in runs if "cpu_us_per_request" in run]
            rss = [run["rss_mib"] for run in runs if "rss_mib" in run]
            rows.append(
                Row(
                    key=key,
                    label=server["label"],
                    family=server["family"],
                    rounds=len(runs),
                    rps=statistics.median(rates),
                    rps_min=min(rates),
                    rps_max=max(rates),
                    p50_ms=statistics.median(run["latency_us"]["p50"] for run in runs) / 1000,
                    p99_ms=statistics.median(run["latency_us"]["p99"] for run in runs) / 1000,
                    cpu_us=statistics.median(cpus) if cpus else None,
                    rss_after_mib=max(r["after"] for r in rss) if rss else None,
                    rss_growth_mib=max(r["after"] - r["before"] for r in rss) if rss else None,
                    socket_errors=sum(kinds.values()),
                    errors_by_kind=kinds,
                    non_2xx=sum(run["errors"]["status"] for run in runs),
                )
            )
        rows.sort(key=lambda row: row.rps, reverse=True)
        tables[scenario] = rows
    return tables


def _find(rows: List[Row], key: str) -> Optional[Row]:
    return next((row for row in rows if row.key == key), None)


def _best(rows: List[Row], family: str) -> Optional[Row]:
    candidates = [row for row in rows if row.family == family]
    return max(candidates, key=lambda row: row.rps) if candidates else None


def _ratio(numerator: Optional[Row], denominator: Optional[Row]) -> Optional[float]:
    if numerator is None or denominator is None or denominator.rps <= 0:
        return None
    return numerator.rps / denominator.rps


@dataclass
class Target:
    what: str
    value: Optional[float]
    shown: str
    goal: str
    met: Optional[bool]  # None: could not be measured in this run

    @property
    def status(self) -> str:
        return "n/a" if self.met is None else "met" if self.met else "MISSED"


def _ratio_target(
    what: str, numerator: Optional[Row], denominator: Optional[Row], goal: float
) -> Target:
    value = _ratio(numerator, denominator)
    named = f"{what} ({denominator.label})" if denominator is not None else what
    return Target(
        named,
        value,
        "-" if value is None else f"{value:.2f}x",
        f">= {goal:g}x",
        None if value is None else value >= goal,
    )


def _cpu_target(what: str, row: Row, goal_us: float) -> Target:
    value = row.cpu_us
    return Target(
        what,
        value,
        "-" if value is None else f"{value:.0f} µs",
        f"<= {goal_us:g} µs",
        None if value is None else value <= goal_us,
    )


def _cpu_ratio_target(what: str, numerator: Row, denominator: Row, goal: float) -> Target:
    if numerator.cpu_us is None or not denominator.cpu_us:
        return Target(what, None, "-", f"<= {goal:g}x", None)
    value = numerator.cpu_us / denominator.cpu_us
    return Target(
        what,
        value,
        f"{value:.2f}x ({numerator.cpu_us:.0f} / {denominator.cpu_us:.0f} µs)",
        f"<= {goal:g}x",
        value <= goal,
    )


def targets(tables: Dict[str, List[Row]], footprint: Optional[Dict[str, Any]]) -> List[Target]:
    """The issue's targets, each with what this run measured."""
    found: List[Target] = []
    hello = tables.get("hello", [])
    threads = _find(hello, "picohttp")
    sequential = _find(hello, "picohttp-seq")
    if hello:
        found += [
            _ratio_target(
                "hello: picohttp threads=True / best pure-Python peer", threads,
                _best(hello, PURE), 3.0,
            ),
            _ratio_target(
                "hello: picohttp threads=True / uvicorn with C extras", threads,
                _best(hello, C_EXTRAS), 1.5,
            ),
            _ratio_target(
                "hello: picohttp threads=True / nginx", threads, _best(hello, REFERENCE), 0.5
            ),
            _ratio_target(
                "hello: picohttp threads=False / nginx", sequential, _best(hello, REFERENCE), 0.8
            ),
        ]  # fmt: skip
        p99 = threads.p99_ms if threads else None
        found.append(
            Target(
                "hello: picohttp threads=True p99 latency",
                p99,
                "-" if p99 is None else f"{p99:.2f} ms",
                "< 5 ms",
                None if p99 is None else p99 < 5.0,
            )
        )
        errors = threads.socket_errors + threads.non_2xx if threads else None
        found.append(
            Target(
                "hello: picohttp threads=True socket errors + non-2xx (all rounds)",
                errors,
                "-" if errors is None else str(errors),
                "0",
                None if errors is None else errors == 0,
            )
        )
    if threads is not None and sequential is not None:
        found.append(
            _cpu_ratio_target(
                "hello: server CPU per request, threads=True / threads=False (the hand-off)",
                threads,
                sequential,
                1.3,
            )
        )
    static = tables.get("static", [])
    if static:
        found.append(
            _ratio_target(
                "static 4 KiB: picohttp threads=True / http.server",
                _find(static, "picohttp"),
                _find(static, "http.server"),
                3.0,
            )
        )
        nginx = _best(static, REFERENCE)
        for key, label, cpu_goal in (
            ("picohttp", "picohttp threads=True", 40.0),
            ("picohttp-files", "picohttp command line (staticResource itself)", 40.0),
            ("picohttp-seq", "picohttp threads=False", 30.0),
        ):
            row = _find(static, key)
            if row is None:
                continue
            found.append(_cpu_target(f"static 4 KiB: {label}, CPU per request", row, cpu_goal))
            if key != "picohttp-seq":
                found.append(_ratio_target(f"static 4 KiB: {label} / nginx", row, nginx, 0.5))
    for scenario, size in (("1m", "1 MiB"), ("100m", "100 MiB")):
        rows = tables.get(scenario, [])
        for key in ("picohttp", "picohttp-files"):
            row = _find(rows, key)
            if row is not None:
                found.append(
                    _ratio_target(
                        f"{size} file: {row.label} / nginx", row, _best(rows, REFERENCE), 0.9
                    )
                )
    if footprint:
        imports = footprint["imports"]["importtime_ms"]
        ratio = imports["picohttp"] / imports["http.server"]
        found.append(
            Target(
                "import picohttp / import http.server (-X importtime)",
                ratio,
                f"{imports['picohttp']:.1f} / {imports['http.server']:.1f} ms",
                "< 1",
                ratio < 1.0,
            )
        )
        extra = footprint["memory"]["extra_mib"]
        found.append(
            Target(
                "idle picohttp server RSS - bare interpreter RSS",
                extra,
                f"{extra:+.1f} MiB",
                f"<= {RSS_BUDGET_MIB:g} MiB",
                extra <= RSS_BUDGET_MIB,
            )
        )
    return found


# -- Markdown ----------------------------------------------------------------------------


def _table(header: List[str], rows: List[List[str]], align: str) -> List[str]:
    marks = {"l": "---", "r": "---:"}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _errors(row: Row) -> str:
    if not row.socket_errors:
        return "0"
    kinds = ", ".join(f"{kind} {n}" for kind, n in row.errors_by_kind.items() if n)
    return f"{row.socket_errors} ({kinds})"


def scenario_table(rows: List[Row], results: Dict[str, Any], scenario: str) -> List[str]:
    body = []
    for row in rows:
        name = f"**{row.label}**" if row.family == PICOHTTP else row.label
        spread = f"{row.rps_min:,.0f}-{row.rps_max:,.0f}" if row.rounds > 1 else "-"
        cells = [
            name,
            f"{row.rps:,.0f}",
            spread,
            f"{row.p50_ms:.2f}",
            f"{row.p99_ms:.2f}",
            "-" if row.cpu_us is None else f"{row.cpu_us:.0f}",
            "-"
            if row.rss_after_mib is None or row.rss_growth_mib is None
            else f"{row.rss_after_mib:.0f} ({row.rss_growth_mib:+.0f})",
            _errors(row),
            str(row.non_2xx),
        ]
        if scenario == "static":
            cells.append(results["servers"][row.key]["static"])
        body.append(cells)
    header = [
        "server",
        "req/s (median)",
        "min-max",
        "p50 ms",
        "p99 ms",
        "server CPU µs/req",
        "RSS MiB after load (growth)",
        "socket errors",
        "non-2xx",
    ]
    align = "lrrrrrrrr"
    if scenario == "static":
        header.append("serves the file with")
        align += "l"
    return _table(header, body, align)


def ratio_table(rows: List[Row]) -> List[str]:
    """Each picohttp row against the best of each peer family and http.server."""
    peers: List[Tuple[str, Callable[[List[Row]], Optional[Row]]]] = [
        ("best pure-Python peer", lambda r: _best(r, PURE)),
        ("uvicorn C extras", lambda r: _best(r, C_EXTRAS)),
        ("nginx", lambda r: _best(r, REFERENCE)),
        ("http.server", lambda r: _find(r, "http.server")),
    ]
    body = []
    for row in rows:
        if row.family != PICOHTTP:
            continue
        cells = [row.label]
        for _, pick in peers:
            other = pick(rows)
            value = _ratio(row, other)
            cells.append("-" if value is None or other is None else f"{value:.2f}x ({other.label})")
        body.append(cells)
    if not body:
        return []
    return _table(["picohttp /", *[name for name, _ in peers]], body, "lllll")


def markdown(results: Dict[str, Any], title: str) -> str:
    tables = summarise(results)
    meta = results["meta"]
    settings = results["settings"]
    out = [f"# {title}", ""]
    out += [
        f"- When: {meta['date']}",
        f"- Machine: {meta['machine']}; load average {meta['load_before']} before the run,"
        f" {meta['load_after']} after",
        f"- Load: wrk {settings['wrk_threads']} threads, {settings['connections']} connections,"
        f" {settings['duration']} s per run after a {settings['warmup']} s warm-up,"
        ' `-H "Connection: close"` (one request per connection);'
        f" {settings['rounds']} round(s), servers interleaved in a rotating order",
        "- Every number is the median over rounds; errors are summed over rounds.",
    ]
    if meta.get("note"):
        out.append(f"- Note: {meta['note']}")
    out.append("")
    for scenario, rows in tables.items():
        out += [f"## {results['scenarios'][scenario]['title']}", ""]
        out += scenario_table(rows, results, scenario)
        ratios = ratio_table(rows)
        if ratios:
            out += ["", *ratios]
        out.append("")
    found = targets(tables, results.get("footprint"))
    if found:
        out += ["## Targets (issue 4)", ""]
        out += _table(
            ["target", "measured", "goal", ""],
            [[t.what, t.shown, t.goal, t.status] for t in found],
            "lrrl",
        )
        out.append("")
    footprint = results.get("footprint")
    if footprint:
        imports, memory = footprint["imports"], footprint["memory"]
        runs = imports["runs"]
        out += ["## Footprint", ""]
        out += _table(
            ["", "picohttp", "http.server", "bare interpreter"],
            [
                [
                    f"import, -X importtime cumulative (median of {runs})",
                    f"{imports['importtime_ms']['picohttp']:.1f} ms",
                    f"{imports['importtime_ms']['http.server']:.1f} ms",
                    "-",
                ],
                [
                    f"`python -c 'import ...'` wall time (median of {runs})",
                    f"{imports['process_ms']['picohttp']:.1f} ms",
                    f"{imports['process_ms']['http.server']:.1f} ms",
                    f"{imports['process_ms']['python -c pass']:.1f} ms",
                ],
                [
                    "RSS: hello example started / after one request vs `python -c` sleeping",
                    f"{memory['picohttp_started_mib']:.1f} / {memory['picohttp_served_mib']:.1f}"
                    " MiB",
                    "-",
                    f"{memory['bare_mib']:.1f} MiB",
                ],
            ],
            "lrrr",
        )
        out.append("")
    memory_rows = _memory_rows(results)
    if memory_rows:
        out += ["## Server memory (RSS of all the server's processes, median over rounds)", ""]
        out += _table(["server", "idle after start", "after its runs"], memory_rows, "lrr")
        out.append("")
    if results["failures"]:
        out += ["## Failures", ""]
        for failure in results["failures"]:
            out.append(
                f"- round {failure['round']}, {failure['server']}, {failure['scenario']}:"
                f" {failure['message'].splitlines()[0]}"
            )
        out.append("")
    out += ["## Versions", ""]
    out += _table(
        ["", "version"],
        [[results["servers"][key]["label"], results["servers"][key]["version"]] for key in
         results["servers"]] + [["wrk", meta["wrk"]], ["Python", meta["python"]]],
        "ll",
    )  # fmt: skip
    out.append("")
    return "\n".join(out)


def _memory_rows(results: Dict[str, Any]) -> List[List[str]]:
    rows = []
    for key, samples in results["memory"].items():
        if not samples:
            continue
        start = statistics.median(sample["start_mib"] for sample in samples)
        end = statistics.median(sample["end_mib"] for sample in samples)
        rows.append([results["servers"][key]["label"], f"{start:.1f} MiB", f"{end:.1f} MiB"])
    return rows


def summary_json(results: Dict[str, Any]) -> Dict[str, Any]:
    """The raw results plus what the report derived from them."""
    tables = summarise(results)
    derived = {scenario: [row.__dict__ for row in rows] for scenario, rows in tables.items()}
    return {
        **results,
        "summary": derived,
        "targets": [
            {"what": t.what, "value": t.value, "goal": t.goal, "status": t.status}
            for t in targets(tables, results.get("footprint"))
        ],
    }
