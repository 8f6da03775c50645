"""shared/gcs.py against a real emulator (fake-gcs-server): pinned generations, retries, faults.

The bundles are the repo's real ones (models/face-detector-short and -full: two different
real TFLite models, standing in for "version 1" and "version 2" of one bundle).
"""

import hashlib
import json
import logging
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from shared.errors import ServiceUnavailable
from shared.runtime import gcs
from shared.runtime.bundle import BundleError, LoadOptions, load_bundle
from shared.runtime.lazy import Lazy
from shared.settings import MODELS_DIR
from tools.measure.gcs_emulator import Emulator, make_bucket, put, put_bundle

ROOT = MODELS_DIR.parent
EMULATED = LoadOptions(anonymous_storage=True)  # what STORAGE_EMULATOR_HOST turns on in settings
V1 = MODELS_DIR / "face-detector-short"
V2 = MODELS_DIR / "face-detector-full"

if not (V1 / "model.tflite").exists() or not (V2 / "model.tflite").exists():
    pytest.skip("face detector bundles not built yet (models/face-detector-*)", allow_module_level=True)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def consistent(files) -> bool:
    return sha(files.model) == json.loads(files.manifest)["sha256"]


@pytest.fixture(autouse=True)
def _fresh_stats():
    gcs.stats.reset()


# --- URIs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri, bucket, prefix",
    [
        ("gs://models/face/short", "models", "face/short"),
        ("gs://models/face/short/", "models", "face/short"),
        ("gs://models", "models", ""),
    ],
)
def test_parse_gs_uri(uri, bucket, prefix):
    parsed = gcs.parse_gs_uri(uri)
    assert (parsed.bucket, parsed.prefix) == (bucket, prefix)
    assert parsed.uri("model.tflite") == f"gs://{bucket}/{prefix + '/' if prefix else ''}model.tflite"


@pytest.mark.parametrize("uri", ["gs://", "gs:///prefix", "s3://b/p", "/local/path"])
def test_parse_gs_uri_refuses_non_bucket_uris(uri):
    with pytest.raises(BundleError, match="gs://"):
        gcs.parse_gs_uri(uri)


def test_local_bundles_never_import_the_storage_client():
    code = (
        f"import sys; from shared.runtime.bundle import load_bundle; load_bundle({str(V1)!r}); print('google.cloud.storage' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"


# --- happy path ----------------------------------------------------------------------


def test_gs_bundle_loads_the_same_model_as_the_local_folder(gcs_bucket, gcs_emulator):
    uri = put_bundle(gcs_bucket, "face/short", V1)
    remote, local = load_bundle(uri, EMULATED, task="face-detection"), load_bundle(str(V1), task="face-detection")
    assert remote.meta == local.meta
    x = np.random.default_rng(0).uniform(-1, 1, remote.model.inputs[0].shape).astype(np.float32)
    for a, b in zip(remote.model.run(x), local.model.run(x), strict=True):
        np.testing.assert_array_equal(a, b)
    gens = {name: gcs_bucket.get_blob(f"face/short/{name}").generation for name in ("bundle.json", "model.tflite")}
    assert remote.origin == f"{uri} (bundle.json#{gens['bundle.json']}, model.tflite#{gens['model.tflite']})"
    assert remote.info()["storage"] == "object storage" and local.info()["storage"] == "local"
    assert "gs://" not in json.dumps(remote.info())  # health never shows the bucket
    stats = gcs.download_stats()
    assert (stats["manifest_downloads"], stats["model_downloads"], stats["retries"]) == (1, 1, 0)
    # The emulator saw each object fetched once, at the pinned generation.
    assert gcs_emulator.downloads(gcs_bucket.name, "face/short/model.tflite") == 1
    assert gcs_emulator.requests("GET", f"face%2Fshort%2Fmodel.tflite?alt=media&generation={gens['model.tflite']}") == 1


def test_loaded_source_and_generations_are_logged(gcs_bucket):
    uri = put_bundle(gcs_bucket, "p", V1)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("shared.runtime.gcs")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        files = gcs.read_bundle_files(uri)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    [record] = [r for r in records if r.levelno == logging.INFO]
    assert files.origin in record.getMessage()
    assert record.fields["source"] == uri
    assert record.fields["model_generation"] == gcs_bucket.get_blob("p/model.tflite").generation


# --- faults --------------------------------------------------------------------------


def test_missing_model_names_the_object_and_is_not_retried(gcs_bucket):
    put(gcs_bucket, "p/bundle.json", (V1 / "bundle.json").read_bytes())
    with pytest.raises(BundleError, match=f"gs://{gcs_bucket.name}/p/model.tflite not found"):
        load_bundle(f"gs://{gcs_bucket.name}/p")
    assert gcs.download_stats()["retries"] == 0


def test_missing_bucket_names_the_manifest(gcs_emulator, monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    with pytest.raises(BundleError, match=r"gs://no-such-bucket/p/bundle\.json not found"):
        gcs.read_bundle_files("gs://no-such-bucket/p")


def test_wrong_sha256_is_refused_after_one_download(gcs_bucket):
    meta = json.loads((V1 / "bundle.json").read_text())
    meta["sha256"] = "0" * 64
    uri = put_bundle(gcs_bucket, "p", V1, manifest=json.dumps(meta).encode())
    with pytest.raises(BundleError, match="sha256"):
        load_bundle(uri, EMULATED)
    assert gcs.download_stats()["model_downloads"] == 1  # the manifest did not move: no re-read


def test_wrong_sha256_gives_503_then_heals_when_the_bucket_is_fixed(gcs_bucket):
    half = (V1 / "model.tflite").read_bytes()[:50_000]  # a half-uploaded model
    uri = put_bundle(gcs_bucket, "p", V1, model=half)
    lazy = Lazy("face detector", lambda: load_bundle(uri, EMULATED), retry_s=2.0)
    with pytest.raises(ServiceUnavailable) as caught:
        lazy.get()
    failed_at = time.monotonic()
    assert caught.value.status == 503 and caught.value.retry_after >= 2.0
    assert "sha256" in caught.value.message and "'p'" in caught.value.message  # names the bundle...
    assert "gs://" not in caught.value.message and "test-bucket" not in caught.value.message  # ...never the bucket
    assert not lazy.ready and lazy.status()["state"] == "failed"
    put_bundle(gcs_bucket, "p", V1)  # the team re-publishes the right model
    with pytest.raises(ServiceUnavailable):  # still inside the back-off: no new download
        lazy.get()
    assert gcs.download_stats()["model_downloads"] == 1
    time.sleep(max(0.0, failed_at + 2.05 - time.monotonic()))
    assert lazy.get().name == "face-detector-short" and lazy.status()["state"] == "ready"


def test_unreachable_storage_fails_within_the_timeout_after_bounded_retries(monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", Emulator().url)  # a free port nobody serves
    started = time.monotonic()
    with pytest.raises(BundleError, match=r"cannot read bundle gs://b/p after \d attempt"):
        gcs.read_bundle_files("gs://b/p", timeout_s=1.0, anonymous=True)
    assert time.monotonic() - started < 2.0
    stats = gcs.download_stats()
    assert 1 <= stats["retries"] < gcs.MAX_ATTEMPTS and stats["reads_failed"] == 1


def test_storage_that_never_answers_is_abandoned_at_the_overall_timeout(monkeypatch):
    import socket

    with socket.socket() as silent:  # accepts connections (kernel backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{silent.getsockname()[1]}")
        started = time.monotonic()
        with pytest.raises(BundleError, match="cannot read bundle gs://b/p after"):
            gcs.read_bundle_files("gs://b/p", timeout_s=1.5, anonymous=True)
        assert time.monotonic() - started < 2.5


def test_storage_down_at_cold_start_then_up_recovers_without_restart(monkeypatch):
    emulator = Emulator()  # its own port, not started yet
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.url)
    lazy = Lazy("gesture model", lambda: load_bundle("gs://late/p", LoadOptions(timeout_s=2.0, anonymous_storage=True)), retry_s=0.2)
    try:
        with pytest.raises(ServiceUnavailable, match="'p' cannot be loaded: object storage unreachable") as caught:
            lazy.get()
        assert "late" not in caught.value.message and "gs://" not in lazy.status()["last_error"]
        emulator.start()
        put_bundle(make_bucket("late"), "p", V1)
        time.sleep(0.25)
        assert lazy.get().origin.startswith("gs://late/p (bundle.json#")
    finally:
        emulator.stop()
        emulator.log_path.unlink(missing_ok=True)


def test_ten_concurrent_first_requests_download_once(gcs_bucket, gcs_emulator):
    uri = put_bundle(gcs_bucket, "p", V1)
    lazy = Lazy("face detector", lambda: load_bundle(uri, EMULATED), retry_s=5)
    barrier = threading.Barrier(10)
    results, errors = [], []

    def first_request():
        barrier.wait()
        try:
            results.append(lazy.get())
        except Exception as exc:  # collected: the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=first_request) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(results) == 10 and len({id(r) for r in results}) == 1
    assert gcs_emulator.downloads(gcs_bucket.name, "p/model.tflite") == 1
    assert gcs.download_stats()["model_downloads"] == 1


# --- generation pinning: a publisher writes while we read ----------------------------


def _hook(monkeypatch, step: str, filename: str, action):
    """Run `action()` once, just before the loader's first `step` call on `filename`."""
    original = getattr(gcs, step)
    fired = []

    def hooked(bucket, uri, name, *args):
        if name == filename and not fired:
            fired.append(True)
            action()
        return original(bucket, uri, name, *args)

    monkeypatch.setattr(gcs, step, hooked)
    return fired


@pytest.mark.parametrize("versioned", [False, True], ids=["unversioned", "versioned"])
def test_bundle_republished_between_metadata_and_download_is_never_mixed(gcs_emulator, monkeypatch, versioned):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    bucket = make_bucket(versioning=versioned)
    uri = put_bundle(bucket, "p", V1)
    fired = _hook(monkeypatch, "_download", "model.tflite", lambda: put_bundle(bucket, "p", V2))
    files = gcs.read_bundle_files(uri)
    assert fired and consistent(files)
    name = json.loads(files.manifest)["name"]
    # Unversioned: the pinned old model is gone -> re-read -> version 2. Versioned: old bytes, version 1.
    assert name == ("face-detector-short" if versioned else "face-detector-full")
    gens = {f: bucket.get_blob(f"p/{f}").generation for f in ("bundle.json", "model.tflite")}
    if not versioned:
        assert files.origin == f"{uri} (bundle.json#{gens['bundle.json']}, model.tflite#{gens['model.tflite']})"
        assert gcs.download_stats()["retries"] == 1


def test_bundle_republished_between_manifest_and_model_is_reread(gcs_bucket, monkeypatch):
    uri = put_bundle(gcs_bucket, "p", V1)
    fired = _hook(monkeypatch, "_generation", "model.tflite", lambda: put_bundle(gcs_bucket, "p", V2))
    files = gcs.read_bundle_files(uri)
    assert fired and consistent(files)
    assert json.loads(files.manifest)["name"] == "face-detector-full"
    assert load_bundle(uri, EMULATED).name == "face-detector-full"


@pytest.mark.parametrize("versioned", [False, True], ids=["unversioned", "versioned"])
def test_model_overwritten_alone_mid_download_loads_old_bytes_or_fails_cleanly(gcs_emulator, monkeypatch, versioned):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    bucket = make_bucket(versioning=versioned)
    uri = put_bundle(bucket, "p", V1)
    _hook(monkeypatch, "_download", "model.tflite", lambda: put(bucket, "p/model.tflite", (V2 / "model.tflite").read_bytes()))
    lazy = Lazy("face detector", lambda: load_bundle(uri, EMULATED), retry_s=5)
    if versioned:
        bundle = lazy.get()  # the pinned generation still exists: the old, matching bytes
        assert bundle.name == "face-detector-short" and bundle.meta["sha256"] == sha((V1 / "model.tflite").read_bytes())
    else:
        with pytest.raises(ServiceUnavailable, match="sha256"):  # new model, old manifest: refused, never served
            lazy.get()
        assert not lazy.ready


# --- the publish tool ----------------------------------------------------------------


def run_tool(*args, env=None):
    return subprocess.run(
        [sys.executable, "tools/publish/publish_bundle.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )


def test_publish_tool_help():
    out = run_tool("--help")
    assert out.returncode == 0 and "gs://" in out.stdout


def test_publish_tool_uploads_model_then_manifest(gcs_bucket, gcs_emulator):
    import os

    out = run_tool(str(V1), f"gs://{gcs_bucket.name}/face/short", env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    gens = {f: gcs_bucket.get_blob(f"face/short/{f}").generation for f in ("bundle.json", "model.tflite")}
    assert report["generations"] == gens and gens["model.tflite"] < gens["bundle.json"]
    assert load_bundle(report["uri"]).name == "face-detector-short"


def test_publish_tool_refuses_an_invalid_bundle(gcs_bucket, tmp_path):
    import os

    (tmp_path / "model.tflite").write_bytes((V1 / "model.tflite").read_bytes())
    meta = json.loads((V1 / "bundle.json").read_text())
    meta["sha256"] = "f" * 64
    (tmp_path / "bundle.json").write_text(json.dumps(meta))
    out = run_tool(str(tmp_path), f"gs://{gcs_bucket.name}/bad", env=dict(os.environ))
    assert out.returncode == 2 and "sha256" in out.stderr
    assert gcs_bucket.get_blob("bad/model.tflite") is None and gcs_bucket.get_blob("bad/bundle.json") is None
