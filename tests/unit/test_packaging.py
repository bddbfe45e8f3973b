"""pyproject.toml declares exactly the Pythons the suite runs on.

``scripts/test-other-pythons`` (called by ``./check``) runs the suite on
CPython 3.MINOR for each MINOR it lists; the classifiers must name exactly
those versions, ``requires-python`` must start at the oldest, and the
interpreter running this test must be one of them.
"""

from __future__ import annotations

import re
import sys

from support import ROOT

PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
RUNNER = (ROOT / "scripts" / "test-other-pythons").read_text(encoding="utf-8")


def minors_tested() -> list:
    loop = re.search(r"^for minor in ([\d ]+); do$", RUNNER, re.MULTILINE)
    assert loop, "scripts/test-other-pythons no longer lists its versions as 'for minor in ...'"
    return sorted(int(minor) for minor in loop[1].split())


def test_classifiers_name_exactly_the_tested_versions():
    declared = sorted(
        int(minor)
        for minor in re.findall(r'"Programming Language :: Python :: 3\.(\d+)"', PYPROJECT)
    )
    assert declared == minors_tested()


def test_requires_python_starts_at_the_oldest_tested_version():
    requires = re.search(r'^requires-python = "(.*)"$', PYPROJECT, re.MULTILINE)
    assert requires and requires[1] == f">=3.{minors_tested()[0]}"
    assert f'target-version = "py3{minors_tested()[0]}"' in PYPROJECT  # ruff holds the syntax


def test_this_interpreter_is_a_declared_version():
    assert sys.implementation.name == "cpython"
    assert '"Programming Language :: Python :: Implementation :: CPython"' in PYPROJECT
    assert sys.version_info[:2] in [(3, minor) for minor in minors_tested()]
