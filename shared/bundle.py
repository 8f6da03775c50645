"""Model bundles: a folder (local or under gs://) holding `model.tflite` and `bundle.json`.

`load_bundle(source)` reads `bundle.json` first, then the model bytes, verifies the
model's sha256 against the manifest, and builds the interpreter from those bytes.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .tflite import Model

log = logging.getLogger(__name__)

MANIFEST = "bundle.json"
MODEL_FILE = "model.tflite"
REQUIRED_KEYS = ("name", "version", "task", "sha256")


class BundleError(Exception):
    """A bundle cannot be read, or what was read is not a valid bundle."""


@dataclass(frozen=True)
class BundleFiles:
    """The raw files of a bundle. Attributes: manifest and model bytes, and `origin`
    (where they came from: a path, or a gs:// URI with the object generation)."""

    manifest: bytes
    model: bytes
    origin: str


def read_bundle_files(source: str, timeout_s: float = 60.0) -> BundleFiles:
    """Read a bundle's files from a local folder or a ``gs://bucket/prefix`` URI."""
    if source.startswith("gs://"):
        from . import gcs  # google-cloud-storage costs ~0.5 s to import: only for gs://

        return gcs.read_bundle_files(source, timeout_s=timeout_s)
    folder = Path(source)
    try:
        manifest = (folder / MANIFEST).read_bytes()
        model = (folder / MODEL_FILE).read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read bundle {source}: {exc.strerror or exc} ({exc.filename})") from None
    return BundleFiles(manifest, model, str(folder))


def parse_manifest(raw: bytes, source: str) -> dict[str, Any]:
    try:
        meta = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{source}/{MANIFEST} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise BundleError(f"{source}/{MANIFEST} must hold a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise BundleError(f"{source}/{MANIFEST} lacks {', '.join(missing)}")
    return meta


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle. Attributes: source (as configured), origin (what was read, with
    the gs:// generation), meta (the parsed bundle.json), model (ready to run)."""

    source: str
    origin: str
    meta: dict
    model: Model

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def version(self) -> str:
        return str(self.meta["version"])

    @property
    def task(self) -> str:
        return self.meta["task"]

    def info(self) -> dict:
        """What health answers show about this bundle."""
        return {
            "name": self.name,
            "version": self.version,
            "task": self.task,
            "sha256": self.meta["sha256"],
            "source": self.origin,
            "inputs": [t.to_dict() for t in self.model.inputs],
            "outputs": [t.to_dict() for t in self.model.outputs],
        }


def load_bundle(source: str, *, num_threads: int = 1, timeout_s: float = 60.0, task: str | None = None) -> Bundle:
    """Read, verify and build a bundle. Raises BundleError naming the bundle and the cause."""
    files = read_bundle_files(source, timeout_s=timeout_s)
    meta = parse_manifest(files.manifest, source)
    if task is not None and meta["task"] != task:
        raise BundleError(f"{source} is a {meta['task']!r} bundle, expected {task!r}")
    digest = sha256_hex(files.model)
    if digest != meta["sha256"]:
        raise BundleError(
            f"{source}/{MODEL_FILE} has sha256 {digest[:12]}..., bundle.json says {str(meta['sha256'])[:12]}...: "
            "refusing a corrupted or half-uploaded model"
        )
    try:
        model = Model.from_bytes(files.model, num_threads=num_threads)
    except (ValueError, RuntimeError) as exc:
        raise BundleError(f"{source}/{MODEL_FILE} does not load in the TFLite runtime: {exc}") from None
    log.info("loaded bundle %s %s from %s", meta["name"], meta["version"], files.origin)
    return Bundle(source=source, origin=files.origin, meta=meta, model=model)
