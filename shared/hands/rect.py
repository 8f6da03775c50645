"""The rotated hand rectangle MediaPipe's hand graphs crop the landmark model's input from.

All maths in pixels of the working image (x right, y down, continuous coordinates), which
is what MediaPipe's normalised rects mean once multiplied by the image width and height:
- from_palm: DetectionsToRectsCalculator (mediapipe/calculators/util/
  detections_to_rects_calculator.cc, ComputeRotation) with the options of
  mediapipe/modules/hand_landmark/palm_detection_detection_to_roi.pbtxt;
- from_landmarks: HandLandmarksToRectCalculator (mediapipe/modules/hand_landmark/
  calculators/hand_landmarks_to_rect_calculator.cc) for tracking;
- RotatedRect, RectTransform and the rotation maths live in shared/vision/rect.py (the
  face mesh crops its eyes and faces the same way); re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from shared.runtime.manifest import Manifest
from shared.vision.rect import RectTransform, RotatedRect, normalize_radians, rotation_between

__all__ = ["PalmRect", "RectTransform", "RotatedRect", "from_landmarks", "from_palm", "normalize_radians", "rect_iou", "rotation_between"]


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
