"""Photo bytes -> an upright RGB uint8 array, safely and cheaply.

- The declared size is checked from the header before any pixel is decoded
  (a PNG claiming 50,000 x 50,000 is refused with no memory spike).
- JPEGs decode in draft mode: libjpeg scales by 1/2, 1/4 or 1/8 while decoding, so a
  12 MP photo never exists at full size in memory.
- EXIF orientation is applied; grayscale, palette, CMYK, alpha and 16/32-bit images all
  become 8-bit RGB (transparent areas over white).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from struct import error as struct_error  # raised by some corrupt TIFF/BMP headers

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from shared.errors import BadRequest, PayloadTooLarge, ServiceError, Unprocessable, UnsupportedMediaType

FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")  # JPEG includes MPO
EXIF_ORIENTATION = 0x0112
MIN_SIDE = 32  # below this no detector input can hold a face


@dataclass(frozen=True)
class DecodeLimits:
    """Budgets checked from the header, before any pixel is decoded.

    Attributes:
        max_pixels: largest JPEG (w x h); JPEGs decode already scaled down (draft mode).
        max_full_pixels: largest PNG/WebP/TIFF/BMP/GIF, which decode at full size first
            (a 49 MP RGBA PNG is ~200 MB decoded).
        max_side: longest side, pixels, a photo is scaled down to.
    """

    max_pixels: int = 50_000_000
    max_full_pixels: int = 12_000_000
    max_side: int = 1280


@dataclass(frozen=True)
class Photo:
    """Attributes:
    pixels: (H, W, 3) uint8 RGB, upright, scaled so the longest side <= max_side.
    scale: original upright size / working size (multiply working coordinates by it).
    size: (width, height) of the original upright photo.
    format: the container format Pillow found ("JPEG", "PNG", ...).
    """

    pixels: np.ndarray
    scale: float
    size: tuple[int, int]
    format: str


# Leading bytes of the supported formats: a file that starts like one but will not open is
# corrupt (400), not of an unsupported type (415).
SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")


def _looks_supported(data: bytes) -> bool:
    return data.startswith(SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def decode_photo(data: bytes, *, name: str, limits: DecodeLimits) -> Photo:
    """Decode one photo; 4xx errors name the input (`name`) and what was wrong.

    Pillow's own decompression-bomb guard (over twice its MAX_IMAGE_PIXELS) is left as it
    is, process-wide; our limits are lower by default and checked first from the header."""
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
        return _decode(image, name, limits)
    except UnidentifiedImageError:
        if _looks_supported(data):
            raise BadRequest(f"{name} could not be decoded: the image header is corrupt", code="invalid_image") from None
        raise UnsupportedMediaType(
            f"{name} is not an image in a supported format ({', '.join(FORMATS)})", code="unsupported_image"
        ) from None
    except Image.DecompressionBombError:
        raise PayloadTooLarge(f"{name} declares too many pixels", code="image_too_large") from None
    except ServiceError:
        raise
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        IndexError,
        TypeError,
        struct_error,
        KeyError,
        AttributeError,
        ZeroDivisionError,
        OverflowError,
        NotImplementedError,
    ) as exc:
        # Pillow's decoders raise many kinds (a TIFF page naming an unknown compression is a
        # KeyError): every one of them means bytes we cannot decode, never a server fault.
        raise BadRequest(
            f"{name} could not be decoded: the image data is truncated or corrupt ({type(exc).__name__})", code="invalid_image"
        ) from None


def _decode(image: Image.Image, name: str, limits: DecodeLimits) -> Photo:
    fmt = image.format or "unknown"
    width, height = image.size
    max_side = limits.max_side
    limit = limits.max_pixels if fmt in ("JPEG", "MPO") else limits.max_full_pixels
    if width * height > limit:
        raise PayloadTooLarge(
            f"{name} is {width}x{height} = {width * height} pixels; the limit for {fmt} is {limit}", code="image_too_large"
        )
    frames = getattr(image, "n_frames", 1)
    if frames > 1 and fmt != "MPO":  # MPO (phone cameras): frame 0 is the photo itself
        raise Unprocessable(f"{name} has {frames} frames (animated or multi-page); send one still photo", code="multi_frame_image")
    if min(width, height) < MIN_SIDE:
        raise Unprocessable(f"{name} is {width}x{height}; a face photo must be at least {MIN_SIDE}x{MIN_SIDE}", code="image_too_small")
    if fmt in ("JPEG", "MPO") and max(width, height) > max_side:
        # libjpeg scales by 1/2, 1/4 or 1/8 while decoding, to at least the size asked for:
        # asking for 3/4 of max_side lets a 12 MP photo decode at 1/4 (1000 px, no resize
        # after) instead of 1/2 (2000 px, then resized): half the memory and CPU.
        ratio = 0.75 * max_side / max(width, height)
        image.draft("RGB", (math.ceil(width * ratio), math.ceil(height * ratio)))
    rotated = image.getexif().get(EXIF_ORIENTATION, 1) in (5, 6, 7, 8)
    upright = (height, width) if rotated else (width, height)
    image.load()
    # Shrink first: transposing and mode conversion each copy the whole image.
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    image = _to_rgb(ImageOps.exif_transpose(image))
    pixels = np.asarray(image, dtype=np.uint8)
    return Photo(pixels=pixels, scale=upright[0] / image.size[0], size=upright, format=fmt)


def _to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB from any mode: 16/32-bit scaled (not clipped), alpha composited over white."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode != "F" and values.max() > 255 else (1.0 if image.mode == "F" and values.max() <= 1.0 else 255.0)
        image = Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB") if image.mode != "RGB" else image
