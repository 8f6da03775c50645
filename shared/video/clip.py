"""A clip priced from its container, then decoded to the frames a sequence model needs.

`inspect_video(data, limits)` opens the container with PyAV (FFmpeg's probing bounded:
probesize 1 MB, analyzeduration 1 s) and reads only its metadata: container, codec,
declared width and height, duration, frame count, rate. Anything over a cap is refused
before one frame is decoded: a container or codec outside the allowed lists (415), a frame
side over max_side, a clip longer than max_seconds or declaring more than max_frames (413),
no video stream or unreadable metadata (422).

`sample_frames(data, limits, count)` then decodes on one thread, sequentially, and keeps
the frame on screen at each of `count` evenly spaced times (the middles of `count` equal spans), scaled to working_side (swscale,
straight to RGB). While it decodes it refuses (422) a clip whose frames differ from the
declared size, that decodes to more frames than max_frames or than its rate and duration
allow, or that takes more CPU than max_decode_ms. PyAV is imported here, on the first clip.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.errors import PayloadTooLarge, Unprocessable, UnsupportedMediaType
from shared.video.limits import VideoLimits

OPEN_OPTIONS = {"probesize": "1000000", "analyzeduration": "1000000", "fpsprobesize": "0"}
BROKEN_SHARE = 0.9  # fewer frames decoded than this share of those declared: refused as broken
SLACK_FRAMES = 8  # decoded beyond those declared (rounding, B-frame reordering)
MAX_RATE = 120.0  # frames per second; a "rate" above it is a timebase (a live WebM's 1000), not a frame rate


@dataclass(frozen=True)
class VideoCost:
    """A clip's metadata. Attributes: container, codec (FFmpeg's names); width, height
    (declared, pixels); seconds (declared or frames / rate); frames (declared, or estimated
    from duration x rate; 0 = unknown, counted while decoding); rate (frames per second)."""

    container: str
    codec: str
    width: int
    height: int
    seconds: float
    frames: int
    rate: float


def _open(data: bytes, name: str) -> Any:
    import av

    try:
        return av.open(io.BytesIO(data), mode="r", options=OPEN_OPTIONS, metadata_errors="ignore")
    except av.error.InvalidDataError as exc:
        raise UnsupportedMediaType(
            f"{name} is not a video container FFmpeg reads (mp4, mov, webm, animated gif or webp)", code="bad_video"
        ) from exc
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise Unprocessable(f"{name}: the container cannot be read ({type(exc).__name__})", code="bad_video") from exc


def inspect_video(data: bytes, name: str, limits: VideoLimits) -> VideoCost:
    """The clip's metadata checked against `limits`; 4xx before any frame is decoded."""
    with _open(data, name) as container:
        return _price(container, name, limits)


def _price(container: Any, name: str, limits: VideoLimits) -> VideoCost:
    formats = set(container.format.name.split(","))
    if not formats & set(limits.containers):
        raise UnsupportedMediaType(
            f"{name} is a {container.format.name} container; allowed: mp4, mov, webm, gif, webp", code="unsupported_video"
        )
    if not container.streams.video:
        raise Unprocessable(f"{name} has no video stream", code="bad_video")
    stream = container.streams.video[0]
    codec = stream.codec_context.name if stream.codec_context else "unknown"
    if codec not in limits.codecs:
        raise UnsupportedMediaType(f"{name} is coded with {codec!r}; allowed: {', '.join(limits.codecs)}", code="unsupported_codec")
    width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
    if width < 1 or height < 1:
        raise Unprocessable(f"{name} declares no frame size", code="bad_video")
    if max(width, height) > limits.max_side:
        raise PayloadTooLarge(
            f"{name} has {width} x {height} frames; the largest side allowed is {limits.max_side}", code="video_too_large"
        )
    rate = float(stream.average_rate or stream.guessed_rate or 0)
    seconds = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0
    if not seconds and container.duration:
        seconds = container.duration / 1_000_000
    # A live recording (MediaRecorder's WebM) declares no frame count and only its timebase as
    # a rate: its frames are then counted while decoding, against max_frames.
    plausible = 0 < rate <= MAX_RATE
    frames = int(stream.frames or 0) or (int(np.ceil(seconds * rate)) if plausible else 0)
    rate = rate if plausible else 30.0
    if not seconds:
        seconds = frames / rate
    if not seconds:
        raise Unprocessable(f"{name} declares neither a duration nor a frame count", code="bad_video")
    if seconds > limits.max_seconds:
        raise PayloadTooLarge(f"{name} lasts {seconds:.1f} s; the limit is {limits.max_seconds:g} s", code="video_too_long")
    if frames > limits.max_frames:
        raise PayloadTooLarge(f"{name} declares {frames} frames; the limit is {limits.max_frames}", code="video_too_many_frames")
    return VideoCost(container.format.name, codec, width, height, seconds, frames, rate)


def working_size(width: int, height: int, side: int) -> tuple[int, int]:
    factor = min(1.0, side / max(width, height))
    return max(1, round(width * factor)), max(1, round(height * factor))


def sample_frames(data: bytes, name: str, limits: VideoLimits, count: int) -> tuple[VideoCost, list[np.ndarray]]:
    """`count` frames evenly spaced in time, (H, W, 3) uint8 RGB at working_side; the cost."""
    cost, frames = stream_frames(data, name, limits, count)
    return cost, list(frames)


def stream_frames(data: bytes, name: str, limits: VideoLimits, count: int) -> tuple[VideoCost, Iterator[np.ndarray]]:
    """The cost (the container priced now: 4xx before any frame is decoded), and the `count`
    frames as they decode, one held at a time (a 4xx may still come while they do)."""
    return inspect_video(data, name, limits), _frames(data, name, limits, count)


def _frames(data: bytes, name: str, limits: VideoLimits, count: int) -> Iterator[np.ndarray]:
    import av

    with _open(data, name) as container:
        cost = _price(container, name, limits)
        stream = container.streams.video[0]
        stream.thread_type, stream.codec_context.thread_count = "SLICE", 1  # one thread: bounded memory
        size = working_size(cost.width, cost.height, limits.working_side)
        allowed = min(limits.max_frames, cost.frames + SLACK_FRAMES) if cost.frames else limits.max_frames
        targets = (np.arange(count) + 0.5) * cost.seconds / count
        kept = 0
        last: Any = None
        # CPU of this thread spent here, decoding: not what the caller does between frames
        spent, mark, decoded = 0.0, time.thread_time(), 0
        try:
            for frame in container.decode(stream):
                decoded += 1
                if frame.width != cost.width or frame.height != cost.height:
                    raise Unprocessable(
                        f"{name} declares {cost.width} x {cost.height} frames but holds {frame.width} x {frame.height}", code="bad_video"
                    )
                if decoded > allowed:
                    raise Unprocessable(f"{name} decodes to more than the {allowed} frames its container declares", code="bad_video")
                if frame.time is not None and frame.time > cost.seconds + 1.0:
                    raise Unprocessable(f"{name} runs past the {cost.seconds:.1f} s its container declares", code="bad_video")
                if (spent + time.thread_time() - mark) * 1000 > limits.max_decode_ms:
                    raise Unprocessable(f"{name} takes more than {limits.max_decode_ms} ms of CPU to decode", code="video_too_complex")
                t = float(frame.time) if frame.time is not None else (decoded - 1) / cost.rate
                shown = None
                while last is not None and kept < count and t > targets[kept]:  # `last` is on screen then
                    shown = shown if shown is not None else last.to_ndarray(width=size[0], height=size[1], format="rgb24")
                    kept += 1
                    spent += time.thread_time() - mark
                    yield shown
                    mark = time.thread_time()
                last = frame
        except av.error.FFmpegError as exc:
            raise Unprocessable(f"{name}: its stream is broken ({type(exc).__name__} after {decoded} frames)", code="bad_video") from exc
        if last is None:
            raise Unprocessable(f"{name} holds no decodable frame", code="bad_video")
        if decoded < BROKEN_SHARE * cost.frames - 1:
            raise Unprocessable(f"{name} holds {decoded} of the {cost.frames} frames it declares: a broken stream", code="bad_video")
        if kept < count:  # the times from the last frame's on
            final = last.to_ndarray(width=size[0], height=size[1], format="rgb24")
            for _ in range(count - kept):
                yield final


def sample_clip(data: bytes, name: str, limits: VideoLimits, count: int) -> tuple[VideoCost, list[np.ndarray]]:
    """Any clip's `count` frames at once (stream_clip's, listed)."""
    cost, frames = stream_clip(data, name, limits, count)
    return cost, list(frames)


def stream_clip(data: bytes, name: str, limits: VideoLimits, count: int) -> tuple[VideoCost, Iterator[np.ndarray]]:
    """Any clip: animated WebP through Pillow (shared/video/animation.py), the rest through
    FFmpeg, one frame held at a time; priced before this returns."""
    from shared.video.animation import is_webp, sample_webp

    if not 1 <= count <= limits.max_frames:
        raise ValueError(f"count must be 1..{limits.max_frames}, got {count}")
    if is_webp(data):
        cost, frames = sample_webp(data, name, limits, count)
        return cost, iter(frames)
    return stream_frames(data, name, limits, count)
