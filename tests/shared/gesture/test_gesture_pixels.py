"""The photo path's wire format and option parsing (pure; the HTTP tests cover the rest)."""

from __future__ import annotations

import numpy as np
import pytest

from shared.gesture.contract import Missing
from shared.gesture.pixels import PhotoHands, hand_dict, missing_note
from shared.hands.finder import FrameHands
from shared.hands.landmarks import HandLandmarks
from shared.hands.rect import RotatedRect


def hand(x0: float, y0: float) -> HandLandmarks:
    points = np.column_stack([np.linspace(x0, x0 + 100, 21), np.linspace(y0, y0 + 50, 21), np.linspace(0, -20, 21)])
    return HandLandmarks(points, 0.99, "Left", 0.9, RotatedRect(0, 0, 1, 1))


def test_hand_dict_normalises_to_the_working_image_and_boxes_in_original_pixels():
    # working image 640x480, original photo 1280x960 (scale 2)
    out = hand_dict(hand(-10, 100), (640, 480), ((1280, 960), 2.0))
    assert out["landmarks"][0] == [round(-10 / 640, 6), round(100 / 480, 6), 0.0]
    assert out["landmarks"][20][2] == pytest.approx(-20 / 640, abs=1e-6)
    assert out["box"] == {"x": 0, "y": 200, "w": 180, "h": 100}  # clipped at the left edge
    assert (out["handedness"], out["handedness_score"], out["presence"]) == ("Left", 0.9, 0.99)


def test_landmark_frames_take_each_frames_first_hand_and_nan_where_none():
    frames = [FrameHands([hand(0, 0), hand(300, 300)], (640, 480), True), FrameHands([], (640, 480), True)]
    found = PhotoHands(frames, [((640, 480), 1.0), ((640, 480), 1.0)], {"decode": 1.0, "hands": 2.0})
    points = found.landmarks()
    assert points.shape == (2, 21, 2) and np.isnan(points[1]).all()
    assert points[0, 20] == pytest.approx([100 / 640, 50 / 480])
    assert found.without_hand == [1] and found.palm_detections == 2 and found.image_size() == (640, 480)
    assert [len(f) for f in found.to_wire()] == [2, 0]


@pytest.mark.parametrize(("policy", "words"), [("previous", "last frame before it"), ("fill", "filled with 0.0"), ("refuse", "refuses")])
def test_missing_note_names_the_policy(policy, words):
    note = missing_note(Missing(policy, 0.0), 2)
    assert note.startswith("2 frame(s) without a hand") and repr(policy) in note and words in note
