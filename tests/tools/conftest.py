"""Fixtures of the tool tests."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from tools.build import registry


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


@pytest.fixture
def check_catches(tmp_path: Path) -> Callable[[dict[Path, bytes], str], None]:
    """`check_catches(files, changed)`: a builder's files written under a fresh root pass
    its --check (registry.write_or_check, exit status 0); once `changed` (a path relative
    to the root) is altered, --check fails (status 1) naming that file alone."""

    def check(files: dict[Path, bytes], changed: str) -> None:
        assert registry.write_or_check(files, tmp_path, False, "the builder") == 0
        assert registry.check_files(files, tmp_path) == [] and registry.write_or_check(files, tmp_path, True, "the builder") == 0
        (tmp_path / changed).write_text("{}")
        [fault] = registry.check_files(files, tmp_path)
        assert fault.startswith(f"{changed}: differs") and registry.write_or_check(files, tmp_path, True, "the builder") == 1

    return check
