"""The library's layers only look down: every import in shared/ goes to its own part or to a
layer below it, in the order docs/ARCHITECTURE.md draws them, and parts drawn on one line
(siblings such as face/ and hands/) never import each other. Checked on the AST of every
file, so lazy imports inside functions and TYPE_CHECKING imports count too."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"


def documented_layers(text: str) -> list[set[str]]:
    """The layers of ARCHITECTURE.md's first code block, bottom first; each a set of parts
    ("face", "hands", "settings", "__init__"), read from its `shared/...` lines."""
    block = text.split("```", 2)[1]
    layers = []
    for line in block.splitlines():
        if line.startswith("shared/"):
            head = re.split(r"\s{2,}", line, maxsplit=1)[0]
            layers.append({p.strip().removeprefix("shared/").rstrip("/").removesuffix(".py") for p in head.split(",")})
    return layers[::-1]


def part_of(path: Path, shared: Path) -> str:
    """The part a file of shared/ belongs to: its top folder, or its module name."""
    first = path.relative_to(shared).parts[0]
    return first.removesuffix(".py")


def _target(module: str, names: list[str], parts: set[str]) -> set[str]:
    """The parts an import of `module` (taking `names` from it) reaches."""
    pieces = module.split(".")
    if pieces[0] != "shared":
        return set()
    if len(pieces) > 1:
        return {pieces[1]}
    # `from shared import x`: a part when x is one (a subpackage or module), else shared/__init__.py
    return {n if n in parts else "__init__" for n in names} or {"__init__"}


TYPE_ONLY = {"settings"}  # reached under `if TYPE_CHECKING:` only, for a signature: no dependency


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside `if TYPE_CHECKING:` blocks."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            inside |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return inside


def imported_parts(path: Path, shared: Path, parts: set[str]) -> set[tuple[str, int]]:
    """(part, line) for every import of shared/ in a file: import, from-import (relative ones
    resolved), and importlib.import_module / __import__ with a literal name. A TYPE_ONLY
    part imported under `if TYPE_CHECKING:` is left out: the options classes name Settings
    in `from_settings`'s signature, while settings builds on them."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ["shared", *path.relative_to(shared).parts[:-1]]
    type_only = _type_checking_nodes(tree)
    found = set()
    for node in ast.walk(tree):
        targets: set[str] = set()
        if isinstance(node, ast.Import):
            for alias in node.names:
                targets |= _target(alias.name, [], parts)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module or "").split(".")]).strip(".")
            targets = _target(module, [a.name for a in node.names], parts)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            targets = _target(node.args[0].value, [], parts)
        if id(node) in type_only:
            targets -= TYPE_ONLY
        found |= {(t, node.lineno) for t in targets}
    return found


def layer_violations(shared: Path, layers: list[set[str]]) -> list[str]:
    """Every import of a file of `shared` that reaches a sibling or a layer above its own."""
    rank = {part: i for i, layer in enumerate(layers) for part in layer}
    out = []
    for path in sorted(shared.rglob("*.py")):
        own = part_of(path, shared)
        for target, line in sorted(imported_parts(path, shared, set(rank))):
            if target == own:
                continue
            if target not in rank or own not in rank or rank[target] >= rank[own]:
                where = "a sibling" if rank.get(target) == rank.get(own) else "a layer above"
                out.append(f"{path.relative_to(shared.parent)}:{line} imports shared/{target} ({where} of {own})")
    return out


LAYERS = documented_layers(ARCHITECTURE.read_text())


def test_architecture_draws_every_part_of_the_library_once():
    drawn = [part for layer in LAYERS for part in layer]
    present = {part_of(p, ROOT / "shared") for p in (ROOT / "shared").rglob("*.py")}
    assert len(drawn) == len(set(drawn)), f"a part is drawn twice: {drawn}"
    assert set(drawn) == present, f"drawn but absent: {set(drawn) - present}; present but not drawn: {present - set(drawn)}"
    assert any({"face", "hands"} <= layer for layer in LAYERS), "face/ and hands/ are sibling body parts"
    rank = {part: i for i, layer in enumerate(LAYERS) for part in layer}
    assert rank["vision"] < rank["hands"] < rank["gesture"] < rank["edge"], "the order the issue and the walks rely on"


def test_every_import_in_shared_looks_down_the_documented_layers():
    assert layer_violations(ROOT / "shared", LAYERS) == []


@pytest.mark.parametrize(
    "source, found",
    [
        ("from shared.face.contract import X\n", "shared/face (a sibling of hands)"),
        ("def f():\n    import shared.gesture.service\n", "shared/gesture (a layer above of hands)"),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from shared.edge import Edge\n", "shared/edge (a layer above"),
        ("from shared.settings import Settings\n", "shared/settings (a layer above"),
        ("from shared import face\n", "shared/face (a sibling"),
        ("from ..face import detect\n", "shared/face (a sibling"),
        ("import importlib\nimportlib.import_module('shared.face.detect')\n", "shared/face (a sibling"),
    ],
)
def test_the_checker_sees_sideways_and_upward_imports_in_every_form(tmp_path, source, found):
    shared = tmp_path / "shared"
    for name, text in {"hands/palm.py": source, "hands/rect.py": "from shared.vision import geometry\n", "errors.py": ""}.items():
        (shared / name).parent.mkdir(parents=True, exist_ok=True)
        (shared / name).write_text(text)
    violations = layer_violations(shared, LAYERS)
    assert len(violations) == 1 and found in violations[0], violations
    assert violations[0].startswith("shared/hands/palm.py:")
