"""Gesture inputs the project ships: hand-authored MediaPipe-style requests in
docs/examples/, and rows derived from them in the training files' formats.

Tests, the load tool and the benchmark use these on a fresh clone (the recorded training
keypoints in ../shared/data/gesture live outside the repository).

- hand rows (keypoint.csv format): 21 (x, y) relative to the wrist, divided by the
  largest absolute value: 42 floats. Variants of the open hand, rotated and scaled.
- track rows (point_history.csv format): 16 (x, y) of the index fingertip relative to the
  first frame, in image-size units: 32 floats. A clockwise circle, its reverse, a still
  fingertip, and straight moves.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
INDEX_TIP = 8


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
    """n keypoint.csv-style rows: the open hand turned by 0, -12, 12, -24, 24 ... degrees."""
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


def rows_like(filename: str, limit: int = 200) -> list[list[float]]:
    """Shipped rows in the format of a training file ("keypoint.csv" or "point_history.csv"),
    for tools that read that file when ../shared/data/gesture is not beside the repo."""
    make = {"keypoint.csv": hand_rows, "point_history.csv": track_rows}[filename]
    return make(min(limit, 8))
