"""A sharper second decode (issue 25, round five): at the draft scale of the first one it
shrinks the first one's kept image instead of decoding the JPEG again, and when it would give
the same pixels it is not made at all; either way the pixels are a fresh decode's."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import shared.images.decode as decode_module
from shared.images import DecodeLimits, decode_photo, inspect_image
from shared.images.decode import decode_again, thumbnail_size

LIMITS = DecodeLimits(max_side=1280, first_side=640)


def photo_bytes(width: int, height: int, orientation: int = 1, fmt: str = "JPEG", **kwargs) -> bytes:
    """Smooth noise (a resize shows every rounding), stored with an EXIF orientation."""
    rng = np.random.default_rng(width * height + orientation)
    small = Image.fromarray(rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    small.resize((width, height), Image.Resampling.BICUBIC).save(out, fmt, exif=exif.tobytes(), **kwargs)
    return out.getvalue()


def test_thumbnail_size_is_pillows():
    """The size Image.thumbnail gives, for wide, tall and square images and odd aspects."""
    rng = np.random.default_rng(5)
    sizes = [(1600, 1055), (1055, 1600), (745, 465), (1000, 1000), (1430, 980), (641, 3), (3, 641)]
    sizes += [tuple(int(v) for v in rng.integers(20, 1500, 2)) for _ in range(300)]
    for size in sizes:
        for side in (7, 17, 640, 677, 848):
            if max(size) <= side:
                continue
            image = Image.new("L", size)
            image.thumbnail((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)
            assert thumbnail_size(size, side) == image.size, (size, side)


class Opens:
    """Counts the photos Pillow opens (each one is a decode)."""

    def __init__(self, monkeypatch):
        self.count = 0
        real = decode_module.Image.open

        def counted(*args, **kwargs):
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(decode_module.Image, "open", counted)


@pytest.mark.parametrize("orientation", [1, 6, 3])
@pytest.mark.parametrize("progressive", [False, True])
def test_a_sharper_decode_gives_a_fresh_decodes_pixels_and_decodes_only_at_a_new_draft_scale(monkeypatch, orientation, progressive):
    data = photo_bytes(1600, 1000, orientation, quality=90, progressive=progressive)
    cost = inspect_image(data, "img1", LIMITS)
    first = decode_photo(data, name="img1", limits=LIMITS, cost=cost, side=640, keep=True)
    assert first.decoded == (800, 500) and first.source is not None  # 1/2 scale, shrunk to 640
    opens = Opens(monkeypatch)
    for side in (700, 799, 800, 1000, 1066, 1067, 1280):
        fresh = decode_photo(data, name="img1", limits=LIMITS, cost=cost, side=side)
        opened = opens.count
        again = decode_again(data, first, name="img1", limits=LIMITS, cost=cost, side=side)
        # 1/2 scale up to a side of 1066 (libjpeg is asked for 3/4 of it): no decode then.
        assert opens.count - opened == (side > 1066), side
        assert again is not None and np.array_equal(again.pixels, fresh.pixels), side
        assert (again.scale, again.size, again.format, again.decoded) == (fresh.scale, fresh.size, fresh.format, fresh.decoded)
    assert np.array_equal(first.pixels, decode_photo(data, name="img1", limits=LIMITS, cost=cost, side=640).pixels)


def test_no_second_decode_when_the_draft_scale_gives_the_same_pixels(monkeypatch):
    """A 1280 px photo decodes at 1/2 (640 px) for any side up to 853: asking 677 gives the
    first decode's pixels again (img67 of the deepface set: decoded twice before)."""
    data = photo_bytes(1280, 812)
    cost = inspect_image(data, "img1", LIMITS)
    first = decode_photo(data, name="img1", limits=LIMITS, cost=cost, side=640, keep=True)
    assert first.pixels.shape == (406, 640, 3) and first.source is None  # not shrunk: nothing kept
    assert np.array_equal(decode_photo(data, name="img1", limits=LIMITS, cost=cost, side=677).pixels, first.pixels)
    opens = Opens(monkeypatch)
    assert decode_again(data, first, name="img1", limits=LIMITS, cost=cost, side=677) is None
    assert opens.count == 0
    assert decode_again(data, first, name="img1", limits=LIMITS, cost=cost, side=900).pixels.shape == (571, 900, 3)
    assert opens.count == 1


def test_only_a_jpegs_draft_image_is_kept():
    """Other formats decode at full size: a 12 MP PNG kept through detection would be 48 MB."""
    data = photo_bytes(1600, 1000, fmt="PNG")
    cost = inspect_image(data, "img1", LIMITS)
    photo = decode_photo(data, name="img1", limits=LIMITS, cost=cost, side=640, keep=True)
    assert photo.source is None and photo.decoded == (1600, 1000)
    again = decode_again(data, photo, name="img1", limits=LIMITS, cost=cost, side=900)
    assert np.array_equal(again.pixels, decode_photo(data, name="img1", limits=LIMITS, cost=cost, side=900).pixels)
    jpeg = photo_bytes(1600, 1000)
    assert decode_photo(jpeg, name="img1", limits=LIMITS, side=640).source is None  # not asked to keep


@pytest.mark.parametrize("mode", ["CMYK", "L"])
def test_a_kept_cmyk_or_gray_image_gives_a_fresh_decodes_pixels(mode):
    rng = np.random.default_rng(1)
    small = Image.fromarray(rng.integers(0, 256, (125, 200, 3), dtype=np.uint8)).resize((1600, 1000)).convert(mode)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=90)
    data = out.getvalue()
    cost = inspect_image(data, "img1", LIMITS)
    first = decode_photo(data, name="img1", limits=LIMITS, cost=cost, side=640, keep=True)
    assert first.source is not None and first.source.mode == mode
    for side in (700, 900, 1280):
        again = decode_again(data, first, name="img1", limits=LIMITS, cost=cost, side=side)
        assert np.array_equal(again.pixels, decode_photo(data, name="img1", limits=LIMITS, cost=cost, side=side).pixels)
