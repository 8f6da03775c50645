"""The rects Holistic's graphs crop from, beyond the hand graph's (shared/hands/rect.py).

- alignment_rect: AlignmentPointsRectsCalculator (mediapipe/calculators/util/
  alignment_points_to_rects_calculator.cc): centre on one point, a square twice as wide as
  the distance to another, rotated so that the first -> second points at a target angle.
  The pose graphs (pose_detection_to_roi.pbtxt, pose_landmarks_to_roi.pbtxt) and the hand
  re-crop (hand_recrop_by_roi_cpu.pbtxt) use it.
- hand_from_pose: HandDetectionsFromPoseToRectsCalculator (mediapipe/modules/
  holistic_landmark/calculators/hand_detections_from_pose_to_rects_calculator.cc).
- AlignedRect: a bundle's alignment points and RectTransformation, read and checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from shared.hands.rect import RectTransform, RotatedRect, rotation_between
from shared.runtime.manifest import Manifest


def alignment_rect(start: np.ndarray, end: np.ndarray, target_degrees: float) -> RotatedRect:
    """A square centred on `start` (pixels), side 2 |end - start|, rotated so start -> end
    points at `target_degrees` (90 = up)."""
    side = 2.0 * math.hypot(float(end[0] - start[0]), float(end[1] - start[1]))
    return RotatedRect(float(start[0]), float(start[1]), side, side, rotation_between(start, end, target_degrees))


def hand_from_pose(wrist: np.ndarray, pinky: np.ndarray, index: np.ndarray) -> RotatedRect:
    """The hand's rect from three pose landmarks (pixels): the middle finger estimated as
    (2 index + pinky) / 3, the rect centred there, side twice the wrist distance, rotated
    so wrist -> middle points up."""
    middle = (2.0 * np.asarray(index[:2], float) + np.asarray(pinky[:2], float)) / 3.0
    side = 2.0 * float(np.hypot(*(middle - np.asarray(wrist[:2], float))))
    return RotatedRect(float(middle[0]), float(middle[1]), side, side, rotation_between(wrist, middle, 90.0))


@dataclass(frozen=True)
class AlignedRect:
    """Attributes: start, end (point indices), target_degrees, transform."""

    start: int
    end: int
    target_degrees: float
    transform: RectTransform

    def of(self, points: np.ndarray) -> RotatedRect:
        """The transformed rect of (N, >= 2) points in pixels."""
        return self.transform.apply(alignment_rect(points[self.start], points[self.end], self.target_degrees))

    @classmethod
    def read(cls, m: Manifest, points: int) -> AlignedRect:
        start, end = m.integer("start", ge=0, le=points - 1), m.integer("end", ge=0, le=points - 1)
        if start == end:
            raise m.fault("end", end, "a point other than start")
        return cls(start, end, m.number("target_angle_degrees", ge=-360, le=360), RectTransform.read(m))
