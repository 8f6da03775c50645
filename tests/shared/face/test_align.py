"""Face alignment: similarity fit and chip sampling on synthetic images, then real photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from shared.face.align import ALIGN_KEYPOINTS, ARCFACE_TEMPLATE, MEAN_FACE_POINTS, arcface_chip, chip_for, chip_template, face_chip
from shared.face.detect import Face, FaceDetector
from shared.runtime.bundle import load_bundle
from shared.settings import DEFAULT_FACE_DETECTOR


def similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a = np.radians(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx], [scale * np.sin(a), scale * np.cos(a), ty]])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def test_template_is_dlibs_mean_face():
    # Eye centres of dlib's 68-point mean face (points 36-41, 42-47), nose tip (30).
    np.testing.assert_allclose(MEAN_FACE_POINTS[:3], [[0.2254918, 0.2159903], [0.7547613, 0.2159903], [0.490127, 0.515625]], atol=1e-6)
    assert 0.78 < MEAN_FACE_POINTS[3, 1] < 0.84 and MEAN_FACE_POINTS[3, 0] == pytest.approx(0.490127, abs=1e-5)
    # dlib's padding: p -> (p + padding) / (2 * padding + 1) * size.
    np.testing.assert_allclose(chip_template(150, 0.0), MEAN_FACE_POINTS * 150)
    np.testing.assert_allclose(chip_template(150, 0.25)[0], (MEAN_FACE_POINTS[0] + 0.25) / 1.5 * 150)


def discs(shape: tuple[int, int], centres: np.ndarray, radius: float) -> np.ndarray:
    """Black RGB image with white discs; pixel centres at +0.5 (the library's convention)."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]] + 0.5
    image = np.zeros((*shape, 3), np.uint8)
    for cx, cy in centres:
        image[(xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2] = 255
    return image


def blob_centres(chip: np.ndarray, near: np.ndarray) -> np.ndarray:
    """Intensity-weighted centre (continuous coords) of the bright pixels nearest each point."""
    yy, xx = np.mgrid[0 : chip.shape[0], 0 : chip.shape[1]] + 0.5
    weight = chip[..., 0].astype(np.float64)
    nearest = np.argmin([(xx - x) ** 2 + (yy - y) ** 2 for x, y in near], axis=0)
    out = []
    for i in range(len(near)):
        w = weight * (nearest == i)
        out.append([(w * xx).sum() / w.sum(), (w * yy).sum() / w.sum()])
    return np.array(out)


@pytest.mark.parametrize("angle,scale", [(25, 2.6), (-10, 0.7), (0, 5.3)])
def test_chip_lands_the_keypoints_on_the_template(angle, scale):
    size, padding = 150, 0.25
    template = chip_template(size, padding) + 0.5  # continuous chip coordinates
    to_image = similarity(angle, scale, 0, 0)
    points = apply(to_image, template)
    points += 40 - points.min(axis=0) + scale * 60  # keep the whole chip footprint inside
    keypoints = np.zeros((6, 2))
    keypoints[list(ALIGN_KEYPOINTS)] = points
    extent = np.ceil(points.max(axis=0) + scale * 150).astype(int)
    image = discs((int(extent[1]), int(extent[0])), points, radius=3 * scale)
    face = Face((0.0, 0.0, 1.0, 1.0), 1.0, tuple(map(tuple, keypoints)))
    chip = face_chip(image, face, size, padding)
    assert chip.shape == (size, size, 3) and chip.dtype == np.uint8
    np.testing.assert_allclose(blob_centres(chip, template), template, atol=0.35)


def test_chip_past_the_photo_edge_replicates_the_border_not_black():
    # A face at the photo's top-left corner: its chip footprint reaches past the edge. The
    # chip continues the photo's border colour there (the old chip was black), so the
    # embedder never sees a black band it was not trained on.
    size, padding = 150, 0.25
    template = chip_template(size, padding) + 0.5
    points = template * 0.5  # half scale, anchored at the origin: the chip reaches to -x, -y
    points -= (20, 20)
    keypoints = np.zeros((6, 2))
    keypoints[list(ALIGN_KEYPOINTS)] = points
    image = np.full((120, 120, 3), 180, np.uint8)
    face = Face((0.0, 0.0, 1.0, 1.0), 1.0, tuple(map(tuple, keypoints)))
    chip = face_chip(image, face, size, padding)
    assert chip.min() == 180, "the chip's part outside the photo is not the photo's border colour"
    black = face_chip(image, face, size, padding, fill="black")
    assert black[:10, :10].max() == 0 and black[-1, -1].min() == 180


@pytest.fixture(scope="module")
def short() -> FaceDetector:
    return FaceDetector(load_bundle(DEFAULT_FACE_DETECTOR, task="face-detection"))


@pytest.mark.parametrize("name", ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"])
def test_real_chip_puts_the_face_on_the_template(short, face_photos, name):
    with Image.open(face_photos / name) as photo:
        image = np.asarray(photo.convert("RGB"))
    (face,) = short.detect(image)
    chip = face_chip(image, short.refine(image, face))
    # The detector, run on the chip, finds the face's features where the template put them,
    # up to the 4-point fit's residual (pose, expression) and the detector's own noise.
    # Measured on 66 real photos: per point median 2.4-3.9 px, max 10.6 px (biden's nose);
    # the eyes are 53 px apart in the chip, so a wrong alignment is off by tens of pixels.
    (again,) = short.detect(chip)
    found = np.array([again.keypoints[i] for i in ALIGN_KEYPOINTS])
    errors = np.linalg.norm(found - (chip_template() + 0.5), axis=1)
    assert errors.mean() < 6.0 and errors.max() < 12.0, f"{name}: features {np.round(errors, 1)} px off"


# ---- the ArcFace chip (SFace) --------------------------------------------------------------
def test_arcface_template_is_insightfaces_with_the_mouth_corners_averaged():
    np.testing.assert_allclose(ARCFACE_TEMPLATE[:3], [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366]])
    np.testing.assert_allclose(ARCFACE_TEMPLATE[3], [(41.5493 + 70.7299) / 2, (92.3655 + 92.2041) / 2])


@pytest.mark.parametrize("angle,scale", [(20, 3.0), (-35, 1.4), (0, 0.6)])
def test_arcface_chip_lands_the_keypoints_on_the_template(angle, scale):
    template = ARCFACE_TEMPLATE + 0.5  # continuous chip coordinates
    points = apply(similarity(angle, scale, 0, 0), template)
    points += 40 - points.min(axis=0) + scale * 60
    keypoints = np.zeros((6, 2))
    keypoints[list(ALIGN_KEYPOINTS)] = points
    extent = np.ceil(points.max(axis=0) + scale * 112).astype(int)
    image = discs((int(extent[1]), int(extent[0])), points, radius=3 * scale)
    face = Face((0.0, 0.0, 1.0, 1.0), 1.0, tuple(map(tuple, keypoints)))
    chip = arcface_chip(image, face)
    assert chip.shape == (112, 112, 3) and chip.dtype == np.uint8
    np.testing.assert_allclose(blob_centres(chip, template), template, atol=0.4)
    assert np.array_equal(chip_for(image, face, "arcface", 112), chip)
    assert np.array_equal(chip_for(image, face, "dlib_chip", 150, 0.25), face_chip(image, face, 150, 0.25))
    with pytest.raises(ValueError, match="unknown face chip recipe"):
        chip_for(image, face, "mtcnn", 112)


@pytest.mark.parametrize("name", ["obama.jpg", "obama2.jpg", "biden.jpg"])
def test_real_arcface_chip_puts_the_face_on_the_template(short, face_photos, name):
    with Image.open(face_photos / name) as photo:
        image = np.asarray(photo.convert("RGB"))
    (face,) = short.detect(image)
    chip = arcface_chip(image, short.refine(image, face))
    # The ArcFace chip is tighter than dlib's (eyes 35 px apart in 112 px), so the detector
    # needs the chip padded to see the whole face; it then finds the eyes and nose where the
    # template put them (a wrong fit is off by tens of pixels).
    pad = 56
    padded = np.pad(chip, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    (again,) = short.detect(padded)
    found = np.array([again.keypoints[i] for i in ALIGN_KEYPOINTS[:3]]) - pad
    errors = np.linalg.norm(found - (ARCFACE_TEMPLATE[:3] + 0.5), axis=1)
    assert errors.max() < 6.0, f"{name}: features {np.round(errors, 1)} px off"
