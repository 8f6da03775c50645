"""The face mesh on registry photos (face-recognition 1.3.0's test images, tools/testdata.py):
its 468 landmarks against mediapipe 0.10.21's own FaceMesh (recorded in
tests/data/facemesh/mediapipe_reference.json), the irises, mirroring, no face, bundle faults."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from shared.errors import BundleError
from shared.face.detect import FaceDetector
from shared.facemesh.landmarks import FaceLandmarker
from shared.facemesh.mesh import FaceMesh, FaceMeshOptions
from shared.runtime.bundle import load_as
from shared.settings import MODELS_DIR
from shared.vision.rect import RotatedRect

REFERENCE = json.loads((Path(__file__).resolve().parents[2] / "data/facemesh/mediapipe_reference.json").read_text())["photos"]


@pytest.fixture(scope="module")
def mesh() -> FaceMesh:
    return FaceMesh.load(FaceMeshOptions(str(MODELS_DIR / "face-landmarks"), str(MODELS_DIR / "iris-landmarks")))


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return load_as(FaceDetector, str(MODELS_DIR / "face-detector-short"), task="face-detection")


def rgb(path: Path) -> np.ndarray:
    return np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))


def find(mesh, detector, image):
    face = max(detector.detect(image), key=lambda f: f.score)
    return mesh.find(image, mesh.roi_from_detection(face.box, np.array(face.keypoints)))


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_landmarks_agree_with_mediapipes_facemesh(mesh, detector, face_photos, name):
    ref = REFERENCE[name]
    image = rgb(face_photos / name)
    found = find(mesh, detector, image)
    assert found is not None and found.points.shape == (468, 3) and found.presence > 0.9
    size = np.array(ref["size"], dtype=np.float64)
    expected = np.array(ref["landmarks"])[:, :2] * size
    diagonal = float(np.hypot(*np.ptp(expected, axis=0)))
    error = np.linalg.norm(found.points[:, :2] - expected, axis=1) / diagonal
    assert error.mean() < 0.015 and np.percentile(error, 95) < 0.03  # the bound is 3% mean
    np.testing.assert_allclose(found.normalized[:, :2] * size, found.points[:, :2])
    # The iris model's centres against MediaPipe's refined mesh (another model): within 2% of the face.
    irises = np.array([found.left_eye.iris[0, :2], found.right_eye.iris[0, :2]])
    assert (np.linalg.norm(irises - np.array(ref["irises"]) * size, axis=1) / diagonal).max() < 0.02


def test_irises_sit_inside_their_eyes(mesh, detector, face_photos):
    found = find(mesh, detector, rgb(face_photos / "obama.jpg"))
    for eye, (corner_a, corner_b) in ((found.left_eye, (33, 133)), (found.right_eye, (362, 263))):
        a, b = found.points[corner_a, :2], found.points[corner_b, :2]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        assert lo[0] < eye.iris[0, 0] < hi[0]
        assert abs(eye.iris[0, 1] - (a[1] + b[1]) / 2) < 0.25 * np.linalg.norm(a - b)
        assert 0.1 * np.linalg.norm(a - b) < eye.iris_radius < 0.4 * np.linalg.norm(a - b)


def test_a_mirrored_photo_mirrors_the_mesh(mesh, detector, face_photos):
    image = rgb(face_photos / "obama2.jpg")
    width = image.shape[1]
    plain = find(mesh, detector, image)
    mirrored = find(mesh, detector, np.ascontiguousarray(image[:, ::-1]))
    # Landmark 33 (outer corner of the image-left eye) mirrors onto 263, the nose tip (1) onto itself.
    diagonal = float(np.hypot(*np.ptp(plain.points[:, :2], axis=0)))
    for a, b in ((33, 263), (1, 1), (61, 291)):
        flipped = np.array([width - mirrored.points[b, 0], mirrored.points[b, 1]])
        assert np.linalg.norm(plain.points[a, :2] - flipped) < 0.03 * diagonal
    assert abs((width - mirrored.right_eye.iris[0, 0]) - plain.left_eye.iris[0, 0]) < 0.03 * diagonal


def test_no_face_in_the_rect_is_none(mesh, face_photos):
    image = rgb(face_photos / "obama.jpg")  # its top-left corner is backdrop, no face
    assert mesh.find(image, RotatedRect(100, 100, 150, 150)) is None


def test_tracking_rect_follows_the_face(mesh, detector, face_photos):
    image = rgb(face_photos / "obama.jpg")
    first = find(mesh, detector, image)
    rect = mesh.roi_from_landmarks(first.points)
    # face_landmark_landmarks_to_roi.pbtxt: rotated by 33 -> 263 like the detection's eyes, 1.5 x the mesh's extent.
    assert abs(rect.rotation - first.rect.rotation) < 0.05
    assert 1.4 < rect.width / float(np.ptp(first.points[:, :2], axis=0).max()) < 1.6  # square on the long side
    again = mesh.find(image, rect)
    diagonal = float(np.hypot(*np.ptp(first.points[:, :2], axis=0)))
    assert np.linalg.norm(again.points[:, :2] - first.points[:, :2], axis=1).mean() < 0.02 * diagonal


def test_a_bad_eye_landmark_in_the_bundle_is_named(tmp_path):
    source = MODELS_DIR / "face-landmarks"
    meta = json.loads((source / "bundle.json").read_text())
    meta["postprocessing"]["eye_rect"]["left_eye"] = [33, 999]
    (tmp_path / "model.tflite").write_bytes((source / "model.tflite").read_bytes())
    (tmp_path / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=r"eye_rect\.left_eye"):
        load_as(FaceLandmarker, str(tmp_path), task="face-landmarks")
