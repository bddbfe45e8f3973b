"""The tutorial's app, examples/shopping/: its own tests pass, and it serves real clients.

docs/tutorial.md shows these files verbatim (tests/test_readme.py checks that).
"""

from __future__ import annotations

import runpy
import subprocess
from typing import Any, Dict

import pytest

from support import EXAMPLES, PYTHON, python_env, serving

requests = pytest.importorskip("requests")
SHOPPING = EXAMPLES / "shopping"
ANN = ("ann", "correct horse")


def test_the_tutorials_tests_pass() -> None:
    done = subprocess.run(
        [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_shopping.py"],
        cwd=SHOPPING,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


def test_the_tutorials_app_serves_requests(threads: bool) -> None:
    app: Dict[str, Any] = runpy.run_path(str(SHOPPING / "shopping.py"), run_name="shopping")
    with serving(app["make_app"]({}), threads=threads, errorHandler=app["errors"]) as server:
        base = f"http://127.0.0.1:{server.port}"
        assert requests.get(f"{base}/api/items").status_code == 401
        added = requests.put(f"{base}/api/items/tea", json={"count": 3}, auth=ANN)
        assert added.json() == {"count": 3, "by": "ann"}
        assert requests.get(f"{base}/api/items", auth=ANN).json() == {
            "tea": {"count": 3, "by": "ann"}
        }
        page = requests.get(f"{base}/", auth=ANN)
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "fetch(path" in page.text
        gone = requests.delete(f"{base}/api/items/cake", auth=ANN)
        assert (gone.status_code, gone.json()) == (404, {"error": "no cake on the list"})
