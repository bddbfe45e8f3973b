"""``guess_type`` asks ``mimetypes`` once per extension its web table lacks.

``mimetypes.guess_type`` cost about 10 µs per request for a ``.bin`` file, an
eighth of the server's time on the 1 MiB benchmark (py-spy); the answer per
extension is remembered, in a table bounded against clients that invent names.
"""

from __future__ import annotations

import mimetypes
from typing import Any, List, Optional, Tuple

import pytest

from picohttp import _mime
from picohttp._mime import guess_type


@pytest.fixture
def system_calls(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    calls: List[str] = []
    real = mimetypes.guess_type

    def counting(url: Any, strict: bool = True) -> Tuple[Optional[str], Optional[str]]:
        calls.append(str(url))
        return real(url, strict)

    monkeypatch.setattr(mimetypes, "guess_type", counting)
    monkeypatch.setattr(_mime, "_system_types", {})
    return calls


def test_the_system_table_is_asked_once_per_extension(system_calls: List[str]) -> None:
    binary, _ = mimetypes.guess_type("x.bin", strict=False)
    assert binary is not None
    assert guess_type("a.bin") == binary
    assert guess_type("b.BIN") == binary  # extensions compare without case
    assert guess_type("c.unknownext", "text/plain") == "text/plain"
    # The default is the caller's, also when the unknown answer is remembered.
    assert guess_type("d.unknownext", "application/octet-stream") == "application/octet-stream"
    assert guess_type("e.unknownext") is None
    assert guess_type("style.css") == "text/css; charset=utf-8"  # the web table: never asked
    assert system_calls[1:] == ["x.bin", "x.unknownext"]


def test_remembered_extensions_are_bounded(system_calls: List[str]) -> None:
    for number in range(1200):
        guess_type(f"f.x{number}")
    assert 0 < len(_mime._system_types) <= 512
