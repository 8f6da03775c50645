"""Real inputs shared by the tools and the tests: face photos fetched from a package
registry, gesture rows shipped in the repository, and the data folder beside the repo.

- Face photos: the sdist of `face-recognition==1.3.0` (its `tests/test_images/`), fetched
  once with `pip download`, checked against a pinned sha256, and unpacked into
  ``$TEST_DATA_CACHE`` (default ``~/.cache/tflite-functions-testdata``).
- Gesture rows in the formats of the training files, from ../shared/data/gesture when it
  is beside the repo, else derived from the hand-authored requests in docs/examples/:
  hand rows (keypoint.csv: 21 (x, y) relative to the wrist, divided by the largest
  absolute value: 42 floats; the open hand rotated and scaled) and track rows
  (point_history.csv: 16 (x, y) of the index fingertip relative to the first frame:
  32 floats; a clockwise circle, its reverse, a still fingertip, straight moves).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from tools import ROOT

CACHE = Path(os.environ.get("TEST_DATA_CACHE", Path.home() / ".cache" / "tflite-functions-testdata"))
SHARED_DATA = ROOT.parent / "shared" / "data"
EXAMPLES = ROOT / "docs" / "examples"

FACE_RECOGNITION_SDIST = (
    "face-recognition==1.3.0",
    "face_recognition-1.3.0.tar.gz",
    "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
)
FACE_PHOTOS = CACHE / "face_recognition-1.3.0-test_images"
INDEX_TIP = 8  # MediaPipe hand landmark of the index fingertip


# ---- registry-fetched files -------------------------------------------------------------


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
    if (FACE_PHOTOS / "obama.jpg").exists():
        return FACE_PHOTOS
    sdist = pip_fetch(*FACE_RECOGNITION_SDIST, sdist=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp, tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if "/tests/test_images/" in m.name and m.isfile()]
        tar.extractall(tmp, members=members, filter="data")
        Path(tmp, "face_recognition-1.3.0", "tests", "test_images").replace(FACE_PHOTOS)
    return FACE_PHOTOS


def hand_photos() -> Path:
    """Folder with close.jpg, pointer.jpg, open.jpg (one hand each, the hand-sign classes)
    and two-hands.jpg: four downscaled real photos shipped under tests/data/hands (NOTICE.md)."""
    return ROOT / "tests" / "data" / "hands"


def jpeg(image: Any, quality: int = 95) -> bytes:
    """A Pillow image as the JPEG bytes a client would send (the photos the tests cut,
    turn or darken in memory)."""
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def shared_data(*parts: str) -> Path | None:
    """A path under ../shared/data, or None when that folder is not beside the repo."""
    path = SHARED_DATA.joinpath(*parts)
    return path if path.exists() else None


# ---- gesture rows -------------------------------------------------------------------------


def example(name: str) -> dict:
    """A shipped example request body, e.g. "hand-open" or "fingertip-clockwise"."""
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def _hand_row(points: list[list[float]]) -> list[float]:
    x0, y0 = points[0][:2]
    rel = [v for p in points for v in (p[0] - x0, p[1] - y0)]
    top = max(abs(v) for v in rel) or 1.0
    return [v / top for v in rel]


def _rotate(points: list[list[float]], degrees: float, scale: float) -> list[list[float]]:
    x0, y0 = points[0][:2]
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return [[x0 + scale * (c * (x - x0) - s * (y - y0)), y0 + scale * (s * (x - x0) + c * (y - y0))] for x, y, *_ in points]


def hand_rows(n: int = 4) -> list[list[float]]:
    """n keypoint.csv-style rows: the shipped open hand turned by 0, -12, 12, -24, 24 ... degrees."""
    hand = example("hand-open")["landmarks"][0]
    angles = [0.0] + [sign * 12.0 * k for k in range(1, n) for sign in (-1, 1)]
    return [_hand_row(_rotate(hand, a, 1.0 + 0.05 * i)) for i, a in enumerate(angles[:n])]


def track_rows(n: int = 4) -> list[list[float]]:
    """n point_history.csv-style rows: clockwise, counter-clockwise, still, then moves."""
    frames = example("fingertip-clockwise")["landmarks"]
    tip = [f[INDEX_TIP][:2] for f in frames]
    moves = [[[0.01 * i * math.cos(a), 0.01 * i * math.sin(a)] for i in range(16)] for a in (0.0, 2.0, 4.0)]
    tracks = [tip, tip[::-1], [tip[0]] * 16] + [[[tip[0][0] + dx, tip[0][1] + dy] for dx, dy in m] for m in moves]
    rows = [[v for x, y in t for v in (x - t[0][0], y - t[0][1])] for t in tracks]
    return [rows[i % len(rows)] for i in range(n)]


def gesture_rows(filename: str, limit: int | None = None) -> list[list[float]]:
    """Feature rows (label column dropped) of a training file, "keypoint.csv" or
    "point_history.csv": the first `limit` (None = all) recorded ones in
    ../shared/data/gesture when it is beside the repo, else up to 8 shipped rows."""
    folder = shared_data("gesture")
    if folder is None:
        make = {"keypoint.csv": hand_rows, "point_history.csv": track_rows}[filename]
        return make(min(limit or 8, 8))
    with (folder / filename).open(newline="") as f:
        rows = [[float(v) for v in row[1:]] for row in csv.reader(f) if row]
    return rows[:limit]
