"""Fuzz tests of the clip reader: real clips (made in the test from the shipped hand photos,
every container and codec taken) with bit flips, truncations and splices, and random bytes
behind a clip's magic. The only allowed outcomes are frames or a 4xx ServiceError, each
example within CPU_S of CPU and PEAK_MB of peak RSS growth (derandomized: CI runs the same examples)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import ServiceError
from shared.video.clip import sample_clip
from shared.video.limits import VideoLimits
from test_fuzz import FAST, MUTATIONS, mutate
from tools import testdata
from tools.measure import hostile, hostile_video

CPU_S = 2.0
PEAK_MB = 64.0
KINDS = {"mp4": ("mp4", "h264"), "webm": ("webm", "vp8"), "vp9": ("webm", "vp9"), "gif": ("gif", "gif")}


@pytest.fixture(scope="module")
def clips() -> dict[str, bytes]:
    photos = [(testdata.hand_photos() / n).read_bytes() for n in ("open.jpg", "pointer.jpg", "close.jpg")] * 2
    out = {kind: hostile_video.clip(photos, fmt, codec, size=(200, 150)) for kind, (fmt, codec) in KINDS.items()}
    out["webp"] = hostile_video.animated_webp(photos, side=200)
    return out


def sample_or_4xx(data: bytes) -> None:
    started = time.process_time()
    with hostile.peak_rss() as rss:
        try:
            _, frames = sample_clip(data, "video", VideoLimits(), 29)
            assert len(frames) == 29 and all(f.ndim == 3 for f in frames)
        except ServiceError as exc:
            assert 400 <= exc.status < 500, exc
    assert time.process_time() - started < CPU_S
    assert rss.growth_mb < PEAK_MB


@settings(max_examples=120, **FAST)
@given(kind=st.sampled_from(["mp4", "webm", "vp9", "gif", "webp"]), **MUTATIONS)
def test_mutated_real_clips_sample_or_4xx(clips, kind, flips, cut, splice):
    sample_or_4xx(mutate(clips[kind], flips, cut, splice))


@settings(max_examples=80, **FAST)
@given(
    magic=st.sampled_from([b"\x00\x00\x00\x18ftypmp42", b"\x1a\x45\xdf\xa3", b"GIF89a", b"RIFF\x00\x10\x00\x00WEBPVP8X"]),
    rest=st.binary(max_size=2048),
)
def test_random_bytes_behind_a_clip_magic_sample_or_4xx(magic, rest):
    sample_or_4xx(magic + rest)
