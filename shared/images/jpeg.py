"""JPEG headers: the frame (SOF), every scan (SOS), libjpeg's draft scale, and the quality
the luminance quantisation table says the photo was saved at (`ijg_quality`).

The marker walk runs through the whole file, entropy-coded data included, because a
progressive JPEG spreads its scans over the file. A regular expression finds each next
marker in C (inside entropy-coded data a 0xFF byte is always followed by 0x00 or a restart
code, so `FF xx` for any other xx is a marker); segments are skipped by their length. At
most MARKER_CAP markers are visited, and scans are counted up to the caller's cap + 1.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.images.header import Corrupt, Header, TooComplex, Truncated, Unsupported, positive_size, unpack

MARKER = re.compile(rb"\xff[^\x00\xff\xd0-\xd7]")  # any marker but a restart (RSTn lives inside scans)
MARKER_CAP = 4096  # a camera JPEG has ~20 markers, an edited one with split ICC/XMP data ~100
EOI, SOS, TEM = 0xD9, 0xDA, 0x01
SEQUENTIAL = {0xC0, 0xC1, 0xC9}  # baseline, extended, arithmetic
PROGRESSIVE = {0xC2, 0xCA}
UNSUPPORTED = {0xC3: "lossless", 0xC5: "hierarchical", 0xC6: "hierarchical", 0xC7: "hierarchical", 0xCB: "lossless"}
UNSUPPORTED |= {0xCD: "hierarchical", 0xCE: "hierarchical", 0xCF: "hierarchical", 0xDE: "hierarchical"}
FRAME_CODES = SEQUENTIAL | PROGRESSIVE | set(UNSUPPORTED)  # every marker Pillow reads as a frame header
MODES = {1: "L", 3: "RGB", 4: "CMYK"}  # Pillow's mode by component count; others are refused
COEFFICIENT_BYTES = 128  # one 8x8 block of 16-bit coefficients
# IJG libjpeg's luminance base table (jcparam.c, the JPEG standard's Annex K table), natural order, as Pillow gives tables.
IJG_LUMINANCE: tuple[int, ...] = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56)
IJG_LUMINANCE += (14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87)
IJG_LUMINANCE += (103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)


@dataclass(frozen=True)
class _Frame:
    """What an SOF segment declares; `blocks` maps a component id to its (padded) 8x8 blocks wide and high."""

    width: int
    height: int
    mode: str
    sampling: str
    blocks: dict[int, tuple[int, int]]
    progressive: bool


def read_jpeg(data: bytes, scan_cap: int) -> Header:
    """The frame and scans of a JPEG that starts with FF D8 FF; scans counted up to scan_cap."""
    frame: _Frame | None = None
    scans, scan_pixels, first_scan_at, first_scan_components, end_of_image = 0, 0, 0, 0, len(data)
    for code, at, end in _segments(data):
        if code == EOI:
            end_of_image = at  # an MPO's other images follow: not this one's data
        elif code == SOS:
            if frame is None:
                raise Corrupt("the JPEG has a scan before its frame header")
            components = _scan_components(data, at + 4, end)
            scans += 1
            scan_pixels += sum(64 * frame.blocks[c][0] * frame.blocks[c][1] for c in components if c in frame.blocks)
            if scans == 1:
                first_scan_at, first_scan_components = at, len(components)
            if scans > scan_cap:
                break
        elif not scans and code in FRAME_CODES:
            if frame is not None:
                raise Corrupt("the JPEG has two frame headers")
            frame = _frame(data, code, at + 4, end)
    if frame is None or not scans:
        raise Truncated("the JPEG ends before its first scan")
    multi_scan = frame.progressive or first_scan_components < len(frame.blocks)
    detail = f"{len(frame.blocks)} component{'s' if len(frame.blocks) > 1 else ''}" + (f", {frame.sampling}" if frame.sampling else "")
    return Header(
        format="JPEG",
        width=frame.width,
        height=frame.height,
        mode=frame.mode,
        components=len(frame.blocks),
        progressive=frame.progressive,
        scans=scans,
        scan_pixels=scan_pixels,
        coefficient_bytes=sum(COEFFICIENT_BYTES * w * h for w, h in frame.blocks.values()) if multi_scan else 0,
        entropy_bytes=end_of_image - first_scan_at,
        detail=detail + (", multi-scan" if multi_scan and not frame.progressive else ""),
    )


def _segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker code, start, end) of each segment (a scan: its header only) up to EOI, at most MARKER_CAP.

    A broken segment in the headers is Truncated or Corrupt; one between scans ends the walk
    (libjpeg will say what is wrong)."""
    pos, in_scans = 2, False
    for count in itertools.count(1):
        found = MARKER.search(data, pos)
        if found is None:
            return
        if count > MARKER_CAP:
            raise TooComplex(f"the JPEG has more than {MARKER_CAP} markers")
        at, code = found.start(), data[found.start() + 1]
        if code in (EOI, TEM):  # no length
            yield code, at, at + 2
            if code == EOI:
                return
            pos = at + 2
            continue
        (length,) = unpack(">H", data, at + 2, "JPEG marker length")
        end = at + 2 + length
        if in_scans and (length < 2 or end > len(data)):
            return
        if length < 2:
            raise Corrupt(f"a JPEG segment at byte {at} declares a length of {length}")
        if end > len(data):
            raise Truncated(f"the JPEG ends inside the header segment from byte {at} to {end}")
        in_scans = in_scans or code == SOS
        yield code, at, end
        pos = end


def _frame(data: bytes, code: int, start: int, end: int) -> _Frame:
    """An SOF segment's size, Pillow mode, sampling and per-component block counts."""
    if code in UNSUPPORTED:
        raise Unsupported(f"a {UNSUPPORTED[code]} JPEG ({'DHP' if code == 0xDE else f'SOF{code - 0xC0}'})")
    precision, height, width, count = unpack(">BHHB", data, start, "JPEG frame header")
    if precision != 8:
        raise Unsupported(f"a {precision}-bit JPEG")
    positive_size(width, height, "JPEG frame header")
    if count not in MODES or start + 6 + 3 * count > end:
        raise Corrupt(f"the JPEG frame header declares {count} components")
    factors = {}
    for i in range(count):
        ident, hv, _ = data[start + 6 + 3 * i : start + 9 + 3 * i]
        h, v = hv >> 4, hv & 15
        if not (1 <= h <= 4 and 1 <= v <= 4) or ident in factors:
            raise Corrupt(f"the JPEG frame header has component {ident} sampled {h}x{v}")
        factors[ident] = (h, v)
    hmax, vmax = max(h for h, _ in factors.values()), max(v for _, v in factors.values())
    blocks = {}
    for ident, (h, v) in factors.items():
        # libjpeg's jdinput.c and jdcoefct.c: blocks per component, padded to its sampling factors
        wide, high = math.ceil(width * h / (hmax * 8)), math.ceil(height * v / (vmax * 8))
        blocks[ident] = (math.ceil(wide / h) * h, math.ceil(high / v) * v)
    sampling = _sampling_name(list(factors.values())) if count == 3 else ""
    return _Frame(width, height, MODES[count], sampling, blocks, progressive=code in PROGRESSIVE)


def _sampling_name(factors: list[tuple[int, int]]) -> str:
    (h, v), chroma = factors[0], factors[1:]
    if all(c == (1, 1) for c in chroma):
        return {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0", (1, 2): "4:4:0"}.get((h, v), f"{h}x{v}")
    return "/".join(f"{a}x{b}" for a, b in factors)


def _scan_components(data: bytes, start: int, end: int) -> list[int]:
    """Component ids an SOS segment names."""
    (count,) = unpack(">B", data, start, "JPEG scan header")
    if not 1 <= count <= 4 or start + 1 + 2 * count > end:
        raise Corrupt(f"a JPEG scan header names {count} components")
    return [data[start + 1 + 2 * i] for i in range(count)]


def draft_request(width: int, height: int, max_side: int) -> tuple[int, int] | None:
    """The size to ask `Image.draft` for, or None when the photo is already small enough.

    libjpeg scales by 1/2, 1/4 or 1/8 while decoding, to at least the size asked for:
    asking for 3/4 of max_side lets a 12 MP photo decode at 1/4 (1000 px, no resize after)
    instead of 1/2 (2000 px, then resized): half the memory and CPU."""
    if max(width, height) <= max_side:
        return None
    ratio = 0.75 * max_side / max(width, height)
    return math.ceil(width * ratio), math.ceil(height * ratio)


def draft_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size libjpeg decodes to after `draft_request`, as Pillow's JpegImageFile.draft picks the scale."""
    request = draft_request(width, height, max_side)
    if request is None:
        return width, height
    most = min(width // request[0], height // request[1])
    scale = next(s for s in (8, 4, 2, 1) if most >= s)
    return (width + scale - 1) // scale, (height + scale - 1) // scale


def ijg_table(quality: int) -> tuple[int, ...]:
    """The luminance table libjpeg writes at `quality` (1-100; jpeg_quality_scaling and
    jpeg_add_quant_table, baseline): each base value times s = 5000 / q (q < 50) or
    200 - 2q (q >= 50) per cent, rounded, within 1-255."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return tuple(min(max((b * scale + 50) // 100, 1), 255) for b in IJG_LUMINANCE)


IJG_TABLES = np.array([ijg_table(q) for q in range(100, 0, -1)], np.int32)  # row i: quality 100 - i


def ijg_quality(table: Sequence[int]) -> int:
    """The IJG quality (1-100) whose luminance table is nearest to `table` (64 values, natural
    order; the sum of absolute differences, the higher quality on a tie): the quality libjpeg,
    Pillow and most tools were given for a photo they saved; for a camera's or an editor's own
    table, the IJG quality that quantises as coarsely."""
    values = np.minimum(np.asarray(table, np.int32), 255)
    if values.shape != (64,):
        raise ValueError(f"a JPEG quantisation table has 64 values, not {values.size}")
    return 100 - int(np.abs(IJG_TABLES - values).sum(axis=1).argmin())  # argmin: the first, the highest quality


def quality_of(image: Any) -> int | None:
    """The IJG quality of an opened Pillow JPEG (or MPO) image from the luminance table its
    header declared (`quantization`, the table of its first component); None for any other
    format or an image without tables. Reads what Pillow already parsed: no second parse."""
    tables = getattr(image, "quantization", None)
    if not tables:
        return None
    layer = getattr(image, "layer", None)
    chosen = layer[0][3] if layer and layer[0][3] in tables else min(tables)
    return ijg_quality(tables[chosen])
