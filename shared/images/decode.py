"""Photo bytes -> an upright RGB uint8 array, after inspect_image has priced and passed them."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field, replace
from struct import error as struct_error  # raised by some corrupt TIFF/BMP headers

import numpy as np
from PIL import Image, UnidentifiedImageError

from shared.errors import BadRequest, PayloadTooLarge, ServiceError
from shared.images import jpeg
from shared.images.cost import FORMATS, ImageCost, inspect_image
from shared.images.limits import DecodeLimits

EXIF_ORIENTATION = 0x0112
TURNS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM}
TURNS |= {5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}


@dataclass(frozen=True)
class Photo:
    """Attributes:
    pixels: (H, W, 3) uint8 RGB, upright, scaled so the longest side <= max_side.
    scale: original upright size / working size (multiply working coordinates by it).
    size: (width, height) of the original upright photo.
    format: the container format Pillow found ("JPEG", "MPO", "PNG", ...).
    decoded: (width, height) the decoder gave before shrinking (a JPEG: at its draft scale).
    source: that decoded image, kept (`keep`, JPEG only) when it was shrunk, for `decode_again`.
    jpeg_quality: a JPEG's (or MPO's) IJG quality from its luminance table (jpeg.quality_of);
        None for other formats, which carry no trace of an earlier compression.
    """

    pixels: np.ndarray
    scale: float
    size: tuple[int, int]
    format: str
    decoded: tuple[int, int] = (0, 0)
    source: Image.Image | None = field(default=None, repr=False, compare=False)
    jpeg_quality: int | None = None

    def without_source(self) -> Photo:
        """This photo without its kept `source` (its memory freed once no decode can reuse it)."""
        return replace(self, source=None)


def decode_photo(
    data: bytes, *, name: str, limits: DecodeLimits, cost: ImageCost | None = None, side: int = 0, keep: bool = False
) -> Photo:
    """Decode one photo; 4xx errors name the input (`name`) and what was wrong. Its longest
    side is scaled down to `side` (0 = limits.max_side; never above limits.max_side).
    `keep`: a JPEG's decoded image (at most ~1.5 `side` across: its draft scale) stays in
    `Photo.source` when it was shrunk, so `decode_again` can shrink it to a larger side
    without decoding again (other formats decode at full size: not kept, for memory).

    The headers are read and priced first (`inspect_image`, or the `cost` a caller already
    got from it for these bytes and limits): nothing over a budget reaches Pillow. Pillow's
    own decompression-bomb guard (over twice its MAX_IMAGE_PIXELS) is left as it is,
    process-wide; our limits are lower by default."""
    cost = cost or inspect_image(data, name, limits)
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
        return _decode(image, cost, name, min(side or limits.max_side, limits.max_side), keep and cost.format == "JPEG")
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


def _decode(image: Image.Image, cost: ImageCost, name: str, max_side: int, keep: bool = False) -> Photo:
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
    orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    upright = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    image.load()
    source = image if keep and max(image.size) > max_side else None
    return _finish(image, orientation, upright, fmt, max_side, source)


def _finish(image: Image.Image, orientation: int, upright: tuple[int, int], fmt: str, max_side: int, source: Image.Image | None) -> Photo:
    """The decoded `image` shrunk to `max_side`, turned upright (`orientation`: EXIF's) and
    made RGB. No step works in place on `image`, so a kept `source` can be shrunk again."""
    decoded, jpeg_quality = image.size, jpeg.quality_of(image)  # the tables Pillow read with the header
    # Shrink first: transposing and mode conversion each copy the whole image.
    if max(image.size) > max_side:  # Image.thumbnail's resize, into a new image
        image = image.resize(thumbnail_size(image.size, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    if orientation in TURNS:  # ImageOps.exif_transpose's turn; an upright photo is not copied
        image = image.transpose(TURNS[orientation])
    image = _to_rgb(image)
    pixels = np.asarray(image, dtype=np.uint8)
    return Photo(pixels, upright[0] / image.size[0], upright, fmt, decoded, source, jpeg_quality)


def thumbnail_size(size: tuple[int, int], side: int) -> tuple[int, int]:
    """The size Pillow's `Image.thumbnail((side, side))` gives an image of `size` (its
    aspect rounding), for a `size` whose longest side is over `side`."""
    aspect = size[0] / size[1]
    if aspect <= 1:  # Pillow's x / y >= aspect, with x = y = side: the width is rounded
        return max(min(math.floor(side * aspect), math.ceil(side * aspect), key=lambda n: abs(aspect - n / side)), 1), side
    wide = max(min(math.floor(side / aspect), math.ceil(side / aspect), key=lambda n: 0 if n == 0 else abs(aspect - side / n)), 1)
    return side, wide


def decode_again(data: bytes, photo: Photo, *, name: str, limits: DecodeLimits, cost: ImageCost, side: int) -> Photo | None:
    """`photo`'s bytes decoded again with the longest side up to `side` (a sharper decode);
    None when that gives the very same pixels (the draft scale libjpeg would decode at gives
    no more). At the same draft scale as `photo`, its kept source is shrunk again instead:
    the pixels a new decode gives, without decoding (a progressive JPEG's whole entropy
    decoding, whatever the scale)."""
    side = min(side or limits.max_side, limits.max_side)
    decoded = jpeg.draft_size(cost.width, cost.height, side) if cost.format == "JPEG" else (cost.width, cost.height)
    if decoded != photo.decoded:
        return decode_photo(data, name=name, limits=limits, cost=cost, side=side)
    if min(max(decoded), side) == max(photo.pixels.shape[:2]):
        return None
    if photo.source is None or photo.source.size != decoded:
        return decode_photo(data, name=name, limits=limits, cost=cost, side=side)
    orientation = photo.source.getexif().get(EXIF_ORIENTATION, 1)
    return _finish(photo.source, orientation, photo.size, photo.format, side, None)


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
