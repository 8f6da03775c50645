"""The rotated hand rectangle MediaPipe's hand graphs crop the landmark model's input from.

All maths in pixels of the working image (x right, y down, continuous coordinates), which
is what MediaPipe's normalised rects mean once multiplied by the image width and height:
- from_palm: DetectionsToRectsCalculator (mediapipe/calculators/util/
  detections_to_rects_calculator.cc, ComputeRotation) with the options of
  mediapipe/modules/hand_landmark/palm_detection_detection_to_roi.pbtxt;
- from_landmarks: HandLandmarksToRectCalculator (mediapipe/modules/hand_landmark/
  calculators/hand_landmarks_to_rect_calculator.cc) for tracking;
- transformed: RectTransformationCalculator (mediapipe/calculators/util/
  rect_transformation_calculator.cc, TransformNormalizedRect): shift along the rect's own
  axes first, then square on the long side, then scale.
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


@dataclass(frozen=True)
class PalmRect:
    """How a palm detection becomes the hand's rect (`postprocessing.hand_rect`).

    Attributes: start, end: the palm keypoints whose direction sets the rotation (wrist
    centre -> middle-finger MCP); target_degrees: where that direction should point (90 =
    up); transform: the RectTransformation applied to the rotated palm box.
    """

    start: int
    end: int
    target_degrees: float
    transform: RectTransform

    @classmethod
    def read(cls, m: Manifest, keypoints: int) -> PalmRect:
        """`keypoints`: how many the detector gives, so the rotation's keypoints exist."""
        if keypoints < 1:
            raise m.fault("rotation_start_keypoint", m.get("rotation_start_keypoint", None), "a palm keypoint (the detector has none)")
        start = m.integer("rotation_start_keypoint", ge=0, le=keypoints - 1)
        end = m.integer("rotation_end_keypoint", ge=0, le=keypoints - 1)
        if start == end:
            raise m.fault("rotation_end_keypoint", end, "a keypoint other than rotation_start_keypoint")
        return cls(start, end, m.number("target_angle_degrees", ge=-360, le=360), RectTransform.read(m))


def from_palm(
    box: tuple[float, float, float, float], keypoints: np.ndarray, start: int = 0, end: int = 2, target_degrees: float = 90.0
) -> RotatedRect:
    """DetectionsToRectsCalculator: the palm box (x, y, w, h) as a rect, rotated so that
    keypoint `start` (wrist centre) -> `end` (middle-finger MCP) points up."""
    x, y, w, h = box
    return RotatedRect(x + w / 2, y + h / 2, w, h, rotation_between(keypoints[start], keypoints[end], target_degrees))


# HandLandmarksToRectCalculator's kPartialLandmarkIndices: the palm and finger bases, so
# that bent or stretched fingertips do not move the next frame's crop.
PARTIAL_LANDMARKS = (0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18)
WRIST, INDEX_MCP, MIDDLE_MCP, RING_MCP = 0, 5, 9, 13


def from_landmarks(points: np.ndarray) -> RotatedRect:
    """HandLandmarksToRectCalculator on (21, 2) landmarks in pixels: rotation from the wrist
    to the middle MCP averaged with the mean of the index and ring MCPs; the tightest rect
    at that rotation around the partial landmarks."""
    p = np.asarray(points, dtype=np.float64)[:, :2]
    toward = ((p[INDEX_MCP] + p[RING_MCP]) / 2 + p[MIDDLE_MCP]) / 2
    rotation = rotation_between(p[WRIST], toward)
    part = p[list(PARTIAL_LANDMARKS)]
    centre = (part.min(axis=0) + part.max(axis=0)) / 2
    c, s = math.cos(-rotation), math.sin(-rotation)
    local = (part - centre) @ np.array([[c, s], [-s, c]])  # rotate by -rotation
    lo, hi = local.min(axis=0), local.max(axis=0)
    mid = (lo + hi) / 2
    c, s = math.cos(rotation), math.sin(rotation)
    cx, cy = centre + np.array([mid[0] * c - mid[1] * s, mid[0] * s + mid[1] * c])
    return RotatedRect(float(cx), float(cy), float(hi[0] - lo[0]), float(hi[1] - lo[1]), rotation)


def rect_iou(a: RotatedRect, b: RotatedRect) -> float:
    """IoU of the two rects as axis-aligned boxes of their centre and size, ignoring the
    rotation, as MediaPipe's AssociationNormRectCalculator compares them."""
    ax0, ay0, bx0, by0 = a.cx - a.width / 2, a.cy - a.height / 2, b.cx - b.width / 2, b.cy - b.height / 2
    w = min(ax0 + a.width, bx0 + b.width) - max(ax0, bx0)
    h = min(ay0 + a.height, by0 + b.height) - max(ay0, by0)
    inter = max(w, 0.0) * max(h, 0.0)
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0
