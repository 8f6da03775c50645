"""The calibration maths on synthetic distances, and the shipped threshold on real photos."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tools import testdata
from tools.calibrate import calibrate_face_threshold as cal

ROOT = Path(__file__).resolve().parents[2]


def test_auc_eer_and_threshold_when_classes_separate():
    genuine, impostor = np.array([0.1, 0.2, 0.3]), np.array([0.5, 0.6, 0.9])
    assert cal.roc_auc(genuine, impostor) == 1.0
    assert cal.equal_error_rate(genuine, impostor) == 0.0
    threshold, rule = cal.pick_threshold(genuine, impostor)
    assert threshold == pytest.approx(0.4) and "midpoint" in rule


def test_overlapping_classes_pick_best_accuracy():
    genuine, impostor = np.array([0.1, 0.2, 0.45]), np.array([0.4, 0.6, 0.7, 0.8])
    assert cal.roc_auc(genuine, impostor) == pytest.approx(11 / 12)
    threshold, _ = cal.pick_threshold(genuine, impostor)
    assert threshold == pytest.approx(0.2)  # 6 of 7 right; 0.45 would also accept 0.4
    assert cal.rates(genuine, impostor, threshold) == (pytest.approx(2 / 3), 0.0)
    assert cal.tar_at_far(genuine, impostor, 0.25) == 1.0


def test_cross_validation_fits_on_the_other_folds():
    # Fold 1 alone would pick 0.3, fold 2 alone 0.6; each is tested at the other's threshold.
    d = np.array([0.1, 0.3, 0.35, 0.5, 0.2, 0.6, 0.65, 0.9])
    same = np.array([True, True, False, False, True, True, False, False])
    folds = np.array([1, 1, 1, 1, 2, 2, 2, 2])
    # fold 1 at 0.6 (fitted on fold 2): accepts all 4 -> 2/4; fold 2 at 0.3: rejects 0.6 -> 3/4.
    assert cal.cross_validated_accuracy(d, same, folds) == pytest.approx((0.5 + 0.75) / 2)


def test_operating_points_strict_and_balanced():
    genuine = np.array([0.01, 0.02, 0.03, 0.05, 0.08])
    impostor = np.array([0.04, 0.06, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    assert cal.threshold_at_far(genuine, impostor, 0.0) == pytest.approx(0.03)  # under the closest impostor
    assert cal.threshold_at_far(genuine, impostor, 0.1) == pytest.approx(0.05)  # one impostor of ten allowed
    d = np.concatenate([genuine, impostor])
    same = np.arange(len(d)) < len(genuine)
    points = cal.fit_points(d, same)
    assert points["strict"] == pytest.approx(0.03) and points["balanced"] == pytest.approx(0.03)
    # A photo without a face is a pair at +inf: always rejected, never a candidate threshold.
    assert cal.best_accuracy_threshold(np.append(genuine, np.inf), impostor) == pytest.approx(0.03)


def _calibrate(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "report.json"
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "calibrate" / "calibrate_face_threshold.py"), *args, "--json", str(out)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(out.read_text())


SHIPPED = json.loads((ROOT / "models" / "face-embedder-dlib" / "bundle.json").read_text())["threshold"]


def test_shipped_threshold_on_all_deepface_pairs(deepface_photos, tmp_path):
    # deepface is a second set, reported and never fitted: the figures measured when the
    # threshold was fitted on lfw-dev (README "Face threshold calibration").
    report = _calibrate(tmp_path, "--photos", str(deepface_photos))["sets"]["deepface"]
    assert report["roc_auc"] >= 0.9995
    at = report["at"]["shipped"]
    assert at["threshold"] == SHIPPED["value"]
    assert at["accuracy"] == pytest.approx(0.988525, abs=0.003) and at["frr"] == 0.0


@pytest.fixture(scope="module")
def lfw_dev() -> Path:
    path = testdata.shared_data("faces", "lfw-dev", "pairs.csv")
    if path is None:
        pytest.skip("../shared/data/faces/lfw-dev is not beside the repo (LFW development pairs)")
    return path


def test_shipped_operating_points_on_lfw_dev(lfw_dev, tmp_path):
    # All four folds (3,074 photos, ~2 min of embeddings on one core the first time; then
    # from build/calibrate-cache/, keyed by photo, bundles and pipeline code).
    summary = _calibrate(tmp_path, "--pairs", str(lfw_dev))
    report = summary["sets"]["lfw-dev"]
    assert report["pairs"] == {"same": 1200, "different": 1200} and not report["no_face"]
    assert report["roc_auc"] == pytest.approx(0.99809, abs=0.001)
    assert report["cv_accuracy"] == pytest.approx(0.98625, abs=0.003)  # LFW protocol over these 4 folds
    at = report["at"]["shipped"]
    assert at["accuracy"] == pytest.approx(0.98625, abs=0.003)
    assert at["far"] == pytest.approx(0.01, abs=0.003) and at["frr"] == pytest.approx(0.0175, abs=0.004)
    # The shipped points are what the rule fits on lfw-dev today.
    points = SHIPPED["operating_points"]
    assert summary["points"] == {name: pytest.approx(p["value"], abs=0.0005) for name, p in points.items()}
    assert SHIPPED["value"] == points["balanced"]["value"]
    strict = report["at"]["shipped strict"]
    assert strict["far"] <= 0.001 and strict["frr"] == pytest.approx(0.055, abs=0.01)
