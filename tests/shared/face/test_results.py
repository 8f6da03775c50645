"""Typed face results (shared/face/results.py) and the pipeline calls that make them
(FaceVerifier.verify / search / photo_faces, face/service.py): typed values inside, today's
wire format from `to_dict()`; one distance and one confidence for pairs and searches."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from shared.face.detect import KEYPOINT_NAMES, Face
from shared.face.embed import DISTANCES
from shared.face.results import FaceResult, Landmarks, PhotoFaces, Search, Verification
from shared.face.templates import Gallery, Template, TemplateTag, to_template

ROOT = Path(__file__).resolve().parents[3]
TAG = TemplateTag("face-embedder-sface", "1.1.0", "782b0cf3aa0c", 4)
# Working pixels; the photo was decoded at half its size (scale 2).
FACE = Face((10.3, 20.26, 50.5, 60.2), 0.912345, ((30.2, 40.7), (50.9, 40.1), (40.0, 55.5), (40.4, 70.6), (12.0, 45.0), (68.7, 44.9)))


def test_landmarks_are_the_detector_keypoints_by_name():
    assert Landmarks._fields == KEYPOINT_NAMES


def test_a_face_keeps_floats_and_writes_todays_wire_format():
    template = Template(np.array([0.5, -1.25, 2.0, 0.1], np.float32), TAG)
    face = FaceResult.of(FACE, 2.0, template)
    assert face.box == (20.6, 40.52, 101.0, 120.4) and face.landmarks.left_eye == (101.8, 80.2) and face.score == 0.912345
    assert list(face.to_dict().items()) == [
        ("box", {"x": 21, "y": 41, "w": 101, "h": 120}),
        (
            "landmarks",
            {
                "right_eye": [60, 81],
                "left_eye": [102, 80],
                "nose_tip": [80, 111],
                "mouth_center": [81, 141],
                "right_ear_tragion": [24, 90],
                "left_ear_tragion": [137, 90],
            },
        ),
        ("score", 0.9123),
        ("embedding", to_template(template.vector, TAG)),
    ]
    assert list(face.to_area().items()) == [
        ("x", 21),
        ("y", 41),
        ("w", 101),
        ("h", 120),
        ("left_eye", [102, 80]),
        ("right_eye", [60, 81]),
        ("score", 0.9123),
    ]
    assert "embedding" not in FaceResult.of(FACE, 2.0).to_dict()  # a template only when asked for


def test_a_face_comes_back_from_its_cached_form_unchanged():
    face = FaceResult.of(FACE, 1.7)
    back = FaceResult.from_record(json.loads(json.dumps(dataclasses.asdict(face))))
    assert back == face and isinstance(back.landmarks, Landmarks)


@pytest.mark.parametrize("metric", sorted(DISTANCES))
def test_a_pair_is_measured_by_the_gallery_code(metric, monkeypatch):
    """One implementation per metric: a pair's distance is a gallery of one row's."""
    from shared.face import embed

    real, calls = embed.distances_to, []
    monkeypatch.setattr(embed, "distances_to", lambda p, g, m: calls.append((m, len(g))) or real(p, g, m))
    a, b = np.random.default_rng(22).standard_normal((2, 128)).astype(np.float32)
    assert DISTANCES[metric](a, b) == real(a, b[None], metric)[0]
    assert calls == [(metric, 1)]


# ---- the verifier's answers, with the real models ------------------------------------------


@pytest.fixture(scope="module")
def verifier():
    from shared.face.verify import FaceVerifier, VerifyOptions
    from shared.settings import Settings

    return FaceVerifier.load(dataclasses.replace(VerifyOptions.from_settings(Settings.from_env()), cache_size=0))


def test_service_answers_each_shape_with_a_typed_result(verifier, face_photos):
    from shared.face import service

    obama, obama2 = (face_photos / "obama.jpg").read_bytes(), (face_photos / "obama2.jpg").read_bytes()
    pair = service.answer(verifier, {"img1": obama, "img2": obama2, "return_embeddings": True})
    assert isinstance(pair, Verification) and set(pair.templates or {}) == {"img1", "img2"}
    template = to_template(pair.faces["img2"].embedding, verifier.tag)
    with_template = service.answer(verifier, {"img1": obama, "img2": template})
    assert isinstance(with_template, Verification) and with_template.distance == pair.distance
    found = service.answer(verifier, {"img1": obama, "references": [{"id": "a", "template": template}]})
    assert isinstance(found, Search) and found.best.distance == pair.distance
    faces = service.answer(verifier, {"img1": obama})
    assert isinstance(faces, PhotoFaces) and isinstance(faces.faces[0], FaceResult) and faces.faces[0].template is not None
    # The photo's face is the one a comparison reports, in the same wire form.
    assert faces.faces[0].to_area() == pair.faces["img1"].face.to_area() == found.probe.face.to_area()
    for result in (pair, with_template, found, faces):
        json.dumps(result.to_dict(), allow_nan=False)


def test_pairs_and_searches_share_one_confidence(verifier, face_photos, monkeypatch):
    """A pair's confidence and every match's come from EmbedderContract.confidence_of."""
    from shared.face.contract import EmbedderContract

    seen: list[float] = []
    monkeypatch.setattr(EmbedderContract, "confidence_of", lambda self, d: seen.append(d) or 0.125)
    obama, obama2 = (face_photos / "obama.jpg").read_bytes(), (face_photos / "obama2.jpg").read_bytes()
    pair = verifier.verify(obama, obama2)
    rows = np.stack([verifier.embed_photo(obama2, "img2").embedding, verifier.embed_photo(obama, "img2").embedding])
    found = verifier.search(obama, Gallery(["obama2", "obama"], rows))
    assert pair.confidence == 0.125 and [m.confidence for m in found.matches] == [0.125, 0.125]
    assert seen == [pair.distance, *(m.distance for m in found.matches)]


def test_only_the_finder_reaches_its_detectors():
    """Nothing outside face/detect.py calls into FaceFinder.primary (it has `refine`)."""
    offenders = []
    for path in sorted((ROOT / "shared").rglob("*.py")):
        if path.name == "detect.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.Attribute) and n.attr == "primary" for n in ast.walk(tree)):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
