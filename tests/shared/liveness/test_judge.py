"""The judge's logic on measures written by hand (pure logic: the measures of real photos
are tested in test_burst.py): order, unrequested turns, blink placement, flat motion."""

from __future__ import annotations

import numpy as np

from shared.liveness.judge import blink_events, head_events, judge
from shared.liveness.measures import FrameMeasure, planar_residual
from shared.liveness.options import LivenessOptions

OPTIONS = LivenessOptions(secret=b"s" * 32)
RNG = np.random.default_rng(0)
FACE = RNG.uniform(0, 100, (468, 2))  # not planar-related across frames: each frame its own points


def frame(yaw: float = 0.0, pitch: float = 0.0, ear: float = 0.3, points: np.ndarray | None = None) -> FrameMeasure:
    pts = points if points is not None else FACE + RNG.normal(0, 4, FACE.shape)
    return FrameMeasure(yaw, pitch, ear, pts, 140.0)


def burst(*steps: str) -> list[FrameMeasure]:
    """F = frontal, L/R = turned 25 degrees left/right, U = up 15, C = eyes closed."""
    kinds = {"F": {}, "L": {"yaw": 25}, "R": {"yaw": -25}, "U": {"pitch": 15}, "C": {"ear": 0.12}}
    return [frame(**kinds[s]) for s in "".join(steps)]


def test_actions_in_the_challenges_order_pass():
    verdict = judge(("turn_left", "blink", "look_up"), burst("FF", "LL", "FF", "C", "FF", "UU", "FF"), OPTIONS)
    assert verdict.passed and verdict.reason == "ok"
    assert [(a.action, a.frame) for a in verdict.actions] == [("turn_left", 2), ("blink", 6), ("look_up", 9)]


def test_the_same_actions_in_another_order_fail():
    verdict = judge(("look_up", "turn_left"), burst("FF", "LL", "FF", "UU", "FF"), OPTIONS)
    assert not verdict.passed and verdict.reason.startswith("out_of_order")


def test_an_unrequested_turn_fails_so_one_recording_of_everything_cannot_pass_every_challenge():
    verdict = judge(("turn_left", "look_up"), burst("FF", "LL", "FF", "RR", "FF", "UU", "FF"), OPTIONS)
    assert not verdict.passed and verdict.reason.startswith("unexpected_action: turn_right")


def test_a_missing_action_fails():
    verdict = judge(("turn_right", "blink"), burst("FF", "RR", "FFFF"), OPTIONS)
    assert not verdict.passed and verdict.reason.startswith("action_missing: blink")


def test_a_blink_must_fall_between_its_neighbours_and_unrequested_blinks_are_tolerated():
    assert not judge(("blink", "turn_left"), burst("FF", "LL", "FF", "C", "FF"), OPTIONS).passed
    assert judge(("turn_left", "turn_right"), burst("FF", "C", "FF", "LL", "F", "C", "F", "RR", "FF"), OPTIONS).passed


def test_eyes_closed_to_the_end_are_not_a_blink():
    assert blink_events(burst("FFFF", "CCC"), OPTIONS) == []
    assert [b.frame for b in blink_events(burst("FFFF", "CC", "FF"), OPTIONS)] == [4]


def test_a_turn_is_measured_from_the_first_frames_not_from_zero():
    frames = [frame(yaw=30)] * 2 + [frame(yaw=40)] * 2 + [frame(yaw=30)] * 2  # turned all along: 10 degrees more
    assert head_events(frames, OPTIONS) == []


def test_landmarks_that_move_as_a_flat_picture_fail():
    flat = FACE @ np.array([[0.9, 0.05], [-0.02, 1.0]]) + [12, -3]  # an affine (so planar) view of frame 0's points
    frames = [
        frame(points=FACE),
        frame(points=FACE),
        frame(yaw=25, points=flat),
        frame(yaw=25, points=flat),
        frame(points=FACE),
        frame(points=FACE),
    ]
    frames += [frame(pitch=15), frame(pitch=15), frame(), frame()]
    verdict = judge(("turn_left", "look_up"), frames, OPTIONS)
    assert not verdict.passed and verdict.reason.startswith("flat_motion: turn_left")
    assert planar_residual(FACE, flat) < 1e-9


def test_a_homography_is_planar_too():
    h = np.array([[1.0, 0.1, 5], [0.02, 0.95, -4], [4e-4, -2e-4, 1]])
    mapped = np.column_stack([FACE, np.ones(len(FACE))]) @ h.T
    assert planar_residual(FACE, mapped[:, :2] / mapped[:, 2:]) < 1e-6


def _off_plane(residual: float) -> np.ndarray:
    """FACE's points with a non-planar displacement whose planar residual from FACE is about `residual`."""
    bump = np.zeros_like(FACE)
    bump[:, 0] = np.sin(FACE[:, 1] / 9.0) * np.cos(FACE[:, 0] / 7.0)  # no homography absorbs this
    low, high = 0.0, 10.0
    assert planar_residual(FACE, FACE + high * bump) > residual
    for _ in range(40):  # the residual grows with the displacement's scale: bisect
        mid = (low + high) / 2
        low, high = (mid, high) if planar_residual(FACE, FACE + mid * bump) < residual else (low, mid)
    return FACE + high * bump


def test_looking_up_has_its_own_lower_flat_bound_a_turn_does_not():
    """A raised head moves its landmarks less out of plane than a turned one (lfw-dev pairs,
    tools/measure/liveness_flat_bound.py): between the two bounds a look_up passes, a turn fails."""
    between = (OPTIONS.max_planar_residual_up + OPTIONS.max_planar_residual) / 2
    moved = _off_plane(between)
    assert OPTIONS.max_planar_residual_up < planar_residual(FACE, moved) < OPTIONS.max_planar_residual
    still = [frame(points=FACE)] * 2
    up = judge(("look_up", "blink"), [*still, frame(pitch=15, points=moved), frame(points=FACE), frame(ear=0.12), *still], OPTIONS)
    turn = judge(("turn_left", "blink"), [*still, frame(yaw=25, points=moved), frame(points=FACE), frame(ear=0.12), *still], OPTIONS)
    assert up.passed, up
    assert not turn.passed and turn.reason.startswith("flat_motion: turn_left")
    flatter = _off_plane(OPTIONS.max_planar_residual_up * 0.8)
    flat_up = judge(("look_up", "blink"), [*still, frame(pitch=15, points=flatter), frame(points=FACE), frame(ear=0.12), *still], OPTIONS)
    assert not flat_up.passed and flat_up.reason.startswith("flat_motion: look_up")
