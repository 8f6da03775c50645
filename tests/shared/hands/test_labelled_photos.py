"""On the 160 labelled webcam photos of ../shared/data/hands/subhih (read only): hands are
found where the labels put them, and hand-sign answers the labelled sign from pixels.
The thresholds sit a little under what docs/hands.md reports (97.1% detected, 116/120)."""

from __future__ import annotations

import pytest

from shared.settings import MODELS_DIR
from tools import ROOT, testdata
from tools.measure import hands_agreement as agreement


@pytest.fixture(scope="module")
def labelled():
    folder = testdata.shared_data("hands", "subhih")
    if folder is None:
        pytest.skip("../shared/data/hands/subhih is not beside the repo (labelled hand photos)")
    labels = agreement.read_labels(folder)
    found, _ = agreement.ours([folder / row["image"] for row in labels], ROOT, "full", max_side=640)
    return labels, found


def test_labelled_hands_are_found(labelled):
    labels, found = labelled
    report = agreement.against_labels(labels, found)
    assert report["labelled_hands"] == 170
    assert report["detected_at_iou_0.5_pct"] >= 95.0 and report["mean_iou_of_found"] >= 0.65


def test_hand_sign_from_pixels_per_class(labelled):
    labels, found = labelled
    table = agreement.signs(labels, found, str(MODELS_DIR / "hand-sign"))["as_found"]
    right = {sign: int(table[sign].split("/")[0]) for sign in agreement.SIGNS}
    assert sum(right.values()) >= 112 and min(right.values()) >= 35, table
