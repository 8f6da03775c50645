"""Model inputs sampled as MediaPipe's ImageToTensorCalculator does on the CPU
(mediapipe/calculators/tensor/image_to_tensor_converter_opencv.cc): cv::boxPoints of the
rect mapped onto the output's corners by cv::getPerspectiveTransform, then warpPerspective
with bilinear interpolation at each output pixel: no antialiasing, and OpenCV reads those
continuous corner coordinates as pixel indices (the half-pixel shift `_opencv` adds here).

The pose models are sensitive to it. On the 160 SubhiH photos at 640 px, against
MediaPipe's own (tools/measure/holistic_agreement.py): the antialiased resize of
shared/vision/geometry.py gave the same pose in 89% of the photos and 3.2% mean error (of
the box diagonal); bilinear without antialiasing, 93% and 2.2%; with OpenCV's index
convention too, 97% and 1.9%.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from shared.vision.geometry import Letterbox, crop


def letterbox_point(image: np.ndarray, size: int, pad_value: int = 0) -> tuple[np.ndarray, Letterbox]:
    """The image scaled into a (size, size) square keeping its aspect ratio, centred, the
    rest pad_value (keep_aspect_ratio, BORDER_ZERO); and the mapping back to the image."""
    height, width = image.shape[:2]
    factor = size / max(height, width)
    ox, oy = (size - width * factor) / 2, (size - height * factor) / 2
    inverse = _opencv(np.array([[1 / factor, 0.0, -ox / factor], [0.0, 1 / factor, -oy / factor]]))  # output -> input
    out = Image.fromarray(image).transform(
        (size, size), Image.Transform.AFFINE, tuple(inverse.ravel()), Image.Resampling.BILINEAR, fillcolor=(pad_value,) * 3
    )
    return np.asarray(out), Letterbox(size, (ox, oy), (factor, factor))  # sub-pixel offsets


def warp_point(image: np.ndarray, to_image: np.ndarray, size: int) -> np.ndarray:
    """A (size, size, 3) crop; to_image (2, 3) maps crop pixels to image pixels; outside
    the image the border is replicated (ImageToTensorCalculator's default on the CPU)."""
    to_image = _opencv(to_image)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], dtype=np.float64) @ to_image.T
    x0, y0 = np.floor(corners.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 1
    region = Image.fromarray(crop(image, int(x0), int(y0), int(x1), int(y1), "edge"))
    local = to_image.copy()
    local[:, 2] -= (x0, y0)
    return np.asarray(region.transform((size, size), Image.Transform.AFFINE, tuple(local.ravel()), resample=Image.Resampling.BILINEAR))


def _opencv(to_image: np.ndarray) -> np.ndarray:
    """The (2, 3) output -> input map as OpenCV applies it, in Pillow's convention: OpenCV
    maps output pixel index i to input index M(i); Pillow samples output pixel i's centre
    (i + 0.5) at input coordinate M'(i + 0.5), whose pixel index is that - 0.5. So
    M' = M with its translation moved by 0.5 - 0.5 * (the linear part applied to (1, 1))."""
    out = np.array(to_image, dtype=np.float64)
    out[:, 2] += 0.5 - 0.5 * out[:, :2].sum(axis=1)
    return out
