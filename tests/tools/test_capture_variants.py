"""The capture-variant tool (issue 24): deterministic variants of real photos, and the
condition-aware fit of operating points by false-accept rate."""

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from tools import testdata
from tools.calibrate import calibrate_far_points as far_points
from tools.calibrate import capture_variants as cv

OBAMA_BOX = (359.0, 150.0, 263.0, 263.0)  # the served detector's box on obama.jpg


@pytest.fixture(scope="module")
def obama(face_photos):
    return Image.open(face_photos / "obama.jpg").convert("RGB")


@pytest.mark.parametrize("variant", list(cv.VARIANTS))
def test_every_variant_is_the_same_bytes_each_time(obama, variant):
    kind, params = cv.VARIANTS[variant]
    first = cv.make_variant(kind, params, obama, OBAMA_BOX, "face_recognition/obama.jpg")
    assert first == cv.make_variant(kind, params, obama, OBAMA_BOX, "face_recognition/obama.jpg")
    image = Image.open(io.BytesIO(first))
    if kind == "crop":
        assert 112 <= max(image.size) <= 160
        assert (image.mode == "L") is params["gray"]
    if kind == "small":
        assert image.size == (1920, 1080)
    if variant in ("rot90", "rot270"):
        assert image.size == (obama.height, obama.width)


def test_draws_depend_on_the_name_only():
    sides = {cv.draw(f"lfw/{i}.jpg", 112, 160, "crop-side") for i in range(50)}
    assert len(sides) > 10 and min(sides) >= 112 and max(sides) <= 160
    assert cv.draw("a.jpg", 10, 15, "jpeg-quality") == cv.draw("a.jpg", 10, 15, "jpeg-quality")


def _variant(genuine, impostor, condition):
    d = np.array(genuine + impostor, dtype=float)
    flags = np.array([[c in ("good", condition) for c in far_points.CONDITIONS]] * len(d))  # type: ignore[attr-defined]
    return d, np.arange(len(d)) < len(genuine), flags


def test_far_fit_holds_the_target_in_every_variant_and_no_condition_is_looser_than_good():
    # clean: good pairs; crops: tight pairs whose impostors come close (0.5).
    # One clean impostor in 2,000 may pass (0.05%); three crop impostors in 200 may not (1.5%).
    clean = _variant([0.2, 0.3], [0.7 + 0.0001 * i for i in range(2000)], "good")
    crops = _variant([0.3, 0.45], [0.5] * 3 + [0.9] * 197, "tight")
    t = far_points.fit({"clean": clean, "crops": crops}, 0.001)
    assert all(t[c] <= t["good"] for c in far_points.CONDITIONS)
    assert t["tight"] < 0.5 <= t["good"]  # the crops' close impostors are refused, clean ones keep theirs
    capped = far_points.fit({"clean": clean, "crops": crops}, 0.001, cap=0.6407)
    assert capped["good"] == 0.6407


def test_variants_of_development_photos_are_found(face_photos):
    lfw = testdata.shared_data("faces", "lfw-dev")
    if lfw is None:
        pytest.skip("../shared/data/faces/lfw-dev is not beside the repo (development photos)")
    from shared.face.verify import FaceVerifier, VerifyOptions
    from shared.settings import get_settings

    verifier = FaceVerifier.load(replace(VerifyOptions.from_settings(get_settings()), cache_size=0))
    pairs = cv.source_sets((1,))["lfw-dev"][:5]
    for image in cv.photos_of(pairs):
        upright = Image.open(lfw / image).convert("RGB")
        box = verifier.embed_photo((lfw / image).read_bytes(), image).face.box
        for variant in ("crop0", "crop0-gray", "rot180"):
            kind, params = cv.VARIANTS[variant]
            face = verifier.embed_photo(cv.make_variant(kind, params, upright, box, image), image)
            assert face.quality is not None and (face.quality.tight or variant == "rot180")


def test_a_label_whose_embedder_is_gone_falls_back_to_this_trees_bundle(tmp_path, capsys):
    from pathlib import Path

    from shared.settings import DEFAULT_FACE_EMBEDDER
    from tools.calibrate import variant_table

    kept = variant_table.embedder_of("here", {"embedder": DEFAULT_FACE_EMBEDDER})
    assert kept == Path(DEFAULT_FACE_EMBEDDER) and capsys.readouterr().err == ""
    gone = variant_table.embedder_of("gone", {"embedder": str(tmp_path / "removed-worktree" / "face-embedder-sface")})
    assert gone == Path(DEFAULT_FACE_EMBEDDER) and (gone / "bundle.json").is_file()
    assert "gone's embedder" in capsys.readouterr().err
