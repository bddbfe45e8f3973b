"""Bar charts of requests/s for the README, with the run's circumstances printed under them.

Needs matplotlib (in the benchmark's environment); ``bench.py`` skips the
charts with a message when it is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

from .report import Row, summarise
from .servers import C_EXTRAS, PICOHTTP, PURE, REFERENCE

COLOURS = {PICOHTTP: "#d9480f", PURE: "#868e96", C_EXTRAS: "#4c6ef5", REFERENCE: "#2b8a3e"}
LEGEND = {
    PICOHTTP: "picohttp",
    PURE: "pure-Python peers",
    C_EXTRAS: "Python + C extras",
    REFERENCE: "nginx (reference)",
}


def footer(results: Dict[str, Any]) -> str:
    meta, settings = results["meta"], results["settings"]
    versions = " | ".join(
        dict.fromkeys(
            server["version"]
            for server in results["servers"].values()
            if server["version"] != meta["python"]
        )
    )
    return (
        f"{meta['date']} | {meta['machine']} | load average {meta['load_before']} at start\n"
        f"{meta['python']} | {versions}\n"
        f"wrk {meta['wrk']}: {settings['wrk_threads']} threads, {settings['connections']}"
        f" connections, {settings['duration']} s runs, Connection: close (one request per"
        f" connection); median of {settings['rounds']} interleaved round(s), whiskers span min-max"
    )


def _panel(axes: Any, rows: List[Row], title: str) -> None:
    import matplotlib.ticker as ticker

    rows = sorted(rows, key=lambda row: row.rps)
    labels = [row.label for row in rows]
    values = [row.rps for row in rows]
    low = [row.rps - row.rps_min for row in rows]
    high = [row.rps_max - row.rps for row in rows]
    bars = axes.barh(
        labels,
        values,
        color=[COLOURS[row.family] for row in rows],
        xerr=[low, high] if any(row.rounds > 1 for row in rows) else None,
        error_kw={"ecolor": "#343a40", "capsize": 2, "linewidth": 0.8},
    )
    top = max((row.rps_max for row in rows), default=1.0)
    for bar, row in zip(bars, rows):
        axes.text(
            max(row.rps_max, bar.get_width()) + top * 0.01,
            bar.get_y() + bar.get_height() / 2,
            f" {row.rps:,.0f}/s  p99 {row.p99_ms:.1f} ms",
            va="center",
            fontsize=8,
        )
    axes.set_xlim(0, top * 1.5)
    axes.xaxis.set_major_formatter(ticker.FuncFormatter(lambda x, _: f"{x:,.0f}"))
    axes.set_title(title, fontsize=10, loc="left")
    axes.set_xlabel("requests per second (median)")
    axes.tick_params(axis="y", labelsize=8)
    axes.spines[["top", "right"]].set_visible(False)
    for label, row in zip(axes.get_yticklabels(), rows):
        if row.family == PICOHTTP:
            label.set_fontweight("bold")


def _legend(figure: Any, families: List[str]) -> None:
    import matplotlib.patches as patches

    handles = [patches.Patch(color=COLOURS[f], label=LEGEND[f]) for f in families]
    figure.legend(handles=handles, loc="upper right", fontsize=8, frameon=False, ncol=len(handles))


def draw(results: Dict[str, Any], directory: Path, prefix: str = "") -> List[Path]:
    """``<prefix>hello.png`` and, with more than one scenario, ``<prefix>scenarios.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = {scenario: rows for scenario, rows in summarise(results).items() if rows}
    written: List[Path] = []
    text = footer(results)
    families = [f for f in COLOURS if any(r.family == f for rows in tables.values() for r in rows)]
    if "hello" in tables:
        rows = tables["hello"]
        height = 0.4 * len(rows) + 2.2
        figure, axes = plt.subplots(figsize=(9, height))
        _panel(axes, rows, results["scenarios"]["hello"]["title"])
        _legend(figure, families)
        figure.text(0.01, 0.01, text, fontsize=6.5, va="bottom", color="#495057")
        figure.tight_layout(rect=(0, 0.55 / height, 1, 1 - 0.3 / height))
        path = directory / f"{prefix}hello.png"
        figure.savefig(path, dpi=120)
        plt.close(figure)
        written.append(path)
    if len(tables) > 1:
        height = 0.4 * max(len(rows) for rows in tables.values()) + 2.4
        figure, grid = plt.subplots(
            1, len(tables), figsize=(6.5 * len(tables), height), squeeze=False
        )
        for axes, (scenario, rows) in zip(grid[0], tables.items()):
            _panel(axes, rows, results["scenarios"][scenario]["title"])
        _legend(figure, families)
        figure.text(0.01, 0.01, text, fontsize=7, va="bottom", color="#495057")
        figure.tight_layout(rect=(0, 0.6 / height, 1, 1 - 0.3 / height))
        path = directory / f"{prefix}scenarios.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written
