"""Fixtures for the static-serving tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
from static_site import make_site

from picohttp import _filecache


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A site in a fresh directory, with a secret beside it (outside the base)."""
    root = make_site(tmp_path / "site")
    (tmp_path / "secret.txt").write_text("never served\n")
    os.symlink(tmp_path / "secret.txt", root / "escape.txt")
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "pipe")
    return root


@pytest.fixture
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An empty small-file cache whose files settle in 50 ms (not a second), emptied after."""
    monkeypatch.setattr(_filecache, "SETTLE", 0.05)
    _filecache.clear()
    yield
    _filecache.clear()
