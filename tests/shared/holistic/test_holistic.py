"""Holistic from real photos (fetched: face-recognition's test images; shipped: tests/data/hands)
against MediaPipe 0.10.21's own Holistic, recorded in tests/data/holistic/mediapipe_reference.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shared.gesture.recipes import LAYOUTS, PART_SHAPES, holistic_features, holistic_parts
from shared.hands.options import HandOptions
from shared.hands.rect import RotatedRect
from shared.holistic.options import HolisticOptions
from shared.holistic.pose import refine_from_heatmap
from shared.holistic.recrop import Tracking, keep_tracking
from shared.holistic.tracker import Holistic
from shared.images import DecodeLimits, decode_photo
from shared.settings import MODELS_DIR
from tools import testdata

# Measured: 0.6-2.0% over the points MediaPipe sees (visibility > 0.5), visibility within
# 0.01-0.06 on average; obama2.jpg is a tight head shot (626 x 1200) where both guess the
# body, and the guessed points' visibility differs by 0.14 on average.
VISIBILITY_BOUND = {"obama2.jpg": 0.2}
REFERENCE = json.loads((Path(__file__).parents[2] / "data" / "holistic" / "mediapipe_reference.json").read_text())["photos"]


@pytest.fixture(scope="module")
def holistic() -> Holistic:
    m = MODELS_DIR
    hands = HandOptions(str(m / "hand-detector"), str(m / "hand-landmarks"))
    return Holistic.load(HolisticOptions(str(m / "pose-detector"), str(m / "pose-landmarks"), str(m / "hand-recrop"), hands))


def photo(name: str) -> np.ndarray:
    folder = testdata.hand_photos() if (testdata.hand_photos() / name).exists() else testdata.face_photos()
    return decode_photo((folder / name).read_bytes(), name=name, limits=DecodeLimits(max_side=640)).pixels


def error_pct(reference: list, ours: np.ndarray, size: list[int], seen: bool = False) -> float:
    """Mean distance of the points in % of the reference points' box diagonal; seen: only
    the points the reference's visibility puts in view (> 0.5: a photo cut at the chest
    leaves the legs to guesswork)."""
    ref = np.asarray(reference)
    if seen:
        keep = ref[:, 3] > 0.5
        ref, ours = ref[keep], ours[keep]
    xy = ref[:, :2] * size
    return float(np.linalg.norm((ref[:, :2] - ours[:, :2]) * size, axis=1).mean() / np.hypot(*np.ptp(xy, axis=0)) * 100)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_pose_and_hands_agree_with_mediapipe(holistic, name):
    ref = REFERENCE[name]
    parts = holistic_parts(holistic.find(photo(name)))
    assert (parts["pose"] is None) == (ref["pose"] is None)
    if ref["pose"] is not None:
        assert error_pct(ref["pose"], parts["pose"], ref["size"], seen=True) < 3.0
        assert np.abs(np.asarray(ref["pose"])[:, 3] - parts["pose"][:, 3]).mean() < VISIBILITY_BOUND.get(name, 0.1)
    for side in ("left", "right"):
        if ref[side] is not None and parts[side] is not None:
            assert error_pct(ref[side], parts[side], ref["size"]) < 5.0
    found = sum(parts[s] is not None for s in ("left", "right"))
    assert abs(found - sum(ref[s] is not None for s in ("left", "right"))) <= 1


def test_both_hands_on_their_sides(holistic):
    """two-hands.jpg: the subject's left hand is on the photo's right (an unmirrored photo)."""
    frame = holistic.find(photo("two-hands.jpg"))
    left, right = frame.hands["left"], frame.hands["right"]
    assert left is not None and right is not None
    assert left.points[:, 0].mean() > right.points[:, 0].mean()
    wrist = frame.pose.points[15, :2]  # the pose's left wrist sits at the left hand's wrist
    assert np.linalg.norm(wrist - left.points[0, :2]) < 0.2 * np.ptp(left.points[:, :2], axis=0).max() + 20


def test_tracking_runs_the_pose_detector_once(holistic):
    """A clip of one photo seen through a slowly drifting window: detected on the first frame, tracked after."""
    image = photo("two-hands.jpg")
    frames = [image[4 + i : image.shape[0] - 8 + i, 6 - i : image.shape[1] - 6 - i] for i in range(6)]
    found = list(holistic.track(np.ascontiguousarray(f) for f in frames))
    assert [f.pose_detected for f in found] == [True] + [False] * 5  # frames of one size
    assert all(f.pose is not None and f.hands["left"] is not None for f in found)
    first = holistic_parts(holistic.find(frames[-1]))["pose"]
    assert error_pct(first.tolist(), holistic_parts(found[-1])["pose"], [1, 1]) < 3.0


def test_holistic_1662_is_lsvtests_layout(holistic):
    frame = holistic.find(photo("open.jpg"))
    parts = holistic_parts(frame)
    features = holistic_features(parts, "holistic_1662")
    assert features.shape == (1662,)
    assert np.array_equal(features[:132], parts["pose"].reshape(-1))  # pose 33 x (x, y, z, visibility)
    assert not features[132:1536].any()  # no face: zeros, as extract_keypoints writes
    hands = [parts[s] for s in ("left", "right")]
    for start, hand in zip((1536, 1599), hands, strict=True):
        expected = np.zeros(63) if hand is None else hand.reshape(-1)
        assert np.array_equal(features[start : start + 63], expected)
    for recipe, layout in LAYOUTS.items():
        assert holistic_features(parts, recipe).size == sum(int(np.prod(PART_SHAPES[p])) for p in layout)


def test_heatmap_refinement_moves_a_point_to_its_peak():
    heatmap = np.full((64, 64, 1), -10.0)
    heatmap[30, 40, 0] = 10.0  # a sharp peak at column 40, row 30
    refined = refine_from_heatmap(np.array([[41.5 / 64, 31.2 / 64]]), heatmap, 7, 0.5)
    assert np.allclose(refined, [[40 / 64, 30 / 64]], atol=1e-3)
    weak = np.full((64, 64, 1), -10.0)  # no confident cell: the point stays
    assert np.array_equal(refine_from_heatmap(np.array([[0.5, 0.5]]), weak, 7, 0.5), [[0.5, 0.5]])


def test_hand_tracking_keeps_a_close_rect_and_drops_a_far_one():
    rules = Tracking(40.0, 0.2, 0.4, -0.1)
    recrop = RotatedRect(100, 100, 50, 50, 0.0)
    landmarks = np.array([[95.0, 95.0], [105.0, 108.0]])
    assert keep_tracking(RotatedRect(104, 98, 55, 55, 0.2), landmarks, recrop, rules)
    assert not keep_tracking(RotatedRect(120, 98, 55, 55, 0.2), landmarks, recrop, rules)  # moved 0.4 of the rect
    assert not keep_tracking(RotatedRect(100, 100, 50, 50, 1.0), landmarks, recrop, rules)  # turned 57 degrees
    assert not keep_tracking(RotatedRect(100, 100, 50, 50, 0.0), np.array([[124.0, 100.0]]), recrop, rules)  # a landmark outside
