"""Loading tests/corpus and replaying a case against the pure parser.

The case format is described in tests/corpus/README.md.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from attack import echo

from picohttp import RemoteProtocolError
from picohttp._limits import Limits
from picohttp._parser import RequestParser, TlsHandshakeError

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\"}


def decode_http(text: str) -> bytes:
    """The bytes a ``.http`` file stands for: newlines dropped, escapes decoded."""
    out = bytearray()
    text = text.replace("\n", "")
    i = 0
    while i < len(text):
        char = text[i]
        if char != "\\":
            out += char.encode("ascii")
            i += 1
            continue
        code = text[i + 1]
        if code == "x":
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        else:
            out += _ESCAPES[code]
            i += 2
    return bytes(out)


@dataclass(frozen=True)
class Case:
    name: str
    valid: bool
    data: bytes
    expect: Dict[str, Any]

    def __str__(self) -> str:
        return self.name

    @property
    def status(self) -> Optional[int]:
        return self.expect.get("status")

    @property
    def needs_eof(self) -> bool:
        return bool(self.expect.get("needs_eof"))

    def request(self) -> Dict[str, Any]:
        return {key: value for key, value in self.expect.items() if key != "why"}


def load(kind: str) -> List[Case]:
    cases = []
    for path in sorted((CORPUS / kind).glob("*.http")):
        expect = json.loads(path.with_suffix(".json").read_text())
        data = decode_http(path.read_text(encoding="ascii"))
        cases.append(Case(f"{kind}/{path.stem}", kind == "valid", data, expect))
    return cases


VALID = load("valid")
INVALID = load("invalid")
ALL = VALID + INVALID

SPLITS = ["whole", "lines", "bytes", "random"]


def split(data: bytes, how: str, seed: int = 0, max_pieces: int = 0) -> List[bytes]:
    """``data`` cut into the pieces a client might send.

    ``max_pieces`` (when set) coarsens "bytes" for long requests so that a
    socket replay of an 8 KiB request line stays quick: the pieces are then
    ``len // max_pieces`` bytes long.
    """
    if how == "whole" or not data:
        return [data]
    if how == "lines":
        pieces = data.split(b"\n")
        return [piece + b"\n" for piece in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
    if how == "bytes":
        size = max(1, len(data) // max_pieces) if max_pieces else 1
        return [data[i : i + size] for i in range(0, len(data), size)]
    assert how == "random"
    rng = random.Random(f"{seed}:{len(data)}")
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 8))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]


Outcome = Tuple[str, Any]


def parse(pieces: List[bytes], limits: Limits = Limits()) -> Tuple[Outcome, bool]:  # noqa: B008
    """Feed ``pieces`` then EOF to a parser: (outcome, whether it needed the EOF).

    The outcome is ``("request", echo)``, ``("status", code)`` or ``("close", None)``.
    """
    parser = RequestParser(limits)
    try:
        for piece in pieces:
            request = parser.feed(piece)
            if request is not None:
                return ("request", echo(request, request.body)), False
    except TlsHandshakeError:  # the server closes without an HTTP answer
        return ("close", None), False
    except RemoteProtocolError as error:
        return ("status", error.status), False
    try:
        parser.eof()
    except RemoteProtocolError as error:
        return ("status", error.status), True
    return ("close", None), True


def expected(case: Case) -> Outcome:
    if case.valid:
        return ("request", case.request())
    if case.status is None:
        return ("close", None)
    return ("status", case.status)
