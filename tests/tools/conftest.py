"""Fixtures of the tool tests."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest


@pytest.fixture(scope="module")
def tool(request: pytest.FixtureRequest) -> ModuleType:
    """The tool the test module names in TOOL (its file), loaded from that file as its
    command runs it."""
    path = request.module.TOOL
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
