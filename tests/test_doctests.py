"""Every docstring example in the engine and the Dagster layer runs: the examples are documentation
that cannot drift. New modules are found by walking the packages, so nobody keeps a list."""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import assets
import pipelines


def _modules() -> list[str]:
    names = []
    for package in (pipelines, assets):
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
            if not info.name.endswith("__main__"):
                names.append(info.name)
    return sorted(names)


MODULES = _modules()


def test_the_walk_finds_the_stages():
    assert {"pipelines.sources", "pipelines.models", "pipelines.reports.figures", "assets.entities"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
