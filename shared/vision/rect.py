"""Rotated rectangles, as MediaPipe's graphs crop a model's input from them (hands, face mesh, eyes).

All maths in pixels of the working image (x right, y down, continuous coordinates), which
is what MediaPipe's normalised rects mean once multiplied by the image width and height:
- rotation_between: DetectionsToRectsCalculator's ComputeRotation (mediapipe/calculators/
  util/detections_to_rects_calculator.cc);
- RotatedRect.transformed: RectTransformationCalculator (mediapipe/calculators/util/
  rect_transformation_calculator.cc, TransformNormalizedRect): shift along the rect's own
  axes first, then square on the long side, then scale;
- from_points: LandmarksToDetectionCalculator then DetectionsToRectsCalculator: the
  axis-aligned bounds of some points, rotated by the direction of two of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from shared.runtime.manifest import Manifest


def normalize_radians(angle: float) -> float:
    """angle in [-pi, pi), as MediaPipe's NormalizeRadians."""
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def rotation_between(start: np.ndarray, end: np.ndarray, target_degrees: float = 90.0) -> float:
    """Radians that turn the start -> end vector (pixels, y down) to `target_degrees`
    (90 = pointing up); positive turns the image content clockwise into the crop."""
    dx, dy = float(end[0] - start[0]), float(end[1] - start[1])
    return normalize_radians(math.radians(target_degrees) - math.atan2(-dy, dx))


@dataclass(frozen=True)
class RotatedRect:
    """A rectangle rotated about its centre. Attributes: cx, cy (centre), width, height
    (pixels), rotation (radians, MediaPipe's sign: the crop's up axis is the image's up
    axis turned clockwise by `rotation`)."""

    cx: float
    cy: float
    width: float
    height: float
    rotation: float = 0.0

    def transformed(self, scale: tuple[float, float], shift: tuple[float, float], square_long: bool = True) -> RotatedRect:
        """RectTransformationCalculator: shift by (shift_x * width, shift_y * height) along the
        rect's rotated axes, make it square on its long side, then scale it."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        dx, dy = self.width * shift[0], self.height * shift[1]
        cx, cy = self.cx + dx * c - dy * s, self.cy + dx * s + dy * c
        w, h = (max(self.width, self.height),) * 2 if square_long else (self.width, self.height)
        return RotatedRect(cx, cy, w * scale[0], h * scale[1], self.rotation)

    def chip_to_image(self, size: int) -> np.ndarray:
        """(2, 3) affine mapping a (size x size) crop's pixels onto the image's pixels."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        linear = np.array([[c, -s], [s, c]]) @ np.diag([self.width / size, self.height / size])
        origin = np.array([self.cx, self.cy]) - linear @ np.array([size / 2, size / 2])
        return np.hstack([linear, origin[:, None]])

    def corners(self) -> np.ndarray:
        """(4, 2) corners in image pixels: top-left, top-right, bottom-right, bottom-left of the crop."""
        m = self.chip_to_image(1)
        return np.array([[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], float) @ m.T

    def bounds(self) -> tuple[float, float, float, float]:
        """Axis-aligned (x, y, w, h) of the rotated rect, pixels."""
        pts = self.corners()
        (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
        return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


@dataclass(frozen=True)
class RectTransform:
    """RectTransformationCalculator's options, as a hand bundle's bundle.json holds them
    (`postprocessing.hand_rect` of the palm detector, `postprocessing.tracking_rect` of the
    landmark model). Attributes: scale (x, y) of the rect's size; shift (x, y) in rect
    widths/heights along its own axes; square_long: square the rect on its long side first."""

    scale: tuple[float, float]
    shift: tuple[float, float]
    square_long: bool

    def apply(self, rect: RotatedRect) -> RotatedRect:
        return rect.transformed(self.scale, self.shift, self.square_long)

    @classmethod
    def read(cls, m: Manifest) -> RectTransform:
        sx, sy = m.numbers("scale", length=2, gt=0, le=100)
        dx, dy = m.numbers("shift", length=2, ge=-10, le=10)
        return cls((sx, sy), (dx, dy), m.flag("square_long"))


def from_points(points: np.ndarray, start: int, end: int, target_degrees: float = 0.0) -> RotatedRect:
    """LandmarksToDetection + DetectionsToRects on (N, 2+) points in pixels: their axis-aligned
    bounds (centre and size, not rotated), with the rotation that turns points[start] ->
    points[end] to `target_degrees` (0 = pointing right)."""
    p = np.asarray(points, dtype=np.float64)[:, :2]
    (x0, y0), (x1, y1) = p.min(axis=0), p.max(axis=0)
    rotation = rotation_between(p[start], p[end], target_degrees)
    return RotatedRect(float(x0 + x1) / 2, float(y0 + y1) / 2, float(x1 - x0), float(y1 - y0), rotation)
