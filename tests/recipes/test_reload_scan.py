"""The reloader's pure parts: which files it watches, what counts as a change, what is broken."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from picohttp._reload import changed_files, probe_port, scan, syntax_error


def test_scan_finds_py_files_and_skips_environments_and_caches(tmp_path: Path) -> None:
    for relative in (
        "app.py",
        "pkg/module.py",
        "pkg/deep/more.py",
        ".venv/lib/site.py",
        ".git/hook.py",
        "venv/lib/x.py",
        "env/lib/y.py",
        "lib/python3/site-packages/dep.py",
        "node_modules/tool/build.py",
        "pkg/__pycache__/module.py",
        "notes.txt",
        "template.pyc",
    ):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")
    (tmp_path / "linked").symlink_to(tmp_path / "pkg")  # followed, it would be scanned twice
    found = {os.path.relpath(path, tmp_path) for path in scan(str(tmp_path))}
    assert found == {"app.py", "pkg/module.py", "pkg/deep/more.py"}


def test_changes_are_additions_modifications_and_removals(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("a = 1\n")
    (tmp_path / "b.py").write_text("b = 1\n")
    before = scan(str(tmp_path))
    assert changed_files(before, scan(str(tmp_path))) == []
    (tmp_path / "a.py").write_text("a = 2\n")  # same size: the nanosecond mtime differs
    stat = (tmp_path / "a.py").stat()
    os.utime(tmp_path / "a.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    (tmp_path / "b.py").unlink()
    (tmp_path / "c.py").write_text("c = 1\n")
    after = scan(str(tmp_path))
    assert changed_files(before, after) == [
        str(tmp_path / name) for name in ("a.py", "b.py", "c.py")
    ]


def test_syntax_error_reports_the_place_and_ignores_warnings(tmp_path: Path) -> None:
    good = tmp_path / "good.py"
    good.write_text("def f():\n    return '\\d'  # an invalid escape: a SyntaxWarning only\n")
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n    pass\n")
    indented = tmp_path / "indented.py"
    indented.write_text("def f():\nreturn 1\n")
    nul = tmp_path / "nul.py"
    nul.write_bytes(b"x = 1\0\n")
    assert syntax_error(str(good)) is None
    assert syntax_error(str(tmp_path / "gone.py")) is None
    report = syntax_error(str(bad))
    assert report is not None
    assert 'bad.py", line 1' in report and "SyntaxError" in report
    assert "IndentationError" in (syntax_error(str(indented)) or "")
    assert syntax_error(str(nul)) is not None


def test_probe_port_binds_without_listening() -> None:
    port = probe_port("127.0.0.1", 0)
    assert port > 0
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(OSError):
            probe_port("127.0.0.1", busy.getsockname()[1])
