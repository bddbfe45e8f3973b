"""Directory listings are read from the checked descriptor, never from a path re-resolved.

Issue 13: while a folder inside the base was swapped with a symlink to a
folder outside it, 3,401 of 29,667 listings showed the outside folder's
names.  Here a thread swaps the folder and the symlink (and re-points a
symlink entry between a small file inside and a large one outside) while a
client asks for the listings over real sockets.
"""

from __future__ import annotations

import functools
import os
import subprocess
import time
from pathlib import Path
from typing import List

import pytest
import requests

from picohttp import staticResource
from support import PYTHON, serving

OUTSIDE_NAME = "OUTSIDE-SECRET-NAME.txt"
BIG = 7_777_777  # "7.4 MiB" in a listing: only the outside file has it


def make_tree(tmp_path: Path) -> Path:
    base = tmp_path / "site"
    (base / "folder").mkdir(parents=True)
    (base / "folder" / "inside-name.txt").write_text("inside\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / OUTSIDE_NAME).write_text("secret\n")
    with open(outside / "big.bin", "wb") as big:
        big.truncate(BIG)  # sparse: costs no disk
    (base / "small.txt").write_text("small\n")
    os.symlink(outside, base / "folder.link")  # swapped in for "folder"
    os.symlink(base / "small.txt", base / "pointer")  # re-pointed to outside/big.bin
    return base


# Run in a process of its own, so the swaps interleave with the server's work on
# another core instead of waiting for the GIL between its steps.
SWAPPER = """
import os, sys, time
base, big, stop = sys.argv[1], sys.argv[2], sys.argv[3]
def at(name):
    return os.path.join(base, name)
swaps = 0
end = time.monotonic() + 20  # bounded even if the test dies
while not os.path.exists(stop) and time.monotonic() < end:
    os.rename(at("folder"), at("folder.real"))
    os.rename(at("folder.link"), at("folder"))  # now a way out
    os.rename(at("folder"), at("folder.link"))
    os.rename(at("folder.real"), at("folder"))  # back inside
    os.symlink(big, at("pointer.new"))
    os.replace(at("pointer.new"), at("pointer"))  # now leads out
    os.symlink(at("small.txt"), at("pointer.new"))
    os.replace(at("pointer.new"), at("pointer"))  # back inside
    swaps += 1
print(swaps)
"""


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_a_folder_swapped_for_a_symlink_never_lists_outside_names(tmp_path: Path) -> None:
    base = make_tree(tmp_path)
    handler = functools.partial(staticResource, staticBase=str(base), listing=True)
    stop = tmp_path / "stop"
    leaks: List[str] = []
    statuses = {200: 0, 404: 0}
    done = 0
    with serving(handler) as server, requests.Session() as session:
        swapper = subprocess.Popen(
            [PYTHON, "-c", SWAPPER, str(base), str(base.parent / "outside" / "big.bin"), str(stop)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline and done < 4000:
                for path in ("/folder/", "/"):
                    reply = session.get(f"http://127.0.0.1:{server.port}{path}", timeout=10)
                    done += 1
                    statuses[reply.status_code] = statuses.get(reply.status_code, 0) + 1
                    if OUTSIDE_NAME in reply.text or "7.4 MiB" in reply.text:
                        leaks.append(f"{path}: {reply.text}")
        finally:
            stop.touch()
            swaps = int(swapper.communicate(timeout=30)[0] or 0)
    assert not leaks, f"{len(leaks)} of {done} listings showed the outside: {leaks[0]}"
    assert swaps > 100, swaps  # the race really ran
    assert statuses[200] > 100, statuses  # and listings were made meanwhile
    assert set(statuses) <= {200, 301, 404}, statuses


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlink_entries_are_listed_only_when_they_lead_inside(tmp_path: Path) -> None:
    base = make_tree(tmp_path)
    os.symlink(base / "folder", base / "inner-dir-link")
    os.symlink(base.parent / "outside" / "big.bin", base / "escape.bin")
    os.symlink(base.parent / "outside", base / "escape-dir")
    os.symlink(base / "missing", base / "dangling")
    handler = functools.partial(staticResource, staticBase=str(base), listing=True)
    with serving(handler) as server:
        page = requests.get(f"http://127.0.0.1:{server.port}/", timeout=10).text
        for name in ("escape.bin", "escape-dir", "dangling", "folder.link", "7.4 MiB"):
            assert name not in page, name
        # Inside: shown with what it leads to (a directory, a 6-byte file), as a click serves.
        assert '<a href="inner-dir-link/">inner-dir-link/</a>' in page
        assert '<a href="pointer">pointer</a></td><td class="size">6 B</td>' in page
