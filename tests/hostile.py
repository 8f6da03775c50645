"""Hostile inputs built from real files: broken, tiny, animated and bomb images, and peak-RSS
measurement around a block of code. Shared by the bad-input catalogue, the fuzz tests and
the load script's bad-request mix.
"""

from __future__ import annotations

import io
import os
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
