"""Photo bytes -> an upright RGB uint8 array, after inspect_image has priced and passed them."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from struct import error as struct_error  # raised by some corrupt TIFF/BMP headers

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from shared.errors import BadRequest, PayloadTooLarge, ServiceError
from shared.images import jpeg
from shared.images.cost import FORMATS, ImageCost, inspect_image
from shared.images.limits import DecodeLimits

EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class Photo:
    """Attributes:
    pixels: (H, W, 3) uint8 RGB, upright, scaled so the longest side <= max_side.
    scale: original upright size / working size (multiply working coordinates by it).
    size: (width, height) of the original upright photo.
    format: the container format Pillow found ("JPEG", "MPO", "PNG", ...).
    """

    pixels: np.ndarray
    scale: float
    size: tuple[int, int]
    format: str


def decode_photo(data: bytes, *, name: str, limits: DecodeLimits, cost: ImageCost | None = None, side: int = 0) -> Photo:
    """Decode one photo; 4xx errors name the input (`name`) and what was wrong. Its longest
    side is scaled down to `side` (0 = limits.max_side; never above limits.max_side).

    The headers are read and priced first (`inspect_image`, or the `cost` a caller already
    got from it for these bytes and limits): nothing over a budget reaches Pillow. Pillow's
    own decompression-bomb guard (over twice its MAX_IMAGE_PIXELS) is left as it is,
    process-wide; our limits are lower by default."""
    cost = cost or inspect_image(data, name, limits)
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
        return _decode(image, cost, name, min(side or limits.max_side, limits.max_side))
    except UnidentifiedImageError:
        raise BadRequest(f"{name} could not be decoded: the image header is corrupt", code="invalid_image") from None
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


def _decode(image: Image.Image, cost: ImageCost, name: str, max_side: int) -> Photo:
    fmt, (width, height) = image.format or cost.format, image.size
    if (width, height) != (cost.width, cost.height):
        # Every budget was checked against the headers we read; Pillow must have read the same.
        raise BadRequest(
            f"{name} could not be decoded: its headers disagree about its size ({cost.width}x{cost.height} or {width}x{height})",
            code="invalid_image",
        )
    request = jpeg.draft_request(width, height, max_side) if cost.format == "JPEG" else None
    if request:
        image.draft("RGB", request)
    rotated = image.getexif().get(EXIF_ORIENTATION, 1) in (5, 6, 7, 8)
    upright = (height, width) if rotated else (width, height)
    image.load()
    # Shrink first: transposing and mode conversion each copy the whole image.
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    ImageOps.exif_transpose(image, in_place=True)  # in place: an upright photo is not copied
    image = _to_rgb(image)
    pixels = np.asarray(image, dtype=np.uint8)
    return Photo(pixels=pixels, scale=upright[0] / image.size[0], size=upright, format=fmt)


def first_side(cost: ImageCost, limits: DecodeLimits) -> int:
    """The longest side to decode a photo to first (`limits.first_side`), but never below a
    quarter of the photo's own: libjpeg's 1/8 scale saves little over 1/4 (the entropy
    decoding, the same at every scale, dominates) and leaves a face a phone photo's
    twentieth wide too small for its chip, so a second decode would follow."""
    return max(limits.first_side, math.ceil(max(cost.width, cost.height) / 4))


def sharper_side(photo: Photo, have_px: float, want_px: float, max_side: int) -> int:
    """The longest side to decode `photo` again at so that a feature `have_px` working pixels
    across gets `want_px`, within max_side and the photo's own size; 0 when this decode
    already gives it or a new one cannot give more."""
    current, full = max(photo.pixels.shape[:2]), max(photo.size)
    if have_px >= want_px or current >= min(max_side, full):
        return 0
    return min(max_side, full, math.ceil(current * want_px / max(have_px, 1.0)))


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
