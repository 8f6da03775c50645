"""verify_face beyond one pair (issue 14), over HTTP through functions-framework on real photos:
templates out and back in, one probe against 1,000 references, a photo's faces on their own.
Malformed templates are in the bad-input catalogue (tests/functions/test_bad_inputs.py)."""

from __future__ import annotations

import base64
import io
import json
import os

import numpy as np
import pytest
from functions_framework import create_app
from PIL import Image

from shared.face.detect import KEYPOINT_NAMES
from tools import testdata

SOURCE = "functions/verify_face/main.py"
REFERENCES = 1000


@pytest.fixture(scope="module")
def client():
    return create_app("verify_face", SOURCE).test_client()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def post(client, **fields) -> dict:
    r = client.post("/", json=fields)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def template_of(client, photo: bytes) -> dict:
    """The selected face's template of a photo, from a photo-only request."""
    return post(client, img1=b64(photo))["faces"][0]["embedding"]


def test_template_of_a_sent_back_with_b_gives_the_distance_of_a_and_b(client, face_photos):
    a, b = (face_photos / "obama.jpg").read_bytes(), (face_photos / "obama2.jpg").read_bytes()
    pair = post(client, img1=b64(b), img2=b64(a), return_embeddings=True)
    template = pair["embeddings"]["img2"]
    assert {k: template[k] for k in ("model", "version", "dims")} == {"model": "face-embedder-sface", "version": "1.1.0", "dims": 128}
    assert len(template["fingerprint"]) == 12 and len(template["values"]) == 128
    again = post(client, img1=b64(b), img2=template)
    assert abs(again["distance"] - pair["distance"]) <= 1e-6
    for key in ("verified", "threshold", "confidence", "model", "similarity_metric"):
        assert again[key] == pair[key], key
    assert again["facial_areas"] == {"img1": pair["facial_areas"]["img1"]} and again["faces_found"] == {"img1": 1}
    # The same numbers as base64 float32 little-endian: the same distance.
    packed = {k: v for k, v in template.items() if k != "values"} | {"values_b64": b64(np.asarray(template["values"], "<f4").tobytes())}
    assert abs(post(client, img1=b64(b), img2=packed)["distance"] - pair["distance"]) <= 1e-6
    # A template read back is the embedding exactly: the photo-only answer's template is the same.
    assert template_of(client, a)["values"] == template["values"]


def test_pair_answer_keeps_its_fields_and_gains_a_confidence(client, face_photos):
    body = post(client, img1=b64((face_photos / "obama.jpg").read_bytes()), img2=b64((face_photos / "biden.jpg").read_bytes()))
    assert set(body) == {
        "verified",
        "distance",
        "confidence",
        "threshold",
        "similarity_metric",
        "model",
        "detector",
        "facial_areas",
        "faces_found",
        "quality",  # 0.4.0 (issue 24)
        "operating_point",
        "time_ms",
    }
    assert body["verified"] is False and 0.0 <= body["confidence"] < 0.5


def test_photo_only_request_returns_its_faces_in_the_selection_order(client, face_photos):
    obama, biden = Image.open(face_photos / "obama.jpg").convert("RGB"), Image.open(face_photos / "biden.jpg").convert("RGB")
    biden = biden.resize((obama.height * biden.width // biden.height, obama.height))
    group = Image.new("RGB", (obama.width + biden.width, obama.height))
    group.paste(obama, (0, 0))
    group.paste(biden, (obama.width, 0))
    out = io.BytesIO()
    group.save(out, "JPEG", quality=92)
    body = post(client, img1=b64(out.getvalue()), max_faces=3)
    assert body["faces_found"] == 2 and len(body["faces"]) == 2 and body["face_selection"] == "central"
    for face in body["faces"]:
        assert set(face) == {"box", "landmarks", "score", "embedding", "quality"}
        assert set(face["landmarks"]) == set(KEYPOINT_NAMES)
        assert face["embedding"]["dims"] == len(face["embedding"]["values"]) == 128
    assert body["faces"][0]["box"]["x"] != body["faces"][1]["box"]["x"]
    # The faces are two people: each template verifies against its own photo only.
    one = body["faces"][0]["embedding"]
    own = "obama.jpg" if body["faces"][0]["box"]["x"] < obama.width else "biden.jpg"
    other = "biden.jpg" if own == "obama.jpg" else "obama.jpg"
    assert post(client, img1=b64((face_photos / own).read_bytes()), img2=one)["verified"] is True
    assert post(client, img1=b64((face_photos / other).read_bytes()), img2=one)["verified"] is False
    # max_faces defaults to 1: the first face of the list above.
    single = post(client, img1=b64(out.getvalue()))
    assert len(single["faces"]) == 1 and single["faces"][0]["box"] == body["faces"][0]["box"]


def filler(n: int, dims: int, tag: dict, seed: int = 14) -> list[dict]:
    """`n` synthetic references: random unit vectors (no face's, far from every real one)."""
    vectors = np.random.default_rng(seed).standard_normal((n, dims)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [{"id": f"filler-{i}", "template": {**tag, "values": [float(str(v)) for v in row]}} for i, row in enumerate(vectors)]


def test_probe_against_1000_references_ranks_the_right_identity_first(client, face_photos):
    obama = template_of(client, (face_photos / "obama.jpg").read_bytes())
    biden = template_of(client, (face_photos / "biden.jpg").read_bytes())
    tag = {k: v for k, v in obama.items() if k != "values"}
    references = [{"id": "obama", "template": obama}, {"id": "biden", "template": biden}, *filler(REFERENCES - 2, 128, tag)]
    for probe in ("obama2.jpg", "obama3.jpg", "32bit.png"):
        body = post(client, img1=b64((face_photos / probe).read_bytes()), references=references, return_embeddings=True)
        assert body["references"] == REFERENCES
        assert body["best"]["id"] == "obama" and body["verified"] is True, (probe, body["best"])
        assert [m["id"] for m in body["matches"]] == ["obama"]
        assert 0.5 < body["best"]["confidence"] <= 1.0
        # The ranked distance is the pair's distance.
        pair = post(client, img1=b64((face_photos / probe).read_bytes()), img2=obama)
        assert abs(pair["distance"] - body["best"]["distance"]) <= 1e-6
        assert body["embeddings"]["img1"]["dims"] == 128
        # The same gallery packed (one tag, one base64 string): the same ranking and distance.
        rows = np.asarray([r["template"]["values"] for r in references], "<f4")
        gallery = {**tag, "ids": [r["id"] for r in references], "values_b64": b64(rows.tobytes())}
        packed = post(client, img1=b64((face_photos / probe).read_bytes()), references=gallery)
        assert packed["best"] == body["best"] and packed["matches"] == body["matches"]
    # A probe whose identity is not among the references matches nobody; best is still named.
    without = [r for r in references if r["id"] != "biden"]
    body = post(client, img1=b64((face_photos / "biden.jpg").read_bytes()), references=without)
    assert body["matches"] == [] and body["verified"] is False and body["best"]["verified"] is False


def test_references_over_multipart_as_a_json_field(client, face_photos):
    obama = template_of(client, (face_photos / "obama.jpg").read_bytes())
    data = {
        "img1": (io.BytesIO((face_photos / "obama2.jpg").read_bytes()), "probe.jpg"),
        "references": json.dumps([{"id": "obama", "template": obama}]),
        "return_embeddings": "false",
    }
    r = client.post("/", data=data, content_type="multipart/form-data")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["best"]["id"] == "obama" and "embeddings" not in r.get_json()


def test_template_of_another_embedder_is_refused(client, face_photos):
    meta = json.loads((testdata.ROOT / "models" / "face-embedder-dlib" / "bundle.json").read_text())
    dlib = {"model": meta["name"], "version": meta["version"], "fingerprint": meta["sha256"][:12], "dims": 128, "values": [0.1] * 128}
    r = client.post("/", json={"img1": b64((face_photos / "obama.jpg").read_bytes()), "img2": dlib})
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "template_mismatch"
    assert "face-embedder-dlib" in r.get_json()["error"]["message"]


# ---- 1,000 references from real photos (../shared/data/faces) ---------------------------


@pytest.fixture(scope="module")
def lfw_photos():
    path = testdata.shared_data("faces", "lfw-dev")
    if path is None:
        pytest.skip("../shared/data/faces/lfw-dev is not beside the repo")
    return path


def test_deepface_and_lfw_probes_against_1000_real_references(client, deepface_photos, lfw_photos):
    """13 deepface identities (one photo each) and 987 lfw-dev people (one photo each) as
    references; every other deepface photo, and a second photo of 20 lfw-dev people, as
    probes: each ranks its own identity first."""
    os.nice(5) if hasattr(os, "nice") else None
    labels = dict(line.split(",") for line in (deepface_photos / "labels.csv").read_text().split()[1:])
    by_identity: dict[str, list[str]] = {}
    for image, identity in sorted(labels.items()):
        by_identity.setdefault(identity, []).append(image)
    references, probes = [], []
    for identity, images in sorted(by_identity.items()):
        references.append({"id": f"deepface:{identity}", "template": template_of(client, (deepface_photos / images[0]).read_bytes())})
        probes += [(f"deepface:{identity}", deepface_photos / image) for image in images[1:]]
    people = sorted(p for p in lfw_photos.iterdir() if p.is_dir())
    for person in people:
        if len(references) == REFERENCES:
            break
        photos = sorted(person.glob("*.jpg"))
        r = client.post("/", json={"img1": b64(photos[0].read_bytes())})
        if r.status_code != 200:  # a photo without a face (422) is no reference
            continue
        references.append({"id": f"lfw:{person.name}", "template": r.get_json()["faces"][0]["embedding"]})
        if len(photos) > 1 and sum(p[0].startswith("lfw:") for p in probes) < 20:
            probes.append((f"lfw:{person.name}", photos[1]))
    assert len(references) == REFERENCES
    wrong = []
    for identity, path in probes:
        body = post(client, img1=b64(path.read_bytes()), references=references)
        if body["best"]["id"] != identity:
            wrong.append((path.name, identity, body["best"]))
    assert not wrong, wrong
