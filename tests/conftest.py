import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(params=[True, False], ids=["threads", "sequential"])
def threads(request: pytest.FixtureRequest) -> bool:
    """Run a test against both concurrency modes (threads=True and threads=False)."""
    return bool(request.param)


# -- the pure tier (./check --fast) ---------------------------------------------------
# Test files of the pure modules (parser, serializer, corpus replay, router, forms,
# conditional answers, the test client...): no sockets, no subprocesses.  They get the
# ``pure`` marker, so ``pytest -m pure`` runs them alone, and a guard that fails any of
# them that opens a socket or starts a process, so the tier stays what it says.  A test
# in one of these files that does need sockets or processes is marked ``io``: full tier.
PURE_FILES = frozenset(
    (
        "unit/test_parser.py",
        "unit/test_parser_fast_path.py",
        "unit/test_serializer.py",
        "unit/test_serializer_fast_path.py",
        "unit/test_router.py",
        "unit/test_forms.py",
        "unit/test_target.py",
        "unit/test_headers.py",
        "unit/test_cookies.py",
        "unit/test_httpdate.py",
        "unit/test_exchange.py",
        "unit/test_testing_client.py",
        "unit/test_web_apps_client.py",
        "unit/test_hostile_values.py",
        "unit/test_memory_bounds.py",
        "unit/test_forwarded.py",
        "hostile/test_corpus.py",
        "hostile/test_parser_strictness.py",
        "static/test_static_conditional.py",
    )
)
_TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.fspath)).resolve()
        if item.get_closest_marker("io") is not None or not path.is_relative_to(_TESTS):
            continue
        if path.relative_to(_TESTS).as_posix() in PURE_FILES:
            item.add_marker(pytest.mark.pure)


@pytest.fixture(autouse=True)
def _pure_tier_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail a pure-tier test that opens a socket or starts a subprocess."""
    if request.node.get_closest_marker("pure") is None:
        return
    import socket
    import subprocess

    def refuse(what: str) -> object:
        def refused(*args: object, **kwargs: object) -> None:
            raise AssertionError(f"a pure-tier test ({request.node.nodeid}) {what}")

        return refused

    monkeypatch.setattr(socket.socket, "__init__", refuse("opened a socket"))
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("started a subprocess"))
