"""Hands in real photos (tests/data/hands, shipped): palms, landmarks, handedness, tracking."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from shared.hands.finder import HandFinder, HandOptions
from shared.images import DecodeLimits, decode_photo
from shared.settings import MODELS_DIR
from shared.vision.geometry import box_iou
from tools import testdata


@pytest.fixture(scope="module")
def finder() -> HandFinder:
    return HandFinder.load(HandOptions(str(MODELS_DIR / "hand-detector"), str(MODELS_DIR / "hand-landmarks")))


def photo(name: str) -> np.ndarray:
    return decode_photo((testdata.hand_photos() / name).read_bytes(), name=name, limits=DecodeLimits()).pixels


def box_diagonal(points: np.ndarray) -> float:
    return float(np.hypot(*np.ptp(points[:, :2], axis=0)))


def test_one_hand_is_found_inside_the_photo(finder):
    image = photo("open.jpg")
    hands = finder.find(image, max_hands=2)
    assert len(hands) == 1
    hand = hands[0]
    assert hand.points.shape == (21, 3) and hand.presence > 0.9 and hand.handedness_score > 0.8
    w = image.shape[1]
    assert (hand.points[:, 0] > 0).all() and (hand.points[:, 0] < w).all()
    # labels.csv's box for this photo, halved with the photo: 228 91 342 237 (xmin ymin xmax ymax)
    x0, y0 = hand.points[:, :2].min(axis=0)
    x1, y1 = hand.points[:, :2].max(axis=0)
    assert box_iou((x0, y0, x1 - x0, y1 - y0), (228, 91, 342 - 228, 237 - 91)) > 0.6  # the label's box reaches down the wrist


def test_two_hands_need_max_hands_2(finder):
    image = photo("two-hands.jpg")
    assert len(finder.find(image, max_hands=1)) == 1
    hands = finder.find(image, max_hands=2)
    assert len(hands) == 2
    left_of_image = sorted(h.points[0, 0] for h in hands)
    assert left_of_image[1] - left_of_image[0] > 100  # two different hands, not one found twice


def test_a_face_photo_has_no_hand(finder, face_photos):
    # biden.jpg: MediaPipe's own Hands finds no hand in it either (obama.jpg shows one of his hands)
    image = decode_photo((face_photos / "biden.jpg").read_bytes(), name="biden", limits=DecodeLimits()).pixels
    assert finder.find(image, max_hands=2) == []


def test_a_rotated_photo_gives_the_rotated_landmarks(finder):
    image = photo("pointer.jpg")
    w = image.shape[1]
    turned = np.asarray(Image.fromarray(image).transpose(Image.Transpose.ROTATE_90))  # counter-clockwise
    (upright,) = finder.find(image)
    (rotated,) = finder.find(turned)
    # ROTATE_90 sends (x, y) to (y, w - x)
    expected = np.column_stack([upright.points[:, 1], w - upright.points[:, 0]])
    error = np.linalg.norm(rotated.points[:, :2] - expected, axis=1).mean()
    assert error / box_diagonal(upright.points) < 0.03
    assert rotated.handedness == upright.handedness


def test_a_mirrored_photo_swaps_handedness(finder):
    for name in ("open.jpg", "close.jpg", "pointer.jpg"):
        image = photo(name)
        (hand,) = finder.find(image)
        (mirrored,) = finder.find(np.ascontiguousarray(image[:, ::-1]))
        assert {hand.handedness, mirrored.handedness} == {"Left", "Right"}, name
        flipped = np.column_stack([image.shape[1] - mirrored.points[:, 0], mirrored.points[:, 1]])
        assert np.linalg.norm(flipped - hand.points[:, :2], axis=1).mean() / box_diagonal(hand.points) < 0.03


def test_tracking_runs_the_palm_detector_only_when_a_hand_is_lost(finder, face_photos):
    hand = photo("open.jpg")
    face = np.asarray(Image.open(face_photos / "biden.jpg").convert("RGB").resize((hand.shape[1], hand.shape[0])))
    frames = list(finder.track([hand, hand, hand, face, hand], max_hands=1))
    # frame 3 loses the hand: the palm detector runs on it (and finds none), then again on frame 4
    assert [f.palm_detected for f in frames] == [True, False, False, True, True]
    assert [len(f.hands) for f in frames] == [1, 1, 1, 0, 1]
    # a tracked frame agrees with the detected one on the same pixels
    first, tracked = frames[0].hands[0].points, frames[2].hands[0].points
    assert np.linalg.norm(first[:, :2] - tracked[:, :2], axis=1).mean() / box_diagonal(first) < 0.03


def test_tracking_starts_again_when_the_frame_size_changes(finder):
    hand = photo("open.jpg")
    smaller = np.asarray(Image.fromarray(hand).resize((200, 150)))
    frames = list(finder.track([hand, smaller], max_hands=1))
    assert [f.palm_detected for f in frames] == [True, True]
