"""Photo decoding on real photos and on the awkward formats clients send."""

import io
import struct
import zlib

import numpy as np
import psutil
import pytest
from PIL import Image

from shared.errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from shared.images import DecodeLimits, decode_photo, inspect_image
from shared.images.decode import first_side, sharper_side

LIMITS = {"max_pixels": 50_000_000, "max_full_pixels": 50_000_000, "max_side": 1280}


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def decode(data: bytes, **overrides):
    return decode_photo(data, name="img1", limits=DecodeLimits(**{**LIMITS, **overrides}))


def test_real_jpeg_keeps_size_and_is_rgb(face_photos):
    photo = decode((face_photos / "obama.jpg").read_bytes())
    assert photo.pixels.shape == (1137, 910, 3) and photo.pixels.dtype == np.uint8
    assert photo.scale == 1.0 and photo.size == (910, 1137) and photo.format == "JPEG"


def test_32bit_png_decodes_to_rgb(face_photos):
    photo = decode((face_photos / "32bit.png").read_bytes())
    assert photo.pixels.shape == (1200, 626, 3)
    assert photo.format == "PNG"


def test_large_jpeg_decodes_in_draft_mode_to_working_size(face_photos):
    big = Image.open(face_photos / "obama.jpg").resize((3640, 4548))  # ~16.5 MP
    photo = decode(encode(big, "JPEG", quality=90))
    # Decoded at 1/4 scale (1137 px) rather than 1/2 (2274 px) and resized.
    assert max(photo.pixels.shape[:2]) == 1137
    assert photo.size == (3640, 4548)
    assert photo.scale == pytest.approx(3640 / photo.pixels.shape[1], rel=1e-3)


def test_exif_orientation_is_applied(face_photos):
    upright = Image.open(face_photos / "obama.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewers turn it 90 degrees clockwise
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    photo = decode(encode(stored, "JPEG", exif=exif.tobytes()))
    assert photo.size == upright.size
    assert photo.pixels.shape[:2] == (upright.height, upright.width)


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "RGBA", "LA", "I;16", "I"])
def test_every_mode_becomes_8bit_rgb(mode):
    gradient = np.linspace(0, 255, 64 * 64).reshape(64, 64).astype(np.uint8)
    base = Image.merge("RGB", [Image.fromarray(gradient)] * 3)
    if mode == "I;16":
        image = Image.fromarray(gradient.astype(np.uint16) * 257)
    elif mode == "I":
        image = Image.fromarray(gradient.astype(np.int32) * 257).convert("I")
    else:
        image = base.convert(mode)
    fmt = "TIFF" if mode in ("CMYK", "I") else "PNG"
    photo = decode(encode(image, fmt))
    assert photo.pixels.shape == (64, 64, 3) and photo.pixels.dtype == np.uint8
    # 16/32-bit values are scaled, not clipped: the gradient still spans dark to bright.
    assert photo.pixels.min() < 10 and photo.pixels.max() > 240


def test_transparent_areas_become_white():
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    assert (decode(encode(image, "PNG")).pixels == 255).all()


def test_not_an_image_is_415():
    with pytest.raises(UnsupportedMediaType, match="img1 is not an image"):
        decode(b"%PDF-1.4 definitely not a photo")


def test_truncated_jpeg_is_400(face_photos):
    data = (face_photos / "obama.jpg").read_bytes()
    with pytest.raises(BadRequest, match="truncated or corrupt"):
        decode(data[: len(data) // 3])


def test_tiny_image_is_422():
    with pytest.raises(Unprocessable, match="at least 32x32"):
        decode(encode(Image.new("RGB", (10, 10)), "PNG"))


def test_animated_gif_is_422():
    frames = [Image.new("RGB", (64, 64), c) for c in ("red", "blue")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(Unprocessable, match="2 frames"):
        decode(data)


def png_claiming(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height, with a tiny (wrong) data stream."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "side, message",
    [
        (50_000, "50000x50000 = 2500000000 pixels; the limit for PNG is 50000000"),  # over Pillow's own guard too
        (9_000, "9000x9000 = 81000000 pixels; the limit for PNG is 50000000"),  # under Pillow's, over ours
    ],
)
def test_decompression_bomb_is_refused_before_decoding(side, message):
    process = psutil.Process()
    before = process.memory_info().rss
    with pytest.raises(PayloadTooLarge, match=message):
        decode(png_claiming(side, side))
    assert process.memory_info().rss - before < 10 * 2**20


def test_pillows_own_bomb_guard_still_answers_413_when_our_caps_are_higher():
    """Caps configured above Pillow's guard (twice its MAX_IMAGE_PIXELS): Image.open refuses, still a 413."""
    with pytest.raises(PayloadTooLarge, match="declares too many pixels"):
        decode(png_claiming(20_000, 20_000), max_full_pixels=10**9, max_decode_bytes=2**40, max_decode_ms=10**9)


def test_decoding_changes_no_process_wide_pillow_setting(face_photos):
    limit = Image.MAX_IMAGE_PIXELS
    decode((face_photos / "obama.jpg").read_bytes())
    assert limit == Image.MAX_IMAGE_PIXELS and limit is not None


def test_a_smaller_side_decodes_in_draft_mode_and_never_exceeds_max_side(face_photos):
    data = (face_photos / "obama.jpg").read_bytes()  # 910 x 1137
    small = decode(data, first_side=640)
    assert decode(data).pixels.shape == (1137, 910, 3)
    photo = decode_photo(data, name="img1", limits=DecodeLimits(**LIMITS), side=640)
    assert photo.pixels.shape == (569, 455, 3) and photo.scale == pytest.approx(2.0)  # libjpeg at 1/2, no resize after
    assert small.pixels.shape == (1137, 910, 3)  # first_side is the caller's to use; decode_photo's default is max_side
    capped = decode_photo(data, name="img1", limits=DecodeLimits(**{**LIMITS, "max_side": 800}), side=5000)
    assert max(capped.pixels.shape) == 800


def test_sharper_side_asks_for_enough_pixels_within_the_caps(face_photos):
    data = (face_photos / "obama.jpg").read_bytes()
    photo = decode_photo(data, name="img1", limits=DecodeLimits(**LIMITS), side=640)  # 569 px high
    assert sharper_side(photo, have_px=150, want_px=112, max_side=1280) == 0  # already enough
    assert sharper_side(photo, have_px=56, want_px=112, max_side=1280) == 1137  # twice the pixels, capped at the photo's own
    assert sharper_side(photo, have_px=80, want_px=112, max_side=700) == 700  # capped at max_side
    full = decode(data)
    assert sharper_side(full, have_px=10, want_px=112, max_side=1280) == 0  # nothing more to decode


def test_first_side_never_asks_for_less_than_a_quarter():
    limits = DecodeLimits(**LIMITS)  # first_side 640
    assert first_side(inspect_image(_jpeg_of(1000, 800), "img1", limits), limits) == 640
    assert first_side(inspect_image(_jpeg_of(4000, 3000), "img1", limits), limits) == 1000  # libjpeg 1/4, not 1/8


def _jpeg_of(width: int, height: int) -> bytes:
    return encode(Image.new("RGB", (width, height), (120, 90, 60)), "JPEG", quality=50)
