"""Image geometry: similarity fits, affine inverse, crops and letterboxing (synthetic arrays)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from shared.vision.geometry import box_iou, crop, invert_affine, letterbox, similarity_transform, warp


def similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a = np.radians(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx], [scale * np.sin(a), scale * np.cos(a), ty]])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


@pytest.mark.parametrize("angle,scale,tx,ty", [(0, 1, 0, 0), (25, 2.5, -40, 310.5), (-170, 0.3, 12, -7)])
def test_similarity_transform_recovers_a_known_transform(angle, scale, tx, ty):
    rng = np.random.default_rng(0)
    src = rng.uniform(-100, 300, size=(5, 2))
    truth = similarity(angle, scale, tx, ty)
    np.testing.assert_allclose(similarity_transform(src, apply(truth, src)), truth, atol=1e-9)
    np.testing.assert_allclose(apply(invert_affine(truth), apply(truth, src)), src, atol=1e-9)


def test_similarity_transform_never_mirrors():
    src = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    mirrored = src * [-1, 1]
    matrix = similarity_transform(src, mirrored)
    assert np.linalg.det(matrix[:, :2]) > 0


def test_similarity_transform_refuses_degenerate_points():
    with pytest.raises(ValueError):
        similarity_transform(np.ones((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError):
        similarity_transform(np.zeros((1, 2)), np.zeros((1, 2)))


def test_letterbox_centres_the_image_and_maps_back():
    image = np.full((100, 200, 3), 255, np.uint8)
    pixels, box = letterbox(image, 128)
    assert pixels.shape == (128, 128, 3)
    assert box.offset == (0, 32) and box.scale == (0.64, 0.64)
    assert pixels[:32].max() == 0 and pixels[96:].max() == 0 and pixels[32:96].min() == 255
    np.testing.assert_allclose(box.to_image(np.array([[0.0, 0.25], [1.0, 0.75]])), [[0, 0], [200, 100]])


def test_crop_matches_pil_crop_inside_and_outside_the_image():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    for box in [(5, 5, 25, 30), (-10, -5, 20, 20), (50, 30, 80, 55), (-5, -5, 70, 50), (70, 50, 90, 60)]:
        expected = np.asarray(Image.fromarray(image).crop(box))
        assert np.array_equal(crop(image, *box), expected), box


@pytest.mark.parametrize("fill", ["edge", "reflect"])
def test_crop_fills_outside_the_image_as_numpy_pads(fill):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    for box in [(5, 5, 25, 30), (-10, -5, 20, 20), (50, 30, 80, 55), (-5, -5, 70, 50)]:
        x0, y0, x1, y1 = box
        pad = ((max(0, -y0), max(0, y1 - 40)), (max(0, -x0), max(0, x1 - 60)), (0, 0))
        expected = np.pad(image, pad, mode=fill)[y0 + pad[0][0] : y1 + pad[0][0], x0 + pad[1][0] : x1 + pad[1][0]]
        out = crop(image, *box, fill=fill)
        assert out.shape == (y1 - y0, x1 - x0, 3) and np.array_equal(out, expected), box
    # Black stays the default (the detector's letterbox contract), and a box wholly outside stays black.
    assert not crop(image, -10, -10, 5, 5)[:10].any()
    assert not crop(image, 70, 50, 90, 60, fill=fill).any()


def test_crop_mean_fills_outside_the_image_with_one_flat_colour():
    """A tight face's chip (align.fill_for): past the photo's edge one colour, the mean of
    the box's part inside the photo, nothing mirrored or streaked from the face."""
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, :30] = (200, 100, 0)  # left half orange, right half black
    out = crop(image, -10, -5, 40, 20, fill="mean")  # inside: columns 0..39, 30 orange of 40
    assert np.array_equal(out[5:, 10:], image[:20, :40])
    flat = np.array([150, 75, 0], np.uint8)
    assert (out[:5] == flat).all() and (out[:, :10] == flat).all()
    assert not crop(image, 70, 50, 90, 60, fill="mean").any()  # wholly outside: black


def test_crop_refuses_an_unknown_fill():
    with pytest.raises(ValueError, match="fill"):
        crop(np.zeros((4, 4, 3), np.uint8), -1, -1, 3, 3, fill="blue")  # type: ignore[arg-type]


def test_warp_replicates_the_border_past_the_edge_by_default():
    # A chip twice the image's size centred on it: the image's grey border rows/columns
    # continue to the chip's edges, where the old black fill left a black band.
    image = np.full((20, 20, 3), 200, np.uint8)
    image[5:15, 5:15] = 50
    to_image = np.array([[0.5, 0.0, -10.0], [0.0, 0.5, -10.0]])  # chip (0..80) -> image (-10..30)
    chip = warp(image, to_image, 80)
    assert chip[:10].min() == 200 and chip[-10:, :].min() == 200 and chip[:, :10].min() == 200
    assert chip[40, 40].max() == 50
    black = warp(image, to_image, 80, fill="black")
    assert black[:10].max() == 0 and black[40, 40].max() == 50


def test_box_iou_of_known_boxes():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0
