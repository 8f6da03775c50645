"""The calibration maths on synthetic distances, and the shipped threshold on real photos."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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


def test_shipped_threshold_meets_the_bar_on_all_deepface_pairs(deepface_photos):
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "calibrate" / "calibrate_face_threshold.py"), "--photos", str(deepface_photos)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    table = dict(line.strip("|").split("|")[:2] for line in out.splitlines() if line.startswith("| ") and "---" not in line)
    table = {k.strip(): v.strip() for k, v in table.items()}
    assert float(table["roc_auc"]) >= 0.999
    assert float(table["accuracy_at_threshold"]) >= 0.99
    shipped = json.loads((ROOT / "models" / "face-embedder-dlib" / "bundle.json").read_text())["threshold"]["value"]
    assert float(table["threshold"]) == pytest.approx(shipped)
