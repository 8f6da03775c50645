"""What decoding a photo will cost, known from its headers before any pixel is decoded.

`inspect_image` reads the headers (header.py, and jpeg.py, containers.py or tiff.py for the
format), estimates the peak memory and the CPU time of `decode_photo` (estimate.py), and
refuses what is over a budget in `DecodeLimits`, with a message that names the input and
the numbers. The caller may reserve `ImageCost.peak_bytes` from a memory budget first.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from shared.images import jpeg
from shared.images.containers import read_bmp, read_gif, read_png, read_webp
from shared.images.estimate import cpu_ms, fit, peak_bytes
from shared.images.header import FRAME_CAP, Corrupt, Header, HeaderError, TooComplex, Truncated, Unsupported
from shared.images.limits import MIB, DecodeLimits
from shared.images.tiff import read_tiff

FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")  # Pillow's names; JPEG includes MPO
MIN_SIDE = 32  # below this no detector input can hold a face
TIFF_PREFIXES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+", b"MM*\x00", b"II\x00*")  # Pillow's, odd ones included


@dataclass(frozen=True)
class ImageCost:
    """A photo's headers and what decoding it will cost.

    Attributes:
        format: "JPEG", "PNG", "WEBP", "BMP", "GIF" or "TIFF".
        width, height: declared size of the first frame or page, pixels.
        components: channels stored per pixel (JPEG components, samples; alpha included).
        progressive: a progressive JPEG.
        scans: JPEG scans counted, up to max_scans + 1; 1 for other formats.
        frames: frames or pages counted, up to 17; 1 for a still image.
        lossless: a lossless (VP8L) WebP.
        decoded_size: (width, height) the decoder produces: a JPEG at its draft scale.
        working_size: (width, height) after shrinking to max_side.
        peak_bytes: estimated peak memory of decode_photo over what was in use before, bytes.
        cpu_ms: estimated CPU time of decode_photo, milliseconds on one x86-64 core.
        detail: a few words for messages and logs ("3 components, 4:2:0", "lossless", "RLE8").
    """

    format: str
    width: int
    height: int
    components: int
    progressive: bool
    scans: int
    frames: int
    lossless: bool
    decoded_size: tuple[int, int]
    working_size: tuple[int, int]
    peak_bytes: int
    cpu_ms: float
    detail: str


def inspect_image(data: bytes, name: str, limits: DecodeLimits) -> ImageCost:
    """Read the headers and estimate the cost of decoding `data`; 4xx errors name `name` and the numbers.

    415 not a supported format; 400 headers truncated or corrupt; 413 too many pixels or
    over `max_decode_bytes`; 422 several frames, too small, too many scans or markers, or
    over `max_decode_ms`."""
    header = read_header(data, name, limits)
    _check_size(header, name, limits)
    cost = estimate(header, limits)
    _check_cost(header, cost, name, limits)
    return cost


def read_header(data: bytes, name: str, limits: DecodeLimits) -> Header:
    """The headers of a supported format, or the 4xx that says why not."""
    reader = _reader(data)
    if reader is None:
        raise UnsupportedMediaType(f"{name} is not an image in a supported format ({', '.join(FORMATS)})", code="unsupported_image")
    try:
        return jpeg.read_jpeg(data, limits.max_scans + 1) if reader == "JPEG" else READERS[reader](data)
    except Truncated as exc:
        raise BadRequest(f"{name} could not be decoded: the image data is truncated or corrupt ({exc})", code="invalid_image") from None
    except Corrupt as exc:
        raise BadRequest(f"{name} could not be decoded: the image header is corrupt ({exc})", code="invalid_image") from None
    except Unsupported as exc:
        raise UnsupportedMediaType(f"{name} is {exc}, which is not supported", code="unsupported_image") from None
    except TooComplex as exc:
        raise Unprocessable(f"{name} is not decoded: {exc}", code="image_too_complex") from None
    except HeaderError as exc:  # pragma: no cover - every reader raises one of the above
        raise BadRequest(f"{name} could not be decoded: {exc}", code="invalid_image") from None


READERS = {"PNG": read_png, "WEBP": read_webp, "BMP": read_bmp, "GIF": read_gif, "TIFF": read_tiff}


def _reader(data: bytes) -> str | None:
    """The format whose signature `data` starts with (Pillow's `_accept` tests), or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if data.startswith(b"BM"):
        return "BMP"
    if data.startswith(TIFF_PREFIXES):
        return "TIFF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and data[12:16] in (b"VP8 ", b"VP8L", b"VP8X"):
        return "WEBP"
    return None


def _check_size(header: Header, name: str, limits: DecodeLimits) -> None:
    """413 over a pixel cap; 422 several frames or too small. Checked in this order, as before headers were read here."""
    fmt, width, height, pixels = header.format, header.width, header.height, header.pixels
    limit = limits.max_pixels if fmt == "JPEG" else limits.max_full_pixels
    if pixels > limit:
        raise PayloadTooLarge(f"{name} is {width}x{height} = {pixels} pixels; the limit for {fmt} is {limit}", code="image_too_large")
    if header.frames > 1 and fmt != "JPEG":  # an MPO (phone cameras) is a JPEG whose frame 0 is the photo
        count = f"at least {FRAME_CAP + 1}" if header.frames > FRAME_CAP else str(header.frames)
        raise Unprocessable(f"{name} has {count} frames (animated or multi-page); send one still photo", code="multi_frame_image")
    if min(width, height) < MIN_SIDE:
        raise Unprocessable(f"{name} is {width}x{height}; a face photo must be at least {MIN_SIDE}x{MIN_SIDE}", code="image_too_small")
    if header.coefficient_bytes and pixels > limits.max_progressive_pixels:
        raise PayloadTooLarge(
            f"{name} is a {header.describe()} = {pixels} pixels; the limit for progressive (multi-scan) JPEGs is "
            f"{limits.max_progressive_pixels}",
            code="image_too_large",
        )


def _check_cost(header: Header, cost: ImageCost, name: str, limits: DecodeLimits) -> None:
    """422 too many scans; 413 over the memory budget; 422 over the CPU budget."""
    if header.scans > limits.max_scans:
        raise Unprocessable(
            f"{name} is a {header.describe()} with more than {limits.max_scans} scans; encoders write about 10",
            code="too_many_scans",
        )
    if cost.peak_bytes > limits.max_decode_bytes:
        raise PayloadTooLarge(
            f"{name} is a {header.describe()}: decoding it needs ~{cost.peak_bytes / MIB:.0f} MiB; "
            f"the limit is {limits.max_decode_bytes / MIB:.0f} MiB",
            code="image_too_large",
        )
    if cost.cpu_ms > limits.max_decode_ms:
        raise Unprocessable(
            f"{name} is a {header.describe()}: decoding it takes ~{cost.cpu_ms:.0f} ms of CPU; the limit is {limits.max_decode_ms} ms",
            code="image_too_complex",
        )


def estimate(header: Header, limits: DecodeLimits) -> ImageCost:
    """Peak memory and CPU of decode_photo for these headers (no budget checked)."""
    decoded = jpeg.draft_size(header.width, header.height, limits.max_side) if header.format == "JPEG" else (header.width, header.height)
    working = fit(decoded, limits.max_side)
    return ImageCost(
        format=header.format,
        width=header.width,
        height=header.height,
        components=header.components,
        progressive=header.progressive,
        scans=header.scans,
        frames=header.frames,
        lossless=header.lossless,
        decoded_size=decoded,
        working_size=working,
        peak_bytes=peak_bytes(header, decoded, working),
        cpu_ms=cpu_ms(header, decoded, working),
        detail=header.detail,
    )
