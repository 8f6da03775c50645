"""The budgets a photo is checked against before any pixel is decoded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.settings import Settings

MIB = 2**20


@dataclass(frozen=True)
class DecodeLimits:
    """Budgets checked from the headers, before any pixel is decoded.

    The first three are positional in `VerifyOptions.from_settings`; keep them first.

    Attributes:
        max_pixels: largest JPEG (w x h); JPEGs decode already scaled down (draft mode).
        max_full_pixels: largest PNG/WebP/TIFF/BMP/GIF, which decode at full size first
            (a 49 MP RGBA PNG is ~200 MB decoded).
        max_side: longest side, pixels, a photo is scaled down to.
        first_side: longest side, pixels, a photo is first decoded to when the caller can
            ask for more later (face verification: found at this size, decoded again up to
            max_side only when the face is too small here for its chip). JPEGs decode in
            draft mode at 1/2, 1/4 or 1/8: less pixel work and memory.
        max_decode_bytes: most memory one decode may take at its peak, bytes, as estimated
            from the headers (`ImageCost.peak_bytes`). 128 MiB: a quarter of the 512 MB tier,
            and above the largest photo the pixel caps let through (12 MP of RGBA PNG or
            TIFF, measured at 112 MiB); a 12 MP WebP (~190 MiB: libwebp's two canvases, the
            frame handed to Python and the image) or a 49 MP 4:4:4 progressive JPEG
            (~290 MiB of coefficients) is refused.
        max_progressive_pixels: largest progressive (or otherwise multi-scan) JPEG, w x h:
            libjpeg keeps every DCT coefficient of such a file (2 bytes each, 1.5-4 per
            pixel) whatever the draft scale, and every scan walks all of them.
        max_scans: most JPEG scans (SOS segments); libjpeg writes 10 per colour
            progressive file, mozjpeg and jpegli a few more. Each scan costs CPU in
            proportion to the pixels it covers, data or not.
        max_decode_ms: most CPU one decode may take, milliseconds, as estimated from the
            headers (`ImageCost.cpu_ms`, calibrated on one x86-64 core; see cost.py).
            Catches what no size cap does: RLE BMPs, which Pillow decodes in Python
            (~150 ns per pixel), and scan-heavy progressive JPEGs.
        max_request_ms: most CPU the decodes of all photos of one request may take together,
            milliseconds, as estimated from their headers before any is decoded: 64 gesture
            frames each just under max_decode_ms (9 KB RLE BMPs) cost 14 s of CPU.
    """

    max_pixels: int = 50_000_000
    max_full_pixels: int = 12_000_000
    max_side: int = 1280
    max_decode_bytes: int = 128 * MIB
    max_progressive_pixels: int = 16_000_000
    max_scans: int = 64
    max_decode_ms: int = 1000
    first_side: int = 640
    max_request_ms: int = 2000

    @classmethod
    def from_settings(cls, settings: Settings) -> DecodeLimits:
        return cls(
            max_pixels=settings.max_image_pixels,
            max_full_pixels=settings.max_full_decode_pixels,
            max_side=settings.max_image_side,
            max_decode_bytes=settings.max_decode_mb * MIB,
            max_progressive_pixels=settings.max_progressive_pixels,
            max_scans=settings.max_jpeg_scans,
            max_decode_ms=settings.max_decode_ms,
            max_request_ms=settings.max_request_decode_ms,
        )
