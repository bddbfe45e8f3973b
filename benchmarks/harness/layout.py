"""Where things are: the checkout, its ``src/``, the benchmark's files and outputs."""

from __future__ import annotations

from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
SRC = ROOT / "src"
APPS = BENCH / "servers"
VENV = BENCH / ".venv"
REQUIREMENTS = BENCH / "requirements.txt"
RESULTS = BENCH / "results"
WRK_SCRIPT = BENCH / "wrk_report.lua"
