"""What a photo's headers declare, read in pure Python with bounded work.

Each format's reader (jpeg.py, containers.py) walks only headers, markers, chunks or
directories, never pixel data, and caps every walk: the work is a few thousand steps at
most, whatever the file holds. Readers raise `Truncated` when the data ends inside a header,
`Corrupt` when a header is impossible, and `TooComplex` when a walk passes its cap. Their
messages name positions in the headers, never the length of the data, so the same photo
with bytes appended (as clients and tests do to defeat caches) gets the same answer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

FRAME_CAP = 16  # frames or pages counted; past this a message says "at least 16"

# Pillow's in-memory bytes per pixel of the modes a first frame decodes to (RGB is padded to 4).
MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "LA": 4, "RGB": 4, "RGBA": 4, "CMYK": 4, "I": 4, "F": 4}


class HeaderError(Exception):
    """The headers cannot be read; the message says where and why (no input name)."""


class Truncated(HeaderError):
    """The data ends inside a header."""


class Corrupt(HeaderError):
    """A header holds impossible values."""


class TooComplex(HeaderError):
    """A walk over markers, chunks, blocks or directory entries passed its cap."""


class Unsupported(HeaderError):
    """A variant of a supported format that this service does not decode (e.g. lossless JPEG)."""


@dataclass(frozen=True)
class Header:
    """Facts read from the headers; what decoding them costs is cost.py's business.

    Attributes:
        format: Pillow's format name: "JPEG", "PNG", "WEBP", "BMP", "GIF" or "TIFF".
        width, height: declared size of the first frame or page, pixels (what Pillow reports).
        mode: the Pillow mode the first frame decodes to ("L", "RGB", "RGBA", "P", "I;16", ...).
        components: channels stored per pixel (JPEG components, PNG/TIFF samples, alpha included).
        frames: frames or pages found, counted up to FRAME_CAP + 1.
        progressive: a progressive JPEG (SOF2/SOF10).
        scans: JPEG scans (SOS segments), counted up to the caller's cap + 1; 1 elsewhere.
        scan_pixels: JPEG: sum over the scans of the (padded) pixels of the components each covers.
        coefficient_bytes: JPEG: the whole-image DCT coefficient buffer libjpeg allocates for
            a multi-scan file (progressive, or a first scan without every component); else 0.
        entropy_bytes: JPEG: bytes from the first scan on (what the entropy decoder reads).
        strip_bytes: compressed TIFF: bytes of the largest decoded strip or tile libtiff buffers.
        lossless: WebP VP8L.
        rle: BMP with RLE4/RLE8 compression (decoded by Pillow in Python).
        detail: a few words for messages ("progressive, 3 components, 4:4:4", "RLE8", "lossless").
    """

    format: str
    width: int
    height: int
    mode: str
    components: int
    frames: int = 1
    progressive: bool = False
    scans: int = 1
    scan_pixels: int = 0
    coefficient_bytes: int = 0
    entropy_bytes: int = 0
    strip_bytes: int = 0
    lossless: bool = False
    rle: bool = False
    detail: str = ""

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def mode_bytes(self) -> int:
        """Bytes per pixel of the decoded first frame in Pillow's memory."""
        return MODE_BYTES.get(self.mode, 4)

    def describe(self) -> str:
        """'progressive JPEG 7000x7000 (3 components, 4:4:4)': for messages."""
        kind = f"progressive {self.format}" if self.progressive else self.format
        return f"{kind} {self.width}x{self.height}" + (f" ({self.detail})" if self.detail else "")


def unpack(fmt: str, data: bytes, offset: int, what: str) -> tuple[Any, ...]:
    """struct.unpack_from that raises Truncated (naming `what`) instead of struct.error."""
    if offset < 0 or offset + struct.calcsize(fmt) > len(data):
        raise Truncated(f"the data ends inside the {what} at byte {offset}")
    return struct.unpack_from(fmt, data, offset)


def positive_size(width: int, height: int, what: str) -> None:
    """Corrupt unless both sides are at least one pixel."""
    if width <= 0 or height <= 0:
        raise Corrupt(f"the {what} declares a size of {width}x{height}")
