"""TIFF headers (classic and BigTIFF): the first page's size, samples and strips; pages counted.

Only the first directory's entries are read (at most ENTRY_CAP); later pages are only
counted, by following the chain of next-directory offsets for at most FRAME_CAP + 1 pages,
so a file of 20,000 pages costs as little as one of two. (Pillow's `n_frames` parses every
directory in Python, and more slowly the more it has seen.)
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from shared.images.header import FRAME_CAP, Corrupt, Header, TooComplex, Truncated, positive_size, unpack

ENTRY_CAP = 1024  # directory entries on the first page; a camera TIFF has ~20-60
WIDTH, HEIGHT, BITS, COMPRESSION, PHOTOMETRIC = 256, 257, 258, 259, 262
SAMPLES, ROWS_PER_STRIP, PLANAR, TILE_WIDTH, TILE_HEIGHT = 277, 278, 284, 322, 323
WANTED = {WIDTH, HEIGHT, BITS, COMPRESSION, PHOTOMETRIC, SAMPLES, ROWS_PER_STRIP, PLANAR, TILE_WIDTH, TILE_HEIGHT}
VALUE_TYPES = {1: "B", 3: "H", 4: "I", 16: "Q"}  # BYTE, SHORT, LONG, LONG8: the integer types these tags use
PALETTE, SEPARATED, YCBCR = 3, 5, 6
JPEG = (6, 7)  # old-style and new-style JPEG compression


@dataclass(frozen=True)
class _Layout:
    """A TIFF's own words: byte order ('<' or '>') and, classic or BigTIFF, the formats of an
    offset, a directory's entry count and an entry's value count, and the inline value size."""

    order: str
    big: bool

    @property
    def offset(self) -> str:
        return "Q" if self.big else "I"

    @property
    def entries(self) -> str:
        return "Q" if self.big else "H"

    @property
    def entry(self) -> int:
        """Bytes per directory entry: tag, type, value count, value or offset."""
        return 20 if self.big else 12

    @property
    def inline(self) -> int:
        """Bytes of the value field: values that fit are stored in it, else it holds their offset."""
        return 8 if self.big else 4

    def read(self, fmt: str, data: bytes, at: int, what: str) -> int:
        return int(unpack(self.order + fmt, data, at, what)[0])


def read_tiff(data: bytes) -> Header:
    """The first page's header, and the pages counted up to FRAME_CAP + 1."""
    layout = _Layout("<" if data[:2] == b"II" else ">", big=data[2:4] in (b"+\x00", b"\x00+"))
    first = layout.read(layout.offset, data, 8 if layout.big else 4, "TIFF header")
    tags, next_page = _directory(data, first, layout)
    pages = 1 + _count_pages(data, next_page, layout, seen={first})
    return _header(tags, pages)


def _directory(data: bytes, at: int, layout: _Layout) -> tuple[dict[int, int], int]:
    """({tag: first value} for the tags in WANTED, offset of the next directory) of the directory at `at`."""
    count = layout.read(layout.entries, data, at, "TIFF directory")
    if count > ENTRY_CAP:
        raise TooComplex(f"the TIFF's first directory has {count} entries (at most {ENTRY_CAP} are read)")
    start = at + struct.calcsize(layout.entries)
    tags = {}
    for i in range(count):
        entry = start + i * layout.entry
        tag, kind = unpack(layout.order + "HH", data, entry, "TIFF directory entry")
        if tag in WANTED and kind in VALUE_TYPES:
            tags[tag] = _first_value(data, entry, kind, layout)
    return tags, layout.read(layout.offset, data, start + count * layout.entry, "TIFF directory")


def _first_value(data: bytes, entry: int, kind: int, layout: _Layout) -> int:
    """An entry's first value: inline when all its values fit in the value field, else at its offset."""
    fmt = VALUE_TYPES[kind]
    field = entry + layout.entry - layout.inline
    count = layout.read(layout.offset, data, entry + 4, "TIFF directory entry")  # value counts are offset-sized
    at = field if count * struct.calcsize(fmt) <= layout.inline else layout.read(layout.offset, data, field, "TIFF directory entry")
    return layout.read(fmt, data, at, "TIFF tag value")


def _count_pages(data: bytes, at: int, layout: _Layout, seen: set[int]) -> int:
    """Directories readable along the chain from `at`, up to FRAME_CAP (a loop or a bad offset ends it)."""
    pages = 0
    while at and at not in seen and pages < FRAME_CAP:
        seen.add(at)
        try:
            count = layout.read(layout.entries, data, at, "TIFF directory")
            end = at + struct.calcsize(layout.entries) + count * layout.entry
            following = layout.read(layout.offset, data, end, "TIFF directory")
        except Truncated:
            break  # a dangling offset: Pillow never gets there either
        if count == 0:
            break
        pages, at = pages + 1, following
    return pages


def _header(tags: dict[int, int], pages: int) -> Header:
    width, height = tags.get(WIDTH, 0), tags.get(HEIGHT, 0)
    positive_size(width, height, "TIFF first directory")
    bits, samples = tags.get(BITS, 1), tags.get(SAMPLES, 1)
    photometric, compression = tags.get(PHOTOMETRIC, 1), tags.get(COMPRESSION, 1)
    if not (1 <= bits <= 64 and 1 <= samples <= 16):
        raise Corrupt(f"the TIFF declares {samples} samples of {bits} bits")
    return Header(
        format="TIFF",
        width=width,
        height=height,
        mode=_mode(samples, bits, photometric),
        components=samples,
        frames=pages,
        strip_bytes=0 if compression == 1 else _strip_bytes(tags, width, height, samples, bits, compression),
        detail=f"{bits}-bit, {samples} sample{'s' if samples > 1 else ''}, compression {compression}",
    )


def _mode(samples: int, bits: int, photometric: int) -> str:
    """The Pillow mode a page decodes to, near enough for its bytes per pixel and alpha."""
    if samples == 1:
        return {16: "I;16", 32: "I"}.get(bits, "P" if photometric == PALETTE else "L")
    if samples == 2:
        return "LA"
    if samples == 3:
        return "RGB"
    return "CMYK" if photometric == SEPARATED else "RGBA"


def _strip_bytes(tags: dict[int, int], width: int, height: int, samples: int, bits: int, compression: int) -> int:
    """Bytes of the largest strip or tile libtiff decodes into a buffer of its own.

    Subsampled YCbCr is decoded through libtiff's RGBA interface, 4 bytes a pixel; a JPEG
    strip may be progressive, and libjpeg then keeps its coefficients (2 bytes a sample)."""
    pixel_bytes = (1 if tags.get(PLANAR, 1) == 2 else samples) * bits / 8
    if tags.get(PHOTOMETRIC) == YCBCR:
        pixel_bytes = max(pixel_bytes, 4)
    if compression in JPEG:
        pixel_bytes += 2 * samples
    if TILE_WIDTH in tags and TILE_HEIGHT in tags:
        return math.ceil(tags[TILE_WIDTH] * tags[TILE_HEIGHT] * pixel_bytes)
    rows = min(tags.get(ROWS_PER_STRIP) or height, height)
    return math.ceil(rows * width * pixel_bytes)
