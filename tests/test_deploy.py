"""deploy.sh: the gcloud commands it runs, the folders it stages, and that a staged folder
serves on its own.

A stand-in `gcloud` (tests/fake_gcloud/gcloud) first on PATH records every call as a JSON
line; a stand-in publisher records tools/publish/publish_bundle.py calls instead of uploading.
Staging goes to a temporary BUILD_DIR, never the repo's build/.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tools import testdata
from tools.measure import harness

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy.sh"
FAKES = ROOT / "tests" / "fake_gcloud"
BUNDLES = {
    "verify_face": ["face-detector-short", "face-detector-full", "face-embedder-sface"],
    "predict_gesture": ["finger-gesture", "hand-sign", "hand-detector", "hand-landmarks"],
}
NAMES = {"verify_face": "verify-face", "predict_gesture": "predict-gesture"}
# Settings deploy.sh also takes from the environment: a developer's shell must not leak in.
DEPLOY_ENV = (
    "PROJECT",
    "REGION",
    "RUNTIME",
    "MEMORY",
    "CPU",
    "CONCURRENCY",
    "MIN_INSTANCES",
    "MAX_INSTANCES",
    "MODELS_BUCKET",
    "API_KEY_SECRET",
    "REDIS_URL_SECRET",
    "VPC_CONNECTOR",
    "IMAGE",
    "BUILD_DIR",
    "GCLOUD",
    "PUBLISH_PYTHON",
)


def _executable_copy(src: Path, dest_dir: Path) -> Path:
    dest = dest_dir / src.name
    shutil.copy(src, dest)
    dest.chmod(0o755)
    return dest


class Deploy:
    """Runs deploy.sh against the stand-in gcloud; `calls()` reads what was recorded."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.bin = tmp / "bin"
        self.bin.mkdir()
        _executable_copy(FAKES / "gcloud", self.bin)
        self.publisher = _executable_copy(FAKES / "publish_python", tmp)
        self.log = tmp / "gcloud.jsonl"
        self.build = tmp / "build"
        self.env = {k: v for k, v in os.environ.items() if k not in DEPLOY_ENV}
        self.env.update(
            PATH=f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            FAKE_GCLOUD_LOG=str(self.log),
            FAKE_GCLOUD_ACCOUNT="tester@example.com",
            FAKE_GCLOUD_PROJECT="demo-project",
            BUILD_DIR=str(self.build),
            PUBLISH_PYTHON=str(self.publisher),
        )

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(DEPLOY), *args], env={**self.env, **env}, cwd=self.tmp, capture_output=True, text=True, timeout=300
        )

    def calls(self, tool: str = "gcloud") -> list[dict]:
        if not self.log.exists():
            return []
        return [c for c in map(json.loads, self.log.read_text().splitlines()) if c["tool"] == tool]

    def deploys(self) -> list[dict]:
        return [c for c in self.calls() if c["argv"][:2] == ["functions", "deploy"]]


@pytest.fixture
def deploy(tmp_path) -> Deploy:
    return Deploy(tmp_path)


def flags(argv: list[str]) -> dict[str, str | bool]:
    """--key=value -> {"key": "value"}, bare --flag -> {"flag": True}."""
    out: dict[str, str | bool] = {}
    for arg in argv:
        if arg.startswith("--"):
            key, eq, value = arg[2:].partition("=")
            out[key] = value if eq else True
    return out


def env_vars(value: str) -> dict[str, str]:
    """Parse --set-env-vars, including gcloud's ^DELIM^ alternate-delimiter form."""
    delim = ","
    if value.startswith("^"):
        delim, value = value[1:].split("^", 1)
    return dict(item.split("=", 1) for item in value.split(delim))


def printed_commands(stdout: str) -> list[list[str]]:
    return [shlex.split(line) for line in stdout.splitlines() if line and not line.startswith("#")]


def path_without_gcloud(tmp: Path) -> str:
    """A PATH holding every command of the current PATH except gcloud (links in one folder)."""
    farm = tmp / "nogcloud"
    farm.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):
            target = farm / entry.name
            if entry.name != "gcloud" and not target.exists() and os.access(entry.path, os.X_OK):
                target.symlink_to(entry.path)
    return str(farm)


def need_function(fn: str) -> None:
    missing = [p for p in [f"functions/{fn}/main.py", *(f"models/{b}/model.tflite" for b in BUNDLES[fn])] if not (ROOT / p).exists()]
    if missing:
        pytest.fail(f"{fn} cannot be staged yet: missing {', '.join(missing)}")


# ---- the gcloud commands -----------------------------------------------------------------


def test_help_describes_every_option():
    r = subprocess.run(["bash", str(DEPLOY), "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    for option in (
        "--project",
        "--region",
        "--memory",
        "--cpu",
        "--concurrency",
        "--min-instances",
        "--max-instances",
        "--models-bucket",
        "--public",
        "--dry-run",
        "--runtime",
        "--service",
        "--image",
        "--redis-url-secret",
        "--vpc-connector",
        "--no-cpu-boost",
        "--stage-only",
    ):
        assert option in r.stdout


def test_all_deploys_both_functions_privately_with_tier_defaults(deploy):
    need_function("verify_face"), need_function("predict_gesture")
    r = deploy("all")
    assert r.returncode == 0, r.stderr
    deploys = deploy.deploys()
    assert [d["argv"][2] for d in deploys] == ["verify-face", "predict-gesture"]
    for fn, call in zip(BUNDLES, deploys, strict=True):
        f = flags(call["argv"])
        assert f["gen2"] is True and f["trigger-http"] is True
        assert f["runtime"] == "python311" and f["entry-point"] == fn
        assert f["source"] == str(deploy.build / fn)
        assert (f["memory"], f["cpu"], f["concurrency"]) == ("256Mi", "0.333", "1")
        assert (f["min-instances"], f["max-instances"]) == ("0", "10")
        assert f["region"] == "us-central1" and f["project"] == "demo-project"  # from gcloud config
        assert f["no-allow-unauthenticated"] is True and "allow-unauthenticated" not in f
        assert env_vars(f["set-env-vars"]) == {"MEMORY_LIMIT_MB": "256", "THREADS": "1"}
        # What gcloud uploads at that moment: the bundles of this function only.
        models = {p.split("/")[1] for p in call["source_files"] if p.startswith("models/")}
        assert models == set(BUNDLES[fn])
    described = [c["argv"] for c in deploy.calls() if c["argv"][:2] == ["functions", "describe"]]
    assert [a[2] for a in described] == ["verify-face", "predict-gesture"]
    assert all(flags(a)["format"] == "value(serviceConfig.uri)" and flags(a)["gen2"] for a in described)
    assert "verify_face: https://verify-face-fake123-uc.a.run.app" in r.stdout
    assert "predict_gesture: https://predict-gesture-fake123-uc.a.run.app" in r.stdout
    assert deploy.calls("publish") == []


def test_api_key_comes_from_secret_manager_when_named(deploy):
    need_function("predict_gesture")
    r = deploy("predict_gesture", "--public", "--api-key-secret", "gesture-key")
    assert r.returncode == 0, r.stderr
    [call] = deploy.deploys()
    f = flags(call["argv"])
    assert f["set-secrets"] == "API_KEY=gesture-key:latest" and f["allow-unauthenticated"] is True
    assert "API_KEY" not in f["set-env-vars"]


def test_options_reach_the_command_and_the_environment(deploy):
    need_function("verify_face")
    r = deploy(
        "verify_face",
        "--public",
        "--project",
        "p2",
        "--region",
        "europe-west1",
        "--runtime",
        "python312",
        "--memory",
        "2Gi",
        "--cpu",
        "2",
        "--concurrency",
        "8",
        "--min-instances",
        "1",
        "--max-instances",
        "3",
        "--env",
        "API_KEY=s3cret",
    )
    assert r.returncode == 0, r.stderr
    [call] = deploy.deploys()
    f = flags(call["argv"])
    assert call["argv"][2] == "verify-face"
    assert f["allow-unauthenticated"] is True and "no-allow-unauthenticated" not in f
    assert (f["project"], f["region"], f["runtime"]) == ("p2", "europe-west1", "python312")
    assert (f["memory"], f["cpu"], f["concurrency"], f["min-instances"], f["max-instances"]) == ("2Gi", "2", "8", "1", "3")
    assert env_vars(f["set-env-vars"]) == {"MEMORY_LIMIT_MB": "2048", "THREADS": "8", "API_KEY": "s3cret"}
    # --project given: gcloud's configured project is not even asked for.
    assert not any(c["argv"][:2] == ["config", "get-value"] for c in deploy.calls())


@pytest.mark.parametrize("memory, mib", [("512Mi", 512), ("1Gi", 1024), ("512M", 488), ("1G", 953), ("4Gi", 4096)])
def test_memory_sets_memory_limit_mb_in_mebibytes(deploy, memory, mib):
    need_function("verify_face")
    r = deploy("verify_face", "--dry-run", "--memory", memory, "--cpu", "1")
    assert r.returncode == 0, r.stderr
    [command] = [c for c in printed_commands(r.stdout) if c[1:3] == ["functions", "deploy"]]
    assert flags(command)["memory"] == memory
    assert env_vars(flags(command)["set-env-vars"])["MEMORY_LIMIT_MB"] == str(mib)


def test_concurrency_above_one_needs_a_whole_cpu(deploy):
    need_function("verify_face")
    r = deploy("verify_face", "--concurrency", "4")
    assert r.returncode != 0
    assert "--concurrency 4 needs at least 1 vCPU" in r.stderr and "--cpu 1" in r.stderr
    assert deploy.calls() == [] and not deploy.build.exists()
    r = deploy("verify_face", "--concurrency", "4", "--cpu", "1")
    assert r.returncode == 0, r.stderr
    f = flags(deploy.deploys()[0]["argv"])
    assert (f["cpu"], f["concurrency"]) == ("1", "4")
    assert env_vars(f["set-env-vars"])["THREADS"] == "4"


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope"], "unknown function 'nope'"),
        (["--bogus"], "unknown option --bogus"),
        (["--memory", "lots"], "--memory must look like"),
        (["--runtime", "python39"], "--runtime must be python311 or python312"),
        (["--models-bucket", "my-bucket"], "--models-bucket must be gs://"),
        (["--min-instances", "5", "--max-instances", "2"], "exceeds --max-instances"),
    ],
)
def test_bad_arguments_fail_before_anything_runs(deploy, args, message):
    r = deploy(*args)
    assert r.returncode != 0 and message in r.stderr
    assert deploy.calls() == [] and not deploy.build.exists()


def test_models_bucket_publishes_bundles_and_points_the_functions_at_them(deploy):
    need_function("verify_face"), need_function("predict_gesture")
    r = deploy("all", "--models-bucket", "gs://demo-models/v1/")
    assert r.returncode == 0, r.stderr
    published = [c["argv"] for c in deploy.calls("publish")]
    expected = [
        [str(ROOT / "tools/publish/publish_bundle.py"), str(ROOT / "models" / b), f"gs://demo-models/v1/{fn}/{b}"]
        for fn, bundles in BUNDLES.items()
        for b in bundles
    ]
    assert published == expected
    verify, gesture = deploy.deploys()
    assert env_vars(flags(verify["argv"])["set-env-vars"]) == {
        "MEMORY_LIMIT_MB": "256",
        "THREADS": "1",
        "FACE_DETECTOR_MODEL": "gs://demo-models/v1/verify_face/face-detector-short",
        "FACE_DETECTOR_FALLBACK_MODEL": "gs://demo-models/v1/verify_face/face-detector-full",
        "FACE_EMBEDDER_MODEL": "gs://demo-models/v1/verify_face/face-embedder-sface",
    }
    # A comma inside GESTURE_MODEL's value: gcloud's ^@^ delimiter syntax keeps it whole.
    gesture_env = flags(gesture["argv"])["set-env-vars"]
    assert gesture_env.startswith("^@^")
    assert (
        env_vars(gesture_env)["GESTURE_MODEL"]
        == "gs://demo-models/v1/predict_gesture/finger-gesture,gs://demo-models/v1/predict_gesture/hand-sign"
    )
    assert env_vars(gesture_env)["HAND_DETECTOR_MODEL"] == "gs://demo-models/v1/predict_gesture/hand-detector"
    assert env_vars(gesture_env)["HAND_LANDMARK_MODEL"] == "gs://demo-models/v1/predict_gesture/hand-landmarks"
    for call in (verify, gesture):
        assert not any(p.startswith("models/") for p in call["source_files"])
    assert not (deploy.build / "verify_face" / "models").exists()


def test_missing_gcloud_is_a_clear_error(deploy, tmp_path):
    r = deploy("all", PATH=path_without_gcloud(tmp_path))
    assert r.returncode != 0
    assert "gcloud not found" in r.stderr and "--dry-run" in r.stderr
    assert not deploy.build.exists()


def test_not_logged_in_is_a_clear_error(deploy):
    r = deploy("all", FAKE_GCLOUD_ACCOUNT="")
    assert r.returncode != 0 and "not logged in" in r.stderr and "gcloud auth login" in r.stderr
    assert deploy.deploys() == [] and not deploy.build.exists()


def test_no_project_is_a_clear_error(deploy):
    r = deploy("all", FAKE_GCLOUD_PROJECT="")
    assert r.returncode != 0 and "no Google Cloud project" in r.stderr and "--project" in r.stderr
    assert deploy.deploys() == []


def test_a_failed_deploy_fails_the_script_and_prints_no_url(deploy):
    need_function("verify_face")
    r = deploy("verify_face", FAKE_GCLOUD_FAIL_DEPLOY="1")
    assert r.returncode != 0
    assert "a.run.app" not in r.stdout
    assert not any(c["argv"][:2] == ["functions", "describe"] for c in deploy.calls())


def test_dry_run_prints_the_commands_and_calls_nothing(deploy, tmp_path):
    need_function("verify_face"), need_function("predict_gesture")
    # No gcloud at all on PATH: a dry run must not need it.
    r = deploy("all", "--dry-run", "--project", "demo", "--models-bucket", "gs://demo-bucket", PATH=path_without_gcloud(tmp_path))
    assert r.returncode == 0, r.stderr
    commands = printed_commands(r.stdout)
    assert [c[:3] for c in commands if c[0] == "gcloud"] == [
        ["gcloud", "functions", "deploy"],
        ["gcloud", "functions", "deploy"],
        ["gcloud", "functions", "describe"],
        ["gcloud", "functions", "describe"],
    ]
    publishes = [c for c in commands if c[0] != "gcloud"]
    assert [c[1:] for c in publishes] == [
        [str(ROOT / "tools/publish/publish_bundle.py"), str(ROOT / "models" / b), f"gs://demo-bucket/{fn}/{b}"]
        for fn, bundles in BUNDLES.items()
        for b in bundles
    ]
    for fn, command in zip(BUNDLES, (c for c in commands if c[1:3] == ["functions", "deploy"]), strict=True):
        f = flags(command)
        assert command[3] == NAMES[fn] and f["entry-point"] == fn and f["project"] == "demo"
        assert f["source"] == str(deploy.build / fn) and f["no-allow-unauthenticated"] is True
    assert deploy.calls() == [] and deploy.calls("publish") == []


def test_dry_run_with_fake_gcloud_on_path_still_calls_nothing(deploy):
    need_function("verify_face")
    r = deploy("verify_face", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "gcloud functions deploy verify-face" in r.stdout
    assert "no --project" in r.stdout and "--project" not in "".join(line for line in r.stdout.splitlines() if line.startswith("gcloud"))
    assert deploy.calls() == []


# ---- the staged folders ------------------------------------------------------------------


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def _repo_files(folder: Path) -> set[str]:
    return {f for f in _files(folder) if "__pycache__" not in f and not f.endswith(".pyc")}


@pytest.mark.parametrize("fn", list(BUNDLES))
def test_staged_folder_holds_exactly_what_the_function_needs(deploy, fn):
    need_function(fn)
    r = deploy(fn, "--dry-run")
    assert r.returncode == 0, r.stderr
    staged = deploy.build / fn
    expected = {"main.py", "requirements.txt", ".gcloudignore", "LICENSE", "THIRD_PARTY_NOTICES.md"}
    expected |= {f"shared/{f}" for f in _repo_files(ROOT / "shared")}
    expected |= {f"models/{b}/{f}" for b in BUNDLES[fn] for f in _repo_files(ROOT / "models" / b)}
    assert _files(staged) == expected
    assert [p.name for p in (deploy.build).iterdir()] == [fn]
    assert (staged / "main.py").read_bytes() == (ROOT / "functions" / fn / "main.py").read_bytes()
    assert (staged / "requirements.txt").read_bytes() == (ROOT / "requirements.txt").read_bytes()
    for notice in ("LICENSE", "THIRD_PARTY_NOTICES.md"):  # the licence and notices ship with what they cover
        assert (staged / notice).read_bytes() == (ROOT / notice).read_bytes()
    for b in BUNDLES[fn]:
        assert (staged / "models" / b / "model.tflite").read_bytes() == (ROOT / "models" / b / "model.tflite").read_bytes()
    assert "__pycache__/" in (staged / ".gcloudignore").read_text().splitlines()


def test_staging_replaces_a_previous_build(deploy):
    need_function("verify_face")
    stale = deploy.build / "verify_face" / "tests" / "old.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("stale")
    assert deploy("verify_face", "--dry-run").returncode == 0
    assert not stale.parent.exists()


# ---- a staged folder serves on its own ------------------------------------------------------


class StagedServer:
    """functions-framework serving build/<fn>/main.py, started from an unrelated directory
    (tools/measure/harness.py's Server, without the repo's PYTHONPATH or model settings)."""

    def __init__(self, fn: str, staged: Path, workdir: Path):
        self.logfile = workdir / f"{fn}.log"
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.endswith("_MODEL")}
        self.server = harness.Server(fn, staged / "main.py", env=env, inherit_env=False, cwd=workdir, log=self.logfile)
        try:
            self.server.start().wait_ready(60)
        except (TimeoutError, RuntimeError) as exc:
            self.server.stop()
            pytest.fail(f"{fn} did not start: {exc}")
        self.url = self.server.url

    def log(self) -> str:
        return self.logfile.read_text(errors="replace")

    def request(self, method: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            return e.code, json.load(e)

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    """stage(fn) -> build/<fn> staged by `deploy.sh <fn> --dry-run` into a temporary folder (once)."""
    build = tmp_path_factory.mktemp("staged")
    env = {k: v for k, v in os.environ.items() if k not in DEPLOY_ENV}

    def stage_one(fn: str) -> Path:
        if not (build / fn).exists():
            need_function(fn)
            r = subprocess.run(
                ["bash", str(DEPLOY), fn, "--dry-run", "--build-dir", str(build)], env=env, capture_output=True, text=True, timeout=300
            )
            assert r.returncode == 0, r.stderr
        return build / fn

    return stage_one


@pytest.fixture
def serve(stage, tmp_path):
    """serve(fn) -> a StagedServer on the staged folder, stopped after the test."""
    servers: list[StagedServer] = []

    def start(fn: str) -> StagedServer:
        servers.append(StagedServer(fn, stage(fn), tmp_path))
        return servers[-1]

    yield start
    for s in servers:
        s.stop()


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_staged_verify_face_serves_on_its_own_bundles(serve, stage, face_photos):
    server = serve("verify_face")
    staged = stage("verify_face")
    status, health = server.request("GET")
    assert status == 200 and health["function"] == "verify_face"
    assert health["settings"]["face_embedder_model"] == "face-embedder-sface"  # a label: health shows no paths
    status, body = server.request("POST", {"img1": _b64(face_photos / "obama.jpg"), "img2": _b64(face_photos / "obama2.jpg")})
    assert status == 200, body
    assert body["verified"] is True and body["distance"] <= body["threshold"]
    status, body = server.request("POST", {"img1": _b64(face_photos / "obama.jpg"), "img2": _b64(face_photos / "biden.jpg")})
    assert status == 200, body
    assert body["verified"] is False
    status, health = server.request("GET")
    assert health["ready"] is True and str(staged) not in json.dumps(health)
    # The models come from the staged folder, not the repo: its log says where each was read.
    for name in ("face-detector-short", "face-embedder-sface"):
        version = json.loads((staged / "models" / name / "bundle.json").read_text())["version"]
        assert f"loaded bundle {name} {version} from {staged / 'models' / name}" in server.log()


def test_staged_predict_gesture_serves_on_its_own_bundles(serve, stage):
    server = serve("predict_gesture")
    staged = stage("predict_gesture")
    status, health = server.request("GET")
    assert status == 200 and health["function"] == "predict_gesture"
    assert health["settings"]["gesture_models"] == ["finger-gesture", "hand-sign"]  # labels, no paths
    assert health["settings"]["hand_detector_model"] == "hand-detector"
    for name in ("finger-gesture", "hand-sign"):  # local gesture bundles load for the detailed health report
        assert f"loaded bundle {name} " in server.log() and f"from {staged / 'models' / name}" in server.log()
    assert "loaded bundle hand-detector" not in server.log()  # the hand models wait for the first photo
    photo = base64.b64encode((testdata.hand_photos() / "open.jpg").read_bytes()).decode()
    status, body = server.request("POST", {"model": "hand-sign", "image": photo})
    assert status == 200 and body["label"] == "Open", body
    for name in ("hand-detector", "hand-landmarks"):
        assert f"loaded bundle {name} 1.0.0 from {staged / 'models' / name}" in server.log()
    # A fingertip that stays put for the whole history: point_history.csv's Stop rows are
    # (near) zero offsets from the first frame, so that is what the model must answer.
    frames = bundle_meta("finger-gesture")["preprocessing"]["frames"]
    status, body = server.request("POST", {"model": "finger-gesture", "features": [[0.0, 0.0]] * frames})
    assert status == 200, body
    assert body["label"] == "Stop"
    status, body = server.request("POST", {"features": "not frames"})
    assert status == 400, body
    assert set(body) == {"error"}


def test_staged_predict_gesture_labels_held_out_keypoints(serve, gesture_data):
    """Real hand-sign keypoints from the held-out end of each class, through the staged folder."""
    server = serve("predict_gesture")
    labels = bundle_meta("hand-sign")["labels"]
    rows = [list(map(float, line.split(","))) for line in (gesture_data / "keypoint.csv").read_text().splitlines()]
    right = total = 0
    for cls, label in enumerate(labels):
        for row in [r for r in rows if int(r[0]) == cls][-10:]:
            status, body = server.request("POST", {"model": "hand-sign", "features": [row[1:]]})
            assert status == 200, body
            right += body["label"] == label
            total += 1
    # The bundle's held-out accuracy is ~0.95; the last rows of each class are held out.
    assert right / total >= 0.8, f"{right}/{total} held-out keypoint rows labelled correctly"


def bundle_meta(bundle: str) -> dict:
    return json.loads((ROOT / "models" / bundle / "bundle.json").read_text())


# ---- Cloud Run services, Redis and the VPC connector ---------------------------------------


def test_services_deploy_the_staged_image_tree_scaled_to_zero(deploy):
    need_function("verify_face"), need_function("predict_gesture")
    r = deploy("all", "--service")
    assert r.returncode == 0, r.stderr
    runs = [c for c in deploy.calls() if c["argv"][:2] == ["run", "deploy"]]
    assert [c["argv"][2] for c in runs] == ["verify-face", "predict-gesture"]
    for fn, call in zip(BUNDLES, runs, strict=True):
        f = flags(call["argv"])
        assert f["source"] == str(deploy.build / "image") and "image" not in f
        assert (f["memory"], f["cpu"], f["concurrency"], f["min-instances"], f["max-instances"]) == ("256Mi", "1", "1", "0", "10")
        assert f["cpu-boost"] is True and f["port"] == "8080" and f["no-allow-unauthenticated"] is True
        assert f["region"] == "us-central1" and f["project"] == "demo-project"
        assert env_vars(f["set-env-vars"]) == {"FUNCTION_TARGET": fn, "MEMORY_LIMIT_MB": "256", "THREADS": "1"}
        assert "set-secrets" not in f and "vpc-connector" not in f
        # What gcloud uploads: the image's build context, both functions and every bundle.
        assert {"Dockerfile", ".dockerignore", "requirements.txt", f"app/functions/{fn}/main.py"} <= set(call["source_files"])
        models = {p.split("/")[2] for p in call["source_files"] if p.startswith("app/models/")}
        assert models == {b for bundles in BUNDLES.values() for b in bundles}
    assert deploy.deploys() == [] and [p.name for p in deploy.build.iterdir()] == ["image"]
    described = [c["argv"] for c in deploy.calls() if c["argv"][:3] == ["run", "services", "describe"]]
    assert [a[3] for a in described] == ["verify-face", "predict-gesture"]
    assert all(flags(a)["format"] == "value(status.url)" for a in described)
    assert "verify_face: https://verify-face-abc123-uc.a.run.app" in r.stdout and "Private services" in r.stdout


def test_service_dry_run_from_an_image_with_redis_and_a_connector(deploy, tmp_path):
    r = deploy(
        "predict_gesture",
        "--service",
        "--dry-run",
        "--image",
        "us-docker.pkg.dev/p/r/tflite-functions:1",
        "--redis-url-secret",
        "redis-url",
        "--api-key-secret",
        "api-key",
        "--vpc-connector",
        "serverless-conn",
        "--concurrency",
        "4",
        "--memory",
        "1Gi",
        "--no-cpu-boost",
        "--public",
        "--env",
        "RATE_LIMITS=20/hour;100/day",
        PATH=path_without_gcloud(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    commands = printed_commands(r.stdout)
    assert [c[:3] for c in commands] == [["gcloud", "run", "deploy"], ["gcloud", "run", "services"]]
    f = flags(commands[0])
    assert commands[0][3] == "predict-gesture" and f["image"] == "us-docker.pkg.dev/p/r/tflite-functions:1" and "source" not in f
    assert (f["memory"], f["cpu"], f["concurrency"]) == ("1Gi", "1", "4") and f["no-cpu-boost"] is True
    assert f["set-secrets"] == "API_KEY=api-key:latest,REDIS_URL=redis-url:latest"
    assert (f["vpc-connector"], f["vpc-egress"]) == ("serverless-conn", "private-ranges-only")
    assert env_vars(f["set-env-vars"]) == {
        "FUNCTION_TARGET": "predict_gesture",
        "MEMORY_LIMIT_MB": "1024",
        "THREADS": "4",
        "RATE_LIMITS": "20/hour;100/day",
    }
    assert f["allow-unauthenticated"] is True
    assert not deploy.build.exists()  # an image needs no staging
    assert deploy.calls() == []


def test_functions_take_the_redis_secret_and_the_connector_too(deploy):
    need_function("verify_face")
    r = deploy("verify_face", "--redis-url-secret", "redis-url", "--vpc-connector", "conn")
    assert r.returncode == 0, r.stderr
    [call] = deploy.deploys()
    f = flags(call["argv"])
    assert f["set-secrets"] == "REDIS_URL=redis-url:latest"
    assert (f["vpc-connector"], f["egress-settings"]) == ("conn", "private-ranges-only")


def test_only_verify_face_takes_the_gallery_database_url_and_keys_as_secrets(deploy):
    """--gallery-url-secret and --gallery-keys-secret mount GALLERY_URL and GALLERY_KEYS
    from Secret Manager on verify_face (the one function with galleries), as functions and
    as services; never in plain env vars, never their values on gcloud's command line."""
    need_function("verify_face"), need_function("predict_gesture")
    for extra in ([], ["--service"]):
        keys = "--gallery-keys-secret=projects/p/secrets/gallery-keys"
        args = ("--gallery-url-secret", "gallery-url", keys, "--api-key-secret", "api-key")
        r = deploy("all", *extra, *args)
        assert r.returncode == 0, r.stderr
        calls = [c["argv"] for c in deploy.calls() if c["argv"][:2] in (["functions", "deploy"], ["run", "deploy"])][-2:]
        secrets = {c[2]: flags(c)["set-secrets"] for c in calls}
        assert secrets == {
            "verify-face": "API_KEY=api-key:latest,GALLERY_URL=gallery-url:latest,GALLERY_KEYS=projects/p/secrets/gallery-keys:latest",
            "predict-gesture": "API_KEY=api-key:latest",
        }
        assert all("GALLERY_" not in flags(c)["set-env-vars"] for c in calls)


def test_the_gallery_secrets_come_from_the_environment_too(deploy):
    need_function("verify_face")
    r = deploy("verify_face", GALLERY_URL_SECRET="db-url", GALLERY_KEYS_SECRET="tenant-keys")
    assert r.returncode == 0, r.stderr
    (call,) = [c["argv"] for c in deploy.calls() if c["argv"][:2] == ["functions", "deploy"]]
    assert flags(call)["set-secrets"] == "GALLERY_URL=db-url:latest,GALLERY_KEYS=tenant-keys:latest"


def test_image_stage_only_stages_the_build_context_and_calls_nothing(deploy):
    need_function("verify_face"), need_function("predict_gesture")
    r = deploy("image", "--stage-only")
    assert r.returncode == 0, r.stderr
    staged = deploy.build / "image"
    assert (staged / "Dockerfile").read_bytes() == (ROOT / "Dockerfile").read_bytes()
    assert (staged / ".dockerignore").read_bytes() == (ROOT / ".dockerignore").read_bytes()
    expected = {f"app/shared/{f}" for f in _repo_files(ROOT / "shared")}
    expected |= {f"app/models/{b}/{f}" for bs in BUNDLES.values() for b in bs for f in _repo_files(ROOT / "models" / b)}
    expected |= {f"app/functions/{fn}/main.py" for fn in BUNDLES} | {"app/LICENSE", "app/THIRD_PARTY_NOTICES.md"}
    expected |= {"app/functions/serve.py"}  # the image's CMD
    expected |= {"Dockerfile", ".dockerignore", ".gcloudignore", "requirements.txt"}
    assert _files(staged) == expected
    assert deploy.calls() == [] and r.stdout == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (["image"], "only stages (add --stage-only)"),
        (["--image", "x"], "--image needs --service"),
        (["--env", "REDIS_URL=redis://:pw@10.0.0.3:6379"], "--redis-url-secret"),
        (["--env", "GALLERY_URL=postgresql://u:pw@10.0.0.4/db"], "--gallery-url-secret"),
        (["--env", "GALLERY_KEYS=g=k"], "pass --gallery-keys-secret NAME"),
        (["--gallery-url-secret", "a b"], "--gallery-url-secret must be a resource name"),
        (["--gallery-keys-secret", "shop-a=key1"], "--gallery-keys-secret must be a resource name"),
        (["--service", "--models-bucket", "gs://b"], "--models-bucket is for Cloud Run functions"),
        (["--vpc-connector", "a b"], "--vpc-connector must be a resource name"),
    ],
)
def test_bad_service_arguments_fail_before_anything_runs(deploy, args, message):
    r = deploy(*args)
    assert r.returncode != 0 and message in r.stderr
    assert deploy.calls() == [] and not deploy.build.exists()


def test_service_dry_run_from_source_stages_the_image_tree(deploy, tmp_path):
    need_function("verify_face"), need_function("predict_gesture")
    r = deploy("all", "--service", "--dry-run", "--project", "demo", PATH=path_without_gcloud(tmp_path))
    assert r.returncode == 0, r.stderr
    commands = printed_commands(r.stdout)
    deploys = [c for c in commands if c[1:3] == ["run", "deploy"]]
    assert [c[3] for c in deploys] == ["verify-face", "predict-gesture"]
    for fn, command in zip(BUNDLES, deploys, strict=True):
        f = flags(command)
        assert f["source"] == str(deploy.build / "image") and f["project"] == "demo" and f["min-instances"] == "0"
        assert env_vars(f["set-env-vars"])["FUNCTION_TARGET"] == fn
    assert [c[1:4] for c in commands if c[1:3] == ["run", "services"]] == [["run", "services", "describe"]] * 2
    assert (deploy.build / "image" / "Dockerfile").exists() and deploy.calls() == []


def test_stage_only_stages_functions_and_calls_nothing(deploy, tmp_path):
    need_function("verify_face"), need_function("predict_gesture")
    r = deploy("all", "--stage-only", PATH=path_without_gcloud(tmp_path))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in deploy.build.iterdir()) == ["predict_gesture", "verify_face"]
    assert r.stdout == "" and deploy.calls() == []
