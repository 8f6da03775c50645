"""The project's files run from any clone, not only from the machine that wrote them.

- tools/ imports nothing from tests/ (tests import tools, never the reverse): no
  `import tests...`, no import of a module that lives in tests/, no tests/ put on sys.path;
- no tracked file outside tests/ names a path of one machine: a home or work folder, a
  virtualenv's absolute path, a file under /tmp. Commands in docs and bundle provenance are
  written from the repo root (`.venv/bin/python tools/...`, `.venvs/NAME/bin/python`).
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = sorted((ROOT / "tools").rglob("*.py"))
# Module names a tool could reach only through tests/: the package itself and tests/*.py
# (tests/shared, tests/tools, ... mirror the code's own packages, which come first on sys.path).
TEST_MODULES = {"tests"} | {p.stem for p in (ROOT / "tests").glob("*.py")}
TESTS_ON_PATH = re.compile(r"""sys\.path\.(?:insert|append)\(.*["'/]tests\b""")

# A path of one machine: a home or work folder, an absolute virtualenv, a file under /tmp.
# (?<![\w.~-]) keeps relative paths that merely contain such a segment (build/root/x) out.
MACHINE_PATH = re.compile(
    r"(?<![\w.~-])(?:"
    r"/(?:work|root|home|Users)/[\w.-]"  # someone's checkout, home or pyenv
    r"|/(?!opt/venv/)[\w./-]*\bvenvs?\b[\w.-]*/bin/(?:python|pip)"  # an absolute venv (the image's /opt/venv aside)
    r"|/tmp/[\w.-]"  # a file or venv under /tmp
    r")"
)
# Files whose absolute paths are inside the container image, not on anyone's machine.
IMAGE_PATHS = {"Dockerfile": re.compile(r"/tmp/requirements\.txt")}


def tracked_files_outside_tests() -> list[str]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout ({exc})")
    return [name for name in listed.decode().split("\0") if name and not name.startswith("tests/")]


def text_of(name: str) -> str | None:
    """The file's text, or None for a binary file (a model, a photo) or one gone from the tree."""
    try:
        data = (ROOT / name).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode()
    except UnicodeDecodeError:
        return None


def machine_paths(name: str, text: str) -> list[str]:
    allowed = IMAGE_PATHS.get(name)
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if any(allowed is None or not allowed.match(line, m.start()) for m in MACHINE_PATH.finditer(line)):
            found.append(f"{name}:{number}: {line.strip()[:160]}")
    return found


# ---- tools import nothing from tests -----------------------------------------------------


def imports_from_tests(source: str, test_modules: set[str]) -> list[str]:
    """What `source` imports from tests/, and any line that puts tests/ on sys.path."""
    imported = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.append(node.module)
    found = [name for name in imported if name.split(".")[0] in test_modules]
    return found + [line.strip() for line in source.splitlines() if TESTS_ON_PATH.search(line)]


def test_there_are_tools_to_check():
    assert len(TOOLS) > 20 and {"tests", "conftest", "gcs_emulator", "redis_server"} <= TEST_MODULES


@pytest.mark.parametrize("path", TOOLS, ids=lambda p: str(p.relative_to(ROOT)))
def test_tool_imports_nothing_from_tests(path: Path):
    found = imports_from_tests(path.read_text(), TEST_MODULES)
    assert not found, f"{path.relative_to(ROOT)} reaches into tests/ ({found}): move what it needs into tools/"


def test_the_import_check_catches_a_tool_that_reaches_into_tests():
    source = (
        "import sys\n"
        "sys.path.insert(0, str(ROOT / 'tests'))\n"
        "import hostile\n"
        "from tests.conftest import ROOT\n"
        "from gcs_emulator import Emulator\n"
        "from tools.measure import hostile as h\n"
        "from tools.measure.gcs_emulator import Emulator\n"
    )
    found = imports_from_tests(source, TEST_MODULES | {"hostile"})
    assert found == ["hostile", "tests.conftest", "gcs_emulator", "sys.path.insert(0, str(ROOT / 'tests'))"]


# ---- no path of one machine ----------------------------------------------------------------


def test_no_tracked_file_outside_tests_names_a_path_of_one_machine():
    found = []
    for name in tracked_files_outside_tests():
        text = text_of(name)
        if text is not None:
            found += machine_paths(name, text)
    assert not found, "paths of one machine (write them from the repo root, e.g. .venvs/NAME/bin/python):\n" + "\n".join(found)


@pytest.mark.parametrize(
    "line",
    [
        "python tools/x.py --python-face-recognition /work/venv-facerec/bin/python",
        "--verify-python /work/venvs/t214/bin/python",
        "python3.11 -m venv /tmp/venv-fr && /tmp/venv-fr/bin/pip install dlib-bin",
        "pip is in /root/.pyenv/versions/3.11.7/lib",
        "cd /home/alice/src/project",
        "/opt/conda/envs/venv-tf/bin/python tools/measure/benchmark.py",
        "--log-dir /tmp/perf/bench-logs4",
    ],
)
def test_machine_paths_are_recognised(line: str):
    assert machine_paths("docs/x.md", line)


@pytest.mark.parametrize(
    "line",
    [
        ".venv/bin/python tools/measure/benchmark.py --python-face-recognition .venvs/face-recognition/bin/python",
        "Cloud Run's /tmp is in memory; nothing is written to /tmp (it is RAM)",
        "python -m venv /opt/venv && /opt/venv/bin/pip install -r requirements.txt",
        "--before-root build/before --log-dir build/bench-logs/x",
        "stale = deploy.build / 'verify_face' / 'tests' / 'old.py'",
        "see ../shared/data/faces/lfw-dev/pairs.csv",
    ],
)
def test_paths_from_the_repo_root_or_in_the_image_pass(line: str):
    assert not machine_paths("docs/x.md", line)


def test_the_image_may_build_in_its_own_tmp():
    assert not machine_paths("Dockerfile", "COPY requirements.txt /tmp/requirements.txt")
    assert machine_paths("Dockerfile", "COPY x /work/main/x")
