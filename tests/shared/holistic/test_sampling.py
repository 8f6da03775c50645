"""The pose crop (holistic/sampling.py: warp_point) is pixel for pixel what Pillow's bilinear
affine transform gives on the image padded by replication around the crop's footprint (how
it was sampled before, building that padded region: up to 5 MP for a close-up frame)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from shared.holistic.sampling import _opencv, warp_point
from shared.vision.geometry import crop
from shared.vision.rect import RotatedRect


def padded_pillow(image: np.ndarray, to_image: np.ndarray, size: int) -> np.ndarray:
    """The reference: the footprint cropped with the border replicated, then Pillow's transform."""
    to_image = _opencv(to_image)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], dtype=np.float64) @ to_image.T
    x0, y0 = np.floor(corners.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 1
    region = Image.fromarray(crop(image, int(x0), int(y0), int(x1), int(y1), "edge"))
    local = to_image.copy()
    local[:, 2] -= (x0, y0)
    return np.asarray(region.transform((size, size), Image.Transform.AFFINE, tuple(local.ravel()), resample=Image.Resampling.BILINEAR))


@pytest.mark.parametrize("seed", range(4))
def test_the_pose_crop_is_pillows_on_the_padded_image(seed):
    rng = np.random.default_rng(seed)
    for i in range(50):
        height, width = (360, 640) if i % 3 else (int(rng.integers(1, 400)), int(rng.integers(1, 400)))
        image = rng.integers(0, 256, (height, width, 3), np.uint8)
        side = float(rng.uniform(2, 2500))  # a hand's size up to a pose rect far beyond the frame
        cx, cy, turn = float(rng.uniform(-300, 900)), float(rng.uniform(-300, 700)), float(rng.uniform(-4, 4))
        rect = RotatedRect(cx, cy, side, side * float(rng.uniform(0.5, 1.5)), turn)
        to_image = rect.chip_to_image(256)
        assert np.array_equal(warp_point(image, to_image, 256), padded_pillow(image, to_image, 256)), (i, height, width, rect)


def test_a_crop_wholly_outside_the_image_is_black():
    image = np.full((10, 10, 3), 200, np.uint8)
    out = warp_point(image, RotatedRect(500, 500, 20, 20, 0.3).chip_to_image(32), 32)
    assert out.shape == (32, 32, 3) and not out.any()
