"""Hostile inputs built from real files: broken, tiny, animated and bomb images, and peak-RSS
measurement around a block of code. Shared by the bad-input catalogue, the fuzz tests and
the load script's bad-request mix.
"""

from __future__ import annotations

import io
import os
import re
import struct
import zlib
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 over type + data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_chunks(png: bytes) -> list[tuple[int, int, bytes]]:
    """(offset, data length, type) of every chunk after the signature."""
    out, pos = [], len(PNG_SIGNATURE)
    while pos + 8 <= len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        out.append((pos, length, png[pos + 4 : pos + 8]))
        pos += 12 + length
    return out


def png_header_only(width: int, height: int) -> bytes:
    """A well-formed PNG whose IHDR claims width x height RGB but holds one tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + png_chunk(b"IEND", b"")


def png_flat(width: int, height: int, *, alpha: bool = False) -> bytes:
    """A complete, valid PNG of one flat colour: a few hundred KB that expand to width x height
    pixels (a decompression bomb that stays under a pixel-count cap)."""
    channels = 4 if alpha else 3
    raw = (b"\0" + b"\x80" * (width * channels)) * height  # filter byte 0 + one row
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b"")


def png_bad_header_crc(png: bytes) -> bytes:
    """The PNG with its IHDR checksum flipped."""
    offset, length, kind = png_chunks(png)[0]
    assert kind == b"IHDR"
    crc_at = offset + 8 + length
    return png[:crc_at] + bytes(b ^ 0xFF for b in png[crc_at : crc_at + 4]) + png[crc_at + 4 :]


def png_mangled_idat(png: bytes) -> bytes:
    """The PNG with bytes of its first IDAT scrambled and the chunk CRC recomputed, so only
    the zlib stream itself is corrupt."""
    offset, length, _ = next(c for c in png_chunks(png) if c[2] == b"IDAT")
    data = bytearray(png[offset + 8 : offset + 8 + length])
    for i in range(16, length, 97):
        data[i] ^= 0x5A
    return png[:offset] + png_chunk(b"IDAT", bytes(data)) + png[offset + 12 + length :]


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def animated_gif(size: int = 64, frames: int = 3) -> bytes:
    images = [Image.new("RGB", (size, size), (80 * i, 40, 200 - 60 * i)) for i in range(frames)]
    return encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)


def multipage_tiff(photo: bytes, pages: int = 3) -> bytes:
    """A multi-page TIFF whose pages are the (downscaled) real photo."""
    image = Image.open(io.BytesIO(photo)).convert("RGB")
    image.thumbnail((256, 256))
    return encode(image, "TIFF", save_all=True, append_images=[image.rotate(90 * i) for i in range(1, pages)])


def tiny(photo: bytes, side: int, fmt: str = "PNG") -> bytes:
    """The real photo shrunk to side x side pixels."""
    return encode(Image.open(io.BytesIO(photo)).convert("RGB").resize((side, side)), fmt)


def as_png(photo: bytes) -> bytes:
    return encode(Image.open(io.BytesIO(photo)).convert("RGB"), "PNG")


@dataclass
class PeakRss:
    """Peak resident memory growth of a process over a block, in MiB (set on exit).

    Uses the kernel's peak mark (VmHWM, reset through /proc/PID/clear_refs), so a spike
    that is freed again before the block ends is still counted."""

    pid: int
    before_mb: float = 0.0
    peak_mb: float = 0.0

    @property
    def growth_mb(self) -> float:
        return self.peak_mb - self.before_mb


def _status_mb(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


@contextmanager
def peak_rss(pid: int | None = None):
    """``with peak_rss() as m: ...`` then ``m.growth_mb``: peak RSS over the block minus RSS before."""
    m = PeakRss(pid or os.getpid())
    with open(f"/proc/{m.pid}/clear_refs", "w") as refs:
        refs.write("5")  # reset VmHWM to the current RSS
    m.before_mb = _status_mb(m.pid, "VmRSS")
    yield m
    m.peak_mb = _status_mb(m.pid, "VmHWM")


# ---- inputs whose cost hides behind small headers (issue "Hostile input, round two") ----

JPEG_MARKER = re.compile(rb"\xff[^\x00\xff\xd0-\xd7]")


def jpeg_segments(jpeg: bytes) -> list[tuple[int, int, int]]:
    """(marker code, start, end) of every segment of a JPEG; a scan's entropy-coded data is
    part of its SOS segment, so joining the slices in order gives the file back."""
    out, pos = [], 2
    while pos < len(jpeg):
        code = jpeg[pos + 1]
        if code == 0xD9:
            out.append((code, pos, pos + 2))
            break
        end = pos + 2 + struct.unpack(">H", jpeg[pos + 2 : pos + 4])[0]
        if code == 0xDA:
            following = JPEG_MARKER.search(jpeg, end)
            end = following.start() if following else len(jpeg)
        out.append((code, pos, end))
        pos = end
    return out


def _flat_jpeg(width: int, height: int, **options) -> bytes:
    return encode(Image.new("RGB", (width, height), (120, 130, 140)), "JPEG", quality=90, **options)


def _with_frame_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The JPEG with its SOF segment's height and width replaced."""
    _, start, _ = next(s for s in jpeg_segments(jpeg) if 0xC0 <= s[0] <= 0xCF and s[0] not in (0xC4, 0xC8, 0xCC))
    return jpeg[: start + 5] + struct.pack(">HH", height, width) + jpeg[start + 9 :]


def progressive_jpeg_claiming(width: int, height: int, *, subsampling: int = 0) -> bytes:
    """A real progressive JPEG (64 x 64, Pillow) whose frame header claims width x height,
    cut after its first scan: a few hundred bytes. libjpeg allocates (and zeroes) the whole
    coefficient buffer, w x h x 2 bytes per component (4:4:4: 6 bytes a pixel), before it
    finds the data missing: 7000 x 7000 is ~290 MB, whatever the draft scale."""
    jpeg = _flat_jpeg(64, 64, progressive=True, subsampling=subsampling)
    first_scan_end = next(end for code, _, end in jpeg_segments(jpeg) if code == 0xDA)
    return _with_frame_size(jpeg[:first_scan_end], width, height) + b"\xff\xd9"


def multiscan_baseline_jpeg_claiming(width: int, height: int) -> bytes:
    """A baseline (SOF0) JPEG whose first scan names one component of three: libjpeg must
    then keep every coefficient too (a multi-scan file), as for a progressive one."""
    jpeg = _with_frame_size(_flat_jpeg(64, 64, subsampling=0), width, height)
    _, start, end = next(s for s in jpeg_segments(jpeg) if s[0] == 0xDA)
    header = struct.pack(">HB", 8, 1) + jpeg[start + 5 : start + 7] + b"\x00\x3f\x00"  # Ns = 1, first component
    return jpeg[:start] + b"\xff\xda" + header + jpeg[start + 4 + struct.unpack(">H", jpeg[start + 2 : start + 4])[0] : end] + b"\xff\xd9"


def jpeg_with_repeated_scans(scans: int = 3000, side: int = 2048) -> bytes:
    """A real progressive JPEG of a flat side x side image with its luma AC refinement scan
    (31 bytes: all end-of-band runs) repeated until the file holds `scans` scans. Each
    repetition still walks every luma block: ~2.3 ms of CPU at 2048 x 2048."""
    jpeg = _flat_jpeg(side, side, progressive=True)
    segments = jpeg_segments(jpeg)
    sos = [(start, end) for code, start, end in segments if code == 0xDA]

    def refines_luma(start: int) -> bool:  # one component, spectral selection 1..63, Ah > 0
        return jpeg[start + 4] == 1 and jpeg[start + 7] >= 1 and jpeg[start + 9] >> 4 > 0

    start, end = next(s for s in sos if refines_luma(s[0]))
    eoi = segments[-1][1]
    return jpeg[:eoi] + jpeg[start:end] * (scans - len(sos)) + jpeg[eoi:]


def jpeg_with_comments(count: int = 5000) -> bytes:
    """A real JPEG with `count` empty COM segments before its frame header (Pillow parses each in Python)."""
    jpeg = _flat_jpeg(64, 64)
    return jpeg[:2] + b"\xff\xfe\x00\x02" * count + jpeg[2:]


def jpeg_with_marker(code: int) -> bytes:
    """A real 64 x 64 baseline JPEG whose SOF0 marker is replaced by `code` (0xC3: lossless)."""
    jpeg = _flat_jpeg(64, 64)
    _, start, _ = next(s for s in jpeg_segments(jpeg) if s[0] == 0xC0)
    return jpeg[: start + 1] + bytes([code]) + jpeg[start + 2 :]


def tiff_pages(pages: int = 20_000, *, side: int = 64, compression: int | list[int] = 1, entries: int = 0) -> bytes:
    """A classic little-endian TIFF of `pages` gray side x side pages sharing one strip, built
    by hand (~100 bytes a page). `compression` names each page's compression (an int for all);
    `entries` pads the first directory with that many extra (private, ignored) entries."""
    kinds = [compression] * pages if isinstance(compression, int) else compression
    strip = bytes(side * side)
    out = bytearray(b"II*\x00" + struct.pack("<I", 8 + len(strip)) + strip)
    for page, kind in enumerate(kinds):
        fields = [(256, 3, side), (257, 3, side), (258, 3, 8), (259, 3, kind), (262, 3, 1), (273, 4, 8), (277, 3, 1)]
        fields += [(278, 4, side), (279, 4, len(strip))] + [(65000, 3, 0)] * (entries if page == 0 else 0)
        following = len(out) + 2 + 12 * len(fields) + 4
        out += struct.pack("<H", len(fields))
        out += b"".join(struct.pack("<HHII", tag, kind_, 1, value) for tag, kind_, value in fields)
        out += struct.pack("<I", following if page < len(kinds) - 1 else 0)
    return bytes(out)


def webp_flat(width: int, height: int, *, lossless: bool = True) -> bytes:
    """A flat-colour WebP: a few hundred bytes that libwebp expands to 4 x 4 bytes a pixel in
    Pillow (two canvases, the frame handed to Python, the image): 3400 x 3400 is ~180 MB."""
    return encode(Image.new("RGB", (width, height), (90, 120, 150)), "WEBP", lossless=lossless, quality=80)


def bmp_rle8_rows(width: int, height: int) -> bytes:
    """An RLE8 BMP whose every row is one pixel and an end-of-line: 4 bytes a row. Pillow
    decodes RLE in Python and pads each row a byte at a time (~150 ns a pixel): 3400 x 3400
    (11.6 MP, 14 KB) costs ~1.7 s of CPU."""
    palette = b"".join(bytes((i, i, i, 0)) for i in range(256))
    pixels = b"\x01\x05\x00\x00" * height + b"\x00\x01"
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


def png_with_chunks(count: int = 20_000, side: int = 64) -> bytes:
    """A valid flat PNG whose image data is split into `count` IDAT chunks (Pillow reads each in Python)."""
    raw = zlib.compress((b"\0" + b"\x80" * side * 3) * side)
    parts = [raw[i * len(raw) // count : (i + 1) * len(raw) // count] for i in range(count)]
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    idats = b"".join(png_chunk(b"IDAT", part) for part in parts)
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + idats + png_chunk(b"IEND", b"")


def gif_with_comment_blocks(blocks: int = 200_000, side: int = 64) -> bytes:
    """A valid one-frame GIF behind a comment extension of `blocks` one-byte sub-blocks (Pillow reads each in Python)."""
    gif = encode(Image.new("P", (side, side), 3), "GIF")
    comment = b"\x21\xfe" + b"\x01x" * blocks + b"\x00"
    table = 3 << ((gif[10] & 7) + 1) if gif[10] & 0x80 else 0
    return gif[: 13 + table] + comment + gif[13 + table :]


def animated_gif_frames(frames: int = 5000, side: int = 64) -> bytes:
    """A GIF of `frames` one-pixel frames after a real first frame: ~20 bytes a frame."""
    gif = encode(Image.new("P", (side, side), 3), "GIF")
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return gif[:-1] + frame * (frames - 1) + b"\x3b"
