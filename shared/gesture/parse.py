"""Request JSON values -> validated float64 arrays (NaN = missing). Every shape or type
problem is a 400 naming the frame and what was expected; frame-count limits are 413 / 422.

JSON numbers only: booleans and numeric strings are refused (numpy would quietly turn
``true`` into 1.0 and ``"1.5"`` into 1.5). ``null`` means "missing"; ``NaN`` and
``Infinity`` are not JSON and the edge refuses them before this module sees the body.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from shared.errors import BadRequest, PayloadTooLarge, Unprocessable
from shared.gesture.contract import HAND_POINTS

_NUMBER = (int, float)
_ALLOWED = {int, float, type(None)}
_POINT_KEYS = {"x", "y", "z", "visibility", "presence"}


def _frames_list(value: Any, field: str, max_frames: int) -> list:
    if not isinstance(value, list):
        raise BadRequest(f"{field} must be a list of frames, got {type(value).__name__}")
    if not value:
        raise Unprocessable(f"{field} has no frames", code="no_frames")
    if len(value) > max_frames:
        raise PayloadTooLarge(f"{field} has {len(value)} frames; the limit is {max_frames}", code="too_many_frames")
    return value


def _check_numbers(row: list, where: str) -> None:
    if not {type(v) for v in row} <= _ALLOWED:
        bad = next(v for v in row if type(v) not in _ALLOWED)
        raise BadRequest(f"{where} holds {type(bad).__name__} {str(bad)[:40]!r}; expected numbers (null for missing)")


def _to_array(rows: list, where: str) -> np.ndarray:
    try:
        out = np.array(rows, dtype=np.float64)  # None -> NaN
    except (OverflowError, ValueError, TypeError):
        raise BadRequest(f"{where} holds a number too large for float64") from None
    if np.isinf(out).any():
        raise BadRequest(f"{where} holds an infinite value")
    return out


def parse_features(value: Any, features: int, max_frames: int) -> np.ndarray:
    """`features`: frames x F numbers (a null frame = all missing) -> (N, F)."""
    frames = _frames_list(value, "features", max_frames)
    rows = []
    for i, frame in enumerate(frames):
        if frame is None:
            rows.append([None] * features)
            continue
        if not isinstance(frame, list):
            raise BadRequest(f"features[{i}] must be a list of {features} numbers, got {type(frame).__name__}")
        if len(frame) != features:
            raise BadRequest(f"features[{i}] has {len(frame)} values; this model expects {features} per frame")
        _check_numbers(frame, f"features[{i}]")
        rows.append(frame)
    return _to_array(rows, "features")


def _point(point: Any, where: str) -> list:
    """[x, y] / [x, y, z] / {"x", "y", ...} -> [x, y] (None where missing)."""
    if isinstance(point, dict):
        unknown = set(point) - _POINT_KEYS
        if unknown or "x" not in point or "y" not in point:
            raise BadRequest(f"{where} must have x and y (optionally z, visibility, presence), got keys {sorted(point)[:6]}")
        values = [point["x"], point["y"]]
        _check_numbers([point.get(k) for k in _POINT_KEYS], where)
    elif isinstance(point, list) and len(point) in (2, 3):
        values = point[:2]
        _check_numbers(point, where)
    else:
        raise BadRequest(f'{where} must be [x, y], [x, y, z] or {{"x", "y"}}, got {str(point)[:40]}')
    return values


def parse_landmarks(value: Any, max_frames: int) -> np.ndarray:
    """`landmarks`: frames x 21 points (MediaPipe normalised x, y[, z]) -> (N, 21, 2).

    A null frame (no hand seen) or a frame with any null / NaN coordinate is missing as a
    whole: MediaPipe reports a hand's landmarks together or not at all.
    """
    frames = _frames_list(value, "landmarks", max_frames)
    rows = []
    for i, frame in enumerate(frames):
        if frame is None:
            rows.append([[None, None]] * HAND_POINTS)
            continue
        if not isinstance(frame, list) or len(frame) != HAND_POINTS:
            got = f"{len(frame)} points" if isinstance(frame, list) else type(frame).__name__
            raise BadRequest(f"landmarks[{i}] must be a list of {HAND_POINTS} hand landmarks, got {got}")
        rows.append([_point(p, f"landmarks[{i}][{j}]") for j, p in enumerate(frame)])
    points = _to_array(rows, "landmarks")
    broken = np.isnan(points).any(axis=(1, 2))
    points[broken] = np.nan
    return points


def parse_top_k(value: Any, n_labels: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= n_labels:
        raise BadRequest(f"top_k must be an integer from 1 to {n_labels}, got {str(value)[:20]}")
    return value


def parse_image_size(value: Any) -> tuple[int, int]:
    """[width, height] in pixels of the video the landmarks were found in."""
    ok = isinstance(value, list) and len(value) == 2 and all(isinstance(v, _NUMBER) and not isinstance(v, bool) for v in value)
    if not ok or not all(math.isfinite(v) and v == int(v) and 1 <= v <= 100_000 for v in value):
        raise BadRequest(f"image_size must be [width, height] in whole pixels, got {str(value)[:40]}")
    return int(value[0]), int(value[1])
