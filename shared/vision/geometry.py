"""Image geometry in numpy + Pillow: letterboxing, crops, affine warps, box overlap.

Coordinates: image pixels, x right, y down, continuous (pixel (0, 0) spans [0, 1) x [0, 1),
its centre is (0.5, 0.5)); Pillow's affine transform uses the same convention.
Images are (H, W, 3) uint8 RGB arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

Box = tuple[float, float, float, float]  # (x, y, w, h): top-left corner and size, pixels


def check_image(image: np.ndarray) -> None:
    """ValueError unless `image` is an (H, W, 3) uint8 RGB array with pixels."""
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {got}")
    if min(image.shape[:2]) < 1:
        raise ValueError(f"image has no pixels: shape {image.shape}")


@dataclass(frozen=True)
class Letterbox:
    """Where the image sits inside a model's square input.

    Attributes: size (input side, px), offset (x, y) of the image's top-left corner in the
    input, scale (sx, sy) input px per image px (they differ by at most rounding).
    """

    size: int
    offset: tuple[int, int]
    scale: tuple[float, float]

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) points normalised to the input -> image pixels."""
        return (points * self.size - np.asarray(self.offset)) / np.asarray(self.scale)


def letterbox(image: np.ndarray, size: int, pad_value: int = 0) -> tuple[np.ndarray, Letterbox]:
    """Scale the longer side to `size`, keep the aspect ratio, centre, pad with pad_value.

    Returns the (size, size, 3) uint8 input and the mapping back to the image.
    Resizing first (not padding the full image to a square first) keeps memory small.
    """
    height, width = image.shape[:2]
    factor = size / max(height, width)
    new_w, new_h = max(1, round(width * factor)), max(1, round(height * factor))
    resized = Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=2.0)
    canvas = Image.new("RGB", (size, size), (pad_value,) * 3)
    offset = ((size - new_w) // 2, (size - new_h) // 2)
    canvas.paste(resized, offset)
    return np.asarray(canvas), Letterbox(size, offset, (new_w / width, new_h / height))


Fill = Literal["black", "edge", "reflect", "mean"]


def crop(image: np.ndarray, x0: int, y0: int, x1: int, y1: int, fill: Fill = "black") -> np.ndarray:
    """image[y0:y1, x0:x1] as a new (y1-y0, x1-x0, 3) array, without first copying the whole
    image into a PIL image. Where the box leaves the image: fill "black" (as PIL's crop; what
    the detector's letterbox expects), "edge" (the border pixels replicated), "reflect"
    (mirrored about the border pixels, numpy's "reflect", repeated when the box is wider) or
    "mean" (one flat colour: the mean of the box's part inside the image)."""
    height, width = image.shape[:2]
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if fill == "mean" and sx1 > sx0 and sy1 > sy0:
        inside = image[sy0:sy1, sx0:sx1]
        out = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
        out[...] = inside.reshape(-1, 3).mean(axis=0).round().astype(np.uint8)
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = inside
        return out
    if fill not in ("black", "mean") and sx1 > sx0 and sy1 > sy0:
        # Pad only the image near the box, never the whole photo: the part inside the box
        # plus what a reflection of each padded side reaches, so it mirrors the photo itself.
        ex0, ey0 = max(0, sx0 - (x1 - sx1)), max(0, sy0 - (y1 - sy1))
        ex1, ey1 = min(width, sx1 + (sx0 - x0)), min(height, sy1 + (sy0 - y0))
        pad = ((sy0 - y0, y1 - sy1), (sx0 - x0, x1 - sx1), (0, 0))
        padded = np.pad(image[ey0:ey1, ex0:ex1], pad, mode=_pad_mode(fill, ex1 - ex0, ey1 - ey0))
        top, left = sy0 - ey0, sx0 - ex0
        return np.ascontiguousarray(padded[top : top + y1 - y0, left : left + x1 - x0])
    out = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


def _pad_mode(fill: Fill, width: int, height: int) -> Literal["edge", "reflect"]:
    if fill not in ("edge", "reflect"):
        raise ValueError(f"fill must be black, edge or reflect, got {fill!r}")
    # numpy cannot reflect a single row or column: replicate it instead.
    return "edge" if fill == "edge" or min(width, height) < 2 else "reflect"


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes, in [0, 1]."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection)
    mapping src (N, 2) onto dst (N, 2), N >= 2 (Umeyama 1991). Returns a (2, 3) matrix M
    with dst ~ M @ [x, y, 1]."""
    src, dst = np.asarray(src, dtype=np.float64), np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need two (N, 2) arrays with N >= 2, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - mu_s, dst - mu_d
    u, sigma, vt = np.linalg.svd(d.T @ s / len(src))
    flip = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rotation = u @ flip @ vt
    variance = (s**2).sum() / len(src)
    if variance == 0:
        raise ValueError("source points all coincide: no transform fits")
    scale = float(np.trace(np.diag(sigma) @ flip)) / variance
    translation = mu_d - scale * rotation @ mu_s
    return np.hstack([scale * rotation, translation[:, None]])


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine transform."""
    linear = np.linalg.inv(matrix[:, :2])
    return np.hstack([linear, -linear @ matrix[:, 2:]])


def warp(image: np.ndarray, to_image: np.ndarray, size: int, fill: Fill = "edge") -> np.ndarray:
    """Sample a (size, size, 3) chip; to_image (2, 3) maps chip coordinates to the image's.
    Outside the image: `fill` as in `crop` (default "edge": the border replicated, so a face
    at the photo's edge is not cut against a black band the embedder never saw in training).

    Bilinear sampling alone aliases when the chip shrinks the source a lot, so (like dlib,
    which samples from an image pyramid level) the chip's footprint is first cropped and
    box-reduced by the whole factor k of image pixels per chip pixel.
    """
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], dtype=np.float64)
    footprint = corners @ to_image.T
    step = float(np.sqrt(abs(np.linalg.det(to_image[:, :2]))))
    k = max(1, int(step))
    x0, y0 = np.floor(footprint.min(axis=0)).astype(int) - k
    x1, y1 = np.ceil(footprint.max(axis=0)).astype(int) + k
    # Whole blocks of k pixels, so that region pixel i covers crop pixels [k*i, k*i + k).
    x1, y1 = x0 + k * -(-(x1 - x0) // k), y0 + k * -(-(y1 - y0) // k)
    region = Image.fromarray(crop(image, int(x0), int(y0), int(x1), int(y1), fill))
    if k > 1:
        region = region.reduce(k)
    local = to_image.copy()
    local[:, 2] -= (x0, y0)
    local /= k
    chip = region.transform((size, size), Image.Transform.AFFINE, tuple(local.ravel()), resample=Image.Resampling.BILINEAR)
    return np.asarray(chip)
