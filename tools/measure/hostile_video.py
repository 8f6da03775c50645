"""Clips made deterministically from real photos with PyAV, and hostile ones built from them:
frames declared far too large, a million frames, broken streams, codecs and containers not
taken, a clip that decodes to more frames than its container says. Shared by the bad-input
catalogue, the fuzz tests, the video tests and the benchmark.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence

import numpy as np
from PIL import Image


def clip(
    photos: Sequence[bytes | Image.Image], fmt: str = "mp4", codec: str = "h264", fps: int = 10, size: tuple[int, int] | None = None
) -> bytes:
    """The photos as the frames of a clip (fmt: mp4, mov, webm, matroska, gif, avi), in order,
    at `size` (default the first photo's, made even)."""
    import av

    images = [p if isinstance(p, Image.Image) else Image.open(io.BytesIO(p)) for p in photos]
    w, h = size or images[0].size
    w, h = w - w % 2, h - h % 2
    out_buf = io.BytesIO()
    with av.open(out_buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = w, h
        stream.pix_fmt = "rgb8" if codec == "gif" else ("yuv420p" if codec != "ffv1" else "yuv444p")
        if codec in ("h264", "libx264"):
            stream.options = {"preset": "ultrafast", "threads": "1"}
        for image in images:
            rgb = np.asarray(image.convert("RGB").resize((w, h), Image.Resampling.BILINEAR))
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return out_buf.getvalue()


def animated_webp(photos: Sequence[bytes], duration_ms: int = 100, side: int = 320) -> bytes:
    images = [Image.open(io.BytesIO(p)).convert("RGB") for p in photos]
    for image in images:
        image.thumbnail((side, side))
    out = io.BytesIO()
    images[0].save(out, "WEBP", save_all=True, append_images=images[1:], duration=duration_ms, loop=0, quality=60)
    return out.getvalue()


def webp_canvas(webp: bytes, width: int, height: int) -> bytes:
    """An animated WebP whose VP8X chunk declares a width x height canvas (24-bit fields: up to 16 M)."""
    at = webp.index(b"VP8X") + 8
    return webp[: at + 4] + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little") + webp[at + 10 :]


def _boxes(data: bytes, name: bytes) -> list[int]:
    """Offsets of every box `name` (its size field) in an MP4/MOV, searched as bytes."""
    out, at = [], data.find(name)
    while at >= 4:
        out.append(at - 4)
        at = data.find(name, at + 1)
    return out


def mp4_time_to_sample(mp4: bytes, samples: int | None = None, delta_factor: float = 1.0) -> bytes:
    """An MP4 whose time-to-sample table (stts) declares its first run as `samples` frames
    (a million frames) and/or each frame's duration `delta_factor` times what it is."""
    buf = bytearray(mp4)
    for at in _boxes(mp4, b"stts"):
        count, delta = struct.unpack_from(">II", buf, at + 16)
        struct.pack_into(">II", buf, at + 16, samples or count, max(1, int(delta * delta_factor)))
    return bytes(buf)


def webm_duration(webm: bytes, seconds: float) -> bytes:
    """A WebM whose Segment Info declares `seconds` (its Duration element, an EBML float, rewritten)."""
    at = webm.index(b"\x44\x89")  # Duration
    size = webm[at + 2] & 0x0F  # 0x88 -> 8 bytes, 0x84 -> 4
    scale_at = webm.find(b"\x2a\xd7\xb1")  # TimestampScale (ns per tick), default 1 ms
    ticks = (
        seconds * 1e9 / (int.from_bytes(webm[scale_at + 4 : scale_at + 4 + (webm[scale_at + 3] & 0x0F)], "big") if scale_at >= 0 else 1e6)
    )
    packed = struct.pack(">d", ticks) if size == 8 else struct.pack(">f", ticks)
    return webm[: at + 3] + packed + webm[at + 3 + size :]


def zero_middle(data: bytes, fraction: float = 0.5, length: int = 4096) -> bytes:
    """The clip with `length` bytes zeroed at `fraction` of it (a broken stream, container intact)."""
    at = int(len(data) * fraction)
    return data[:at] + bytes(min(length, len(data) - at)) + data[at + length :]


def gif_frames_without_delay(frames: int = 2000, side: int = 16) -> bytes:
    """An animated GIF of `frames` tiny frames, each with no delay: it declares no duration
    (0 s) and decodes to `frames` frames."""
    images = [Image.new("P", (side, side), i % 200) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=0, loop=0, optimize=False)
    return out.getvalue()
