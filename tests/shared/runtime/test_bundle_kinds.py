"""Every bundle kind reads its bundle.json through the one reader and refuses, at load, a
field it uses that is NaN, infinite, missing, mistyped, out of range or at odds with the
model's tensors: a BundleError whose public message names the bundle and the field.

Each case copies a shipped bundle from models/ into tmp_path (same folder name, so the
same label; the model linked, so its sha256 still matches) and edits its bundle.json."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.errors import BundleError
from shared.face.detect import FaceDetector
from shared.face.embed import FaceEmbedder
from shared.gesture.classifier import GestureClassifier
from shared.hands.landmarks import HandLandmarker
from shared.hands.palm import PalmDetector
from shared.runtime.bundle import load_as
from shared.settings import MODELS_DIR

KINDS: dict[str, tuple[Callable, str]] = {
    "face-detector-short": (FaceDetector, "face-detection"),
    "face-detector-full": (FaceDetector, "face-detection"),
    "face-embedder-sface": (FaceEmbedder, "face-embedding"),
    "face-embedder-dlib": (FaceEmbedder, "face-embedding"),
    "hand-detector": (PalmDetector, "hand-detection"),
    "hand-landmarks": (HandLandmarker, "hand-landmarks"),
    "hand-sign": (GestureClassifier, "gesture-classification"),
    "finger-gesture": (GestureClassifier, "gesture-classification"),
}
NAN, INF, MISSING = float("nan"), float("inf"), object()


def edited(tmp_path: Path, name: str, path: str, value: object) -> Path:
    """models/<name> in tmp_path with bundle.json's field `path` (dotted) set to `value`
    (NaN and infinities written as Python's json writes them) or removed (MISSING)."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "model.tflite").symlink_to(MODELS_DIR / name / "model.tflite")
    meta = json.loads((MODELS_DIR / name / "bundle.json").read_text())
    *parents, last = path.split(".")
    block = meta
    for key in parents:
        block = block[key]
    if value is MISSING:
        del block[last]
    else:
        block[last] = value
    (folder / "bundle.json").write_text(json.dumps(meta, indent=1))
    return folder


def load(folder: Path):
    make, task = KINDS[folder.name]
    return load_as(make, str(folder), task=task)


def public(tmp_path: Path, name: str, path: str, value: object) -> str:
    with pytest.raises(BundleError) as caught:
        load(edited(tmp_path, name, path, value))
    message = caught.value.public_message()
    assert str(tmp_path) not in message and str(MODELS_DIR) not in message
    return message


@pytest.mark.parametrize("name", list(KINDS))
def test_the_shipped_bundles_read_cleanly(name):
    assert load(MODELS_DIR / name).bundle.name == name


@pytest.mark.parametrize(
    "name, path, value, says",
    [
        # face detectors (vision/detector.py: DetectorContract, ssd_head)
        ("face-detector-short", "postprocessing.decoding.min_score_thresh", NAN, "is NaN; expected a finite number in [0, 1]"),
        ("face-detector-short", "postprocessing.nms.min_suppression_threshold", INF, "is Infinity; expected a finite number in [0, 1]"),
        ("face-detector-short", "postprocessing.anchors.strides", MISSING, "is missing; expected a list of 4 integers in [1, 4096]"),
        ("face-detector-short", "postprocessing.decoding.x_scale", -INF, "is -Infinity; expected a finite number > 0"),
        ("face-detector-full", "preprocessing.input_size", [128, 128], "is [128, 128]; expected the side of the model's input image"),
        ("face-detector-full", "postprocessing.decoding.num_boxes", 2016, "is 2016; expected the model's box count"),
        ("face-detector-full", "postprocessing.output_tensors.scores", "scores", "expected the name of one of the model's tensors"),
        ("face-detector-full", "postprocessing.decoding.num_keypoints", 7, "is 7; expected keypoint values that fit within num_coords"),
        # face embedders (face/contract.py: EmbedderContract; face/embed.py)
        ("face-embedder-sface", "threshold.value", NAN, "threshold.value is NaN; expected a finite number in (0, 2]"),
        ("face-embedder-sface", "threshold.value", INF, "threshold.value is Infinity; expected a finite number in (0, 2]"),
        ("face-embedder-sface", "threshold.value", MISSING, "threshold.value is missing; expected a finite number in (0, 2]"),
        ("face-embedder-sface", "threshold.value", 2.5, "threshold.value is 2.5; expected a finite number in (0, 2]"),
        ("face-embedder-sface", "threshold.operating_points.strict.value", NAN, "strict.value is NaN; expected a finite number in (0, 2]"),
        ("face-embedder-sface", "confidence.slope", NAN, "confidence.slope is NaN; expected a finite number in [-10000, 0)"),
        ("face-embedder-sface", "output.dims", 512, "output.dims is 512; expected the size of the model's one output"),
        ("face-embedder-dlib", "preprocessing.padding", -INF, "preprocessing.padding is -Infinity; expected a finite number in [0, 10]"),
        ("face-embedder-dlib", "preprocessing.size", 112, "preprocessing.size is 112; expected the side of the model's input image"),
        # palm detector (vision/detector.py, hands/rect.py: PalmRect)
        ("hand-detector", "postprocessing.hand_rect.rotation_start_keypoint", MISSING, "is missing; expected an integer in [0, 6]"),
        ("hand-detector", "postprocessing.hand_rect.rotation_end_keypoint", 7, "rotation_end_keypoint is 7; expected an integer in [0, 6]"),
        ("hand-detector", "postprocessing.hand_rect.target_angle_degrees", NAN, "is NaN; expected a finite number in [-360, 360]"),
        ("hand-detector", "postprocessing.hand_rect.scale", [2.6, INF], "[1] is Infinity; expected a finite number in (0, 100]"),
        ("hand-detector", "postprocessing.hand_rect.square_long", "yes", "square_long is 'yes'; expected true or false"),
        ("hand-detector", "postprocessing.hand_rect", MISSING, "postprocessing.hand_rect is missing; expected an object"),
        # hand landmarks (hands/landmarks.py, hands/rect.py: RectTransform)
        ("hand-landmarks", "postprocessing.tracking_rect.shift", [0.0, NAN], "[1] is NaN; expected a finite number in [-10, 10]"),
        ("hand-landmarks", "postprocessing.min_presence", 1.5, "postprocessing.min_presence is 1.5; expected a finite number in [0, 1]"),
        ("hand-landmarks", "postprocessing.normalize_z", -INF, "is -Infinity; expected a finite number in (0, 100]"),
        ("hand-landmarks", "postprocessing.handedness_labels", ["Left"], 'is ["Left"]; expected a list of 2 non-empty strings'),
        ("hand-landmarks", "postprocessing.output_tensors.presence", "Identity", "presence is 'Identity'; expected a tensor of 1 values"),
        # gesture classifiers (gesture/contract.py, gesture/classifier.py)
        ("hand-sign", "preprocessing.frame_fit.pad_value", NAN, "frame_fit.pad_value is NaN; expected a finite number"),
        ("hand-sign", "preprocessing.missing.fill_value", INF, "missing.fill_value is Infinity; expected a finite number"),
        ("hand-sign", "preprocessing.frames", MISSING, "preprocessing.frames is missing; expected an integer in [1, 10000]"),
        ("finger-gesture", "preprocessing.landmarks.landmark", 21, "landmarks.landmark is 21; expected an integer in [0, 20]"),
        ("finger-gesture", "postprocessing.softmax", "false", "postprocessing.softmax is 'false'; expected true or false"),
    ],
)
def test_a_bad_field_is_refused_at_load_naming_the_bundle_and_the_field(tmp_path, name, path, value, says):
    message = public(tmp_path, name, path, value)
    assert message.startswith(f"model bundle {name!r} cannot be loaded: bundle.json {path}"), message
    assert says in message, message


def test_a_normalisation_statistic_that_is_infinite_is_named(tmp_path):
    stats = {"kind": "standard", "mean": [0.0] * 41 + [-INF], "scale": [1.0] * 42}
    message = public(tmp_path, "hand-sign", "preprocessing.normalization", stats)
    assert "preprocessing.normalization.mean[41] is -Infinity; expected a finite number" in message


@pytest.mark.parametrize("name", ["face-embedder-sface", "hand-landmarks", "hand-sign"])
def test_nan_in_a_field_no_kind_reads_is_refused_too(tmp_path, name):
    message = public(tmp_path, name, "provenance_note", [1, {"measured": NAN}])
    assert message.endswith("bundle.json provenance_note[1].measured is NaN; JSON numbers must be finite"), message
