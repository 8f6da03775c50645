"""`over_compressed` (issue 24): a JPEG saved at a low quality, read from the luminance
quantisation table its header declares (shared.images.jpeg.quality_of, on the table Pillow
parsed with the header), flagged under quality.MIN_JPEG_QUALITY: reported, rejected under the
reject policy, never a stricter threshold. Only JPEG (and MPO) inputs carry the tables: a PNG
of a once heavily compressed photo is not judged by it. Photos: face_recognition 1.3.0's test
images, which the project fetches itself (tests/conftest.py), re-encoded here."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from PIL import Image

from shared.errors import LowQuality
from shared.face import quality
from shared.face.operating import conditions_of
from shared.images import DecodeLimits, decode_photo, inspect_image
from shared.images import jpeg as jpeg_headers
from shared.images.decode import decode_again


def saved(image: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def reencoded(path, q: int) -> bytes:
    return saved(Image.open(path).convert("RGB"), quality=q)


def test_the_quality_is_read_exactly_from_the_table_libjpeg_wrote(face_photos):
    """Every IJG quality 1-100 Pillow saves at is read back as itself, from the header alone."""
    photo = Image.open(face_photos / "obama.jpg").convert("RGB").resize((96, 96))
    for q in range(1, 101):
        with Image.open(io.BytesIO(saved(photo, quality=q))) as opened:
            assert jpeg_headers.quality_of(opened) == q
    assert jpeg_headers.ijg_table(50) == jpeg_headers.IJG_LUMINANCE  # quality 50: the base table itself
    assert jpeg_headers.quality_of(Image.open(face_photos / "32bit.png")) is None


def test_decoded_photos_carry_their_jpeg_quality_and_other_formats_none(face_photos):
    """Through decode_photo (JPEG, MPO, PNG) and decode_again's reuse of the kept draft image."""
    limits = DecodeLimits()
    image = Image.open(face_photos / "obama.jpg").convert("RGB")
    cases = {"JPEG": (saved(image, quality=12), 12), "PNG": (saved(image, "PNG"), None)}
    cases["MPO"] = (saved(image, "MPO", quality=20, save_all=True, append_images=[image]), 20)
    for fmt, (data, want) in cases.items():
        photo = decode_photo(data, name="img1", limits=limits)
        assert photo.jpeg_quality == want, fmt
    big = saved(image.resize((image.width * 3, image.height * 3)), quality=12)
    cost = inspect_image(big, "img1", limits)
    first = decode_photo(big, name="img1", limits=limits, cost=cost, side=640, keep=True)
    assert first.source is not None and first.jpeg_quality == 12
    again = decode_again(big, first, name="img1", limits=limits, cost=cost, side=800)
    assert again is not None and again.jpeg_quality == 12 and first.without_source().jpeg_quality == 12


def test_a_photo_saved_at_quality_10_is_over_compressed_reported_and_rejected(verifier, face_photos):
    """obama.jpg (saved at 93) passes; re-encoded at 10 its face is still found, sharp enough
    and lit, but the photo is `over_compressed`: reported with a hint to send the original,
    answered under `report` at the threshold it had without the reason, a 422 under `reject`."""
    other = (face_photos / "obama2.jpg").read_bytes()
    clean = verifier.verify((face_photos / "obama.jpg").read_bytes(), other)
    assert clean.faces["img1"].quality.good and clean.faces["img2"].quality.good

    heavy = reencoded(face_photos / "obama.jpg", 10)
    answer = verifier.verify(heavy, other)
    shown = answer.to_dict()["quality"]["img1"]
    assert shown["verdict"] == "poor" and shown["reasons"] == ["over_compressed"], shown
    assert "original photo" in shown["hint"] and "compressed" in shown["hint"]
    point = verifier.point()
    assert point is not None
    without = replace(answer.faces["img1"].quality, reasons=())
    assert answer.threshold == point.threshold_for(without, answer.faces["img2"].quality)
    assert answer.operating_point["condition"] == point.condition(without, answer.faces["img2"].quality) != "poor"

    with pytest.raises(LowQuality) as caught:
        verifier.verify(heavy, other, policy="reject")
    assert caught.value.details["reasons"] == {"img1": ["over_compressed"]}
    assert "original photo" in caught.value.details["hint"]


def test_the_limit_and_what_it_does_not_cover(verifier, face_photos):
    """Quality 30 passes, 29 does not (MIN_JPEG_QUALITY); the same quality-10 pixels sent as
    a PNG are not judged (no quantisation table): the documented limit of the reason."""
    assert quality.MIN_JPEG_QUALITY == 30
    at_limit = verifier.embed_photo(reencoded(face_photos / "obama.jpg", 30), "img1").quality
    under = verifier.embed_photo(reencoded(face_photos / "obama.jpg", 29), "img1").quality
    assert "over_compressed" not in at_limit.reasons and "over_compressed" in under.reasons
    as_png = saved(Image.open(io.BytesIO(reencoded(face_photos / "obama.jpg", 10))), "PNG")
    assert "over_compressed" not in verifier.embed_photo(as_png, "img1").quality.reasons


def test_over_compressed_is_a_reason_to_reject_but_no_condition():
    assert quality.reasons_for(40.0, 0.4, 120.0, 0.0, 0.0, 29) == ("over_compressed",)
    assert quality.reasons_for(40.0, 0.4, 120.0, 0.0, 0.0, 30) == ()
    assert quality.reasons_for(40.0, 0.4, 120.0, 0.0, 0.0, None) == ()  # not a JPEG: never
    flagged = {"grayscale": False, "tight": False, "reasons": ["over_compressed"]}
    assert conditions_of(flagged, flagged) == {"good"}
    record = dict(quality.Quality(40.0, 0.4, 120.0, 0.0, 0.0, 0.0, False, "direct", ("over_compressed",)).__dict__)
    assert quality.Quality.from_record(record).reasons == ("over_compressed",)  # the cached form reads back
