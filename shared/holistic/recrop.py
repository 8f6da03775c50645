"""Holistic's hands: a rect from the pose's wrist, pinky and index, re-cropped by the hand
re-crop model, and tracked from the previous frame's hand while it stays close.

- HandRecrop.rect: hand_landmarks_from_pose_to_recrop_roi.pbtxt (rects.hand_from_pose, then
  scale 2.7, shift_y -0.1) -> hand_recrop_by_roi_cpu.pbtxt (the 256x256 crop, 0..1; the
  model's 2 points back in the image; AlignmentPointsRects from point 0 to 1 at -90
  degrees; shift_y -0.1, square_long).
- keep_tracking: RoiTrackingCalculator (mediapipe/modules/holistic_landmark/calculators/
  roi_tracking_calculator.cc) with hand_tracking.pbtxt's requirements: the previous hand's
  rect is kept while it differs from the re-crop rect by at most 40 degrees, 0.2 of its
  size in x and y, 0.4 in width and height, and the previous landmarks lie inside the
  re-crop rect shrunk by 10%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from shared.hands.rect import RectTransform, RotatedRect
from shared.holistic.rects import AlignedRect, hand_from_pose
from shared.runtime.bundle import Bundle, crop_model
from shared.vision.rect_crop import rect_input

TASK = "hand-recrop"


@dataclass(frozen=True)
class Tracking:
    """RoiTrackingCalculator's rect and landmark requirements (bundle: postprocessing.tracking)."""

    rotation_degrees: float
    translation: float
    scale: float
    margin: float


class HandRecrop:
    """A hand-recrop bundle: `rect(rgb, wrist, pinky, index) -> RotatedRect`, thread-safe."""

    def __init__(self, bundle: Bundle):
        _, post, self.size = crop_model(bundle, TASK)
        self.bundle = bundle
        self._output = post.tensor("output_tensors.points", bundle.model.outputs)
        if int(np.prod(bundle.model.outputs[self._output].shape)) != 4 or post.integer("num_points", ge=1, le=16) != 2:
            raise post.fault("num_points", post.get("num_points", None), "2 points of (x, y), the model's 4 values")
        self.recrop_rect = AlignedRect.read(post.at("recrop_rect"), 2)
        t = post.at("tracking")
        self.tracking = Tracking(
            t.number("rotation_degrees", ge=0, le=360),
            t.number("translation", ge=0, le=10),
            t.number("scale", ge=0, le=10),
            t.number("recrop_rect_margin", ge=-1, le=1),
        )

    def rect(self, image: np.ndarray, pose_rect: RotatedRect) -> RotatedRect:
        """The hand's rect (pixels) from its rect made from the pose (already transformed)."""
        tensor, crop = rect_input(image, pose_rect, self.size)
        out = self.bundle.model.run(tensor[None])[self._output]
        return self.recrop_rect.of(crop.image_xy(out.reshape(2, 2).astype(np.float64)))


def pose_hand_rect(points: np.ndarray, indices: tuple[int, ...], transform: RectTransform) -> RotatedRect:
    """The rect the re-crop model sees: rects.hand_from_pose of the pose's wrist, pinky and
    index (pixels), transformed (scale 2.7, shift_y -0.1)."""
    wrist, pinky, index = (points[i] for i in indices)
    return transform.apply(hand_from_pose(wrist, pinky, index))


def keep_tracking(previous: RotatedRect, landmarks: np.ndarray, recrop: RotatedRect, t: Tracking) -> bool:
    """True when the previous frame's hand rect may be used again instead of `recrop`."""
    turn = math.degrees(previous.rotation - recrop.rotation)
    turn = abs((turn + 180.0) % 360.0 - 180.0)
    c, s = math.cos(-recrop.rotation), math.sin(-recrop.rotation)
    rot = np.array([[c, -s], [s, c]])
    (px, py), (rx, ry) = rot @ (previous.cx, previous.cy), rot @ (recrop.cx, recrop.cy)
    if turn > t.rotation_degrees or abs(px - rx) > recrop.width * t.translation or abs(py - ry) > recrop.height * t.translation:
        return False
    if abs(previous.width - recrop.width) > recrop.width * t.scale or abs(previous.height - recrop.height) > recrop.height * t.scale:
        return False
    local = landmarks[:, :2] @ rot.T
    half = np.array([recrop.width, recrop.height]) * (1.0 + t.margin) / 2
    return bool(np.all(np.abs(local - (rx, ry)) < half))
