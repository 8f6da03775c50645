"""Model bundles: a folder (local or under gs://) holding `model.tflite` and `bundle.json`.

`load_bundle(source, options)` reads `bundle.json` first (runtime/manifest.py: the one
reader every bundle kind's contract goes through), then the model, verifies the model's
sha256 against the manifest (for a local folder the image's build verified, its stamp
stands in for the hash while it still matches the files: runtime/seal.py), and builds the
interpreter: from the bytes fetched from gs://, or from a local folder's file itself (mapped,
so that its pages can leave memory once the runtime has packed the weights:
runtime/tflite.py), checked to be the file that was hashed;
`load_as(make, ...)` builds a pipeline part from the bundle, which reads and checks every
field it uses. Every failure is a BundleError whose public reason names the bundle by its
short label and the field at fault, never a local path or a bucket.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from shared.errors import BundleError
from shared.runtime.manifest import MANIFEST, Manifest, read_manifest, refuse_non_finite
from shared.runtime.options import LoadOptions
from shared.runtime.seal import stamped_digest
from shared.runtime.tflite import Model

log = logging.getLogger(__name__)
T = TypeVar("T")

MODEL_FILE = "model.tflite"
REQUIRED_KEYS = ("name", "version", "task", "sha256")

__all__ = ["MANIFEST", "MODEL_FILE", "Bundle", "BundleError", "BundleFiles", "LoadOptions", "bundle_label", "load_as", "load_bundle"]


@dataclass(frozen=True)
class BundleFiles:
    """The raw files of a bundle. Attributes: manifest and model bytes, and `origin`
    (where they came from: a path, or a gs:// URI with the object generation; logs only).
    A local folder's model is not read into memory: `model` is empty, `model_path` names
    the file, `model_sha256` is its digest (hashed, or from the folder's build-time stamp:
    `model_stamped`) and `model_identity` the (device, inode, size, mtime) it had then."""

    manifest: bytes
    model: bytes
    origin: str
    model_path: str = ""
    model_sha256: str = ""
    model_identity: tuple[int, ...] = ()
    model_stamped: bool = False


def bundle_label(source: str) -> str:
    """The short name a client may see for a configured bundle: the last part of its
    folder or gs:// prefix (``gs://bucket/models/hand-sign`` -> ``hand-sign``)."""
    return source.rstrip("/").rsplit("/", 1)[-1] or source


def read_bundle_files(source: str, options: LoadOptions = LoadOptions()) -> BundleFiles:
    """Read a bundle's files from a local folder or a ``gs://bucket/prefix`` URI."""
    if source.startswith("gs://"):
        from shared.runtime import gcs  # google-cloud-storage costs ~0.5 s to import: only for gs://

        return gcs.read_bundle_files(source, timeout_s=options.timeout_s, anonymous=options.anonymous_storage)
    folder = Path(source)
    try:
        manifest = (folder / MANIFEST).read_bytes()
        with open(folder / MODEL_FILE, "rb") as model:
            stat = os.fstat(model.fileno())
            stamped = stamped_digest(folder, manifest, stat)
            digest = stamped or hashlib.file_digest(model, "sha256").hexdigest()
    except OSError as exc:
        raise BundleError(
            f"cannot read bundle {source}: {exc.strerror or exc} ({exc.filename})",
            reason=f"{Path(str(exc.filename)).name} cannot be read ({exc.strerror or 'error'})",
        ) from None
    return BundleFiles(manifest, b"", str(folder), str(folder / MODEL_FILE), digest, file_identity(stat), bool(stamped))


def file_identity(stat: os.stat_result) -> tuple[int, ...]:
    """What tells one file from another at the same path: device, inode, size, mtime."""
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def parse_manifest(raw: bytes) -> dict[str, Any]:
    """bundle.json -> dict with at least REQUIRED_KEYS; BundleError otherwise. Non-finite
    numbers stay as markers (manifest.NonFinite) until `refuse_non_finite`."""
    meta = read_manifest(raw)
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise BundleError(f"{MANIFEST} lacks {', '.join(missing)}")
    return meta


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle.

    Attributes:
        source: as configured (a folder or a gs:// URI).
        origin: what was read, with the gs:// object generations (logs only).
        name, version, task, sha256: from bundle.json.
        meta: the whole parsed bundle.json (pipelines read their typed contract from it,
            through `manifest`).
        model: the TFLite model, ready to run.
    """

    source: str
    origin: str
    name: str
    version: str
    task: str
    sha256: str
    meta: dict
    model: Model

    @property
    def manifest(self) -> Manifest:
        """bundle.json with typed getters that name the field they read (runtime/manifest.py)."""
        return Manifest(self.meta)

    def info(self) -> dict:
        """What the detailed health report shows about this bundle (no paths, no buckets)."""
        return {
            "name": self.name,
            "version": self.version,
            "task": self.task,
            "sha256": self.sha256,
            "storage": "object storage" if self.source.startswith("gs://") else "local",
            "inputs": [t.to_dict() for t in self.model.inputs],
            "outputs": [t.to_dict() for t in self.model.outputs],
        }


def load_bundle(source: str, options: LoadOptions = LoadOptions(), *, task: str | None = None) -> Bundle:
    """Read, verify and build a bundle; a number JSON cannot hold (NaN, Infinity) anywhere
    in bundle.json is refused. Raises BundleError labelled with the bundle."""
    return load_as(lambda bundle: bundle, source, options, task=task)


def load_as(make: Callable[[Bundle], T], source: str, options: LoadOptions = LoadOptions(), *, task: str | None) -> T:
    """Load a bundle and build a pipeline part from it (`make(bundle)`, which reads the
    bundle's typed contract: every field it uses, checked); then refuse a non-finite number
    anywhere else in bundle.json. A BundleError from any step names the bundle."""
    try:
        bundle = _load(source, options, task)
        made = make(bundle)
        refuse_non_finite(bundle.meta)  # after make(): the kind's own getters name a field it uses more precisely
        return made
    except BundleError as exc:
        exc.bundle = exc.bundle or bundle_label(source)
        raise


def _load(source: str, options: LoadOptions, task: str | None) -> Bundle:
    files = read_bundle_files(source, options)
    meta = parse_manifest(files.manifest)
    if task is not None and meta["task"] != task:
        raise BundleError(f"is a {meta['task']!r} bundle, expected {task!r}")
    digest = files.model_sha256 or sha256_hex(files.model)
    if digest != meta["sha256"]:
        raise BundleError(
            f"{MODEL_FILE} has sha256 {digest[:12]}..., {MANIFEST} says {str(meta['sha256'])[:12]}...: "
            "refusing a corrupted or half-uploaded model"
        )
    try:
        if files.model_path:
            model = Model.from_path(files.model_path, num_threads=options.num_threads, runtime=options.runtime)
        else:
            model = Model.from_bytes(files.model, num_threads=options.num_threads, runtime=options.runtime)
    except (ValueError, RuntimeError) as exc:
        raise BundleError(
            f"{source}/{MODEL_FILE} does not load in the TFLite runtime: {exc}", reason=f"{MODEL_FILE} does not load in the TFLite runtime"
        ) from None
    if files.model_path and _identity_now(files.model_path) != files.model_identity:
        # The runtime opened the path after we hashed it: refuse a file replaced in between.
        raise BundleError(f"{files.model_path} changed while it was loading", reason=f"{MODEL_FILE} changed while it was loading")
    how = "its build-time stamp" if files.model_stamped else "hashed"
    log.info("loaded bundle %s %s from %s (sha256: %s)", meta["name"], meta["version"], files.origin, how)
    return Bundle(
        source=source,
        origin=files.origin,
        name=str(meta["name"]),
        version=str(meta["version"]),
        task=str(meta["task"]),
        sha256=digest,
        meta=meta,
        model=model,
    )


def _identity_now(path: str) -> tuple[int, ...]:
    try:
        return file_identity(os.stat(path))
    except OSError:
        return ()


def image_input(bundle: Bundle, path: str, side: int) -> None:
    """BundleError naming the manifest's field `path` (which says `side`) unless the model
    takes one (1, side, side, 3) image."""
    shapes = [list(t.shape) for t in bundle.model.inputs]
    if shapes != [[1, side, side, 3]]:
        value = bundle.manifest.get(path, None)
        raise bundle.manifest.fault(path, value, f"the side of the model's input image (its inputs: {shapes})")


def crop_model(bundle: Bundle, task: str) -> tuple[Manifest, Manifest, int]:
    """A crop model's bundle (one square image in: hand, face and iris landmarks, pose
    landmarks, the hand re-crop) checked for `task`: (its preprocessing and postprocessing
    sections, the side of its input image, checked against the model)."""
    if bundle.task != task:
        raise BundleError(f"{bundle.name} is a {bundle.task!r} bundle, expected {task!r}")
    pre, post = bundle.manifest.at("preprocessing"), bundle.manifest.at("postprocessing")
    side = pre.square("input_size")
    image_input(bundle, "preprocessing.input_size", side)
    return pre, post, side


def sized_outputs(post: Manifest, model: Model, sizes: dict[str, int]) -> list[int]:
    """The positions among the model's outputs of the tensors `post` names at
    `output_tensors.<key>`, in the order of `sizes`, each checked to hold sizes[key] values."""
    outputs = model.outputs
    indices = [post.tensor(f"output_tensors.{key}", outputs) for key in sizes]
    for (key, size), index in zip(sizes.items(), indices, strict=True):
        name, shape = outputs[index].name, list(outputs[index].shape)
        if math.prod(shape) != size:
            raise post.fault(f"output_tensors.{key}", name, f"a tensor of {size} values (it has shape {shape})")
    return indices
