"""The typed face bundle contracts (the embedder's here, the detectors' in vision/detector.py):
the shipped bundles read cleanly; a malformed bundle.json is a BundleError naming the field,
never a KeyError."""

from __future__ import annotations

import copy
import json

import pytest

from shared.errors import BundleError
from shared.face.contract import EmbedderContract
from shared.settings import MODELS_DIR
from shared.vision.detector import DetectorContract


def meta(name: str) -> dict:
    return json.loads((MODELS_DIR / name / "bundle.json").read_text())


def without(block: dict, path: str) -> dict:
    out = copy.deepcopy(block)
    *parents, last = path.split(".")
    target = out
    for key in parents:
        target = target[key]
    del target[last]
    return out


@pytest.mark.parametrize("name", ["face-detector-short", "face-detector-full"])
def test_shipped_detectors_read(name):
    contract = DetectorContract.from_meta(meta(name))
    assert contract.input_size in (128, 192) and contract.value_range == (-1.0, 1.0)
    assert contract.boxes_output and contract.scores_output and 0 < contract.min_score < 1


@pytest.mark.parametrize(
    "name, crop, size",
    [("face-embedder-sface", "arcface", 112), ("face-embedder-dlib", "dlib_chip", 150), ("face-embedder-dlib-int8", "dlib_chip", 150)],
)
def test_shipped_embedders_read(name, crop, size):
    contract = EmbedderContract.from_meta(meta(name))
    assert (contract.crop, contract.size, contract.dims, contract.metric) == (crop, size, 128, "cosine") and 0 < contract.threshold < 1


def test_embedder_chip_recipe_must_be_known():
    bad = meta("face-embedder-sface")
    bad["preprocessing"]["crop"] = "mtcnn"
    with pytest.raises(BundleError, match=r"preprocessing\.crop is 'mtcnn'; expected one of dlib_chip, arcface"):
        EmbedderContract.from_meta(bad)
    del bad["preprocessing"]["crop"]  # no recipe named: dlib's chip, which needs its padding
    with pytest.raises(BundleError, match=r"preprocessing\.padding is missing; expected a finite number in \[0, 10\]"):
        EmbedderContract.from_meta(bad)


@pytest.mark.parametrize(
    "path, named",
    [
        ("preprocessing", "preprocessing"),
        ("preprocessing.input_size", "preprocessing.input_size"),
        ("postprocessing.anchors", "postprocessing.anchors"),
        ("postprocessing.anchors.strides", "strides"),
        ("postprocessing.decoding.num_boxes", "num_boxes"),
        ("postprocessing.nms.min_suppression_threshold", "postprocessing.nms.min_suppression_threshold"),
        ("postprocessing.output_tensors.scores", "output_tensors"),
    ],
)
def test_detector_field_missing_is_named(path, named):
    with pytest.raises(BundleError, match=named.replace(".", r"\.")):
        DetectorContract.from_meta(without(meta("face-detector-short"), path))


@pytest.mark.parametrize(
    "path, named",
    [
        ("threshold", "threshold"),
        ("threshold.value", "threshold.value"),
        ("threshold.metric", "threshold.metric"),
        ("preprocessing.size", "preprocessing.size"),
        ("output.dims", "output.dims"),
    ],
)
def test_embedder_field_missing_is_named(path, named):
    with pytest.raises(BundleError, match=named.replace(".", r"\.")):
        EmbedderContract.from_meta(without(meta("face-embedder-dlib"), path))


def test_embedder_metric_must_be_known():
    bad = meta("face-embedder-dlib")
    bad["threshold"]["metric"] = "manhattan"
    with pytest.raises(BundleError, match="cosine, euclidean"):
        EmbedderContract.from_meta(bad)


def test_embedder_operating_points_are_read_and_chosen_by_name():
    spec = meta("face-embedder-dlib")
    spec["threshold"]["operating_points"] = {"strict": {"value": 0.05, "far": 0.001}, "balanced": {"value": 0.07}}
    contract = EmbedderContract.from_meta(spec)
    assert contract.operating_points == {"strict": 0.05, "balanced": 0.07}
    assert contract.threshold_for("") == contract.threshold and contract.threshold_for("strict") == 0.05
    with pytest.raises(BundleError, match=r"'loose' is not in bundle.json threshold.operating_points \(balanced, strict\)"):
        contract.threshold_for("loose")


def test_embedder_operating_point_without_a_value_is_named():
    bad = meta("face-embedder-dlib")
    bad["threshold"]["operating_points"] = {"strict": {"far": 0.001}}
    with pytest.raises(BundleError, match=r"threshold\.operating_points\.strict\.value"):
        EmbedderContract.from_meta(bad)


@pytest.fixture(scope="module")
def parts():
    from shared.face.contract import DETECTION_TASK, EMBEDDING_TASK
    from shared.face.detect import FaceDetector, FaceFinder
    from shared.face.embed import FaceEmbedder
    from shared.runtime.bundle import load_as
    from shared.settings import DEFAULT_FACE_DETECTOR, DEFAULT_FACE_EMBEDDER

    finder = FaceFinder(load_as(FaceDetector, DEFAULT_FACE_DETECTOR, task=DETECTION_TASK))
    return finder, load_as(FaceEmbedder, DEFAULT_FACE_EMBEDDER, task=EMBEDDING_TASK)


def test_verifier_threshold_from_operating_point_setting(parts, monkeypatch):
    from dataclasses import replace

    from shared.face.verify import FaceVerifier, VerifyOptions
    from shared.settings import Settings

    spec = meta("face-embedder-sface")["threshold"]
    monkeypatch.setenv("VERIFY_OPERATING_POINT", " strict ")
    options = replace(VerifyOptions.from_settings(Settings.from_env()), cache_size=0)
    assert options.operating_point == "strict" and options.threshold is None
    assert FaceVerifier(*parts, options).threshold == spec["operating_points"]["strict"]["value"] < spec["value"]
    assert FaceVerifier(*parts, replace(options, operating_point="")).threshold == spec["value"]
    assert FaceVerifier(*parts, replace(options, threshold=0.2)).threshold == 0.2  # VERIFY_THRESHOLD wins
    with pytest.raises(BundleError) as caught:
        FaceVerifier(*parts, replace(options, operating_point="loose"))
    message = caught.value.public_message()
    assert "'face-embedder-sface'" in message and "VERIFY_OPERATING_POINT 'loose'" in message and "balanced, strict" in message
