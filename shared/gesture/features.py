"""Frames -> the model's (T, F) feature matrix: missing values, frame fitting, landmark
recipes, normalisation. Pure numpy; NaN marks a missing value throughout.

Landmarks are MediaPipe hand landmarks in normalised image coordinates: x in [0, 1] of
the image width (left to right), y in [0, 1] of the height (top to bottom).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.errors import BadRequest, Unprocessable
from shared.gesture.contract import HAND_POINTS, FrameFit, LandmarkRecipe, Missing, Normalization


def fill_missing(x: np.ndarray, missing: Missing) -> np.ndarray:
    """(N, D) with NaN -> (N, D) by the bundle's policy; "fill" leaves NaN for fill_values().

    "previous" carries each feature's last seen value forward and gives leading gaps the
    first seen value; a feature never seen stays NaN (filled later with fill_value).
    """
    mask = np.isnan(x)
    if not mask.any():
        return x
    if missing.policy == "refuse":
        frames = int(mask.any(axis=1).sum())
        raise Unprocessable(f"{frames} frame(s) have missing values (null or NaN) and this model refuses them", code="missing_values")
    if missing.policy != "previous":
        return x
    return _carry(_carry(x, forward=True), forward=False)


def _carry(x: np.ndarray, forward: bool) -> np.ndarray:
    """Replace NaN with the nearest earlier (forward) or later (backward) value, per column."""
    data = x if forward else x[::-1]
    n = data.shape[0]
    rows = np.where(np.isnan(data), 0, np.arange(n)[:, None])
    np.maximum.accumulate(rows, axis=0, out=rows)
    out = data[rows, np.arange(data.shape[1])[None, :]]
    return out if forward else out[::-1]


def fill_values(x: np.ndarray, value: float) -> np.ndarray:
    """Whatever is still NaN becomes value."""
    return np.where(np.isnan(x), value, x)


@dataclass(frozen=True)
class FitPlan:
    """Row i of the fitted matrix is x[lo[i]] * (1 - w[i]) + x[hi[i]] * w[i], or pad_value
    where pad[i]. Attributes: lo, hi (int, T), w (float, T), pad (bool, T), used (how many
    received frames contribute)."""

    lo: np.ndarray
    hi: np.ndarray
    w: np.ndarray
    pad: np.ndarray
    used: int


def plan_fit(n: int, frames: int, fit: FrameFit) -> FitPlan:
    """How n received frames map onto the model's `frames` (n >= 1)."""
    zeros = np.zeros(frames)
    if fit.method == "exact" and n != frames:
        raise BadRequest(f"this model takes exactly {frames} frames, got {n}")
    if fit.method == "resample" and n != frames:
        pos = np.linspace(0, n - 1, frames) if frames > 1 else np.array([n - 1.0])
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        return FitPlan(lo, hi, pos - lo, zeros.astype(bool), n)
    if n >= frames:
        start = n - frames if fit.keep == "last" else 0
        idx = np.arange(start, start + frames)
        return FitPlan(idx, idx, zeros, zeros.astype(bool), frames)
    pads = frames - n
    real = np.arange(n)
    # keep "last": the received frames end the window (pad before); "first": they start it.
    idx = np.concatenate([np.zeros(pads, int), real]) if fit.keep == "last" else np.concatenate([real, np.full(pads, n - 1)])
    pad = np.zeros(frames, bool)
    if fit.pad == "value":
        if fit.keep == "last":
            pad[:pads] = True
        else:
            pad[n:] = True
    return FitPlan(idx, idx, zeros, pad, n)


def apply_fit(x: np.ndarray, plan: FitPlan) -> np.ndarray:
    """(N, D) -> (T, D) by the plan; pad rows are NaN here (set by set_pads). A NaN on one
    side of an interpolation takes the other side's value."""
    a, b = x[plan.lo], x[plan.hi]
    w = plan.w[:, None]
    mixed = a * (1 - w) + b * w
    out = np.where(np.isnan(a), b, np.where(np.isnan(b), a, mixed))
    out[plan.pad] = np.nan
    return out


def set_pads(x: np.ndarray, plan: FitPlan, value: float) -> np.ndarray:
    out = x.copy()
    out[plan.pad] = value
    return out


def _pixels(points: np.ndarray, recipe: LandmarkRecipe, image_size: tuple[int, int]) -> np.ndarray:
    """(T, 21, 2) normalised -> pixels, as the recorder did: min(int(x * width), width - 1)."""
    size = np.asarray(image_size, dtype=np.float64)
    px = points[..., :2] * size
    if recipe.pixel_rounding == "trunc":
        px = np.minimum(np.trunc(px), size - 1)
    return px


def hand_keypoints(points: np.ndarray, recipe: LandmarkRecipe, image_size: tuple[int, int]) -> np.ndarray:
    """(T, 21, 2+) -> (T, 42): (x, y) of each landmark in pixels relative to the wrist
    (landmark 0), interleaved x0 y0 x1 y1 ..., divided by the row's largest absolute value.
    A missing (NaN) or degenerate (all points equal) frame gives a NaN row."""
    px = _pixels(points, recipe, image_size)
    rel = (px - px[:, :1]).reshape(len(px), 2 * HAND_POINTS)
    peak = np.abs(rel).max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(peak > 0, rel / np.where(peak > 0, peak, 1), np.nan)


def fingertip_history(points: np.ndarray, recipe: LandmarkRecipe, image_size: tuple[int, int]) -> np.ndarray:
    """(T, 21, 2+) -> (T, 2): landmark `recipe.landmark` in pixels relative to the first
    present frame of the window, divided by the image (width, height)."""
    px = _pixels(points, recipe, image_size)[:, recipe.landmark]
    present = np.flatnonzero(~np.isnan(px).any(axis=1))
    if present.size == 0:
        return np.full((len(px), 2), np.nan)
    return (px - px[present[0]]) / np.asarray(image_size, dtype=np.float64)


RECIPES = {"hand_keypoints": hand_keypoints, "fingertip_history": fingertip_history}


def normalize(x: np.ndarray, norm: Normalization | None) -> np.ndarray:
    """(T, F) -> (T, F) * factor + offset; statistics per frame (F) or per position (T*F)."""
    if norm is None:
        return x
    if norm.factor.size == x.shape[1]:
        return x * norm.factor + norm.offset
    return (x.reshape(-1) * norm.factor + norm.offset).reshape(x.shape)
