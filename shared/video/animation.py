"""Animated WebP clips (FFmpeg cannot decode them): priced from the RIFF chunks, decoded by Pillow.

`webp_cost` walks the chunks (at most max_frames + 1 frames and CHUNK_CAP chunks, never
the whole of a hostile file): the canvas (VP8X) and each ANMF frame's duration. The canvas
side, the frame count and the total duration are checked against VideoLimits before
Pillow decodes a frame; `sample_webp` then decodes in order (each ANMF composes onto the
canvas, so every frame up to the last one kept is decoded) and keeps `count` frames evenly
spaced in time, scaled to working_side.
"""

from __future__ import annotations

import io
import struct
import time

import numpy as np

from shared.errors import PayloadTooLarge, Unprocessable
from shared.video.clip import VideoCost, working_size
from shared.video.limits import VideoLimits

CHUNK_CAP = 4096


def is_webp(data: bytes) -> bool:
    return data[:4] == b"RIFF" and data[8:12] == b"WEBP"


def webp_cost(data: bytes, name: str, limits: VideoLimits) -> tuple[VideoCost, list[float]]:
    """Canvas, frames and durations (seconds) from the chunks; 4xx over a cap."""
    width = height = 0
    durations: list[float] = []
    pos, chunks = 12, 0
    while pos + 8 <= len(data):
        kind, length = struct.unpack_from("<4sI", data, pos)
        chunks += 1
        if chunks > CHUNK_CAP or len(durations) > limits.max_frames:
            raise PayloadTooLarge(f"{name} holds more than {limits.max_frames} frames", code="video_too_many_frames")
        body = pos + 8
        if kind == b"VP8X" and body + 10 <= len(data):
            width, height = (
                int.from_bytes(data[body + 4 : body + 7], "little") + 1,
                int.from_bytes(data[body + 7 : body + 10], "little") + 1,
            )
        elif kind == b"ANMF" and body + 16 <= len(data):
            durations.append(max(int.from_bytes(data[body + 12 : body + 15], "little"), 10) / 1000)  # browsers: at least 10 ms
        pos = body + length + (length & 1)
    if not durations or not width:
        raise Unprocessable(f"{name} is a WebP without animation frames; send a photo as image", code="bad_video")
    if max(width, height) > limits.max_side:
        raise PayloadTooLarge(
            f"{name} has a {width} x {height} canvas; the largest side allowed is {limits.max_side}", code="video_too_large"
        )
    seconds = float(sum(durations))
    if seconds > limits.max_seconds:
        raise PayloadTooLarge(f"{name} lasts {seconds:.1f} s; the limit is {limits.max_seconds:g} s", code="video_too_long")
    return VideoCost("webp", "webp", width, height, seconds, len(durations), len(durations) / seconds), durations


def sample_webp(data: bytes, name: str, limits: VideoLimits, count: int) -> tuple[VideoCost, list[np.ndarray]]:
    from PIL import Image

    cost, durations = webp_cost(data, name, limits)
    starts = np.concatenate([[0.0], np.cumsum(durations)[:-1]])
    targets = (np.arange(count) + 0.5) * cost.seconds / count
    wanted = [int(np.searchsorted(starts, t, side="right") - 1) for t in targets]
    size = working_size(cost.width, cost.height, limits.working_side)
    started, kept = time.thread_time(), []
    try:
        with Image.open(io.BytesIO(data), formats=["WEBP"]) as image:
            if image.size != (cost.width, cost.height) or getattr(image, "n_frames", 1) != cost.frames:
                raise Unprocessable(f"{name}: its frames disagree with its chunks", code="bad_video")
            for index in sorted(set(wanted)):
                image.seek(index)
                rgb = np.asarray(image.convert("RGB").resize(size, Image.Resampling.BILINEAR))
                kept += [rgb] * wanted.count(index)
                if (time.thread_time() - started) * 1000 > limits.max_decode_ms:
                    raise Unprocessable(f"{name} takes more than {limits.max_decode_ms} ms of CPU to decode", code="video_too_complex")
    except (OSError, ValueError, EOFError, struct.error) as exc:
        raise Unprocessable(f"{name}: its frames cannot be decoded ({type(exc).__name__})", code="bad_video") from exc
    return cost, kept
