"""Peak memory and CPU time of decode_photo, from the headers: the formulas and their calibration.

Peak memory follows decode_photo's three phases, the largest of which is the peak:

1. decoding: the decoded image (w x h x Pillow's bytes per pixel; a JPEG at its draft
   scale) plus the codec's own buffers: libjpeg's whole-image coefficient buffer for a
   multi-scan JPEG (2 bytes per coefficient, draft or not), libwebp's two canvases and the
   frame it hands to Python (3 x w x h x 4), a compressed TIFF's largest strip or tile, an
   RLE BMP's Python buffers;
2. shrinking to max_side: the image, Pillow's reduce() and two-pass resample buffers, and for
   RGBA/LA a premultiplied copy of the whole image;
3. the working copies: EXIF transpose, mode conversion, compositing over white, the array
   (POST_BYTES per working pixel).

Calibrated with peak RSS (VmHWM) in a fresh process per file, decode_photo on obama.jpg
re-encoded at 1, 4 and 12 MP (16 MP JPEG) in 29 format/mode/compression variants: the
estimate is 1 to 36% over the measured peak (+1.5 to +11 MiB), never under;
tests/shared/images/test_cost.py checks it. CPU is calibrated the same way on one x86-64
core (process time): the estimate is 0.7 to 5 times the measured time (most over for palette
and uncompressed files, whose pixels cost less than the format's average); it exists to
refuse what would take seconds, not to predict milliseconds.
"""

from __future__ import annotations

import math

from shared.images.header import Header
from shared.images.limits import MIB

FIXED_BYTES = 2 * MIB  # codec state, tables and Python objects of one decode
POST_BYTES = {"gray": 10, "plain": 16, "alpha": 24, "wide": 40}  # phase 3, bytes per working pixel (measured 9, 13, 23, 31)
DECODE_NS = {"JPEG": 8.0, "PNG": 55.0, "WEBP": 40.0, "TIFF": 30.0, "BMP": 12.0, "GIF": 12.0}  # per decoded pixel
JPEG_SOURCE_NS = 1.5  # per declared pixel: libjpeg's entropy and scaled-IDCT work at draft scale
ENTROPY_NS = (12.0, 50.0)  # per byte of JPEG entropy-coded data: one scan, several (measured 9 and 43)
SCAN_NS = 1.2  # per pixel of each component a multi-scan JPEG's scan covers (an empty refinement scan: 0.56)
RLE_NS = 200.0  # per pixel of an RLE BMP, decoded by Pillow in Python (measured 145)
WORKING_NS = 30.0  # per working pixel: shrink, transpose, conversion, array
ALPHA_NS = (5.0, 40.0)  # per RGBA/LA pixel shrunk (premultiplying), per RGBA/LA/P working pixel (compositing)


def fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """(width, height) scaled so the longest side is at most max_side, as Image.thumbnail does (to a pixel)."""
    width, height = size
    if max(width, height) <= max_side:
        return size
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def peak_bytes(header: Header, decoded: tuple[int, int], working: tuple[int, int]) -> int:
    """Estimated peak memory of decode_photo, bytes: the largest of its three phases (module docstring)."""
    image = decoded[0] * decoded[1] * header.mode_bytes
    canvas = header.pixels * 4
    retained = 2 * canvas if header.format == "WEBP" else 0  # libwebp's canvases live as long as the image
    codec = {
        "JPEG": header.coefficient_bytes,
        "WEBP": 3 * canvas + (canvas // 8 if header.lossless else 0),
        "TIFF": header.strip_bytes,
        "BMP": 3 * header.pixels if header.rle else 0,
    }.get(header.format, 0)
    shrinking = retained + image + shrink_bytes(decoded, working, header.mode) if decoded != working else 0
    work = retained + working[0] * working[1] * POST_BYTES[_post_kind(header.mode)]
    return max(image + codec, shrinking, work) + FIXED_BYTES


def shrink_bytes(decoded: tuple[int, int], working: tuple[int, int], mode: str) -> int:
    """Bytes Image.thumbnail(reducing_gap=2) allocates besides the image it shrinks."""
    per_pixel = 4 if mode not in ("1", "L", "P", "I;16") else (2 if mode == "I;16" else 1)
    out = working[0] * working[1] * per_pixel
    if mode in ("1", "P"):
        return out  # nearest neighbour: one pass
    factor_x, factor_y = int(decoded[0] / working[0] / 2) or 1, int(decoded[1] / working[1] / 2) or 1
    reduced_w, reduced_h = math.ceil(decoded[0] / factor_x), math.ceil(decoded[1] / factor_y)
    reduced = reduced_w * reduced_h * per_pixel if factor_x > 1 or factor_y > 1 else 0
    premultiplied = decoded[0] * decoded[1] * per_pixel + out if mode in ("RGBA", "LA") else 0
    return premultiplied + reduced + working[0] * reduced_h * per_pixel + out


def _post_kind(mode: str) -> str:
    if mode in ("I;16", "I", "F"):
        return "wide"  # scaled to 8 bits through float64 arrays
    if mode in ("1", "L"):
        return "gray"
    return "alpha" if mode in ("RGBA", "LA", "P") else "plain"


def cpu_ms(header: Header, decoded: tuple[int, int], working: tuple[int, int]) -> float:
    """Estimated CPU time of decode_photo, milliseconds on one x86-64 core (calibrated: module docstring)."""
    ns = decoded[0] * decoded[1] * DECODE_NS[header.format] + working[0] * working[1] * WORKING_NS
    if header.format == "JPEG":
        multi_scan = header.coefficient_bytes > 0
        ns += header.pixels * JPEG_SOURCE_NS + header.entropy_bytes * ENTROPY_NS[multi_scan]
        ns += header.scan_pixels * SCAN_NS if multi_scan else 0
    if header.rle:
        ns += header.pixels * RLE_NS
    if header.mode in ("RGBA", "LA") and decoded != working:
        ns += decoded[0] * decoded[1] * ALPHA_NS[0]
    if _post_kind(header.mode) == "alpha":
        ns += working[0] * working[1] * ALPHA_NS[1]
    return ns / 1e6
