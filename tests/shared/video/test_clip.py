"""Clips made in the test from the shipped hand photos (tests/data/hands) with PyAV: every
container and codec taken, sampled to a frame count, and every hostile kind refused before
or while decoding, each within the CPU budget."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from shared.errors import PayloadTooLarge, ServiceError, Unprocessable, UnsupportedMediaType
from shared.video.clip import inspect_video, sample_clip
from shared.video.limits import VideoLimits
from tools import testdata
from tools.measure import hostile_video as hv

NAMES = ("open.jpg", "pointer.jpg", "close.jpg", "two-hands.jpg")


@pytest.fixture(scope="module")
def photos() -> list[bytes]:
    return [(testdata.hand_photos() / n).read_bytes() for n in NAMES] * 3  # 12 frames


@pytest.fixture(scope="module")
def clips(photos) -> dict[str, bytes]:
    return {
        "mp4": hv.clip(photos),
        "mov": hv.clip(photos, "mov"),
        "webm-vp8": hv.clip(photos, "webm", "vp8"),
        "webm-vp9": hv.clip(photos, "webm", "vp9"),
        "gif": hv.clip(photos, "gif", "gif"),
        "webp": hv.animated_webp(photos),
    }


@pytest.mark.parametrize("kind", ["mp4", "mov", "webm-vp8", "webm-vp9", "gif", "webp"])
def test_a_clip_is_sampled_in_order_at_the_working_size(clips, kind):
    cost, frames = sample_clip(clips[kind], "video", VideoLimits(working_side=320), 4)
    assert cost.frames == 12 and abs(cost.seconds - 1.2) < 0.05
    assert len(frames) == 4 and all(f.shape[1] == 320 and f.dtype.name == "uint8" for f in frames)
    # 12 frames cycling open, pointer, close, two-hands at 10 fps; 4 samples, each the frame on
    # screen at 0.15, 0.45, 0.75, 1.05 s: frames 1, 4, 7, 10 (pointer, open, two-hands, close).
    size = (frames[0].shape[1], frames[0].shape[0])
    sources = {n: np.asarray(Image.open(testdata.hand_photos() / n).convert("RGB").resize(size), np.float32) for n in NAMES}
    nearest = [min(NAMES, key=lambda n: float(np.abs(sources[n] - f).mean())) for f in frames]
    assert nearest == ["pointer.jpg", "open.jpg", "two-hands.jpg", "close.jpg"]


def test_inspect_reads_only_the_container(clips):
    cost = inspect_video(clips["mp4"], "video", VideoLimits())
    assert (cost.codec, cost.width, cost.frames) == ("h264", 400, 12)  # the shipped photos are 400 x 300


def hostile(photos) -> dict[str, tuple[bytes, type[ServiceError], str]]:
    mp4, webm = hv.clip(photos), hv.clip(photos, "webm", "vp8")
    return {
        "declared 100000 x 100000 canvas": (hv.webp_canvas(hv.animated_webp(photos), 100_000, 100_000), PayloadTooLarge, "video_too_large"),
        "a million frames declared": (hv.mp4_time_to_sample(mp4, 1_000_000), PayloadTooLarge, "video_too_many_frames"),
        "2000 frames without delay": (hv.gif_frames_without_delay(), PayloadTooLarge, "video_too_long"),
        "truncated mp4": (mp4[: len(mp4) * 6 // 10], UnsupportedMediaType, "bad_video"),
        "zeroed stream": (hv.zero_middle(webm), Unprocessable, "bad_video"),
        "mpeg2 codec": (hv.clip(photos[:2], "mp4", "mpeg2video"), UnsupportedMediaType, "unsupported_codec"),
        "ffv1 codec": (hv.clip(photos[:2], "matroska", "ffv1", size=(64, 48)), UnsupportedMediaType, "unsupported_codec"),
        "avi container": (hv.clip(photos[:2], "avi", "mpeg4"), UnsupportedMediaType, "unsupported_video"),
        "decodes past its duration": (hv.webm_duration(webm, 0.1), Unprocessable, "bad_video"),
        "not a clip": (b"\x00" * 1000, UnsupportedMediaType, "bad_video"),
    }


def test_hostile_clips_are_refused_within_the_budget(photos):
    for kind, (data, error, code) in hostile(photos).items():
        started = time.process_time()
        with pytest.raises(error) as caught:
            sample_clip(data, "video", VideoLimits(), 29)
        assert caught.value.code == code, (kind, caught.value)
        assert time.process_time() - started < 2.0, kind


def test_the_decode_budget_counts_decoding_not_what_the_caller_does_between_frames(clips):
    """Frames stream into the tracker: 20 frames each followed by 100 ms of the caller's CPU
    (2 s, over the 1.5 s decode budget) must not make the clip 'too complex'."""
    from shared.video.clip import stream_clip

    _, frames = stream_clip(clips["mp4"], "video", VideoLimits(), 20)
    for _ in frames:
        started = time.thread_time()
        while time.thread_time() - started < 0.1:
            pass
