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

from shared.vision.geometry import Letterbox


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
    the image the border is replicated (ImageToTensorCalculator's default on the CPU).

    Sampled here in numpy, pixel for pixel what Pillow's bilinear affine transform gives
    on the image padded by replication around the crop's footprint (Geometry.c: the same
    double arithmetic, neighbours clamped to the padded region, the value truncated), but
    without building that padded region: a pose rect reaches far beyond a close-up frame
    (a 5 MP region for a 640 x 360 frame: 33 MB of copies at once, and ~10 ms of CPU).
    Indices into the padded region are clamped to the image instead."""
    to_image = _opencv(to_image)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], dtype=np.float64) @ to_image.T
    x0, y0 = (int(v) for v in np.floor(corners.min(axis=0)) - 1)
    x1, y1 = (int(v) for v in np.ceil(corners.max(axis=0)) + 1)
    height, width = image.shape[:2]
    out = np.zeros((size, size, 3), np.uint8)
    if min(x1, width) <= max(x0, 0) or min(y1, height) <= max(y0, 0):
        return out  # the padded region would hold no image pixel: black, as geometry.crop gives
    local = to_image - np.array([[0.0, 0.0, x0], [0.0, 0.0, y0]])
    flat = image.reshape(-1, 3)
    centres = np.arange(size, dtype=np.float64) + 0.5
    for top in range(0, size, ROWS):
        rows = centres[top : top + ROWS, None]
        out[top : top + ROWS] = _bilinear(flat, width, height, (x0, y0, x1 - x0, y1 - y0), local, centres[None, :], rows)
    return out


ROWS = 8  # output rows sampled at once: bounds the float64 temporaries (~2 MB)


def _bilinear(
    flat: np.ndarray, width: int, height: int, region: tuple[int, int, int, int], a: np.ndarray, cols: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """Pillow's bilinear_filter32RGB at the output pixel centres (cols, rows) mapped by `a`
    into a region (x0, y0, w, h) of the image replicated at its borders (the region meets
    the image, so clamping to the region, then to the image, is one clamp)."""
    x0, y0, rw, rh = region
    xin = a[0, 0] * cols + a[0, 1] * rows + a[0, 2]
    yin = a[1, 0] * cols + a[1, 1] * rows + a[1, 2]
    outside = (xin < 0) | (xin >= rw) | (yin < 0) | (yin >= rh)
    xin -= 0.5
    yin -= 0.5
    xf, yf = np.floor(xin), np.floor(yin)
    dx, dy = (xin - xf)[..., None], (yin - yf)[..., None]
    xi, yi = xf.astype(np.intp) + x0, yf.astype(np.intp) + y0
    low_x, high_x, low_y, high_y = max(x0, 0), min(x0 + rw, width) - 1, max(y0, 0), min(y0 + rh, height) - 1
    left, right = np.clip(xi, low_x, high_x), np.clip(xi + 1, low_x, high_x)
    upper, lower = np.clip(yi, low_y, high_y) * width, np.clip(yi + 1, low_y, high_y) * width
    p = flat[np.stack([upper + left, upper + right, lower + left, lower + right])].astype(np.float64)
    v1 = p[0] + (p[1] - p[0]) * dx
    v2 = p[2] + (p[3] - p[2]) * dx
    chunk = (v1 + (v2 - v1) * dy).astype(np.uint8)
    chunk[outside] = 0
    return chunk


def _opencv(to_image: np.ndarray) -> np.ndarray:
    """The (2, 3) output -> input map as OpenCV applies it, in Pillow's convention: OpenCV
    maps output pixel index i to input index M(i); Pillow samples output pixel i's centre
    (i + 0.5) at input coordinate M'(i + 0.5), whose pixel index is that - 0.5. So
    M' = M with its translation moved by 0.5 - 0.5 * (the linear part applied to (1, 1))."""
    out = np.array(to_image, dtype=np.float64)
    out[:, 2] += 0.5 - 0.5 * out[:, :2].sum(axis=1)
    return out
