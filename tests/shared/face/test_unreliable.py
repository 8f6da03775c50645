"""`unreliable_face` (issue 24): a reason read from the embedder instead of the pixels. SFace's
vector before normalisation is short for faces it reads badly though their pixels pass every
other check (a face-filling crop cut inside the face, a face found turned the wrong way);
under bundle.json's `quality` limits the face is `unreliable_face`: reported, rejected under
the reject policy, never a stricter threshold. Photos: face_recognition 1.3.0's test images,
which the project fetches itself (tests/conftest.py)."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared.errors import BundleError, LowQuality
from shared.face import quality
from shared.face.contract import EmbedderContract
from shared.face.operating import conditions_of
from shared.face.verify import FaceVerifier, Stopwatch
from shared.settings import MODELS_DIR
from tools.testdata import jpeg

# The served detector's face box (x, y, w, h) on obama3.jpg (as tests/shared/face/test_capture.py).
OBAMA3_BOX = (634, 348, 271, 271)


def meta(name: str) -> dict:
    return json.loads((MODELS_DIR / name / "bundle.json").read_text())


def cut_inside(path, inset: float) -> bytes:
    """obama3.jpg cut to its face box shrunk by `inset` of its size on each side, 128 px."""
    x, y, w, h = OBAMA3_BOX
    image = Image.open(path).convert("RGB")
    cut = image.crop((round(x + inset * w), round(y + inset * h), round(x + (1 - inset) * w), round(y + (1 - inset) * h)))
    return jpeg(cut.resize((128, 128), Image.Resampling.LANCZOS))


def test_a_crop_cut_inside_the_face_is_unreliable_reported_and_rejected(verifier, face_photos):
    """Cut at the face box, the crop is read well (norm 11.3); cut 10% inside it, the pixels
    still pass (sharp, lit, frontal) but the embedding is short (9.3, under the tight limit
    10): reported as `unreliable_face`, answered under `report` at the threshold it had
    without the reason, and a 422 low_quality under `reject`."""
    other = (face_photos / "obama.jpg").read_bytes()
    limits = verifier.embedder.contract.min_norm
    assert limits is not None
    at_box = verifier.embed_photo(cut_inside(face_photos / "obama3.jpg", 0.0), "img1")
    assert at_box.quality.tight and at_box.quality.good and float(np.linalg.norm(at_box.embedding)) >= limits[1]

    inside = cut_inside(face_photos / "obama3.jpg", 0.1)
    answer = verifier.verify(inside, other)
    shown = answer.to_dict()["quality"]["img1"]
    assert shown["tight"] and shown["verdict"] == "poor" and shown["reasons"] == ["unreliable_face"], shown
    assert "upright" in shown["hint"] and "space around it" in shown["hint"]
    face = answer.faces["img1"]
    assert float(np.linalg.norm(face.embedding)) < limits[1]
    point = verifier.point()
    assert point is not None
    without = replace(face.quality, reasons=())
    assert answer.threshold == point.threshold_for(without, answer.faces["img2"].quality)
    assert answer.operating_point["condition"] == point.condition(without, answer.faces["img2"].quality) != "poor"

    with pytest.raises(LowQuality) as caught:
        verifier.verify(inside, other, policy="reject")
    assert caught.value.details["reasons"] == {"img1": ["unreliable_face"]}
    assert caught.value.details["hint"] == quality.hint(["unreliable_face"])
    with pytest.raises(LowQuality):  # a search against templates, too
        verifier.search(inside, _gallery_of(verifier, other), policy="reject")
    assert verifier.photo_faces(inside).qualities[0].reasons == ("unreliable_face",)


def _gallery_of(verifier: FaceVerifier, photo: bytes):
    from shared.face.templates import Gallery

    vector = verifier.embed_photo(photo, "ref").embedding
    return Gallery(["ref"], vector[None].astype(np.float32))


def test_an_upside_down_photo_is_found_by_its_half_turn_and_read_well(verifier, face_photos):
    """obama_partial_face.jpg upside down: the rotation fallback used to keep its first quarter
    turn, a face on its side (embedding length 4.0: `unreliable_face`); since the fallback
    checks that the turned face looks upright (search.rotated, 0.5.0's fifth round) it is found
    by the half turn and read as well as the photo the right way up."""
    limits = verifier.embedder.contract.min_norm
    assert limits is not None
    upside_down = jpeg(Image.open(face_photos / "obama_partial_face.jpg").convert("RGB").rotate(180, expand=True))
    face = verifier.embed_photo(upside_down, "img1")
    assert face.quality.found_by == "rotated_180", face.quality
    assert "unreliable_face" not in face.quality.reasons
    assert float(np.linalg.norm(face.embedding)) >= limits[1 if face.quality.tight else 0]


@pytest.mark.parametrize("name", ["obama.jpg", "biden.jpg"])
def test_a_face_on_its_side_embeds_short_and_is_unreliable(verifier, face_photos, name):
    """What a wrong quarter turn hands the embedder: the chip of a face on its side. SFace's
    vector for it is short (2.7-4.2 on the tests' photos, against 12-13.5 upright): under the
    limit, so the verdict gets `unreliable_face`; the upright chip's does not."""
    photo, faces, _, _ = verifier.find_faces((face_photos / name).read_bytes(), name, Stopwatch())
    chip = verifier.embedder.chip(photo.pixels, faces[0])
    verdict = quality.measure(chip, faces[0].keypoints, photo.scale, "direct", photo.pixels.shape)
    limits = verifier.embedder.contract.min_norm
    assert not verdict.tight and verdict.good and limits is not None
    upright = verifier.embedder.embed(chip)
    assert "unreliable_face" not in quality.judge_embedding(verdict, upright, limits).reasons
    for turns in (1, 3):
        sideways = verifier.embedder.embed(np.ascontiguousarray(np.rot90(chip, turns)))
        assert float(np.linalg.norm(sideways)) < limits[0] < float(np.linalg.norm(upright))
        assert quality.judge_embedding(verdict, sideways, limits).reasons == ("unreliable_face",)


def test_clean_photos_are_not_unreliable(verifier, face_photos):
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"):
        face = verifier.embed_photo((face_photos / name).read_bytes(), name)
        assert "unreliable_face" not in face.quality.reasons and face.quality.good


def _quality(tight: bool, reasons: tuple[str, ...] = ()) -> quality.Quality:
    return quality.Quality(40.0, 0.4, 120.0, 0.0, 0.0, 0.0, False, "direct", reasons, 0.3 if tight else 0.0)


@pytest.mark.parametrize(
    ("tight", "length", "unreliable"), [(False, 6.9, True), (False, 7.0, False), (True, 9.9, True), (True, 10.0, False), (True, 7.5, True)]
)
def test_the_norm_is_judged_against_the_limit_of_its_kind(tight, length, unreliable):
    vector = np.zeros(128, np.float32)
    vector[3] = length
    judged = quality.judge_embedding(_quality(tight, ("blurry",)), vector, (7.0, 10.0))
    assert judged.reasons == (("blurry", "unreliable_face") if unreliable else ("blurry",))
    assert quality.judge_embedding(_quality(tight), vector * 0, None).reasons == ()  # an embedder without limits: never


def test_unreliable_face_is_a_reason_to_reject_but_no_condition():
    """Not in POOR_REASONS: the verification threshold does not move (bundle thresholds and
    recorded answers' verdicts stay as they were)."""
    unreliable = {"grayscale": False, "tight": False, "reasons": ["unreliable_face"]}
    assert conditions_of(unreliable, unreliable) == {"good"}
    record = dict(_quality(False, ("unreliable_face",)).__dict__)
    assert quality.Quality.from_record(record).reasons == ("unreliable_face",)  # the cached form reads back
    with pytest.raises(LowQuality):
        quality.enforce("reject", {"img1": _quality(False, ("unreliable_face",))})
    quality.enforce("report", {"img1": _quality(False, ("unreliable_face",))})


def test_only_sface_carries_norm_limits_and_a_bad_limit_is_named():
    """The limits are on SFace's scale: dlib's vectors (another length) carry none, so the
    reason is never given with them."""
    assert EmbedderContract.from_meta(meta("face-embedder-sface")).min_norm == (7.0, 10.0)
    for name in ("face-embedder-dlib", "face-embedder-dlib-int8", "face-embedder-sface-int8"):
        assert EmbedderContract.from_meta(meta(name)).min_norm is None
    bad = copy.deepcopy(meta("face-embedder-sface"))
    bad["quality"]["min_norm_tight"] = -1
    with pytest.raises(BundleError, match=r"quality\.min_norm_tight is -1"):
        EmbedderContract.from_meta(bad)
    del bad["quality"]["min_norm"]
    with pytest.raises(BundleError, match=r"quality\.min_norm is missing"):
        EmbedderContract.from_meta(bad)


def test_the_api_description_lists_every_reason():
    """docs/openapi.yaml's quality schema enumerates the reasons an answer may carry."""
    import re

    spec = (Path(__file__).resolve().parents[3] / "docs" / "openapi.yaml").read_text()
    (listed,) = re.findall(r"reasons: \{type: array, items: \{type: string, enum: \[([a-z_, ]+)\]\}\}", spec)
    assert [r.strip() for r in listed.split(",")] == list(quality.HINTS)
