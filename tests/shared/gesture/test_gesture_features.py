"""Feature derivation from raw landmarks reproduces the training data exactly; the frame
fitting and missing-value rules do what the bundle says (pure maths on small arrays)."""

from __future__ import annotations

import numpy as np
import pytest

from shared.errors import BadRequest, Unprocessable
from shared.gesture import features as ft
from shared.gesture.contract import FrameFit, LandmarkRecipe, Missing, Normalization

W, H = 960, 540
HAND = LandmarkRecipe("hand_keypoints")
FINGER = LandmarkRecipe("fingertip_history", landmark=8)


def _rows(path):
    data = np.loadtxt(path, delimiter=",")
    return data[:, 0].astype(int), data[:, 1:]


def _scale_of(row: np.ndarray) -> int:
    """keypoint.csv rows are integer pixel offsets divided by their largest absolute value."""
    return next(m for m in range(1, 4000) if np.abs(row * m - np.round(row * m)).max() < 1e-6)


def _landmarks_from_pixels(px: np.ndarray) -> np.ndarray:
    """Integer pixels -> MediaPipe normalised coordinates that map back to those pixels."""
    return (px + 0.5) / np.array([W, H])


def _placed(offsets: np.ndarray) -> np.ndarray | None:
    """Put pixel offsets (relative to a base point) somewhere inside the 960x540 frame."""
    low, high = offsets.min(axis=0), offsets.max(axis=0)
    if np.any(high - low > [W - 1, H - 1]):
        return None
    return offsets - low + ((np.array([W - 1, H - 1]) - (high - low)) // 2)


def test_hand_keypoints_reproduce_keypoint_csv(gesture_data):
    _, rows = _rows(gesture_data / "keypoint.csv")
    checked = 0
    for row in rows[::7]:
        px = _placed(np.round(row * _scale_of(row)).reshape(21, 2))
        assert px is not None
        got = ft.hand_keypoints(_landmarks_from_pixels(px)[None], HAND, (W, H))[0]
        np.testing.assert_allclose(got, row, atol=1e-9)
        checked += 1
    assert checked > 600


def test_fingertip_history_reproduces_point_history_csv(gesture_data):
    _, rows = _rows(gesture_data / "point_history.csv")
    checked = 0
    for row in rows[::5]:
        offsets = np.round(row.reshape(16, 2) * [W, H])
        px = _placed(offsets)
        if px is None:  # a few rows jump across the whole frame (the recorder's (0, 0) fill)
            continue
        hands = np.full((16, 21, 2), 0.5)
        hands[:, 8] = _landmarks_from_pixels(px)
        got = ft.fingertip_history(hands, FINGER, (W, H))
        np.testing.assert_allclose(got.reshape(-1), row, atol=1e-8)
        checked += 1
    assert checked > 1000


def test_pixel_rounding_truncates_and_caps_like_the_recorder():
    hand = np.full((1, 21, 2), 0.25)
    hand[0, 1] = [1.2, -0.0004]  # off the right edge; a hair above the top
    px = ft._pixels(hand, HAND, (W, H))
    assert px[0, 1].tolist() == [W - 1, 0.0]  # min(int(1.2 * 960), 959), int(-0.216) == 0
    assert px[0, 0].tolist() == [240.0, 135.0]


def test_degenerate_and_missing_hands_give_nan_rows():
    points = np.full((2, 21, 2), 0.3)
    points[1] = np.nan
    assert np.isnan(ft.hand_keypoints(points, HAND, (W, H))).all()


def test_fingertip_history_starts_at_the_first_present_frame():
    hands = np.full((3, 21, 2), np.nan)
    hands[1:, 8] = [[0.5, 0.5], [0.6, 0.5]]
    got = ft.fingertip_history(hands, FINGER, (W, H))
    assert np.isnan(got[0]).all()
    np.testing.assert_allclose(got[1:], [[0, 0], [96 / W, 0]])


def test_fill_missing_previous_carries_forward_and_back():
    x = np.array([[np.nan, 1.0], [2.0, np.nan], [np.nan, np.nan], [4.0, 5.0]])
    np.testing.assert_array_equal(ft.fill_missing(x, Missing("previous")), [[2, 1], [2, 1], [2, 1], [4, 5]])


def test_fill_missing_fill_and_refuse():
    x = np.array([[np.nan, 1.0]])
    assert np.isnan(ft.fill_missing(x, Missing("fill", 7.0))[0, 0])  # filled later, after fitting
    np.testing.assert_array_equal(ft.fill_values(x, 7.0), [[7.0, 1.0]])
    with pytest.raises(Unprocessable):
        ft.fill_missing(x, Missing("refuse"))


def _fit(n: int, frames: int, fit: FrameFit, pad_value: float = -1.0) -> np.ndarray:
    plan = ft.plan_fit(n, frames, fit)
    return ft.set_pads(ft.apply_fit(np.arange(n, dtype=float)[:, None], plan), plan, pad_value).ravel()


def test_pad_trim_keeps_the_most_recent_frames():
    assert _fit(5, 3, FrameFit()).tolist() == [2, 3, 4]
    assert _fit(5, 3, FrameFit(keep="first")).tolist() == [0, 1, 2]
    assert _fit(2, 4, FrameFit()).tolist() == [0, 0, 0, 1]  # edge pad before the real frames
    assert _fit(2, 4, FrameFit(keep="first", pad="value")).tolist() == [0, 1, -1, -1]
    assert _fit(2, 4, FrameFit(pad="value")).tolist() == [-1, -1, 0, 1]
    assert ft.plan_fit(5, 3, FrameFit()).used == 3 and ft.plan_fit(2, 4, FrameFit()).used == 2


def test_resample_interpolates_linearly_in_time():
    assert _fit(5, 3, FrameFit(method="resample")).tolist() == [0, 2, 4]
    np.testing.assert_allclose(_fit(3, 5, FrameFit(method="resample")), [0, 0.5, 1, 1.5, 2])
    assert _fit(4, 1, FrameFit(method="resample")).tolist() == [3]  # one frame: the latest


def test_resample_takes_the_present_side_of_a_gap():
    x = np.array([[0.0], [np.nan], [4.0]])
    plan = ft.plan_fit(3, 5, FrameFit(method="resample"))
    np.testing.assert_allclose(ft.apply_fit(x, plan).ravel(), [0, 0, 4, 4, 4])


def test_exact_refuses_other_counts():
    with pytest.raises(BadRequest, match="exactly 3 frames, got 2"):
        ft.plan_fit(2, 3, FrameFit(method="exact"))


def test_normalize_per_frame_and_per_position():
    x = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    per_frame = Normalization("standard", np.array([0.5, 0.25], np.float32), np.array([-1, 0], np.float32))
    np.testing.assert_allclose(ft.normalize(x, per_frame), [[-0.5, 0.5], [0.5, 1.0]])
    per_pos = Normalization("minmax", np.array([1, 1, 2, 2], np.float32), np.array([0, 1, 0, 1], np.float32))
    np.testing.assert_allclose(ft.normalize(x, per_pos), [[1, 3], [6, 9]])
