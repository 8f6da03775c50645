"""The kinivi hand-gesture keypoint data: loading, the held-out split, augmentation.

keypoint.csv rows: class, then 21 (x, y) hand landmarks in integer pixels of a 960x540
camera image, relative to the wrist, divided by the row's largest absolute value.
point_history.csv rows: class, then the index fingertip's (x, y) over 16 frames in integer
pixels, relative to the first frame, divided by the image width (960) and height (540).
Rows come in runs of near-identical frames, so the held-out part is the last 25% of each
class's rows (whole late runs), never a random sample.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SIZE = (960, 540)  # the recorder app's default capture size; the CSV values confirm it


@dataclass(frozen=True)
class Split:
    """Row indices. Attributes: train, validation (the last `val_fraction` of each class's
    training rows: used for early stopping only), heldout (the last 25% of each class)."""

    train: np.ndarray
    validation: np.ndarray
    heldout: np.ndarray


def read_labels(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]


def read_rows(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(X float32 (N, D), y int (N,)) from a class-first CSV."""
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    y = np.array([int(r[0]) for r in rows])
    x = np.array([[float(v) for v in r[1:]] for r in rows], dtype=np.float32)
    return x, y


def split(y: np.ndarray, heldout_fraction: float = 0.25, val_fraction: float = 0.15) -> Split:
    train, val, held = [], [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)  # file order = recording order
        n_train = round(len(idx) * (1 - heldout_fraction))
        n_val = round(n_train * val_fraction)
        train += list(idx[: n_train - n_val])
        val += list(idx[n_train - n_val : n_train])
        held += list(idx[n_train:])
    return Split(np.array(train), np.array(val), np.array(held))


def _rotate_scale(p: np.ndarray, rng: np.random.Generator, max_rad: float, scale: tuple[float, float]) -> np.ndarray:
    """(N, K, 2) points: per-sample rotation and independent x / y scaling."""
    n = len(p)
    th = rng.uniform(-max_rad, max_rad, n)
    sx, sy = rng.uniform(*scale, n), rng.uniform(*scale, n)
    x, y = p[..., 0] * sx[:, None], p[..., 1] * sy[:, None]
    c, s = np.cos(th)[:, None], np.sin(th)[:, None]
    return np.stack([c * x - s * y, s * x + c * y], axis=-1)


def augment_hand(
    x: np.ndarray, rng: np.random.Generator, copies: int, max_rad: float = 0.5, noise: float = 0.01, mirror: bool = True
) -> np.ndarray:
    """(N, 42) hand keypoint rows -> (N * (1 + copies), 42): rotated, stretched, jittered,
    optionally mirrored (the other hand) copies, re-made relative to the wrist and
    re-divided by their largest absolute value exactly like the original rows."""
    out = [x]
    for _ in range(copies):
        p = _rotate_scale(x.reshape(len(x), 21, 2).astype(np.float64), rng, max_rad, (0.85, 1.15))
        p += rng.normal(0, noise, p.shape)
        if mirror:
            p[..., 0] *= np.where(rng.random(len(p)) < 0.5, -1, 1)[:, None]
        p -= p[:, :1]
        p /= np.abs(p).reshape(len(p), -1).max(axis=1)[:, None, None]
        out.append(p.reshape(len(x), 42).astype(np.float32))
    return np.concatenate(out)


def augment_finger(
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    copies: int,
    swap: np.ndarray,
    max_rad: float = 0.3,
    noise_px: float = 1.0,
    mirror: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 32) fingertip histories -> augmented copies, in pixels: rotated, stretched,
    jittered by noise_px, re-made relative to the first frame. mirror flips x, which turns
    clockwise into counter-clockwise: labels go through `swap`."""
    size = np.asarray(IMAGE_SIZE, dtype=np.float64)
    xs, ys = [x], [y]
    for _ in range(copies):
        p = _rotate_scale(x.reshape(len(x), 16, 2) * size, rng, max_rad, (0.8, 1.2))
        p += rng.normal(0, noise_px, p.shape)
        labels = y
        if mirror:
            p[..., 0] *= -1
            labels = swap[y]
        p -= p[:, :1]
        xs.append((p / size).reshape(len(x), 32).astype(np.float32))
        ys.append(labels)
    return np.concatenate(xs), np.concatenate(ys)
