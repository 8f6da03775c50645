"""Request values -> arrays: strict JSON numbers, clear errors, NaN for missing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shared.errors import BadRequest, PayloadTooLarge, Unprocessable
from shared.gesture.parse import parse_features, parse_image_size, parse_landmarks, parse_top_k

HAND = [[0.5, 0.5]] * 21


def test_features_parse_with_null_and_nan_as_missing():
    x = parse_features([[1, 2.5], None, [None, math.nan]], 2, 10)
    assert x.shape == (3, 2) and x[0].tolist() == [1.0, 2.5] and np.isnan(x[1:]).all()


@pytest.mark.parametrize(
    "value,match",
    [
        ([[1, "2"]], "str"),
        ([[1, True]], "bool"),
        ([[1, [2]]], "list"),
        ([[1, {}]], "dict"),
        ([[1, 2, 3]], "3 values"),
        ([[1, math.inf]], "infinite"),
        ([[1, 10**400]], "too large"),
        ("1,2", "list of frames"),
        ([7], "list of 2 numbers"),
    ],
)
def test_features_refuse_non_numbers_and_wrong_shapes(value, match):
    with pytest.raises(BadRequest, match=match):
        parse_features(value, 2, 10)


def test_frame_count_limits():
    with pytest.raises(Unprocessable):
        parse_features([], 2, 10)
    with pytest.raises(PayloadTooLarge):
        parse_features([[0, 0]] * 11, 2, 10)
    with pytest.raises(PayloadTooLarge):
        parse_landmarks([HAND] * 11, 10)


def test_landmarks_take_lists_and_mediapipe_objects():
    objects = [{"x": 0.25, "y": 0.75, "z": -0.1, "visibility": 0.9}] * 21
    x = parse_landmarks([HAND, objects, [[0.1, 0.2, 0.3]] * 21], 10)
    assert x.shape == (3, 21, 2) and x[1, 0].tolist() == [0.25, 0.75] and x[2, 0].tolist() == [0.1, 0.2]


def test_a_landmark_frame_with_any_missing_coordinate_is_missing_as_a_whole():
    x = parse_landmarks([None, [[None, 0.5], *HAND[1:]], HAND], 10)
    assert np.isnan(x[:2]).all() and not np.isnan(x[2]).any()


@pytest.mark.parametrize("frame", [HAND[:20], [[0.5]] * 21, [{"x": 0.5}] * 21, [{"x": 1, "y": 2, "w": 3}] * 21, "hand", [["a", 1]] * 21])
def test_landmarks_refuse_malformed_frames(frame):
    with pytest.raises(BadRequest):
        parse_landmarks([frame], 10)


def test_top_k_and_image_size():
    assert parse_top_k(2, 4) == 2
    for bad in (0, 5, True, 1.0, "2", None):
        with pytest.raises(BadRequest):
            parse_top_k(bad, 4)
    assert parse_image_size([640, 480.0]) == (640, 480)
    for bad in ([640], [640, 0], [640.5, 480], [True, 480], "640x480", [math.inf, 1]):
        with pytest.raises(BadRequest):
            parse_image_size(bad)
