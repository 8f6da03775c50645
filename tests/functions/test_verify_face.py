"""verify_face through functions-framework, on the bundled models and real photos."""

import base64
import io

import pytest
from functions_framework import create_app
from PIL import Image

from shared.settings import get_settings

SOURCE = "functions/verify_face/main.py"


@pytest.fixture(scope="module")
def client():
    return create_app("verify_face", SOURCE).test_client()


def b64(path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def post_files(client, a: bytes, b: bytes, names=("a.jpg", "b.jpg")):
    data = {"img1": (io.BytesIO(a), names[0]), "img2": (io.BytesIO(b), names[1])}
    return client.post("/", data=data, content_type="multipart/form-data")


def test_same_person_verifies_through_multipart(client, face_photos):
    r = post_files(client, (face_photos / "obama.jpg").read_bytes(), (face_photos / "obama2.jpg").read_bytes())
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["verified"] is True and body["distance"] <= body["threshold"]
    assert body["model"] == "face-embedder-sface" and body["similarity_metric"] == "cosine"
    assert body["faces_found"] == {"img1": 1, "img2": 1}
    area = body["facial_areas"]["img1"]
    assert {"x", "y", "w", "h", "left_eye", "right_eye", "score"} <= set(area)
    # obama.jpg is 910x1137: the face box lies inside it, eyes inside the box, subject's right eye on the image left.
    assert area["x"] >= 0 and area["x"] + area["w"] <= 910 and area["y"] + area["h"] <= 1137
    assert area["right_eye"][0] < area["left_eye"][0]
    assert {"img1", "img2", "total"} <= set(body["time_ms"])


@pytest.mark.parametrize("other", ["obama3.jpg", "32bit.png"])
def test_more_obama_photos_verify_through_base64_json(client, face_photos, other):
    r = client.post("/", json={"img1": b64(face_photos / "obama.jpg"), "img2": "data:image/jpeg;base64," + b64(face_photos / other)})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["verified"] is True


def test_different_people_do_not_verify(client, face_photos):
    r = client.post("/", json={"img1": b64(face_photos / "obama.jpg"), "img2": b64(face_photos / "biden.jpg")})
    assert r.status_code == 200
    body = r.get_json()
    assert body["verified"] is False and body["distance"] > body["threshold"]


def test_photo_without_a_face_is_422_naming_it(client, face_photos):
    # A real photo's top-left background corner holds no face.
    corner = Image.open(face_photos / "obama.jpg").crop((0, 0, 200, 200))
    out = io.BytesIO()
    corner.save(out, "JPEG")
    r = post_files(client, (face_photos / "obama.jpg").read_bytes(), out.getvalue())
    assert r.status_code == 422
    assert r.get_json()["error"] == {"code": "no_face", "message": "no face found in img2"}


def test_repeated_reference_photo_is_served_from_the_cache(face_photos, monkeypatch):
    # The test process holds every model the suite loaded so far: a 512 MB tier would see
    # it as memory pressure and drop the cache (as it should), which is not what is tested.
    monkeypatch.setenv("MEMORY_LIMIT_MB", "65536")
    get_settings.cache_clear()
    client = create_app("verify_face", SOURCE).test_client()  # its own, empty cache
    ref = (face_photos / "obama.jpg").read_bytes()
    first = post_files(client, ref, (face_photos / "obama2.jpg").read_bytes()).get_json()
    hits = client.get("/").get_json()["embedding_cache"]["hits"]
    hit = post_files(client, ref, (face_photos / "obama3.jpg").read_bytes()).get_json()
    assert client.get("/").get_json()["embedding_cache"]["hits"] == hits + 1
    # The answer does not tell that img1 came from the cache: its stages read as computed.
    assert hit["time_ms"]["img1"] == first["time_ms"]["img1"] and "cache" not in str(hit["time_ms"])
    # A hit answers exactly what a fresh computation answers.
    monkeypatch.setenv("EMBEDDING_CACHE_SIZE", "0")
    get_settings.cache_clear()
    uncached = create_app("verify_face", SOURCE).test_client()
    miss = post_files(uncached, ref, (face_photos / "obama3.jpg").read_bytes()).get_json()
    assert (miss["distance"], miss["facial_areas"], miss["faces_found"]) == (hit["distance"], hit["facial_areas"], hit["faces_found"])


def test_health_reports_models_runtime_and_memory(face_photos):
    client = create_app("verify_face", SOURCE).test_client()
    assert client.get("/").get_json()["models"] == {"state": "not_loaded"}  # health loads nothing
    post_files(client, (face_photos / "obama.jpg").read_bytes(), (face_photos / "obama2.jpg").read_bytes())
    health = client.get("/").get_json()
    assert health["ready"] is True and health["models"]["state"] == "ready"
    names = [b["name"] for b in health["bundles"]]
    # The full-range fallback detector loads only when a photo needs it.
    assert names == ["face-detector-short", "face-embedder-sface"]
    assert health["fallback_detector"] == {"state": "not_loaded"}
    assert all(len(b["sha256"]) == 64 for b in health["bundles"])
    assert health["runtime"]["runtime"] in ("ai_edge_litert", "tflite_runtime")
    assert 0 < health["memory"]["rss_mb"] < health["memory"]["limit_mb"]
    assert isinstance(health["threshold"], float)


@pytest.mark.parametrize(
    "kwargs,status,code",
    [
        ({"data": b"", "content_type": "application/json"}, 400, "bad_request"),
        ({"data": b"img1=x", "content_type": "text/plain"}, 415, "unsupported_media_type"),
        ({"json": {"img2": "aGVsbG8="}}, 400, "bad_request"),  # img1 alone is a photo-only request; img2 alone is not
        ({"json": {"img1": "!!", "img2": "!!"}}, 400, "bad_request"),
        ({"json": {"img1": "aGVsbG8=", "img2": "aGVsbG8="}}, 415, "unsupported_image"),
        ({"json": {"img1": "aGVsbG8=", "img2": "aGVsbG8=", "extra": 1}}, 400, "bad_request"),
        ({"json": [1, 2]}, 400, "bad_request"),
    ],
)
def test_bad_requests_get_json_4xx(client, kwargs, status, code):
    r = client.post("/", **kwargs)
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.get_json()["error"]["code"] == code
    assert "Traceback" not in r.get_data(as_text=True)


def test_other_methods_are_405(client):
    r = client.put("/", json={})
    assert r.status_code == 405 and r.get_json()["error"]["code"] == "method_not_allowed"


def test_body_over_the_limit_is_413_from_content_length(monkeypatch, face_photos):
    monkeypatch.setenv("MAX_REQUEST_BYTES", "100000")
    from shared.settings import get_settings

    get_settings.cache_clear()
    small = create_app("verify_face", SOURCE).test_client()
    big = (face_photos / "obama3.jpg").read_bytes()
    r = post_files(small, big, big)
    assert r.status_code == 413 and r.get_json()["error"]["code"] == "payload_too_large"


def test_api_key_when_configured(monkeypatch, face_photos):
    monkeypatch.setenv("API_KEY", "s3cret")
    from shared.settings import get_settings

    get_settings.cache_clear()
    locked = create_app("verify_face", SOURCE).test_client()
    pair = {"img1": b64(face_photos / "obama.jpg"), "img2": b64(face_photos / "obama2.jpg")}
    assert locked.post("/", json=pair).status_code == 401
    assert locked.post("/", json=pair, headers={"X-API-Key": "wrong"}).status_code == 401
    assert locked.post("/", json=pair, headers={"X-API-Key": "s3cret"}).status_code == 200


def test_memory_guard_refuses_work_with_503_when_critical(monkeypatch, face_photos):
    monkeypatch.setenv("MEMORY_LIMIT_MB", "32")  # any real process is over 85% of 32 MB
    from shared.settings import get_settings

    get_settings.cache_clear()
    tight = create_app("verify_face", SOURCE).test_client()
    r = tight.post("/", json={"img1": b64(face_photos / "obama.jpg"), "img2": b64(face_photos / "obama2.jpg")})
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert r.get_json()["error"]["code"] == "memory_pressure"
    assert tight.get("/").get_json()["memory"]["state"] == "critical"


def test_small_face_is_found_by_the_fallback_detector(face_photos):
    # obama.jpg shrunk to 330 px wide on a 1200 px grey canvas: a ~100 px face, which the
    # short-range detector misses and the full-range one finds.
    small = Image.open(face_photos / "obama.jpg").convert("RGB")
    small = small.resize((330, round(330 * small.height / small.width)))
    canvas = Image.new("RGB", (1200, 1200), (128, 128, 128))
    canvas.paste(small, (435, 400))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=95)
    fresh = create_app("verify_face", SOURCE).test_client()
    r = post_files(fresh, out.getvalue(), (face_photos / "obama2.jpg").read_bytes())
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["detector"] == "face-detector-full,face-detector-short"
    assert body["verified"] is True
    health = fresh.get("/").get_json()
    assert [b["name"] for b in health["bundles"]] == ["face-detector-short", "face-detector-full", "face-embedder-sface"]
    assert health["fallback_detector"]["state"] == "ready"


def test_base64_text_fields_in_multipart_may_exceed_flasks_500kb_default(client, face_photos):
    """A form field is limited by MAX_REQUEST_BYTES only (Flask's own cap is 500 KB)."""
    with Image.open(face_photos / "obama.jpg") as photo:
        out = io.BytesIO()
        photo.convert("RGB").save(out, "PNG")  # ~1.4 MB: ~1.9 MB of base64
    big = base64.b64encode(out.getvalue()).decode()
    assert len(big) > 1_000_000
    data = {"img1": big, "img2": (io.BytesIO((face_photos / "obama2.jpg").read_bytes()), "b.jpg")}
    r = client.post("/", data=data, content_type="multipart/form-data")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["verified"] is True
