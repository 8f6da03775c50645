"""PNG, GIF, WebP and BMP headers: size, mode, frames; every walk capped.

Pillow reads each PNG chunk, GIF block and sub-block before the first image in Python, a
few microseconds each; the caps here keep that work (and this module's own) to milliseconds.
"""

from __future__ import annotations

from shared.images.header import FRAME_CAP, Corrupt, Header, TooComplex, Truncated, positive_size, unpack

CHUNK_CAP = 16_384  # PNG chunks (IDATs included) and WebP chunks; libpng writes 8 KB IDATs: 2,560 in 20 MB
SUB_BLOCK_CAP = 2**17  # GIF sub-blocks walked: 255-byte blocks of 20 MB are 82,000
PNG_MODES = {0: "L", 2: "RGB", 3: "P", 4: "LA", 6: "RGBA"}
PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def read_png(data: bytes) -> Header:
    """IHDR, and acTL's frame count (APNG); every chunk is walked, up to CHUNK_CAP."""
    ihdr: tuple[int, ...] | None = None
    frames, pos, chunks, seen_idat = 1, 8, 0, False
    while pos + 8 <= len(data):
        length, kind = unpack(">I4s", data, pos, "PNG chunk header")
        chunks += 1
        if chunks > CHUNK_CAP:
            raise TooComplex(f"the PNG has more than {CHUNK_CAP} chunks")
        if kind == b"IHDR" and not seen_idat:
            if ihdr is not None:
                raise Corrupt("the PNG has two IHDR chunks")
            ihdr = unpack(">IIBBBBB", data, pos + 8, "PNG IHDR chunk")
        elif kind == b"acTL" and not seen_idat:
            (count,) = unpack(">I", data, pos + 8, "PNG acTL chunk")
            frames = count if 0 < count <= 2**31 else 1  # Pillow ignores an invalid acTL
        elif kind == b"IDAT":
            seen_idat = True
        elif kind == b"IEND":
            break
        pos += 12 + length
    if ihdr is None:
        raise Truncated("the PNG ends before its IHDR chunk")
    width, height, depth, color = ihdr[:4]
    positive_size(width, height, "PNG IHDR chunk")
    if color not in PNG_MODES:
        raise Corrupt(f"the PNG IHDR chunk declares colour type {color}")
    mode = "I;16" if (color, depth) == (0, 16) else PNG_MODES[color]
    detail = f"{depth}-bit {mode}" + (", APNG" if frames != 1 else "")
    return Header("PNG", width, height, mode, PNG_CHANNELS[color], frames=frames, detail=detail)


def read_gif(data: bytes) -> Header:
    """The logical screen, grown to fit the first frame as Pillow does; frames up to FRAME_CAP + 1."""
    screen_w, screen_h, flags = unpack("<HHB", data, 6, "GIF screen descriptor")
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    width, height, frames, walk = screen_w, screen_h, 0, _SubBlocks(data)
    while frames <= FRAME_CAP and pos < len(data):
        tag = data[pos]
        if tag == 0x21:  # extension: label, then sub-blocks
            pos = walk.skip(pos + 2)
        elif tag == 0x2C:  # image descriptor, local colour table, LZW code size, sub-blocks
            x, y, w, h, local = unpack("<HHHHB", data, pos + 1, "GIF image descriptor")
            if frames == 0:
                width, height = max(width, x + w), max(height, y + h)
            frames += 1
            pos = walk.skip(pos + 11 + (3 << ((local & 7) + 1) if local & 0x80 else 0))
        elif tag == 0x3B or frames:  # the trailer, or bytes after a frame that are no block
            break
        else:
            raise Corrupt(f"the GIF has byte 0x{tag:02x} where a block should start (byte {pos})")
    if frames == 0:
        raise Truncated("the GIF ends before its first image")
    positive_size(width, height, "GIF screen descriptor")
    return Header("GIF", width, height, "P", 1, frames=frames)


class _SubBlocks:
    """Skips GIF sub-block chains, counting every sub-block against SUB_BLOCK_CAP."""

    def __init__(self, data: bytes):
        self.data, self.count = data, 0

    def skip(self, pos: int) -> int:
        """The position after the chain starting at pos (its zero-length terminator included)."""
        data = self.data
        while pos < len(data) and data[pos]:
            pos += data[pos] + 1
            self.count += 1
            if self.count > SUB_BLOCK_CAP:
                raise TooComplex(f"the GIF has more than {SUB_BLOCK_CAP} data sub-blocks")
        return pos + 1


def read_webp(data: bytes) -> Header:
    """The canvas (VP8X) or the one image's size (VP8/VP8L); animation frames (ANMF) up to FRAME_CAP + 1."""
    width = height = frames = 0
    alpha = lossless = False
    pos, chunks = 12, 0
    while pos + 8 <= len(data) and frames <= FRAME_CAP:
        kind, length = unpack("<4sI", data, pos, "WebP chunk header")
        chunks += 1
        if chunks > CHUNK_CAP:
            raise TooComplex(f"the WebP has more than {CHUNK_CAP} chunks")
        body = pos + 8
        if kind == b"VP8X" and chunks == 1:
            flags, w, h = unpack("<B3x3s3s", data, body, "WebP VP8X chunk")
            width, height = int.from_bytes(w, "little") + 1, int.from_bytes(h, "little") + 1
            alpha = bool(flags & 0x10)
        elif kind in (b"VP8 ", b"VP8L"):
            w, h, has_alpha = _bitstream_size(data, kind, body)
            # The decoder's own buffers follow the bitstream's size: the larger of the two counts.
            width, height, alpha = max(width, w), max(height, h), alpha or has_alpha
            lossless, frames = lossless or kind == b"VP8L", max(frames, 1)
        elif kind == b"ANMF":
            frames += 1
            sub = body + 16  # frame offset, size, duration, flags
            if sub + 8 <= len(data) and data[sub : sub + 4] == b"ALPH":
                alph = int.from_bytes(data[sub + 4 : sub + 8], "little")
                sub += 8 + alph + (alph & 1)
            if data[sub : sub + 4] == b"VP8L":
                lossless = True
        pos = body + length + (length & 1)
    if not frames:
        raise Truncated("the WebP ends before its first image")
    positive_size(width, height, "WebP header")
    detail = "lossless" if lossless else "lossy"
    return Header("WEBP", width, height, "RGBA" if alpha else "RGB", 4 if alpha else 3, frames=frames, lossless=lossless, detail=detail)


def _bitstream_size(data: bytes, kind: bytes, body: int) -> tuple[int, int, bool]:
    """(width, height, alpha) from a VP8 key frame header or a VP8L header."""
    if kind == b"VP8L":
        signature, bits = unpack("<BI", data, body, "WebP VP8L header")
        if signature != 0x2F:
            raise Corrupt("the WebP VP8L header has no signature")
        return (bits & 0x3FFF) + 1, (bits >> 14 & 0x3FFF) + 1, bool(bits >> 28 & 1)
    start, w, h = unpack("<3x3sHH", data, body, "WebP VP8 frame header")
    if start != b"\x9d\x01\x2a":
        raise Corrupt("the WebP VP8 frame header has no start code")
    return w & 0x3FFF, h & 0x3FFF, False


BMP_HEADERS = {12, 40, 52, 56, 64, 108, 124}  # the DIB header sizes Pillow reads


def read_bmp(data: bytes) -> Header:
    """BITMAPCOREHEADER or BITMAPINFOHEADER and its successors: size, bits per pixel, compression."""
    (header_size,) = unpack("<I", data, 14, "BMP header")
    if header_size not in BMP_HEADERS:
        raise Corrupt(f"the BMP header has an unknown size ({header_size} bytes)")
    if header_size == 12:
        width, height, _, bits = unpack("<HHHH", data, 18, "BMP core header")
        compression = 0
    else:
        width, height, _, bits, compression = unpack("<iiHHI", data, 18, "BMP info header")
    height = abs(height)  # negative: stored top-down
    positive_size(width, height, "BMP header")
    mode = "P" if bits <= 8 else ("RGBA" if bits == 32 and _bmp_alpha(data, header_size, compression) else "RGB")
    rle = compression in (1, 2)
    detail = f"{bits}-bit" + (f", RLE{8 if compression == 1 else 4}" if rle else "")
    return Header("BMP", width, height, mode, 4 if mode == "RGBA" else (1 if bits <= 8 else 3), rle=rle, detail=detail)


def _bmp_alpha(data: bytes, header_size: int, compression: int) -> bool:
    """A 32-bit BMP keeps alpha only with bit-field masks that include one (Pillow reads 'BGRX' otherwise)."""
    if compression not in (3, 6) or (header_size < 56 and compression != 6):
        return False
    return len(data) >= 70 and data[66:70] != b"\0\0\0\0"  # the alpha mask, after the R, G, B masks at 54
