"""Both functions served from gs:// bundles in a real emulator (fake-gcs-server), with faults.

Every app is built afresh with `create_app` after setting the environment: it executes
main.py into a new module, so each test gets its own lazy models (shared.runtime.gcs's counters
are process-wide and reset per test). Answers are compared with the same function
serving the bundled local folders.
"""

import contextlib
import ctypes
import gc
import json
import sys
import threading
import time
from pathlib import Path

import pytest
from functions_framework import create_app

from shared.runtime import gcs
from shared.settings import MODELS_DIR, get_settings
from tools.measure.gcs_emulator import Emulator, make_bucket, put, put_bundle

FACE_BUNDLES = {
    "FACE_DETECTOR_MODEL": "face-detector-short",
    "FACE_DETECTOR_FALLBACK_MODEL": "face-detector-full",
    "FACE_EMBEDDER_MODEL": "face-embedder-sface",
}
GESTURE_BUNDLES = ("finger-gesture", "hand-sign")


def need(*bundles: str, source: str) -> None:
    missing = [b for b in bundles if not all((MODELS_DIR / b / f).exists() for f in ("bundle.json", "model.tflite"))]
    if missing or not (MODELS_DIR.parent / source).exists():
        pytest.skip(f"not built yet: {', '.join(missing) or source}")


def serve(monkeypatch, target: str, env: dict):
    """A fresh test client for `target` with `env` applied (settings are re-read)."""
    # This test process holds several instances' models at once (local and gs:// apps):
    # its RSS is not one 512 MB instance's, so the memory guard gets a test-sized limit.
    env = {"MEMORY_LIMIT_MB": "8192", **env}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    return create_app(target, f"functions/{target}/main.py").test_client()


def face_env(bucket_name: str, prefix: str = "m") -> dict:
    return {var: f"gs://{bucket_name}/{prefix}/{name}" for var, name in FACE_BUNDLES.items()}


def photos(face_photos, a="obama.jpg", b="obama2.jpg") -> dict:
    import base64

    return {
        "img1": base64.b64encode((face_photos / a).read_bytes()).decode(),
        "img2": base64.b64encode((face_photos / b).read_bytes()).decode(),
    }


def answer(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "time_ms"}


@pytest.fixture(autouse=True)
def _fresh_instance(gcs_emulator, monkeypatch):
    """Counters reset before; after, this test's apps are dropped and their memory handed
    back: later tests in this process run under the 512 MB memory guard, which reads RSS."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    gcs.stats.reset()
    saved_main = sys.modules.get("main")
    yield
    sys.modules.pop("main", None)  # create_app registers each new module as "main"
    if saved_main is not None:
        sys.modules["main"] = saved_main
    gc.collect()
    if sys.platform.startswith("linux"):
        # glibc keeps freed per-thread arenas resident; ten request threads leave ~100 MB
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)


@pytest.fixture
def face_bucket():
    need(*FACE_BUNDLES.values(), source="functions/verify_face/main.py")
    bucket = make_bucket()
    for name in FACE_BUNDLES.values():
        put_bundle(bucket, f"m/{name}", MODELS_DIR / name)
    return bucket


def assert_503(response, *fragments: str) -> dict:
    assert response.status_code == 503, response.get_json()
    assert float(response.headers["Retry-After"]) >= 1
    error = response.get_json()["error"]
    assert error["code"] == "model_unavailable"
    for fragment in fragments:
        assert fragment in error["message"]
    assert "gs://" not in error["message"] and "/m/" not in error["message"]  # never a bucket or a path
    return error


# --- happy path: same answers as the bundled folders ---------------------------------


def test_verify_face_from_gs_answers_exactly_as_from_local_folders(monkeypatch, face_bucket, face_photos, gcs_emulator):
    local = serve(monkeypatch, "verify_face", {})
    remote = serve(monkeypatch, "verify_face", face_env(face_bucket.name))
    for pair in (("obama.jpg", "obama2.jpg"), ("obama.jpg", "biden.jpg")):
        a, b = local.post("/", json=photos(face_photos, *pair)), remote.post("/", json=photos(face_photos, *pair))
        assert a.status_code == b.status_code == 200, (a.get_json(), b.get_json())
        assert answer(a.get_json()) == answer(b.get_json())
    assert remote.post("/", json=photos(face_photos)).get_json()["verified"] is True
    health = remote.get("/").get_json()
    assert health["ready"] is True
    # Both photos have a face the short-range detector finds: the fallback is never fetched.
    loaded = [FACE_BUNDLES["FACE_DETECTOR_MODEL"], FACE_BUNDLES["FACE_EMBEDDER_MODEL"]]
    assert [info["name"] for info in health["bundles"]] == loaded
    for info, name in zip(health["bundles"], loaded, strict=True):
        assert info["storage"] == "object storage"  # where, but never which bucket or path
        assert gcs_emulator.downloads(face_bucket.name, f"m/{name}/model.tflite") == 1
    assert face_bucket.name not in json.dumps(health) and "gs://" + face_bucket.name not in json.dumps(health)
    assert gcs_emulator.downloads(face_bucket.name, "m/face-detector-full/model.tflite") == 0
    assert gcs.download_stats()["model_downloads"] == 2
    assert health["object_storage"]["model_downloads"] == 2


def test_predict_gesture_from_gs_answers_exactly_as_from_local_folders(monkeypatch, gcs_emulator, gesture_examples):
    need(*GESTURE_BUNDLES, source="functions/predict_gesture/main.py")
    bucket = make_bucket()
    uris = [put_bundle(bucket, f"g/{name}", MODELS_DIR / name) for name in GESTURE_BUNDLES]
    local = serve(monkeypatch, "predict_gesture", {})
    remote = serve(monkeypatch, "predict_gesture", {"GESTURE_MODEL": ",".join(uris)})
    for body in gesture_requests(gesture_examples):
        a, b = local.post("/", json=body), remote.post("/", json=body)
        assert a.status_code == b.status_code == 200, (body["model"], a.get_json(), b.get_json())
        assert answer(a.get_json()) == answer(b.get_json())
    for name in GESTURE_BUNDLES:
        assert gcs_emulator.downloads(bucket.name, f"g/{name}/model.tflite") == 1


def meta_name(folder: str) -> str:
    return json.loads((MODELS_DIR / folder / "bundle.json").read_text())["name"]


def gesture_requests(examples: dict, rows_per_kind: int = 3) -> list[dict]:
    """Shipped example rows as `features` requests, shaped by each bundle's contract
    (frames x features_per_frame)."""
    requests = []
    for name in GESTURE_BUNDLES:
        pre = json.loads((MODELS_DIR / name / "bundle.json").read_text())["preprocessing"]
        width = pre["frames"] * pre["features_per_frame"]
        for kind in ("hands", "tracks"):
            rows = [row for row in examples[kind] if len(row) == width][:rows_per_kind]
            for row in rows:
                frames = [row[i : i + pre["features_per_frame"]] for i in range(0, width, pre["features_per_frame"])]
                requests.append({"model": meta_name(name), "features": frames})
    assert requests, "no recorded rows match the gesture bundles' input sizes"
    return requests


# --- faults: 503 with a clear message, never a 500, and healing without a restart ----


def test_wrong_sha256_gives_503_and_loads_nothing(monkeypatch, face_bucket, face_photos):
    meta = json.loads((MODELS_DIR / "face-embedder-sface" / "bundle.json").read_text())
    meta["sha256"] = "0" * 64
    put(face_bucket, "m/face-embedder-sface/bundle.json", json.dumps(meta).encode())
    client = serve(monkeypatch, "verify_face", face_env(face_bucket.name))
    error = assert_503(client.post("/", json=photos(face_photos)), "model bundle 'face-embedder-sface' cannot be loaded", "sha256")
    assert "Traceback" not in error["message"]
    health = client.get("/")
    assert health.status_code == 200
    body = health.get_json()
    assert body["ready"] is False and body["models"]["state"] == "failed" and "sha256" in body["models"]["last_error"]
    assert "bundles" not in body


def test_missing_object_gives_503_naming_the_bundle(monkeypatch, face_bucket, face_photos):
    face_bucket.blob("m/face-embedder-sface/model.tflite").delete()
    client = serve(monkeypatch, "verify_face", face_env(face_bucket.name))
    assert_503(client.post("/", json=photos(face_photos)), "'face-embedder-sface'", "model.tflite not found in object storage")
    env = {**face_env(face_bucket.name), "FACE_EMBEDDER_MODEL": f"gs://{face_bucket.name}/nowhere"}
    client = serve(monkeypatch, "verify_face", env)
    assert_503(client.post("/", json=photos(face_photos)), "'nowhere'", "bundle.json not found in object storage")
    assert client.get("/").status_code == 200


def test_storage_down_at_cold_start_then_up_recovers_without_restart(monkeypatch, face_photos):
    need(*FACE_BUNDLES.values(), source="functions/verify_face/main.py")
    emulator = Emulator()  # a port nobody serves yet
    env = {**face_env("late"), "STORAGE_EMULATOR_HOST": emulator.url, "MODEL_RETRY_S": "0.5", "MODEL_LOAD_TIMEOUT_S": "2"}
    client = serve(monkeypatch, "verify_face", env)
    try:
        started = time.monotonic()
        assert_503(client.post("/", json=photos(face_photos)), "'face-detector-short'", "object storage unreachable")
        assert time.monotonic() - started < 5  # bounded by MODEL_LOAD_TIMEOUT_S, not the client's own 120 s retry
        assert client.get("/").get_json()["models"]["state"] == "failed"
        emulator.start()
        bucket = make_bucket("late")
        for name in FACE_BUNDLES.values():
            put_bundle(bucket, f"m/{name}", MODELS_DIR / name)
        time.sleep(0.6)
        response = client.post("/", json=photos(face_photos))
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["verified"] is True
        assert client.get("/").get_json()["models"]["state"] == "ready"
    finally:
        emulator.stop()
        emulator.log_path.unlink(missing_ok=True)


def small_photo(path: Path, width: int = 320) -> str:
    """The real photo scaled down: ten at once stay light on the test process's memory."""
    import base64
    import io

    from PIL import Image

    image = Image.open(path)
    image.thumbnail((width, width))
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=90)
    return base64.b64encode(out.getvalue()).decode()


def test_ten_concurrent_first_requests_download_each_model_once(monkeypatch, face_bucket, face_photos, gcs_emulator):
    client = serve(monkeypatch, "verify_face", face_env(face_bucket.name))
    app = client.application
    body = {"img1": small_photo(face_photos / "obama.jpg"), "img2": small_photo(face_photos / "obama2.jpg")}
    barrier = threading.Barrier(10)
    statuses = []

    def first_request():
        barrier.wait()
        statuses.append(app.test_client().post("/", json=body).status_code)

    threads = [threading.Thread(target=first_request) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert statuses == [200] * 10
    assert client.post("/", json=body).get_json()["verified"] is True
    for name in (FACE_BUNDLES["FACE_DETECTOR_MODEL"], FACE_BUNDLES["FACE_EMBEDDER_MODEL"]):
        assert gcs_emulator.downloads(face_bucket.name, f"m/{name}/model.tflite") == 1
    assert gcs_emulator.downloads(face_bucket.name, "m/face-detector-full/model.tflite") == 0  # loaded on first need
    assert gcs.download_stats()["model_downloads"] == 2


def test_bundle_republished_while_instances_start_is_never_mixed(monkeypatch, face_bucket, face_photos):
    """A team publishes a new embedder (here: its bytes with a bumped version) while an
    instance cold-starts: the instance serves one consistent generation or answers 503."""
    folder = MODELS_DIR / "face-embedder-sface"
    meta = json.loads((folder / "bundle.json").read_text())
    new_manifest = json.dumps({**meta, "version": meta["version"] + "-republished"}).encode()
    original = gcs._download

    def republish_then_download(bucket, uri, name, *args):
        if name == "model.tflite" and "embedder" in uri.prefix and not fired:
            fired.append(True)
            put_bundle(face_bucket, "m/face-embedder-sface", folder, manifest=new_manifest)
        return original(bucket, uri, name, *args)

    fired: list = []
    monkeypatch.setattr(gcs, "_download", republish_then_download)
    client = serve(monkeypatch, "verify_face", face_env(face_bucket.name))
    response = client.post("/", json=photos(face_photos))
    assert fired and response.status_code == 200, response.get_json()
    [embedder] = [b for b in client.get("/").get_json()["bundles"] if b["name"] == "face-embedder-sface"]
    # The pinned first generation vanished (unversioned bucket): the instance re-read the new pair.
    assert embedder["version"] == meta["version"] + "-republished"


def test_predict_gesture_corrupt_model_gives_503_then_heals_when_republished(monkeypatch, gcs_emulator, gesture_examples):
    need(*GESTURE_BUNDLES, source="functions/predict_gesture/main.py")
    bucket = make_bucket()
    uris = [put_bundle(bucket, f"g/{name}", MODELS_DIR / name) for name in GESTURE_BUNDLES]
    model = (MODELS_DIR / "hand-sign" / "model.tflite").read_bytes()
    put(bucket, "g/hand-sign/model.tflite", model[: len(model) // 2])  # a half-uploaded model
    client = serve(monkeypatch, "predict_gesture", {"GESTURE_MODEL": ",".join(uris), "MODEL_RETRY_S": "0.5"})
    body = gesture_requests(gesture_examples)[0]
    assert_503(client.post("/", json=body), "model bundle 'hand-sign'", "sha256")
    health = client.get("/")  # health never fetches from object storage; the failed load is shown
    assert health.status_code == 200 and health.get_json()["models"]["state"] == "failed"
    put_bundle(bucket, "g/hand-sign", MODELS_DIR / "hand-sign")
    time.sleep(0.6)
    response = client.post("/", json=body)
    assert response.status_code == 200, response.get_json()
    assert client.get("/").get_json()["models"]["state"] == "ready"
