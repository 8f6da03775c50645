"""Real test data the project fetches itself from a package registry, cached outside git.

The face photos come from the sdist of `face-recognition==1.3.0` (its `tests/test_images/`),
fetched once with `pip download`, checked against a pinned sha256, and unpacked into
``$TEST_DATA_CACHE`` (default ``~/.cache/tflite-functions-testdata``).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

CACHE = Path(os.environ.get("TEST_DATA_CACHE", Path.home() / ".cache" / "tflite-functions-testdata"))
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

FACE_RECOGNITION_SDIST = ("face-recognition==1.3.0", "face_recognition-1.3.0.tar.gz",
                          "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pip_fetch(requirement: str, filename: str, sha256: str, *, sdist: bool = False) -> Path:
    """Download one package file with pip (no dependencies) into the cache; verify its sha256."""
    target = CACHE / filename
    if target.exists() and _sha256(target) == sha256:
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", "-d", tmp, requirement]
        if sdist:
            cmd[4:4] = ["--no-binary", ":all:"]
        subprocess.run(cmd, check=True, timeout=300)
        got = Path(tmp) / filename
        if _sha256(got) != sha256:
            raise RuntimeError(f"{filename}: sha256 {_sha256(got)} does not match the pinned {sha256}")
        got.replace(target)
    return target


def face_photos() -> Path:
    """Folder with obama.jpg, obama2.jpg, obama3.jpg, biden.jpg, obama_partial_face*.jpg, 32bit.png."""
    folder = CACHE / "face_recognition-1.3.0-test_images"
    if (folder / "obama.jpg").exists():
        return folder
    sdist = pip_fetch(*FACE_RECOGNITION_SDIST, sdist=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp, tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if "/tests/test_images/" in m.name and m.isfile()]
        tar.extractall(tmp, members=members, filter="data")
        Path(tmp, "face_recognition-1.3.0", "tests", "test_images").replace(folder)
    return folder


def shared_data(*parts: str) -> Path | None:
    """A path under ../shared/data, or None when that folder is not beside the repo."""
    path = SHARED_DATA.joinpath(*parts)
    return path if path.exists() else None
