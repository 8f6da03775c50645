"""The committed face mesh bundles are exactly what the tool builds from the pinned mediapipe wheel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import testdata
from tools.build import registry

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "build" / "build_face_mesh_bundles.py"


@pytest.fixture(scope="module")
def files(tool) -> dict[Path, bytes]:
    """The tool's output from the pinned cp311 wheel (35 MB), fetched once with pip into the test-data cache."""
    return tool.build_files(tool.fetch_wheel(testdata.CACHE))


def test_committed_bundles_match_a_rebuild(files):
    assert sorted(map(str, files)) == [
        f"models/{n}/{leaf}" for n in ("face-landmarks", "iris-landmarks") for leaf in ("bundle.json", "model.tflite")
    ]
    assert registry.check_files(files, ROOT) == []


def test_manifests_carry_mediapipes_graph_options_and_provenance(tool, files):
    face = json.loads(files[Path("models/face-landmarks/bundle.json")])
    iris = json.loads(files[Path("models/iris-landmarks/bundle.json")])
    assert face["source"]["path_in_package"] == "mediapipe/modules/face_landmark/face_landmark.tflite"
    assert iris["source"]["path_in_package"] == "mediapipe/modules/iris_landmark/iris_landmark.tflite"
    for meta in (face, iris):
        assert meta["source"]["licence"].startswith("Apache-2.0") and meta["source"]["version"] == "0.10.21"
        assert meta["conversion"]["note"] == "no conversion: extracted byte for byte"
    post = face["postprocessing"]
    assert post["detection_rect"]["scale"] == [1.5, 1.5] and post["tracking_rect"]["rotation_start_landmark"] == 33
    assert post["eye_rect"] == {**post["eye_rect"], "left_eye": [33, 133], "right_eye": [362, 263], "scale": [2.3, 2.3]}


def test_check_reports_a_changed_file(files, check_catches):
    check_catches(files, "models/iris-landmarks/bundle.json")
