"""Feature recipes a gesture bundle declares (`preprocessing.landmarks.recipe`), and the
Holistic ones computed from a person found in pixels.

    recipe             per frame   from
    hand_keypoints     42          one hand's 21 (x, y) (gesture/features.py)
    fingertip_history  2           one hand landmark's track (gesture/features.py)
    two_hands          126         left hand 21 x (x, y, z), right hand 21 x (x, y, z)
    pose_hands         258         pose 33 x (x, y, z, visibility), then two_hands
    holistic_1662      1662        pose 33 x 4, face 468 x 3, left hand 21 x 3, right hand 21 x 3

The Holistic recipes are MediaPipe Holistic's results laid out as lsvtest 0.0.3's
`extract_keypoints` lays them out (and the many sign-language models trained with it):
normalised image coordinates (x / width, y / height, z / width), the subject's left and
right, and zeros for a part that was not found. A frame with no person is all zeros.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the landmark-only path imports neither Pillow nor a pipeline
    from shared.holistic.tracker import HolisticFrame

HAND_RECIPES = ("hand_keypoints", "fingertip_history")
HOLISTIC_RECIPES = {"two_hands": 126, "pose_hands": 258, "holistic_1662": 1662}
RECIPES = (*HAND_RECIPES, *HOLISTIC_RECIPES)
PART_SHAPES = {"pose": (33, 4), "face": (468, 3), "left": (21, 3), "right": (21, 3)}
LAYOUTS = {"two_hands": ("left", "right"), "pose_hands": ("pose", "left", "right"), "holistic_1662": ("pose", "face", "left", "right")}


def holistic_parts(frame: HolisticFrame) -> dict[str, np.ndarray | None]:
    """A HolisticFrame's parts in normalised image coordinates (x / width, y / height,
    z / width), the pose with its visibility; None for a part not found."""
    width, height = frame.size
    scale = np.array([width, height, width], dtype=np.float64)
    pose, left, right = frame.pose, frame.hands.get("left"), frame.hands.get("right")
    return {
        "pose": None if pose is None else np.column_stack([pose.points / scale, pose.visibility]),
        "face": None if frame.face is None else np.asarray(frame.face) / scale,
        "left": None if left is None else left.points / scale,
        "right": None if right is None else right.points / scale,
    }


def holistic_features(parts: dict[str, np.ndarray | None], recipe: str) -> np.ndarray:
    """One frame's features for a Holistic recipe: the layout's parts flattened, zeros
    for a missing part (lsvtest's extract_keypoints)."""
    out = [np.zeros(PART_SHAPES[p]) if parts.get(p) is None else np.asarray(parts[p], np.float64) for p in LAYOUTS[recipe]]
    return np.concatenate([a.reshape(-1) for a in out])
