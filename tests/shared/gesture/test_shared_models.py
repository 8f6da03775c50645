"""Every model is loaded once per instance: `return_landmarks: "holistic"` on a hand bundle
runs the hand tracker and Holistic side by side, and both use one hand landmark
interpreter (two copies held ~17 MB more)."""

from __future__ import annotations

import collections
from dataclasses import replace
from pathlib import Path

import pytest

from shared.gesture.options import GestureOptions
from shared.gesture.service import GestureService
from shared.runtime import tflite
from shared.settings import get_settings
from tools import ROOT, testdata


@pytest.fixture
def loads(monkeypatch) -> collections.Counter:
    """Model files turned into interpreters, by bundle folder name."""
    counted: collections.Counter = collections.Counter()
    build = tflite.Model.__init__

    def counting(self, *, model_path=None, model_content=None, **kwargs):
        counted[Path(model_path).parent.name if model_path else "bytes"] += 1
        build(self, model_path=model_path, model_content=model_content, **kwargs)

    monkeypatch.setattr(tflite.Model, "__init__", counting)
    return counted


def service() -> GestureService:
    options = GestureOptions.from_settings(get_settings())
    return GestureService.load(replace(options, models=(str(ROOT / "models/hand-sign"),)))


def test_holistic_landmarks_on_a_hand_bundle_load_the_hand_landmark_model_once(loads):
    gestures = service()
    photo = (testdata.hand_photos() / "two-hands.jpg").read_bytes()
    answer = gestures.predict({"image": photo, "return_landmarks": "holistic", "max_hands": 2}).to_dict()
    assert len(answer["hands"][0]) == 2 and len(answer["pose"][0]) == 33  # both pipelines ran
    assert loads["hand-landmarks"] == 1, dict(loads)
    assert gestures.hands is not None and gestures.holistic is not None
    assert gestures.hands.get().landmarker is gestures.holistic.get().hands
    assert all(n == 1 for n in loads.values()), dict(loads)  # the palm, pose, re-crop and face models too
    names = [b.name for b in gestures.bundles()]
    assert len(names) == len(set(names)), names  # health lists each loaded bundle once


def test_a_second_request_loads_nothing(loads):
    gestures = service()
    photo = (testdata.hand_photos() / "open.jpg").read_bytes()
    gestures.predict({"image": photo, "return_landmarks": "holistic"})
    first = sum(loads.values())
    gestures.predict({"image": photo, "return_landmarks": True})
    gestures.predict({"image": photo, "return_landmarks": "holistic"})
    assert sum(loads.values()) == first
