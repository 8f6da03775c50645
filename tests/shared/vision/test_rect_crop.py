"""rect_input and RectCrop: the crop models' input sampling and projection back onto the image."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shared.vision.geometry import warp
from shared.vision.rect import RotatedRect
from shared.vision.rect_crop import rect_input


def test_the_input_is_the_warped_crop_in_0_to_1_as_float32():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    rect = RotatedRect(30.0, 20.0, 24.0, 24.0, 0.3)
    tensor, crop = rect_input(image, rect, 16)
    assert tensor.dtype == np.float32 and tensor.shape == (16, 16, 3) and crop.rect == rect and crop.size == 16
    np.testing.assert_array_equal(crop.to_image, rect.chip_to_image(16))
    np.testing.assert_array_equal(tensor, warp(image, crop.to_image, 16).astype(np.float32) * np.float32(1 / 255.0))
    called = []
    rect_input(image, rect, 16, lambda im, m, size: called.append(size) or np.zeros((size, size, 3), np.uint8))
    assert called == [16]
    with pytest.raises(ValueError):
        rect_input(image[:, :, 0], rect, 16)


def test_points_go_back_through_the_rect_and_z_scales_as_x():
    # A 20 px rect turned a quarter: the crop's x axis runs down the image.
    rect = RotatedRect(50.0, 30.0, 20.0, 20.0, math.pi / 2)
    _, crop = rect_input(np.zeros((60, 100, 3), np.uint8), rect, 10)
    centre_and_right = np.array([[5.0, 5.0], [10.0, 5.0]])
    np.testing.assert_allclose(crop.image_xy(centre_and_right), [[50.0, 30.0], [50.0, 40.0]], atol=1e-12)
    points = crop.landmarks(centre_and_right, np.array([1.0, -3.0]), normalize_z=4.0)
    np.testing.assert_allclose(points[:, 2], [1.0 * 20 / 10 / 4, -3.0 * 20 / 10 / 4])
    np.testing.assert_allclose(points[:, :2], crop.image_xy(centre_and_right))
