"""tools/measure/embed_quality.py (issue 24): the gate replayed with a limit on a signal of
the embedder's; and the variant table's gate, which applies this tree's norm limits."""

import numpy as np

from tools.calibrate import variant_table as vt
from tools.measure import embed_quality as eq

RECORD = {"eye_px": 40.0, "sharpness": 0.4, "brightness": 120.0, "pose": {"yaw": 0.0, "pitch": 0.0}, "outside": 0.0}


def test_a_pair_passes_when_both_photos_clear_the_limit_of_their_kind():
    # four pairs: (norms), tight sides; today's gate passes all but the last
    pairs = eq.Pairs(
        right=np.array([True, False, True, False]),
        gate=np.array([True, True, True, False]),
        signal=np.array([[12.0, 11.0], [6.0, 12.0], [9.5, 12.0], [12.0, 12.0]]),
        tight=np.array([[False, False], [False, False], [True, False], [False, False]]),
    )
    by_signal = eq.rejected(pairs.signal, pairs.tight, "norm", 7.0, 10.0)
    assert by_signal.tolist() == [[False, False], [True, False], [True, False], [False, False]]
    judged = eq.judge(pairs, "norm", 7.0, 10.0)
    assert judged["passed"] == 0.25 and judged["error_all"] == 0.5 and judged["error_passed"] == 0.0 and judged["halved"]
    off = eq.judge(pairs, "norm", eq.off("norm"), eq.off("norm"))
    assert off["passed"] == 0.75 and abs(off["error_passed"] - 1 / 3) < 1e-9 and not off["halved"]
    # no pair passes: the passed pairs' error is undefined, and not counted as halved
    none = eq.judge(pairs, "norm", 20.0, 20.0)
    assert none["passed"] == 0.0 and none["error_passed"] is None and not none["halved"]
    # flip consistency: a photo is rejected over its limit, and one without the signal never
    flips = np.array([[0.1, np.nan]])
    assert eq.rejected(flips, np.array([[False, False]]), "flip", 0.05, 0.05).tolist() == [[True, False]]


def test_the_table_gate_adds_unreliable_face_from_the_stored_embedding():
    short, long = np.full(128, 6.9 / np.sqrt(128)), np.full(128, 7.1 / np.sqrt(128))
    assert vt.requalify(RECORD, short, (7.0, 10.0))["reasons"] == ["unreliable_face"]
    assert vt.requalify(RECORD, long, (7.0, 10.0))["reasons"] == []
    tight = {**RECORD, "outside": 0.4}
    assert vt.requalify(tight, long, (7.0, 10.0))["reasons"] == ["unreliable_face"]
    assert vt.requalify(RECORD, short)["reasons"] == []  # pixels only: today's gate
