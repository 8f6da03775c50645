"""The header readers on real files: what they read must be what Pillow reads, in every
format and mode the service takes, and their walks must stay bounded on any prefix."""

import io

import numpy as np
import pytest
from PIL import Image

from shared.errors import ServiceError
from shared.images import DecodeLimits, decode_photo
from shared.images.cost import read_header
from shared.images.header import FRAME_CAP, MODE_BYTES
from shared.images.jpeg import draft_request, draft_size
from tools.measure import hostile

LIMITS = DecodeLimits()


def header_of(data: bytes):
    return read_header(data, "img1", LIMITS)


@pytest.fixture(scope="module")
def photo(face_photos) -> Image.Image:
    """obama.jpg, RGB, 910 x 1137."""
    return Image.open(face_photos / "obama.jpg").convert("RGB")


def test_real_jpeg(face_photos):
    header = header_of((face_photos / "obama.jpg").read_bytes())
    assert (header.format, header.width, header.height, header.mode, header.components) == ("JPEG", 910, 1137, "RGB", 3)
    assert (header.progressive, header.scans, header.coefficient_bytes, header.frames) == (False, 1, 0, 1)


@pytest.mark.parametrize("mode, scans", [("RGB", 10), ("L", 6)])
def test_progressive_jpeg_scans_are_counted_through_the_entropy_coded_data(photo, mode, scans):
    """libjpeg's default progression: 10 scans in colour, 6 in gray, spread over the file."""
    header = header_of(hostile.encode(photo.convert(mode), "JPEG", quality=90, progressive=True))
    assert header.progressive and header.scans == scans


def test_restart_markers_inside_scans_are_not_counted(photo):
    data = hostile.encode(photo, "JPEG", quality=90, progressive=True, restart_marker_blocks=4)
    assert b"\xff\xd0" in data and header_of(data).scans == 10


def test_coefficient_buffer_follows_libjpegs_padded_block_counts(photo):
    """910 x 1137 at 4:2:0: luma 114 x 143 blocks padded to 2 x 2 (114 x 144), chroma 57 x 72 each; 128 bytes a block."""
    header = header_of(hostile.encode(photo, "JPEG", quality=90, progressive=True, subsampling=2))
    assert header.coefficient_bytes == 128 * (114 * 144 + 2 * 57 * 72)
    assert "4:2:0" in header.detail


def test_a_baseline_jpeg_whose_first_scan_lacks_a_component_is_multi_scan():
    header = header_of(hostile.multiscan_baseline_jpeg_claiming(640, 480))
    assert not header.progressive and header.coefficient_bytes == 128 * 3 * 80 * 60 and "multi-scan" in header.detail


def _gray16(image: Image.Image) -> Image.Image:
    return Image.fromarray(np.asarray(image.convert("L")).astype(np.uint16) * 257)


VARIANTS = {  # kind -> the 300 x 375 photo encoded that way
    "jpeg gray": lambda im: hostile.encode(im.convert("L"), "JPEG"),
    "jpeg cmyk": lambda im: hostile.encode(im.convert("CMYK"), "JPEG"),
    "jpeg progressive": lambda im: hostile.encode(im, "JPEG", progressive=True),
    "mpo": lambda im: hostile.encode(im, "MPO", save_all=True, append_images=[im.rotate(90)]),
    "png rgb": lambda im: hostile.encode(im, "PNG"),
    "png rgba": lambda im: hostile.encode(im.convert("RGBA"), "PNG"),
    "png la": lambda im: hostile.encode(im.convert("LA"), "PNG"),
    "png palette": lambda im: hostile.encode(im.convert("P"), "PNG"),
    "png 16-bit gray": lambda im: hostile.encode(_gray16(im), "PNG"),
    "gif": lambda im: hostile.encode(im.convert("P"), "GIF"),
    "webp lossy": lambda im: hostile.encode(im, "WEBP"),
    "webp lossless alpha": lambda im: hostile.encode(im.convert("RGBA"), "WEBP", lossless=True),
    "webp with exif": lambda im: hostile.encode(im, "WEBP", exif=Image.Exif().tobytes()),
    "tiff raw": lambda im: hostile.encode(im, "TIFF"),
    "tiff deflate rgba": lambda im: hostile.encode(im.convert("RGBA"), "TIFF", compression="tiff_adobe_deflate"),
    "tiff jpeg": lambda im: hostile.encode(im, "TIFF", compression="jpeg"),
    "tiff cmyk": lambda im: hostile.encode(im.convert("CMYK"), "TIFF", compression="tiff_lzw"),
    "tiff 16-bit gray": lambda im: hostile.encode(_gray16(im), "TIFF"),
    "tiff palette": lambda im: hostile.encode(im.convert("P"), "TIFF"),
    "bigtiff": lambda im: hostile.encode(im, "TIFF", big_tiff=True),
    "bmp rgb": lambda im: hostile.encode(im, "BMP"),
    "bmp palette": lambda im: hostile.encode(im.convert("P"), "BMP"),
    "bmp 1-bit": lambda im: hostile.encode(im.convert("1"), "BMP"),
}


@pytest.fixture(scope="module")
def variants(photo) -> dict[str, bytes]:
    small = photo.resize((300, 375))
    return {kind: make(small) for kind, make in VARIANTS.items()}


@pytest.mark.parametrize("kind", list(VARIANTS))
def test_headers_agree_with_pillow(variants, kind):
    """Size, frames and the decoded mode's bytes per pixel: what every budget is computed from."""
    data = variants[kind]
    header = header_of(data)
    image = Image.open(io.BytesIO(data))
    assert (header.width, header.height) == image.size
    assert header.format == ("JPEG" if image.format == "MPO" else image.format)
    assert header.frames == (1 if image.format == "MPO" else getattr(image, "n_frames", 1))
    image.seek(0)
    image.load()
    assert header.mode == image.mode or (header.mode, image.mode) == ("P", "1"), (header.mode, image.mode)
    assert header.mode_bytes == MODE_BYTES[image.mode]
    assert decode_photo(data, name="img1", limits=LIMITS).pixels.shape == (375, 300, 3)


@pytest.mark.parametrize(
    "make, frames",
    [
        (lambda: hostile.animated_gif(frames=3), 3),
        (lambda: hostile.animated_gif_frames(40), FRAME_CAP + 1),
        (lambda: hostile.tiff_pages(2), 2),
        (lambda: hostile.tiff_pages(20_000), FRAME_CAP + 1),
        (lambda: hostile.encode(Image.new("RGB", (64, 64)), "PNG", save_all=True, append_images=[Image.new("RGB", (64, 64), "red")]), 2),
        (lambda: hostile.encode(Image.new("RGB", (64, 64)), "WEBP", save_all=True, append_images=[Image.new("RGB", (64, 64), "red")]), 2),
    ],
    ids=["gif 3", "gif 40", "tiff 2", "tiff 20000", "apng 2", "webp 2"],
)
def test_frames_and_pages_are_counted_up_to_the_cap(make, frames):
    assert header_of(make()).frames == frames


def test_a_tiff_page_chain_that_loops_counts_each_page_once():
    data = bytearray(hostile.tiff_pages(2))
    last_next = len(data) - 4
    first_ifd = int.from_bytes(data[4:8], "little")
    data[last_next:] = first_ifd.to_bytes(4, "little")  # page 2 points back to page 1
    assert header_of(bytes(data)).frames == 2


def test_a_gif_frame_larger_than_its_screen_grows_the_size_as_pillow_does():
    gif = bytearray(hostile.encode(Image.new("P", (64, 64), 3), "GIF"))
    at = gif.index(b"\x2c")
    gif[at + 5 : at + 9] = (100).to_bytes(2, "little") * 2  # the first frame claims 100 x 100 on a 64 x 64 screen
    header = header_of(bytes(gif))
    assert (header.width, header.height) == Image.open(io.BytesIO(bytes(gif))).size == (100, 100)


@pytest.mark.parametrize("size", [(3640, 4548), (4000, 3000), (1281, 900), (1280, 1280), (12000, 40)])
def test_draft_size_is_the_size_pillow_and_libjpeg_decode_to(size):
    data = hostile.encode(Image.new("RGB", size, "gray"), "JPEG")
    image = Image.open(io.BytesIO(data))
    request = draft_request(*size, 1280)
    if request:
        image.draft("RGB", request)
    image.load()
    assert image.size == draft_size(*size, 1280)


@pytest.mark.parametrize("kind", ["jpeg progressive", "png rgba", "gif", "webp lossless alpha", "tiff deflate rgba", "bmp rgb", "mpo"])
def test_every_prefix_reads_or_is_refused_with_a_4xx(variants, kind):
    """Cut anywhere in the first 2 KB (where the headers are): a header, or a 4xx naming the input."""
    data = variants[kind]
    for cut in range(0, 2048, 7):
        try:
            header_of(data[:cut])
        except ServiceError as exc:
            assert 400 <= exc.status < 500 and exc.message.startswith("img1 "), exc.message


@pytest.mark.parametrize(
    "data, status, code",
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", 400, "invalid_image"),
        (hostile.jpeg_with_marker(0xC3), 415, "unsupported_image"),
        (hostile.jpeg_with_marker(0xC5), 415, "unsupported_image"),
        (b"\x89PNG\r\n\x1a\n", 400, "invalid_image"),
        (b"GIF89a\x40\x00\x40\x00\x00\x00\x00;", 400, "invalid_image"),
        (b"GIF89a\x40\x00\x40\x00\x00\x00\x00junk", 400, "invalid_image"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8L\x05\x00\x00\x00\x2e\x00\x00\x00\x00", 400, "invalid_image"),
        (b"II*\x00\xff\xff\xff\x00", 400, "invalid_image"),
        (b"BM" + bytes(12) + (99).to_bytes(4, "little"), 400, "invalid_image"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", 415, "unsupported_image"),
    ],
    ids=[
        "jpeg without frame",
        "lossless jpeg",
        "hierarchical jpeg",
        "png signature only",
        "gif without image",
        "gif junk",
        "webp bad vp8l",
        "tiff offset",
        "bmp header size",
        "wav",
    ],
)
def test_broken_or_unsupported_headers_are_named(data, status, code):
    with pytest.raises(ServiceError) as caught:
        header_of(data)
    assert (caught.value.status, caught.value.code) == (status, code), caught.value.message
