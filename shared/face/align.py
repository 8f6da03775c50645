"""Face alignment: the aligned "face chip" each embedder was trained on.

Two recipes, named by the embedder bundle's `preprocessing.crop`:
- "dlib_chip": the chip dlib's ResNet face embedder expects (below);
- "arcface": the 112 x 112 five-point template of InsightFace's ArcFace training data,
  which OpenCV's SFace shares (its `alignCrop` warps to the same points).

dlib's `get_face_chip_details(shape, size=150, padding=0.25)` fits a similarity
transform from a face's 68 landmarks to its mean-face template, and
`extract_image_chip` samples the chip bilinearly. MediaPipe gives 6 keypoints, not 68,
so the template here holds the mean-face positions of the 4 points both know (eye
centres, nose tip, mouth centre), derived from dlib's own template and padded exactly as
dlib pads it. Ears are left out: they are the least reliable MediaPipe points and dlib's
template has no ear.

Coordinates: image pixels, x right, y down, continuous (pixel (0, 0) spans [0, 1) x [0, 1),
its centre is (0.5, 0.5)); Pillow's affine transform uses the same convention.
"""

from __future__ import annotations

import functools

import numpy as np

from shared.face.detect import LEFT_EYE, MOUTH_CENTER, NOSE_TIP, RIGHT_EYE, Face
from shared.vision.geometry import Fill, check_image, invert_affine, similarity_transform, warp

# dlib's 68-point mean face, points 17..67 in [0, 1] (x right, y down), copied from
# get_face_chip_details() in dlib/image_transforms/interpolation.h (davisking/dlib,
# Boost Software License 1.0).
# fmt: off
DLIB_MEAN_FACE_X = (
    0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124,
    0.904991, 0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036,
    0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918,
    0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149,
    0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874,
    0.553364, 0.490127, 0.42689,
)
DLIB_MEAN_FACE_Y = (
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891,
    0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326,
    0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758, 0.179852, 0.231733,
    0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099,
    0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805,
    0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746,
    0.784792, 0.824182, 0.831803, 0.824182,
)
# fmt: on


def _mean_face(first: int, last: int) -> tuple[float, float]:
    """Mean of dlib's 68-point template over points first..last (inclusive, 68-point indices)."""
    xs, ys = DLIB_MEAN_FACE_X[first - 17 : last - 16], DLIB_MEAN_FACE_Y[first - 17 : last - 16]
    return float(np.mean(xs)), float(np.mean(ys))


# The MediaPipe keypoints used for alignment and their places in dlib's mean face. The
# subject's right eye is dlib's 36-41 (image left); the mouth centre is the mean of the
# inner lip (60-67), the gap between the lips that MediaPipe's mouth point marks.
ALIGN_KEYPOINTS = (RIGHT_EYE, LEFT_EYE, NOSE_TIP, MOUTH_CENTER)
MEAN_FACE_POINTS = np.array([_mean_face(36, 41), _mean_face(42, 47), _mean_face(30, 30), _mean_face(60, 67)])


def chip_template(size: int = 150, padding: float = 0.25) -> np.ndarray:
    """(4, 2) where ALIGN_KEYPOINTS land in a size x size chip, in dlib pixel-index
    coordinates (pixel centres at integers): (p + padding) / (2 * padding + 1) * size."""
    return (MEAN_FACE_POINTS + padding) / (2 * padding + 1) * size


# InsightFace's ArcFace template for a 112 x 112 chip (arcface_torch / face_align.py
# `arcface_dst`, MIT): the subject's right eye, left eye, nose tip, right and left mouth
# corners, in pixel-index coordinates. BlazeFace marks the mouth's centre, not its
# corners, so the fourth point here is the corners' midpoint.
ARCFACE_MOUTH = ((41.5493 + 70.7299) / 2, (92.3655 + 92.2041) / 2)
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], ARCFACE_MOUTH])
ARCFACE_SIZE = 112
# A face whose ArcFace chip lies beyond the photo's edge by more than this share is `tight`
# (a face-filling crop: an ID thumbnail, an avatar cut to the face). Its chip continues the
# photo with one flat colour, the mean of the photo under the chip ("mean"): the border
# replicated ("edge", 0.4.0) drew streaks, and the photo mirrored about its edge ("reflect",
# 0.5.0's first round) drew a second, upside-down pair of eyes above a crop cut at the
# brows; both made chips of different people alike. Face-filling crops of lfw-dev folds
# 1-4 and deepface, the far points refitted on each (docs/accuracy.md): crop0 98.09% ->
# 98.87%, crop0-gray 97.56% -> 98.49% (mirrored -> flat; edge: 97.75%, 97.35%), and with
# the mirror image's embedding (FaceEmbedder.embed) 99.03% and 98.49%.
TIGHT_OUTSIDE = 0.05
_GRID = (np.arange(8) + 0.5) * ARCFACE_SIZE / 8  # chip points sampled for outside_share


@functools.lru_cache(maxsize=16)
def outside_share(keypoints: tuple[tuple[float, float], ...], shape: tuple[int, ...]) -> float:
    """The share of the face's ArcFace chip (whatever the embedder's recipe) that lies
    beyond the photo of `shape` (H, W, ...), from the keypoints (image pixels). Remembered
    for the last few faces: the chip's fill and the quality verdict both ask (0.07 ms)."""
    src = np.array([keypoints[i] for i in ALIGN_KEYPOINTS])
    to_photo = invert_affine(similarity_transform(src, ARCFACE_TEMPLATE + 0.5))
    xs, ys = np.meshgrid(_GRID, _GRID)
    points = to_photo @ np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    height, width = shape[:2]
    inside = (points[0] >= 0) & (points[0] <= width) & (points[1] >= 0) & (points[1] <= height)
    return float(1.0 - inside.mean())


def is_tight(face: Face, shape: tuple[int, ...]) -> bool:
    """Whether `face` fills a photo of `shape` (H, W, ...): its chip lies beyond the photo by
    more than TIGHT_OUTSIDE."""
    return outside_share(face.keypoints, shape) > TIGHT_OUTSIDE


def fill_for(face: Face, shape: tuple[int, ...]) -> Fill:
    """How a chip continues past the photo's edge: "mean" (one flat colour) for a tight face,
    else "edge" (the border replicated)."""
    return "mean" if is_tight(face, shape) else "edge"


def arcface_chip(image: np.ndarray, face: Face, size: int = ARCFACE_SIZE, fill: Fill = "edge") -> np.ndarray:
    """The (size, size, 3) uint8 RGB chip of `face` on the ArcFace template (scaled from
    112 px when size differs), as OpenCV's FaceRecognizerSF.alignCrop cuts it for SFace,
    from BlazeFace's eyes, nose tip and mouth centre. Outside the image: `fill`."""
    check_image(image)
    src = np.array([face.keypoints[i] for i in ALIGN_KEYPOINTS])
    to_chip = similarity_transform(src, ARCFACE_TEMPLATE * (size / ARCFACE_SIZE) + 0.5)
    return warp(image, invert_affine(to_chip), size, fill)


def chip_for(image: np.ndarray, face: Face, crop: str, size: int, padding: float = 0.25, fill: Fill = "edge") -> np.ndarray:
    """The chip recipe an embedder bundle names (`preprocessing.crop`): "dlib_chip" or "arcface"."""
    if crop == "arcface":
        return arcface_chip(image, face, size, fill)
    if crop == "dlib_chip":
        return face_chip(image, face, size, padding, fill)
    raise ValueError(f"unknown face chip recipe {crop!r}")


def face_chip(image: np.ndarray, face: Face, size: int = 150, padding: float = 0.25, fill: Fill = "edge") -> np.ndarray:
    """The aligned (size, size, 3) uint8 chip of `face`, as dlib's
    extract_image_chip(img, get_face_chip_details(shape, size, padding)) would cut it.
    image: (H, W, 3) uint8 RGB; parts of the chip outside the image are filled as `fill`
    says ("edge": the photo's border replicated; "black" is dlib's own behaviour), so a
    face near the edge of a tight crop (an ID thumbnail) is not cut against black."""
    check_image(image)
    src = np.array([face.keypoints[i] for i in ALIGN_KEYPOINTS])
    to_chip = similarity_transform(src, chip_template(size, padding) + 0.5)
    return warp(image, invert_affine(to_chip), size, fill)
