"""A crop model's way in and out: a rotated rect sampled into the model's square input, the
model's points projected back onto the image.

The hand, face and iris landmark models, the pose landmark model and the hand re-crop model
all read one crop this way: ImageToTensorCalculator (the rect sampled into size x size,
border replicated, values 0..1 as float32) on the way in, LandmarkProjectionCalculator (crop
pixels through the rect's affine onto the image; z scaled by the rect's width as x is) on the
way out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from shared.vision.geometry import check_image, warp
from shared.vision.rect import RotatedRect

Sampler = Callable[[np.ndarray, np.ndarray, int], np.ndarray]  # (image, to_image, size) -> (size, size, 3) uint8


@dataclass(frozen=True)
class RectCrop:
    """Where a crop came from. Attributes: rect (image pixels), size (the crop's side,
    pixels), to_image: (2, 3) affine mapping the crop's pixels onto the image's."""

    rect: RotatedRect
    size: int
    to_image: np.ndarray

    def image_xy(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) crop pixels -> (N, 2) image pixels."""
        return xy @ self.to_image[:, :2].T + self.to_image[:, 2]

    def landmarks(self, xy: np.ndarray, z: np.ndarray, normalize_z: float = 1.0) -> np.ndarray:
        """(N, 3) image pixels from crop pixels: x, y through the affine; z (N,) in crop
        pixels, scaled by the rect's width as x is (TensorsToLandmarks' z / size / normalize_z,
        then LandmarkProjection's * rect width)."""
        return np.column_stack([self.image_xy(xy), z * self.rect.width / self.size / normalize_z])


def rect_input(image: np.ndarray, rect: RotatedRect, size: int, sample: Sampler = warp) -> tuple[np.ndarray, RectCrop]:
    """The (size, size, 3) float32 input in 0..1 sampled from `rect` of `image` (pixels) by
    `sample` (default: geometry.warp, border replicated), and the RectCrop to project the
    model's points back with."""
    check_image(image)
    crop = RectCrop(rect, size, rect.chip_to_image(size))
    return sample(image, crop.to_image, size).astype(np.float32) * np.float32(1 / 255.0), crop
