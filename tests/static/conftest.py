"""Fixtures for the static-serving tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from static_site import make_site


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A site in a fresh directory, with a secret beside it (outside the base)."""
    root = make_site(tmp_path / "site")
    (tmp_path / "secret.txt").write_text("never served\n")
    os.symlink(tmp_path / "secret.txt", root / "escape.txt")
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "pipe")
    return root
