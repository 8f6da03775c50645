"""The budgets a clip is checked against before any frame is decoded (light: no PyAV)."""

from __future__ import annotations

from dataclasses import dataclass

# Containers FFmpeg names them (`format.name` lists aliases, comma-separated).
CONTAINERS = ("mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm", "gif")
# Video codecs a phone, a browser's MediaRecorder or an animation tool writes.
CODECS = ("h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "mjpeg", "gif")


@dataclass(frozen=True)
class VideoLimits:
    """Attributes:
    max_seconds: longest clip (declared duration, or frames / rate).
    max_side: largest declared frame side, pixels (a 1080p phone clip is 1920).
    max_frames: most frames a clip may declare or decode to (60 fps x max_seconds).
    working_side: longest side frames are scaled to after decoding (HAND_IMAGE_SIDE).
    max_decode_ms: most CPU decoding one clip may take, milliseconds (checked as it decodes).
    containers, codecs: what is decoded at all (FFmpeg's names); anything else is 415.
    """

    max_seconds: float = 10.0
    max_side: int = 1920
    max_frames: int = 600
    working_side: int = 640
    max_decode_ms: int = 1500
    containers: tuple[str, ...] = CONTAINERS
    codecs: tuple[str, ...] = CODECS
