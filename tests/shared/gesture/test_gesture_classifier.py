"""GestureClassifier over the shipped bundles: contract validation, prediction, and the
LSTM state reset that makes identical inputs give identical outputs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from shared.errors import BadRequest
from shared.gesture.classifier import Frames, GestureClassifier
from shared.gesture.service import GestureService
from shared.runtime.bundle import BundleError, load_bundle
from shared.settings import MODELS_DIR

HAND = MODELS_DIR / "hand-sign"
FINGER = MODELS_DIR / "finger-gesture"


def _edited(tmp_path, source, edit) -> GestureClassifier:
    folder = tmp_path / source.name
    shutil.copytree(source, folder)
    meta = json.loads((folder / "bundle.json").read_text())
    edit(meta)
    (folder / "bundle.json").write_text(json.dumps(meta))
    return GestureClassifier(load_bundle(str(folder)))


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda m: m["preprocessing"].update(frames=2), r"preprocessing\.frames is 2; expected frames x features_per_frame \(42\)"),
        (lambda m: m["labels"].pop(), "labels is .*; expected a list of 4 non-empty strings"),
        (lambda m: m["preprocessing"]["frame_fit"].update(method="stretch"), r"frame_fit\.method is 'stretch'; expected one of pad_trim"),
        (lambda m: m["preprocessing"]["missing"].update(policy="guess"), r"missing\.policy is 'guess'; expected one of previous"),
        (lambda m: m["preprocessing"].update(normalization={"kind": "standard", "mean": [0] * 5, "scale": [1] * 5}), "42"),
        (lambda m: m["preprocessing"].update(normalization={"kind": "standard", "mean": [0] * 42, "scale": [0] * 42}), "zeros"),
        (lambda m: m["preprocessing"]["landmarks"].update(recipe="fingertip_history"), r"recipe is 'fingertip_history'; expected a recipe"),
        (lambda m: m["preprocessing"]["landmarks"].update(image_size=[960]), "image_size"),
        (lambda m: m.update(task="face-embedding"), "expected 'gesture-classification'"),
    ],
)
def test_bad_contracts_are_refused_at_load(tmp_path, edit, match):
    with pytest.raises(BundleError, match=match):
        _edited(tmp_path, HAND, edit)


def test_normalisation_from_the_bundle_is_applied(tmp_path):
    plain = GestureClassifier(load_bundle(str(HAND)))
    scaled = _edited(
        tmp_path, HAND, lambda m: m["preprocessing"].update(normalization={"kind": "standard", "mean": [1.0] * 42, "scale": [2.0] * 42})
    )
    row = np.linspace(-1, 1, 42)[None]
    a, _, _ = plain.features(Frames("features", (row - 1) / 2))
    b, _, _ = scaled.features(Frames("features", row))
    np.testing.assert_allclose(a, b, atol=1e-7)


def test_landmarks_form_is_refused_by_a_features_only_bundle(tmp_path):
    clf = _edited(tmp_path, HAND, lambda m: m["preprocessing"].update(landmarks=None))
    with pytest.raises(BadRequest, match="takes features"):
        clf.predict(Frames("landmarks", np.full((1, 21, 2), 0.5)))


def test_service_picks_bundles_by_name():
    service = GestureService([GestureClassifier(load_bundle(str(p))) for p in (FINGER, HAND)])
    assert service.default == "finger-gesture" and service.classifier("hand-sign").name == "hand-sign"
    assert [b.name for b in service.bundles()] == ["finger-gesture", "hand-sign"]
    with pytest.raises(BadRequest, match="available: finger-gesture, hand-sign"):
        service.classifier("lsv")
    with pytest.raises(BundleError, match="unique"):
        GestureService([GestureClassifier(load_bundle(str(HAND)))] * 2)


def test_finger_gesture_lstm_keeps_state_unless_reset():
    """The shipped finger-gesture model is a fused TFLite LSTM: invoked twice on the same
    input without a variable reset it answers differently; Model.run resets every time."""
    bundle = load_bundle(str(FINGER))
    x = np.random.default_rng(0).normal(0, 0.05, bundle.model.inputs[0].shape).astype(np.float32)
    interp = bundle.model._interpreter  # the raw interpreter, to show what the reset prevents
    index_in, index_out = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    interp.reset_all_variables()
    raw = []
    for _ in range(2):
        interp.set_tensor(index_in, x)
        interp.invoke()
        raw.append(interp.get_tensor(index_out))
    assert np.abs(raw[0] - raw[1]).max() > 1e-4
    first, second = bundle.model.run(x)[0], bundle.model.run(x)[0]
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, raw[0], atol=1e-6)  # a reset run equals a fresh interpreter's first run
