"""Face detection: SSD maths on synthetic arrays, then the real BlazeFace bundles on real photos."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from shared.face.detect import LEFT_EYE, MOUTH_CENTER, NOSE_TIP, RIGHT_EYE, Face, FaceDetector, FaceFinder, selection_order
from shared.runtime.bundle import load_bundle
from shared.runtime.lazy import Lazy
from shared.settings import DEFAULT_FACE_DETECTOR, DEFAULT_FACE_DETECTOR_FALLBACK
from shared.vision.geometry import box_iou
from shared.vision.ssd import decode, sigmoid_scores, ssd_anchors, weighted_nms


@pytest.fixture(scope="module")
def short() -> FaceDetector:
    return FaceDetector(load_bundle(DEFAULT_FACE_DETECTOR, task="face-detection"))


@pytest.fixture(scope="module")
def full() -> FaceDetector:
    return FaceDetector(load_bundle(DEFAULT_FACE_DETECTOR_FALLBACK, task="face-detection"))


def rgb(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


# ---- anchors, decoding, NMS (pure maths) ------------------------------------------------


def test_short_range_anchors_match_mediapipe(short):
    anchors = ssd_anchors(short.bundle.meta["postprocessing"]["anchors"])
    assert anchors.shape == (896, 4)
    # Stride 8: a 16x16 grid with 2 anchors per cell; strides 16 x3: an 8x8 grid with 6.
    np.testing.assert_allclose(anchors[0], [0.5 / 16, 0.5 / 16, 1, 1])
    np.testing.assert_allclose(anchors[1], anchors[0])
    np.testing.assert_allclose(anchors[2], [1.5 / 16, 0.5 / 16, 1, 1])
    np.testing.assert_allclose(anchors[511], [15.5 / 16, 15.5 / 16, 1, 1])
    np.testing.assert_allclose(anchors[512], [0.5 / 8, 0.5 / 8, 1, 1])
    np.testing.assert_allclose(anchors[-1], [7.5 / 8, 7.5 / 8, 1, 1])


def test_full_range_anchors_match_mediapipe(full):
    anchors = ssd_anchors(full.bundle.meta["postprocessing"]["anchors"])
    assert anchors.shape == (2304, 4)  # stride 4 on 192: 48x48 cells, one anchor each
    np.testing.assert_allclose(anchors[0], [0.5 / 48, 0.5 / 48, 1, 1])
    np.testing.assert_allclose(anchors[1], [1.5 / 48, 0.5 / 48, 1, 1])
    np.testing.assert_allclose(anchors[-1], [47.5 / 48, 47.5 / 48, 1, 1])


def test_anchor_sizes_follow_scales_when_not_fixed(short):
    options = {**short.bundle.meta["postprocessing"]["anchors"], "fixed_anchor_size": False}
    anchors = ssd_anchors(options)
    lo, hi = options["min_scale"], options["max_scale"]
    second = lo + (hi - lo) / 3  # scale of layer 1 of 4
    np.testing.assert_allclose(anchors[0, 2:], [lo, lo], rtol=1e-6)  # aspect ratio 1
    np.testing.assert_allclose(anchors[1, 2:], [np.sqrt(lo * second)] * 2, rtol=1e-6)  # interpolated


def test_decode_places_box_and_keypoints_on_the_anchor(short):
    options = short.bundle.meta["postprocessing"]["decoding"]
    anchors = ssd_anchors(short.bundle.meta["postprocessing"]["anchors"])
    raw = np.zeros((896, 16), np.float32)
    scores = np.full((896, 1), -10.0, np.float32)
    i = 600
    raw[i, :4] = [6.4, -12.8, 32.0, 64.0]  # centre +0.05, -0.1; w 0.25, h 0.5 (of 128 px)
    raw[i, 4:6] = [-12.8, -12.8]  # first keypoint at anchor - 0.1
    scores[i] = 2.0
    boxes, probs = decode(raw, scores, anchors, options)
    cx, cy = anchors[i, 0] + 0.05, anchors[i, 1] - 0.1
    np.testing.assert_allclose(boxes[i, 0], [cx - 0.125, cy - 0.25], atol=1e-6)
    np.testing.assert_allclose(boxes[i, 1], [cx + 0.125, cy + 0.25], atol=1e-6)
    np.testing.assert_allclose(boxes[i, 2], anchors[i, :2] - 0.1, atol=1e-6)
    np.testing.assert_allclose(boxes[i, 3], anchors[i, :2], atol=1e-6)
    assert probs[i] == pytest.approx(1 / (1 + np.exp(-2.0)))
    assert probs[0] == pytest.approx(1 / (1 + np.exp(10.0)))


def test_sigmoid_clips_huge_logits_without_overflow():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probs = sigmoid_scores(np.array([-1e6, -100.0, 0.0, 1e6], np.float32), 100.0)
    assert probs[0] == probs[1] == pytest.approx(1 / (1 + np.exp(100.0)))
    assert probs[2] == 0.5 and probs[3] == pytest.approx(1.0)


def detection(x: float, y: float, side: float) -> np.ndarray:
    """(2 + 6, 2): box corners, then 6 keypoints all at the box centre."""
    centre = [x + side / 2, y + side / 2]
    return np.array([[x, y], [x + side, y + side]] + [centre] * 6)


def test_weighted_nms_merges_overlaps_and_keeps_separate_faces():
    a, b, far = detection(0.30, 0.30, 0.2), detection(0.32, 0.30, 0.2), detection(0.70, 0.60, 0.2)
    merged = weighted_nms(np.stack([b, far, a]), np.array([0.3, 0.8, 0.9]), 0.3)
    assert len(merged) == 2
    (first, score_1), (second, score_2) = merged
    assert score_1 == pytest.approx(0.9) and score_2 == pytest.approx(0.8)  # best score kept
    np.testing.assert_allclose(first, (a * 0.9 + b * 0.3) / 1.2)  # box and keypoints averaged
    np.testing.assert_allclose(second, far)


def test_weighted_nms_keeps_boxes_at_or_under_the_threshold_apart():
    a, b = detection(0.0, 0.0, 0.2), detection(0.1, 0.0, 0.2)  # IoU = 1/3
    assert len(weighted_nms(np.stack([a, b]), np.array([0.9, 0.8]), 0.34)) == 2
    assert len(weighted_nms(np.stack([a, b]), np.array([0.9, 0.8]), 0.33)) == 1
    assert weighted_nms(np.zeros((0, 8, 2)), np.zeros(0), 0.3) == []


@pytest.mark.parametrize(
    "bad",
    [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8), np.zeros((10, 10, 3), np.float32), np.zeros((0, 10, 3), np.uint8)],
)
def test_detect_refuses_what_is_not_an_rgb_image(short, bad):
    with pytest.raises(ValueError, match=r"RGB|no pixels"):
        short.detect(bad)


# ---- real models, real photos ----------------------------------------------------------


def assert_plausible_face(face: Face, shape: tuple[int, ...]) -> None:
    x, y, w, h = face.box
    assert x >= 0 and y >= 0 and x + w <= shape[1] and y + h <= shape[0] and w > 0 and h > 0
    (rx, ry), (lx, ly) = face.keypoints[RIGHT_EYE], face.keypoints[LEFT_EYE]
    nose, mouth = face.keypoints[NOSE_TIP], face.keypoints[MOUTH_CENTER]
    assert rx < nose[0] < lx  # subject's right eye on the image's left, nose between the eyes
    assert max(ry, ly) < nose[1] < mouth[1]  # eyes above nose above mouth
    for px, py in (face.keypoints[i] for i in (RIGHT_EYE, LEFT_EYE, NOSE_TIP, MOUTH_CENTER)):
        assert x <= px <= x + w and y <= py <= y + h


@pytest.mark.parametrize("name", ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"])
def test_one_face_in_a_portrait(short, full, face_photos, name):
    image = rgb(face_photos / name)
    for detector in (short, full):
        faces = detector.detect(image)
        assert len(faces) == 1, detector.name
        assert faces[0].score >= detector.contract.min_score
        assert_plausible_face(faces[0], image.shape)


def test_obama_face_where_it_is(short, face_photos):
    (face,) = short.detect(rgb(face_photos / "obama.jpg"))
    # Located by eye in the 910x1137 photo: the face spans x ~350..630, y ~140..420.
    assert box_iou(face.box, (350, 140, 280, 280)) > 0.8
    assert face.score > 0.9


def test_rgba_png_gives_the_same_face_as_its_jpeg(short, face_photos):
    png, jpg = short.detect(rgb(face_photos / "32bit.png")), short.detect(rgb(face_photos / "obama2.jpg"))
    assert len(png) == len(jpg) == 1
    assert box_iou(png[0].box, jpg[0].box) > 0.95


def finder(short: FaceDetector, full: FaceDetector) -> FaceFinder:
    """The served arrangement: short range first, full range built on first need."""
    return FaceFinder(short, Lazy("fallback face detector", lambda: full))


def no_face_images(face_photos) -> dict[str, np.ndarray]:
    yy, xx = np.mgrid[0:480, 0:640]
    gradient = np.stack([xx * 255 // 639, yy * 255 // 479, (xx + yy) * 255 // 1118], axis=-1).astype(np.uint8)
    obama = rgb(face_photos / "obama.jpg")
    return {
        "gradient": gradient,
        "tiny": np.full((8, 8, 3), 200, np.uint8),
        "one pixel": np.zeros((1, 1, 3), np.uint8),
        "flag and curtain": np.ascontiguousarray(obama[:500, :340]),
        "suit": np.ascontiguousarray(obama[600:]),
    }


def test_nothing_found_where_there_is_no_face(short, full, face_photos):
    for what, image in no_face_images(face_photos).items():
        faces, name = finder(short, full).find(image)
        assert faces == [], what
        assert name == full.name  # both were tried


def small_face_canvas(face_photos) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """obama.jpg at 330 px wide on a plain 1200x1200 canvas (a ~100 px face, 8% of the side)
    and where its face is expected (its box in obama.jpg, scaled and moved)."""
    with Image.open(face_photos / "obama.jpg") as photo:
        factor = 330 / photo.width
        small = photo.convert("RGB").resize((330, round(photo.height * factor)), Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", (1200, 1200), (128, 128, 128))
    canvas.paste(small, (400, 350))
    return np.asarray(canvas), (400 + 350 * factor, 350 + 140 * factor, 280 * factor, 280 * factor)


def test_full_range_fallback_finds_a_small_face(short, full, face_photos):
    image, expected = small_face_canvas(face_photos)
    assert short.detect(image) == []
    faces, name = finder(short, full).find(image)
    assert name == full.name and len(faces) == 1
    assert box_iou(faces[0].box, expected) > 0.6
    assert_plausible_face(faces[0], image.shape)


def test_short_range_answers_first_when_it_finds_a_face(short, full, face_photos):
    found = finder(short, full)
    faces, name = found.find(rgb(face_photos / "obama.jpg"))
    assert name == short.name and len(faces) == 1
    assert found.fallback is not None and not found.fallback.ready  # never built: off the cold-start path
    assert [b.name for b in found.bundles()] == [short.name]
    assert FaceFinder(short).find(rgb(face_photos / "obama.jpg"))[1] == short.name  # no fallback configured


def test_refine_sharpens_the_same_face(short, face_photos):
    image = rgb(face_photos / "biden.jpg")  # tall photo: the face is ~18 px in the 128 px input
    (face,) = short.detect(image)
    refined = short.refine(image, face)
    assert refined is not face and box_iou(face.box, refined.box) > 0.7
    assert_plausible_face(refined, image.shape)
    empty = np.zeros_like(image)
    assert short.refine(empty, face) is face  # nothing in the crop: the face as it was


def test_couple_has_two_faces(short, deepface_photos):
    image = rgb(deepface_photos / "couple.jpg")
    faces = short.detect(image)
    assert len(faces) >= 2
    assert faces[0].area >= faces[1].area
    for face in faces[:2]:
        assert_plausible_face(face, image.shape)


def test_selfie_has_several_faces(short, deepface_photos):
    faces = short.detect(rgb(deepface_photos / "selfie-many-people.jpg"))
    assert len(faces) >= 3
    assert [f.area for f in faces] == sorted((f.area for f in faces), reverse=True)


# ---- which face: the selection policy ------------------------------------------------------
def _face(x: float, y: float, side: float, score: float = 0.9) -> Face:
    return Face((x, y, side, side), score, tuple((x + side / 2, y + side / 2) for _ in range(6)))


def test_selection_central_prefers_the_subject_over_a_larger_bystander_at_the_edge():
    subject, bystander = _face(450, 250, 100, 0.8), _face(0, 0, 130, 0.95)
    shape = (600, 1000)
    assert selection_order([bystander, subject], shape, "largest")[0] is bystander
    assert selection_order([bystander, subject], shape, "confident")[0] is bystander
    assert selection_order([bystander, subject], shape, "central")[0] is subject


def test_selection_central_still_takes_a_much_larger_face_off_centre():
    near, small = _face(700, 100, 300), _face(480, 280, 40)
    assert selection_order([small, near], (600, 1000), "central")[0] is near


def test_selection_of_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="central, largest, confident"):
        selection_order([_face(0, 0, 10)], (100, 100), "random")
