"""The palm detector's anchors, the rotated hand rect and the crop's mapping (pure maths)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from shared.hands.rect import RotatedRect, from_landmarks, from_palm, rect_iou, rotation_between
from shared.settings import MODELS_DIR
from shared.vision.geometry import invert_affine, warp
from shared.vision.ssd import ssd_anchors


@pytest.fixture(scope="module")
def palm_meta() -> dict:
    return json.loads((MODELS_DIR / "hand-detector" / "bundle.json").read_text())


def test_palm_anchors_are_mediapipes_2016(palm_meta):
    anchors = ssd_anchors(palm_meta["postprocessing"]["anchors"])
    assert anchors.shape == (2016, 4)
    # stride 8: a 24x24 grid with 2 anchors per cell (aspect 1 + the interpolated one), then
    # the three stride-16 layers share a 12x12 grid with 6 per cell; fixed_anchor_size: w = h = 1.
    assert np.allclose(anchors[:2], [[0.5 / 24, 0.5 / 24, 1, 1]] * 2)
    assert np.allclose(anchors[1151], [23.5 / 24, 23.5 / 24, 1, 1])
    assert np.allclose(anchors[1152:1158, :2], [[0.5 / 12, 0.5 / 12]] * 6)
    assert np.allclose(anchors[-1], [11.5 / 12, 11.5 / 12, 1, 1])
    assert np.all(anchors[:, 2:] == 1.0)


@pytest.mark.parametrize(
    ("end", "degrees"),
    [((0, -10), 0), ((10, 0), 90), ((-10, 0), -90), ((10, -10), 45), ((0, 10), -180)],
)
def test_rotation_turns_wrist_to_middle_finger_upright(end, degrees):
    assert math.degrees(rotation_between(np.zeros(2), np.asarray(end, float))) == pytest.approx(degrees)


def test_palm_rect_is_shifted_towards_the_fingers_squared_and_scaled():
    # A hand pointing right: wrist (100, 200), middle MCP (140, 200); palm box 40 wide, 20 high.
    keypoints = np.array([[100, 200], [0, 0], [140, 200]], float)
    rect = from_palm((100, 190, 40, 20), keypoints)
    assert rect.rotation == pytest.approx(math.pi / 2)
    hand = rect.transformed((2.6, 2.6), (0.0, -0.5), square_long=True)
    # shift_y -0.5 of the height (20) along the rect's up axis, which points right: +10 px in x.
    assert (hand.cx, hand.cy) == pytest.approx((130, 200))
    assert (hand.width, hand.height) == pytest.approx((104, 104))


def test_crop_mapping_sends_the_chip_to_the_rect_and_back():
    rect = RotatedRect(300, 200, 120, 120, math.radians(30))
    to_image = rect.chip_to_image(224)
    centre = to_image @ [112, 112, 1]
    assert centre == pytest.approx([300, 200])
    # the chip's top edge centre lies 60 px "up" the rect's axis, turned 30 degrees clockwise
    top = to_image @ [112, 0, 1]
    assert top == pytest.approx([300 + 60 * math.sin(math.radians(30)), 200 - 60 * math.cos(math.radians(30))])
    back = invert_affine(to_image)
    for point in ([0, 0], [224, 224], [17, 150]):
        assert back @ [*(to_image @ [*point, 1]), 1] == pytest.approx(point)


def test_warp_puts_an_image_point_where_the_inverse_mapping_says():
    image = np.zeros((400, 600, 3), np.uint8)
    image[247:253, 347:353] = 255  # a bright 6 px square centred on (350, 250)
    rect = RotatedRect(300, 200, 200, 200, math.radians(-60))
    chip = warp(image, rect.chip_to_image(224), 224)
    ys, xs = np.nonzero(chip[:, :, 0] > 128)
    found = np.array([xs.mean() + 0.5, ys.mean() + 0.5])
    expected = invert_affine(rect.chip_to_image(224)) @ [350, 250, 1]
    assert np.linalg.norm(found - expected) < 1.0


def _upright_hand() -> np.ndarray:
    """21 landmarks of an open hand pointing up (pixels): wrist at (0, 0), fingers above."""
    pts = np.zeros((21, 2))
    bases = {1: -30, 5: -15, 9: 0, 13: 15, 17: 30}
    for base, x in bases.items():
        for j in range(4):
            pts[base + j] = (x * (1 + 0.2 * j), -40 - 25 * j)
    return pts + np.array([200, 300])


def test_tracking_rect_of_an_upright_hand_is_unrotated_and_bounds_the_palm():
    pts = _upright_hand()
    rect = from_landmarks(pts)
    assert rect.rotation == pytest.approx(0, abs=1e-9)
    part = pts[[0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18]]
    assert rect.width == pytest.approx(np.ptp(part[:, 0])) and rect.height == pytest.approx(np.ptp(part[:, 1]))


def test_tracking_rect_turns_with_the_hand():
    pts = _upright_hand()
    turn = np.array([[0, -1], [1, 0]])  # 90 degrees clockwise on screen (y down)
    turned = (pts - [200, 300]) @ turn.T + [200, 300]
    a, b = from_landmarks(pts), from_landmarks(turned)
    assert b.rotation == pytest.approx(math.pi / 2)
    assert (b.width, b.height) == pytest.approx((a.width, a.height))
    centre = turn @ [a.cx - 200, a.cy - 300] + [200, 300]
    assert (b.cx, b.cy) == pytest.approx(tuple(centre))


def test_rect_iou_ignores_rotation():
    a = RotatedRect(0, 0, 10, 10, 0.0)
    assert rect_iou(a, RotatedRect(0, 0, 10, 10, 1.0)) == pytest.approx(1.0)
    assert rect_iou(a, RotatedRect(5, 0, 10, 10, 0.0)) == pytest.approx(50 / 150)
    assert rect_iou(a, RotatedRect(50, 0, 10, 10, 0.0)) == 0.0


def test_bounds_of_a_rotated_square():
    rect = RotatedRect(0, 0, 10, 10, math.pi / 4)
    _, _, w, h = rect.bounds()
    assert (w, h) == pytest.approx((10 * math.sqrt(2),) * 2)


def test_warp_of_a_real_image_replicates_the_border():
    image = np.asarray(Image.new("RGB", (50, 50), (10, 200, 30)))
    chip = warp(image, RotatedRect(0, 0, 40, 40, 0.3).chip_to_image(32), 32)
    assert (chip == [10, 200, 30]).all()  # half the rect is outside: the edge colour, not black
