"""verify_face's quality verdict, quality policy and operating points by false-accept rate
(issue 24), through functions-framework on the bundled models and fetched photos."""

import base64
import io
import json

import pytest
from functions_framework import create_app
from PIL import Image

SOURCE = "functions/verify_face/main.py"


@pytest.fixture(scope="module")
def client():
    return create_app("verify_face", SOURCE).test_client()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def dark(path, gamma: float = 6.0) -> bytes:
    """The photo darkened (gamma 6): its face is too dark to judge."""
    table = [round(255 * (v / 255) ** gamma) for v in range(256)] * 3
    out = io.BytesIO()
    Image.open(path).convert("RGB").point(table).save(out, format="JPEG", quality=95)
    return out.getvalue()


def test_every_comparison_carries_quality_and_its_operating_point(client, face_photos):
    body = {"img1": b64((face_photos / "obama.jpg").read_bytes()), "img2": b64((face_photos / "obama2.jpg").read_bytes())}
    r = client.post("/", json=body)
    assert r.status_code == 200, r.get_json()
    answer = r.get_json()
    assert set(answer["quality"]) == {"img1", "img2"}
    assert answer["quality"]["img1"]["verdict"] == "good" and answer["quality"]["img1"]["reasons"] == []
    point = answer["operating_point"]
    assert point["name"] == "far_0.5%" and point["far_target"] == 0.005 and point["condition"] == "good"
    assert 0 <= point["measured_far"] <= 0.005 and answer["verified"] is True


def test_reject_policy_answers_422_low_quality_with_reasons_and_a_hint(client, face_photos):
    data = {
        "img1": (io.BytesIO(dark(face_photos / "obama.jpg")), "dark.jpg"),
        "img2": (io.BytesIO((face_photos / "obama2.jpg").read_bytes()), "b.jpg"),
        "quality_policy": "reject",
    }
    r = client.post("/", data=data, content_type="multipart/form-data")
    assert r.status_code == 422
    error = json.loads(r.data)["error"]  # strict JSON
    assert error["code"] == "low_quality" and "img1" in error["message"]
    assert set(error["reasons"]) == {"img1"} and error["reasons"]["img1"]
    assert error["hint"][0].isupper() and error["hint"].endswith(".")
    # The same photo under the default policy (report): a verdict, with the reasons shown.
    data = {
        "img1": (io.BytesIO(dark(face_photos / "obama.jpg")), "dark.jpg"),
        "img2": (io.BytesIO((face_photos / "obama2.jpg").read_bytes()), "b.jpg"),
    }
    r = client.post("/", data=data, content_type="multipart/form-data")
    assert r.status_code == 200 and r.get_json()["quality"]["img1"]["reasons"] == error["reasons"]["img1"]


def test_far_chooses_the_operating_point(client, face_photos):
    body = {"img1": b64((face_photos / "obama.jpg").read_bytes()), "img2": b64((face_photos / "biden.jpg").read_bytes())}
    default = client.post("/", json=body).get_json()
    strict = client.post("/", json={**body, "far": 0.001}).get_json()
    assert strict["operating_point"]["far_target"] == 0.001 and strict["threshold"] <= default["threshold"]
    assert strict["verified"] is False


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"far": 0.00001}, "stricter than every calibrated"),
        ({"far": "0.001"}, "far must be a number"),
        ({"far": True}, "far must be a number"),
        ({"far": 0.9}, "far must be a number"),
        ({"quality_policy": "strict"}, "quality_policy must be one of"),
    ],
)
def test_bad_far_or_policy_is_400(client, face_photos, extra, says):
    body = {"img1": b64((face_photos / "obama.jpg").read_bytes()), "img2": b64((face_photos / "obama2.jpg").read_bytes())}
    r = client.post("/", json={**body, **extra})
    assert r.status_code == 400 and says in r.get_json()["error"]["message"]


def test_far_is_for_comparisons_only(client, face_photos):
    r = client.post("/", json={"img1": b64((face_photos / "obama.jpg").read_bytes()), "far": 0.001})
    assert r.status_code == 400 and "for a comparison" in r.get_json()["error"]["message"]
