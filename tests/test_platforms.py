"""The other platforms' files: render.yaml (its build and start commands run in a fresh
venv and serve both functions), the Knative Services (deploy/knative/), and the README's
Azure Container Instances line (it matches the image's environment)."""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest
import yaml

from tools.measure import harness

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = {"verify-face": "verify_face", "predict-gesture": "predict_gesture"}
# What a platform's environment may set: shared/settings/'s variables and functions-framework's own.
FRAMEWORK_ENV = {"FUNCTION_TARGET", "PORT", "THREADS", "WORKERS", "MALLOC_ARENA_MAX", "PYTHON_VERSION"}


def known_setting(name: str) -> bool:
    return name in FRAMEWORK_ENV or any(f'"{name}"' in p.read_text() for p in (ROOT / "shared" / "settings").glob("*.py"))


def render() -> dict:
    return yaml.safe_load((ROOT / "render.yaml").read_text())


def post(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.status, json.load(r)


# ---- Render -------------------------------------------------------------------------------


def test_render_blueprint_shape():
    services = {s["name"]: s for s in render()["services"]}
    assert set(services) == {*FUNCTIONS, "tflite-functions-state"}
    for name, fn in FUNCTIONS.items():
        s = services[name]
        assert (s["type"], s["runtime"], s["plan"], s["healthCheckPath"]) == ("web", "python", "starter", "/")  # starter: 512 MB
        assert s["startCommand"] == f"python functions/serve.py --target {fn}"
        env = {e["key"]: e for e in s["envVars"]}
        assert env["MEMORY_LIMIT_MB"]["value"] == "512" and env["PYTHON_VERSION"]["value"].startswith("3.11.")
        assert env["REDIS_URL"]["fromService"] == {"type": "keyvalue", "name": "tflite-functions-state", "property": "connectionString"}
        assert env["API_KEY"] == {"key": "API_KEY", "sync": False}  # a secret is never in the file
        gallery = {k: env[k] for k in ("GALLERY_URL", "GALLERY_KEYS") if k in env}  # verify_face's, set in the dashboard
        assert gallery == ({k: {"key": k, "sync": False} for k in ("GALLERY_URL", "GALLERY_KEYS")} if fn == "verify_face" else {})
        assert all(known_setting(k) for k in env), sorted(k for k in env if not known_setting(k))
    store = services["tflite-functions-state"]
    assert store["type"] == "keyvalue" and store["maxmemoryPolicy"] == "allkeys-lru" and store["ipAllowList"] == []


@pytest.fixture(scope="module")
def render_venv(tmp_path_factory) -> Path:
    """A fresh venv in which render.yaml's buildCommand ran (each service's; they are the same)."""
    venv = tmp_path_factory.mktemp("render") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
    [build] = {s["buildCommand"] for s in render()["services"] if s["type"] == "web"}
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    r = subprocess.run(["bash", "-c", build], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return venv


@pytest.mark.parametrize("service", list(FUNCTIONS))
def test_render_commands_serve_each_function_in_a_fresh_venv(render_venv, service, redis_server, tmp_path, face_photos):
    spec = next(s for s in render()["services"] if s["name"] == service)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.endswith("_MODEL")}
    env.update({e["key"]: e["value"] for e in spec["envVars"] if "value" in e and e["key"] != "PYTHON_VERSION"})
    env.update(REDIS_URL=redis_server.url, PATH=f"{render_venv / 'bin'}{os.pathsep}{os.environ['PATH']}")  # what fromService gives
    # startCommand as Render runs it, from the repository's root, on the PORT Render sets.
    server = harness.Server(FUNCTIONS[service], ROOT, env=env, inherit_env=False, cwd=ROOT, log=tmp_path / "render.log")
    server.command = ["bash", "-c", "exec " + spec["startCommand"]]
    try:
        server.start().wait_ready(90)
        with urllib.request.urlopen(server.url + spec["healthCheckPath"].lstrip("/"), timeout=30) as r:
            health = json.load(r)
        assert r.status == 200 and health["function"] == FUNCTIONS[service]
        assert health["rate_limits"]["limits"] == ["20/hour", "100/day"] and health["rate_limits"]["backend"] == "redis"
        if service == "verify-face":
            photos = {
                k: base64.b64encode((face_photos / f).read_bytes()).decode() for k, f in (("img1", "obama.jpg"), ("img2", "biden.jpg"))
            }
            status, body = post(server.url, photos)
            assert status == 200 and body["verified"] is False
        else:
            status, body = post(server.url, {"model": "finger-gesture", "features": [[0.0, 0.0]] * 16})
            assert status == 200 and "label" in body
        # The packages are the fresh venv's (its `python` first on PATH), not the test's.
        maps = psutil.Process(server.serving_pid()).memory_maps()
        assert any(m.path.startswith(str(render_venv)) for m in maps), "no library of the fresh venv is loaded"
    finally:
        server.stop()


# ---- Knative ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_knative_service_manifest(name):
    doc = yaml.safe_load((ROOT / "deploy" / "knative" / f"{name}.yaml").read_text())
    assert (doc["apiVersion"], doc["kind"], doc["metadata"]["name"]) == ("serving.knative.dev/v1", "Service", name)
    template = doc["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/min-scale"] == "0"  # scale to zero
    assert all(isinstance(v, str) for v in annotations.values())  # Kubernetes takes strings only
    spec = template["spec"]
    [container] = spec["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["FUNCTION_TARGET"]["value"] == FUNCTIONS[name]
    assert "PORT" not in env and container["ports"] == [{"containerPort": 8080}]  # Knative sets PORT
    # One gunicorn thread per request Knative may send at once; the guard knows the limit.
    assert spec["containerConcurrency"] == int(env["THREADS"]["value"]) >= 1
    assert int(annotations["autoscaling.knative.dev/target"]) <= spec["containerConcurrency"]
    resources = container["resources"]
    assert resources["requests"]["memory"] == resources["limits"]["memory"] == "256Mi"
    assert env["MEMORY_LIMIT_MB"]["value"] == "256"
    assert container["readinessProbe"]["httpGet"]["path"] == "/"
    assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"]["optional"] is True  # without Redis: per instance
    if FUNCTIONS[name] == "verify_face":  # the galleries' database URL and tenant keys from a secret, never literal values
        assert env["GALLERY_URL"]["valueFrom"]["secretKeyRef"] == {"name": "tflite-functions-gallery", "key": "url", "optional": True}
        assert env["GALLERY_KEYS"]["valueFrom"]["secretKeyRef"] == {"name": "tflite-functions-gallery", "key": "keys", "optional": True}
    else:
        assert "GALLERY_URL" not in env and "GALLERY_KEYS" not in env
    assert container["securityContext"]["runAsNonRoot"] is True
    assert "tflite-functions" in container["image"]
    assert all(known_setting(k) for k in env)


# ---- Azure Container Instances ------------------------------------------------------------


def test_readme_aci_line_matches_the_image():
    readme = (ROOT / "README.md").read_text()
    [line] = re.findall(r"^az container create .*$", readme.replace("\\\n", " "), flags=re.M)
    args = shlex.split(line)
    flags = {a: args[i + 1] for i, a in enumerate(args) if a.startswith("--") and i + 1 < len(args)}
    assert (flags["--cpu"], flags["--memory"], flags["--ports"]) == ("1", "0.5", "8080")
    env_start = args.index("--environment-variables") + 1
    env = dict(a.split("=", 1) for a in args[env_start:] if "=" in a and not a.startswith("--"))
    assert env["MEMORY_LIMIT_MB"] == "512" and env["FUNCTION_TARGET"] in FUNCTIONS.values()
    assert env["RATE_LIMIT_PROXY_HOPS"] == "0"  # no front end adds X-Forwarded-For on ACI
    assert all(known_setting(k) for k in env)
