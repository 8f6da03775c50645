"""The typed face bundle contracts: the shipped bundles read cleanly; a malformed
bundle.json is a BundleError naming the field, never a KeyError."""

from __future__ import annotations

import copy
import json

import pytest

from shared.errors import BundleError
from shared.face.contract import DetectorContract, EmbedderContract
from shared.settings import MODELS_DIR


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


@pytest.mark.parametrize("name", ["face-embedder-dlib", "face-embedder-dlib-int8"])
def test_shipped_embedders_read(name):
    contract = EmbedderContract.from_meta(meta(name))
    assert (contract.size, contract.dims, contract.metric) == (150, 128, "cosine") and 0 < contract.threshold < 1


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
