"""The cost estimates against measurements, and the budgets that use them.

Calibration: each photo is decoded in a fresh process (freed memory left resident by earlier
decodes would hide a peak), its peak RSS growth read from the kernel's VmHWM. The estimate
must bound the measured peak and stay within 1.5x of it (+6 MiB), so a caller reserving
`peak_bytes` neither runs out nor wastes half its budget.
"""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared.errors import BadRequest, PayloadTooLarge, Unprocessable
from shared.images import DecodeLimits, ImageCost, decode_photo, inspect_image
from shared.images.limits import MIB
from tools.measure import hostile

ROOT = Path(__file__).resolve().parents[3]
OPEN = {"max_pixels": 10**9, "max_full_pixels": 10**9, "max_decode_bytes": 2**40, "max_progressive_pixels": 10**9, "max_decode_ms": 10**9}
MP12, MP4, MP1 = (3098, 3873), (1788, 2236), (894, 1118)

CHILD = r"""
import io, json, sys, time
sys.path[:0] = [sys.argv[1]]
from tools.measure import hostile
from PIL import Image
from shared.images import DecodeLimits, decode_photo, inspect_image
data, limits = open(sys.argv[2], "rb").read(), DecodeLimits(**json.loads(sys.argv[3]))
fmt = Image.open(io.BytesIO(data)).format
decode_photo(hostile.encode(Image.new("RGB", (64, 64), "gray"), "JPEG" if fmt == "MPO" else fmt), name="warm", limits=limits)
cost = inspect_image(data, "img1", limits)
start = time.process_time()
with hostile.peak_rss() as rss:
    decode_photo(data, name="img1", limits=limits)
cpu_ms = 1000 * (time.process_time() - start)
print(json.dumps({"measured": rss.growth_mb, "cpu_ms": cpu_ms, "estimate": cost.peak_bytes / 2**20, "cpu_estimate": cost.cpu_ms}))
"""


def measure(data: bytes, tmp_path: Path) -> dict:
    """Decode `data` once in a fresh process; measured and estimated peak (MiB) and CPU (ms)."""
    path = tmp_path / "photo"
    path.write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), str(path), json.dumps(OPEN)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def _gray16(image: Image.Image) -> Image.Image:
    return Image.fromarray(np.asarray(image.convert("L")).astype(np.uint16) * 257)


CALIBRATION = {  # kind -> (size, encoder of the resized photo)
    "jpeg 1 MP": (MP1, lambda im: hostile.encode(im, "JPEG", quality=90)),
    "jpeg 12 MP (draft 1/4)": (MP12, lambda im: hostile.encode(im, "JPEG", quality=90)),
    "jpeg progressive 12 MP": (MP12, lambda im: hostile.encode(im, "JPEG", quality=90, progressive=True)),
    "jpeg progressive 4:4:4 4 MP": (MP4, lambda im: hostile.encode(im, "JPEG", quality=90, progressive=True, subsampling=0)),
    "jpeg cmyk progressive 4 MP": (MP4, lambda im: hostile.encode(im.convert("CMYK"), "JPEG", quality=90, progressive=True)),
    "png rgb 4 MP": (MP4, lambda im: hostile.encode(im, "PNG")),
    "png rgba 12 MP": (MP12, lambda im: hostile.encode(im.convert("RGBA"), "PNG")),
    "png 16-bit gray 4 MP": (MP4, lambda im: hostile.encode(_gray16(im), "PNG")),
    "png palette 4 MP": (MP4, lambda im: hostile.encode(im.convert("P"), "PNG")),
    "webp lossy 4 MP": (MP4, lambda im: hostile.encode(im, "WEBP", quality=80)),
    "webp lossless 4 MP": (MP4, lambda im: hostile.encode(im, "WEBP", lossless=True, method=0)),
    "tiff deflate one strip 12 MP": (MP12, lambda im: hostile.encode(im, "TIFF", compression="tiff_adobe_deflate", strip_size=2**30)),
    "tiff rgba 4 MP": (MP4, lambda im: hostile.encode(im.convert("RGBA"), "TIFF", compression="tiff_adobe_deflate")),
    "bmp 4 MP": (MP4, lambda im: hostile.encode(im, "BMP")),
    "gif 4 MP": (MP4, lambda im: hostile.encode(im.convert("P"), "GIF")),
}


@pytest.fixture(scope="module")
def photo(face_photos) -> Image.Image:
    return Image.open(face_photos / "obama.jpg").convert("RGB")


@pytest.mark.parametrize("kind", list(CALIBRATION))
def test_estimated_peak_bounds_the_measured_peak(photo, tmp_path, kind):
    size, make = CALIBRATION[kind]
    got = measure(make(photo.resize(size)), tmp_path)
    measured, estimate, cpu, cpu_estimate = got["measured"], got["estimate"], got["cpu_ms"], got["cpu_estimate"]
    print(f"{kind}: measured {measured:.1f} MiB, estimated {estimate:.1f} MiB; CPU {cpu:.0f} ms, estimated {cpu_estimate:.0f}")
    assert measured <= estimate + 1, f"{kind}: measured {measured:.1f} MiB > estimated {estimate:.1f} MiB"
    assert estimate <= 1.5 * measured + 6, f"{kind}: estimated {estimate:.1f} MiB for a measured {measured:.1f} MiB"
    assert cpu <= 2 * cpu_estimate + 50, got


def test_real_photo_cost_fields(face_photos):
    cost = inspect_image((face_photos / "obama.jpg").read_bytes(), "img1", DecodeLimits())
    assert isinstance(cost, ImageCost)
    assert (cost.format, cost.width, cost.height, cost.components, cost.progressive, cost.scans, cost.frames) == (
        "JPEG",
        910,
        1137,
        3,
        False,
        1,
        1,
    )
    assert cost.decoded_size == cost.working_size == (910, 1137)
    assert 10 * MIB < cost.peak_bytes < 24 * MIB and 0 < cost.cpu_ms < 100


def test_a_large_jpeg_is_priced_at_its_draft_scale(photo):
    cost = inspect_image(hostile.encode(photo.resize((3640, 4548)), "JPEG"), "img1", DecodeLimits())
    assert cost.decoded_size == (910, 1137) and cost.working_size == (910, 1137)  # 1/4, no resize after
    assert cost.peak_bytes < 24 * MIB


def test_defaults_take_the_largest_photos_the_pixel_caps_let_through(photo):
    """12 MP of RGBA PNG (the full-decode cap) and a 16 MP 4:4:4 progressive JPEG (the
    progressive cap) fit the default memory and CPU budgets."""
    for data in (
        hostile.png_flat(3460, 3460, alpha=True),
        hostile.encode(photo.resize((4000, 4000)), "JPEG", progressive=True, subsampling=0),
    ):
        cost = inspect_image(data, "img1", DecodeLimits())
        assert cost.peak_bytes <= DecodeLimits().max_decode_bytes and cost.cpu_ms <= DecodeLimits().max_decode_ms


def test_memory_budget_names_the_input_and_the_numbers(photo):
    data = hostile.encode(photo.resize(MP4), "PNG")
    with pytest.raises(PayloadTooLarge, match=r"img2 is a PNG 1788x2236 \(8-bit RGB\): decoding it needs ~31 MiB; the limit is 16 MiB"):
        inspect_image(data, "img2", DecodeLimits(max_decode_bytes=16 * MIB))


def test_progressive_pixel_cap_is_lower_than_the_baseline_one(photo):
    image = photo.resize((2000, 2500))
    baseline, progressive = hostile.encode(image, "JPEG"), hostile.encode(image, "JPEG", progressive=True)
    limits = DecodeLimits(max_progressive_pixels=4_000_000)
    assert inspect_image(baseline, "img1", limits).width == 2000
    with pytest.raises(PayloadTooLarge, match=r"5000000 pixels; the limit for progressive \(multi-scan\) JPEGs is 4000000"):
        inspect_image(progressive, "img1", limits)


def test_scan_cap_is_a_setting(photo):
    data = hostile.encode(photo, "JPEG", progressive=True)  # libjpeg writes 10 scans
    assert inspect_image(data, "img1", DecodeLimits(max_scans=10)).scans == 10
    with pytest.raises(Unprocessable, match="more than 9 scans") as caught:
        inspect_image(data, "img1", DecodeLimits(max_scans=9))
    assert caught.value.code == "too_many_scans"


def test_cpu_budget_prices_pythons_rle_decoder():
    small, large = hostile.bmp_rle8_rows(1000, 1000), hostile.bmp_rle8_rows(3400, 3400)
    assert 100 < inspect_image(small, "img1", DecodeLimits()).cpu_ms < 400
    with pytest.raises(Unprocessable, match=r"decoding it takes ~\d+ ms of CPU; the limit is 1000 ms") as caught:
        inspect_image(large, "img1", DecodeLimits())
    assert caught.value.code == "image_too_complex"


def test_decode_checks_the_budgets_first(monkeypatch):
    with pytest.raises(PayloadTooLarge):
        decode_photo(hostile.webp_flat(3400, 3400), name="img1", limits=DecodeLimits())


def test_a_size_pillow_reads_differently_from_the_headers_is_a_400(monkeypatch, face_photos):
    """Every budget was checked against the headers read here: if Pillow read another size, nothing is decoded."""
    from shared.images import decode

    data = (face_photos / "obama.jpg").read_bytes()
    priced = inspect_image(data, "img1", DecodeLimits())
    monkeypatch.setattr(decode, "inspect_image", lambda *args: dataclasses.replace(priced, width=priced.width - 1))
    with pytest.raises(BadRequest, match=r"img1 could not be decoded: its headers disagree about its size \(909x1137 or 910x1137\)"):
        decode_photo(data, name="img1", limits=DecodeLimits())
