"""Every public name has a docstring: both modules' __all__ and the classes' public members."""

from __future__ import annotations

import inspect

import pytest

import picohttp
import picohttp.testing

PUBLIC = [(picohttp, name) for name in picohttp.__all__] + [
    (picohttp.testing, name) for name in picohttp.testing.__all__
]


def own_doc(obj: object) -> str:
    """The object's own docstring: a class must not borrow its base class's."""
    doc = vars(obj).get("__doc__") if inspect.isclass(obj) else obj.__doc__
    return (doc or "").strip()


@pytest.mark.parametrize("module", [picohttp, picohttp.testing], ids=lambda m: m.__name__)
def test_public_modules_have_docstrings(module):
    assert (module.__doc__ or "").strip()


@pytest.mark.parametrize(("module", "name"), PUBLIC, ids=[f"{m.__name__}.{n}" for m, n in PUBLIC])
def test_public_names_have_docstrings(module, name):
    obj = getattr(module, name)
    assert own_doc(obj), f"{module.__name__}.{name} has no docstring"
    if not inspect.isclass(obj):
        return
    undocumented = []
    for attribute, value in vars(obj).items():
        if attribute.startswith("_") and attribute != "__call__":
            continue
        if not (callable(value) or isinstance(value, property)):
            continue
        # An override of a documented base method (dict.get for Headers.get) keeps its contract.
        if not (inspect.getdoc(getattr(obj, attribute)) or "").strip():
            undocumented.append(attribute)
    assert not undocumented, f"{name} members without a docstring: {undocumented}"


def test_all_lists_exist():
    for module, name in PUBLIC:
        assert hasattr(module, name), f"{module.__name__}.__all__ names a missing {name}"
