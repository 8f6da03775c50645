"""verify_face with a server-side gallery (issue 28), through functions-framework on real
photos, against a real Postgres with pgvector (tests/postgres_server.py): enrol (photo,
template, multipart), identify with top_k and an explicit no-match, verify against a
subject, erase; per-gallery API keys; a template of another model refused; the database
going away mid-run (503 + Retry-After for gallery calls, pairs still verified)."""

from __future__ import annotations

import base64
import os
import tempfile
import time
from pathlib import Path

import pytest
from functions_framework import create_app

from tools.measure.postgres_server import PostgresServer

SOURCE = "functions/verify_face/main.py"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def app(**env: str):
    """A fresh verify_face app reading `env` (main.py reads its settings at import)."""
    from shared.settings import get_settings

    os.environ.update(env)
    get_settings.cache_clear()
    return create_app("verify_face", SOURCE).test_client()


@pytest.fixture(scope="module")
def photos(face_photos) -> dict:
    return {p.stem: b64(p.read_bytes()) for p in face_photos.glob("*.jpg")}


def post(client, status: int = 200, headers: dict | None = None, **body):
    r = client.post("/", json=body, headers=headers or {})
    assert r.status_code == status, r.get_json()
    return r.get_json()


def test_enrol_identify_verify_and_erase(gallery_url, photos):
    client = app(GALLERY_URL=gallery_url)
    alice = post(client, gallery="g", enroll={"id": "alice"}, img1=photos["obama"])
    assert alice["enrolled"]["id"] == "alice" and alice["templates"] == 1 and alice["model"] == "face-embedder-sface"
    assert isinstance(alice["enrolled"]["template_id"], int) and alice["facial_areas"]["img1"]["w"] > 0
    post(client, gallery="g", enroll={"id": "bob"}, img1=photos["biden"])
    found = post(client, gallery="g", img1=photos["obama2"], top_k=2)
    assert found["identified"] == "alice" and found["verified"] is True and found["best"]["id"] == "alice"
    assert [m["id"] for m in found["matches"]] == ["alice"]  # bob is nearer than nothing, not under the threshold
    assert found["best"]["distance"] <= found["threshold"] and found["top_k"] == 2
    # Verify against a subject: the verify answer, img1's face only.
    same = post(client, gallery="g", subject="alice", img1=photos["obama2"])
    assert same["verified"] is True and same["subject"] == "alice" and set(same["facial_areas"]) == {"img1"}
    assert abs(same["distance"] - found["best"]["distance"]) < 1e-5
    assert post(client, gallery="g", subject="bob", img1=photos["obama2"])["verified"] is False
    assert post(client, 404, gallery="g", subject="carol", img1=photos["obama2"])["error"]["code"] == "unknown_subject"
    # Erase alice: obama2 has no match any more, said explicitly.
    assert post(client, gallery="g", delete={"id": "alice"}) == {"gallery": "g", "deleted": {"id": "alice", "templates": 1}}
    gone = post(client, gallery="g", img1=photos["obama2"])
    assert gone["identified"] is None and gone["verified"] is False and gone["matches"] == [] and gone["best"]["id"] == "bob"
    assert post(client, gallery="g", delete={"id": "alice"})["deleted"]["templates"] == 0
    empty = post(client, gallery="empty", img1=photos["obama2"])
    assert empty["identified"] is None and empty["best"] is None and empty["matches"] == []


def test_a_retried_enrolment_with_its_idempotency_key_is_stored_once(gallery_url, photos):
    client = app(GALLERY_URL=gallery_url)
    body = {"gallery": "g", "enroll": {"id": "alice", "idempotency_key": "3f0c-retry"}, "img1": photos["obama"]}
    first = post(client, **body)
    assert first["enrolled"]["replayed"] is False and first["templates"] == 1
    again = post(client, **body)  # the first reply was lost: the client sends it again
    assert again["enrolled"]["replayed"] is True and again["enrolled"]["template_id"] == first["enrolled"]["template_id"]
    assert again["templates"] == 1
    other = post(client, 409, gallery="g", enroll={"id": "alice", "idempotency_key": "3f0c-retry"}, img1=photos["obama3"])
    assert other["error"]["code"] == "idempotency_key_reused"
    plain = post(client, gallery="g", enroll={"id": "alice"}, img1=photos["obama3"])
    assert "replayed" not in plain["enrolled"] and plain["templates"] == 2
    for bad in ({"id": "alice", "idempotency_key": ""}, {"id": "alice", "idempotency_key": 7}, {"id": "alice", "key": "x"}):
        assert post(client, 400, gallery="g", enroll=bad, img1=photos["obama"])["error"]["code"] == "bad_request"
    assert post(client, 400, gallery="g", delete={"id": "alice", "idempotency_key": "k"})["error"]["code"] == "bad_request"


def test_top_k_answers_subjects_with_two_templates_each(gallery_url, photos):
    """alice's two templates are the probe's two nearest, a second obama subject's is the
    third: top_k 2 answers both subjects (alice once, by her nearer template), not alice twice."""
    client = app(GALLERY_URL=gallery_url)
    enrolled = (("alice", "obama"), ("alice", "obama3"), ("barack", "obama_partial_face"), ("bob", "biden"))
    for subject, photo in enrolled:
        post(client, gallery="g", enroll={"id": subject}, img1=photos[photo])
    found = post(client, gallery="g", img1=photos["obama2"], top_k=2)
    assert [m["id"] for m in found["matches"]] == ["alice", "barack"]
    nearest = post(client, gallery="g", subject="alice", img1=photos["obama2"])["distance"]
    assert found["best"]["id"] == "alice" and abs(found["best"]["distance"] - nearest) < 1e-5


def test_enrol_a_template_and_by_multipart_and_refuse_another_models(gallery_url, photos, face_photos):
    client = app(GALLERY_URL=gallery_url)
    template = post(client, img1=photos["obama"])["faces"][0]["embedding"]
    stored = post(client, gallery="g", enroll={"id": "alice"}, img1=template)
    assert stored["templates"] == 1 and "facial_areas" not in stored
    foreign = {**template, "model": "face-embedder-dlib", "fingerprint": "0123456789ab"}
    refused = post(client, 422, gallery="g", enroll={"id": "mallory"}, img1=foreign)
    assert refused["error"]["code"] == "template_mismatch"
    form = {"gallery": "g", "enroll": '{"id": "alice"}', "img1": ((face_photos / "obama3.jpg").open("rb"), "o.jpg")}
    r = client.post("/", data=form, content_type="multipart/form-data")
    assert r.status_code == 200 and r.get_json()["templates"] == 2, r.get_json()
    r = client.post("/", data={"gallery": "g", "img1": ((face_photos / "obama2.jpg").open("rb"), "p.jpg")})
    assert r.status_code == 200 and r.get_json()["identified"] == "alice"


def test_api_keys_are_scoped_to_galleries(gallery_url, photos):
    client = app(GALLERY_URL=gallery_url, API_KEY="operator-key", GALLERY_KEYS="shop-a=key-a;shop-b,shop-b-test=key-b")
    a, b, op = ({"X-API-Key": k} for k in ("key-a", "key-b", "operator-key"))
    post(client, headers=a, gallery="shop-a", enroll={"id": "alice"}, img1=photos["obama"])
    assert post(client, 403, headers=a, gallery="shop-b", img1=photos["obama2"])["error"]["code"] == "gallery_forbidden"
    assert post(client, 403, headers=b, gallery="shop-a", delete={"id": "alice"})["error"]["code"] == "gallery_forbidden"
    assert post(client, 401, gallery="shop-a", img1=photos["obama2"])["error"]["code"] == "unauthorized"
    assert post(client, 401, headers={"X-API-Key": "guess"}, gallery="shop-a", img1=photos["obama2"])["error"]["code"] == "unauthorized"
    # Tenant b cannot see tenant a's subject, even with the same photo in its own gallery.
    assert post(client, headers=b, gallery="shop-b", img1=photos["obama2"])["best"] is None
    assert post(client, headers=a, gallery="shop-a", img1=photos["obama2"])["identified"] == "alice"
    # A gallery key also verifies pairs; the operator's key reaches every gallery.
    assert post(client, headers=b, img1=photos["obama"], img2=photos["obama2"])["verified"] is True
    assert post(client, headers=op, gallery="shop-a", subject="alice", img1=photos["obama2"])["verified"] is True


def test_gallery_keys_without_an_api_key_still_guard_the_galleries(gallery_url, photos):
    client = app(GALLERY_URL=gallery_url, API_KEY="", GALLERY_KEYS="shop-a=key-a")
    assert post(client, 401, gallery="shop-a", img1=photos["obama2"])["error"]["code"] == "unauthorized"
    assert post(client, img1=photos["obama"], img2=photos["obama2"])["verified"] is True  # pairs stay open


def test_database_going_away_mid_run(photos):
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="pg-")) / "data").start()
    try:
        client = app(GALLERY_URL=server.url, GALLERY_RETRY_S="1", GALLERY_CONNECT_TIMEOUT_S="1", HEALTH_DETAILS="open", API_KEY="")
        post(client, gallery="g", enroll={"id": "alice"}, img1=photos["obama"])
        health = client.get("/").get_json()["gallery"]  # HEALTH_DETAILS=open: the detailed report
        assert health["used"] and health["reachable"] is True and health["schema_version"] == health["schema_version_expected"]
        server.stop()
        for body in ({"img1": photos["obama2"]}, {"enroll": {"id": "bob"}, "img1": photos["biden"]}, {"delete": {"id": "alice"}}):
            r = client.post("/", json={"gallery": "g", **body})
            assert r.status_code == 503 and r.get_json()["error"]["code"] == "gallery_unavailable", r.get_json()
            assert int(r.headers["Retry-After"]) >= 1
        assert post(client, img1=photos["obama"], img2=photos["obama2"])["verified"] is True  # pairs keep working
        started = time.monotonic()
        health = client.get("/").get_json()["gallery"]  # answered from the last call: no connect timeout
        assert health["reachable"] is False and health["errors"] == 1 and time.monotonic() - started < 0.5
        server.start()
        time.sleep(1.1)
        assert post(client, gallery="g", img1=photos["obama2"])["identified"] == "alice"
    finally:
        server.remove()


def test_without_gallery_url_a_gallery_call_is_a_clear_503(photos):
    client = app(GALLERY_URL="", HEALTH_DETAILS="open", API_KEY="")
    answer = post(client, 503, gallery="g", img1=photos["obama2"])
    assert answer["error"]["code"] == "gallery_not_configured"
    assert "gallery" not in client.get("/").get_json()


def test_health_shows_a_configured_gallery_unused_until_a_call_and_opens_no_connection(postgres_server, gallery_url):
    import shared.gallery.store as store

    store._last_used = None  # this process's earlier tests used stores of their own
    client = app(GALLERY_URL=gallery_url, HEALTH_DETAILS="open", API_KEY="")
    count = f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{gallery_url.rsplit('/', 1)[1].split('?')[0]}'"
    before = postgres_server.psql(count)
    assert client.get("/").get_json()["gallery"] == {"configured": True, "used": False}
    assert postgres_server.psql(count) == before
