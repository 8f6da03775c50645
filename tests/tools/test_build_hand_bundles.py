"""The committed hand bundles are exactly what the tool builds from the pinned mediapipe wheel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import testdata
from tools.build import registry

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "build" / "build_hand_bundles.py"


@pytest.fixture(scope="module")
def wheel(tool) -> bytes:
    """The pinned cp311 manylinux wheel (35 MB), fetched once with pip into the test-data cache."""
    return tool.fetch_wheel(testdata.CACHE)


def test_committed_bundles_match_a_rebuild(tool, wheel):
    files = tool.build_files(wheel)
    assert sorted(map(str, files)) == [
        f"models/{name}/{leaf}" for name in sorted(tool.VARIANTS["full"]) for leaf in ("bundle.json", "model.tflite")
    ]
    assert registry.check_files(files, ROOT) == []


def test_manifests_carry_mediapipes_graph_options(tool, wheel):
    files = tool.build_files(wheel)
    detector = json.loads(files[Path("models/hand-detector/bundle.json")])
    landmarks = json.loads(files[Path("models/hand-landmarks/bundle.json")])
    assert detector["task"] == "hand-detection" and landmarks["task"] == "hand-landmarks"
    assert detector["source"]["licence"].startswith("Apache-2.0") and detector["source"]["file_sha256"] == tool.WHEEL_SHA256
    assert detector["postprocessing"]["decoding"]["num_boxes"] == 2016 and detector["postprocessing"]["anchors"]["strides"] == [
        8,
        16,
        16,
        16,
    ]
    assert detector["postprocessing"]["hand_rect"]["scale"] == [2.6, 2.6] and detector["postprocessing"]["hand_rect"]["shift"] == [
        0.0,
        -0.5,
    ]
    assert landmarks["postprocessing"]["handedness_labels"] == ["Left", "Right"]
    assert landmarks["postprocessing"]["tracking_rect"]["scale"] == [2.0, 2.0]


def test_check_reports_a_changed_file(tool, wheel, check_catches):
    check_catches(tool.build_files(wheel), "models/hand-landmarks/bundle.json")
